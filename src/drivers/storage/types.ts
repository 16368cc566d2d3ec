/**
 * The storage driver: what the engine asks of drive storage (simulated, later qcow2 files).
 * Every operation is idempotent, so that a task repeated after a crash does no harm.
 */
export interface StorageDriver {
  readonly name: string;
  create(uuid: string, size: number): Promise<void>;
  resize(uuid: string, size: number): Promise<void>;
  /** Copies `source` into a new drive `target` of `size` bytes (at least the source's). */
  clone(source: string, target: string, size: number): Promise<void>;
  /** Takes a point-in-time copy `snapshot` of `drive`; answers the bytes the copy holds. */
  snapshot(drive: string, snapshot: string): Promise<{ allocatedSize: number }>;
  /** Copies `snapshot` into a new drive `target` of `size` bytes. */
  cloneSnapshot(snapshot: string, target: string, size: number): Promise<void>;
  remove(uuid: string): Promise<void>;
}
