/**
 * The storage driver: what the engine asks of drive storage (simulated; next, libvirt storage
 * pools in `storage/libvirt/`). Every operation is idempotent, so that a task repeated after a
 * crash does no harm, and answers the volume's handle: where its image is, which a compute driver
 * needs to attach it.
 */

/** Where a drive's image is. */
export interface VolumeHandle {
  /** The host that holds it, or null for a pool every host reaches (shared storage). */
  host: string | null;
  /** The storage pool. */
  pool: string;
  /** The volume's name in its pool. */
  name: string;
  /** The image's path on its host, when the driver has files; null for the simulator. */
  path: string | null;
  format: 'raw' | 'qcow2';
}

export interface StorageDriver {
  readonly name: string;
  /** The volume of a drive (a library drive too), wherever it is; made on no call. */
  volume(uuid: string): VolumeHandle;
  create(uuid: string, size: number): Promise<VolumeHandle>;
  resize(uuid: string, size: number): Promise<VolumeHandle>;
  /** Copies `source` into a new drive `target` of `size` bytes (at least the source's). */
  clone(source: string, target: string, size: number): Promise<VolumeHandle>;
  /** Takes a point-in-time copy `snapshot` of `drive`; answers the bytes the copy holds. */
  snapshot(drive: string, snapshot: string): Promise<{ allocatedSize: number }>;
  /** Copies `snapshot` into a new drive `target` of `size` bytes. */
  cloneSnapshot(snapshot: string, target: string, size: number): Promise<VolumeHandle>;
  remove(uuid: string): Promise<void>;
  /**
   * Makes the image file at `path` (on this machine) the read-only volume of library drive
   * `uuid`, unless it has one already (a changed file is not read again: remove the volume to
   * renew it). Drivers without real storage need not have it (the path is then ignored).
   */
  importBase?(uuid: string, path: string): Promise<void>;
  /**
   * Where the volume is now, read from the store (`volume` may answer from what this process
   * last knew). Drivers whose volumes never change place need not have it.
   */
  locate?(uuid: string): Promise<VolumeHandle>;
  /**
   * Makes `host` hold the volume (moving it there from wherever it is, through the hypervisor's
   * streams), and answers it there; a volume already there is not touched. No guest may use the
   * volume meanwhile. Drivers with only shared storage, or one host, need not have it.
   */
  moveTo?(uuid: string, host: string): Promise<VolumeHandle>;
}
