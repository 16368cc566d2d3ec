/**
 * Drives on several libvirt hosts, each host with a pool of its own (a directory on its own
 * disks): a volume is on one host, and moves to another through libvirt's streams
 * (`volume-copy.ts`) when a server that uses it starts there.
 *
 * Where each volume is, is component state in the table servers' placements use
 * (`engine.placement`: key = the volume's uuid, value = the host), so that placement reads a
 * drive's host as it reads a server's (`hostOf`). A volume without a record is on `defaultHost`.
 * A new volume is made on the host its record names (placement may choose before the create),
 * else on `defaultHost`; a copy (clone, snapshot, a clone of a snapshot) is made beside its
 * source. Library images (`importBase`) are on every host: they have no record.
 *
 * A move writes what it is doing first (`moves`: key = the uuid, value = `{"from","to"}`), copies,
 * verifies, switches the record to the new host, then removes the source and its note. After a
 * crash the note tells what was under way: the next call for that volume finishes it (a copy
 * found complete is not streamed again) or, when another host is now wanted, removes the partial
 * copy. A stale volume on a host is therefore never taken for a complete copy.
 */
import type { MachineTable } from '../../compute/simulated/driver.js';
import { DriverError } from '../../errors.js';
import type { StorageDriver, VolumeHandle } from '../types.js';
import { LibvirtStorage } from './driver.js';
import { type CopyTimeout, copyVolume } from './volume-copy.js';
import type { LibvirtVolumes } from './volumes.js';

/** A host's pool. */
export interface HostPool {
  volumes: LibvirtVolumes;
  /** The pool's directory on that host. */
  path: string;
}

/** A namespace of component state: `get`, `put`, `delete`, `list` of string values by key. */
export type StateTable = MachineTable;

export interface HostPoolsStorageOptions {
  /** Each host's pool, by host name (hosts added later: `addPool`). */
  pools: ReadonlyMap<string, HostPool>;
  /** Where volumes are: `engine.placement` (key = uuid, value = host). */
  locations: StateTable;
  /** Moves under way (key = uuid, value = JSON `{"from","to"}`), a namespace of its own. */
  moves: StateTable;
  /**
   * The host of a volume without a record (one made before its pools were per host); while it
   * is not served (down at start), what is there waits for it.
   */
  defaultHost: string;
  /** How long a move may take (`volume-copy.ts` has the default). */
  copyTimeout?: CopyTimeout;
}

/**
 * Where volumes are: the namespace of placement's records (`PLACEMENT_STATE` of
 * engine/placement.ts, which drivers do not import), so that placement reads a volume's host.
 */
export const VOLUME_LOCATIONS_STATE = 'engine.placement';

/** The namespace of moves under way (`engine.placement` holds where volumes are). */
export const VOLUME_MOVES_STATE = 'storage.moves';

interface Move {
  from: string;
  to: string;
}

export class HostPoolsStorage implements StorageDriver {
  readonly name = 'libvirt';
  private readonly storages = new Map<string, LibvirtStorage>();
  /** Where this process last saw each volume with a record (`volume` answers from it). */
  private readonly known = new Map<string, string>();
  /** The pools served: `options.pools`, and those added since. */
  private readonly pools: Map<string, HostPool>;
  /**
   * Library images (`importBase`), by uuid with their image file: on every host (a pool added
   * later imports them too), so never moved (their handle's host is null).
   */
  private readonly everywhere = new Map<string, string>();
  /** Per volume, the operation under way: one at a time per volume in this process. */
  private readonly busy = new Map<string, Promise<unknown>>();

  constructor(private readonly options: HostPoolsStorageOptions) {
    this.pools = new Map(options.pools);
    for (const [host, pool] of this.pools) this.storages.set(host, storageOn(host, pool));
  }

  /** A host served from now on (added while running): its pool gets the library images. */
  async addPool(host: string, pool: HostPool): Promise<void> {
    const storage = storageOn(host, pool);
    for (const [uuid, path] of this.everywhere) await storage.importBase(uuid, path);
    this.pools.set(host, pool);
    this.storages.set(host, storage);
  }

  /** The pool holding a volume now (uploads and downloads go there). */
  async volumesOf(uuid: string): Promise<LibvirtVolumes> {
    if (this.everywhere.has(uuid)) return this.pool(this.options.defaultHost).volumes;
    return this.pool(await this.hostOf(uuid)).volumes;
  }

  /** Reads every location record, so that `volume` knows them; answers how many there are. */
  async load(): Promise<number> {
    const rows = await this.options.locations.list();
    for (const { key, value } of rows) {
      if (this.pools.has(value)) this.known.set(key, value);
    }
    return rows.length;
  }

  /**
   * Where this process last saw the volume (`load`, and its own changes); another process's
   * move is seen by `locate`.
   */
  volume(uuid: string): VolumeHandle {
    if (this.everywhere.has(uuid)) return this.libraryVolume(uuid);
    return this.storage(this.known.get(uuid) ?? this.options.defaultHost).volume(uuid);
  }

  async locate(uuid: string): Promise<VolumeHandle> {
    if (this.everywhere.has(uuid)) return this.libraryVolume(uuid);
    return this.storage(await this.hostOf(uuid)).volume(uuid);
  }

  /** A library image, in every host's pool under one name. */
  private libraryVolume(uuid: string): VolumeHandle {
    return { ...this.storage(this.options.defaultHost).volume(uuid), host: null };
  }

  create(uuid: string, size: number): Promise<VolumeHandle> {
    return this.serially(uuid, async () => {
      await this.settle(uuid);
      const host = await this.hostOf(uuid);
      const volume = await this.storage(host).create(uuid, size);
      await this.record(uuid, host);
      return volume;
    });
  }

  resize(uuid: string, size: number): Promise<VolumeHandle> {
    return this.serially(uuid, async () => {
      await this.settle(uuid);
      return this.storage(await this.hostOf(uuid)).resize(uuid, size);
    });
  }

  clone(source: string, target: string, size: number): Promise<VolumeHandle> {
    return this.beside(source, target, (storage) => storage.clone(source, target, size));
  }

  async snapshot(drive: string, snapshot: string): Promise<{ allocatedSize: number }> {
    let answer = { allocatedSize: 0 };
    await this.beside(drive, snapshot, async (storage) => {
      answer = await storage.snapshot(drive, snapshot);
    });
    return answer;
  }

  cloneSnapshot(snapshot: string, target: string, size: number): Promise<VolumeHandle> {
    return this.beside(snapshot, target, (storage) =>
      storage.cloneSnapshot(snapshot, target, size),
    );
  }

  /** Removes the volume wherever it may be (a move's other copy too), then its records. */
  remove(uuid: string): Promise<void> {
    return this.serially(uuid, async () => {
      const recorded = await this.options.locations.get(uuid);
      const move = await this.pendingMove(uuid);
      // No record: a library image (on every host) or a volume on the default host.
      const hosts =
        recorded === undefined && move === null
          ? [...this.pools.keys()]
          : [recorded ?? this.options.defaultHost, ...(move ? [move.from, move.to] : [])];
      // A host this process does not serve keeps the volume and its records: an error, retried.
      for (const host of new Set(hosts)) await this.storage(host, false).remove(uuid);
      await this.options.moves.delete(uuid);
      await this.options.locations.delete(uuid);
      this.known.delete(uuid);
      this.everywhere.delete(uuid);
    });
  }

  /** A library image: on every host (a linked clone anywhere reads it there). */
  async importBase(uuid: string, path: string): Promise<void> {
    for (const storage of this.storages.values()) await storage.importBase(uuid, path);
    this.everywhere.set(uuid, path);
  }

  moveTo(uuid: string, host: string): Promise<VolumeHandle> {
    if (this.everywhere.has(uuid)) return Promise.resolve(this.libraryVolume(uuid));
    return this.serially(uuid, async () => {
      const target = this.storage(host);
      await this.settle(uuid, host);
      const from = await this.hostOf(uuid);
      if (from === host) return target.volume(uuid);
      await this.options.moves.put(uuid, JSON.stringify({ from, to: host } satisfies Move));
      try {
        await this.copy(uuid, from, host);
      } catch (error) {
        // The copy removed what it made: nothing is under way any more.
        await this.options.moves.delete(uuid);
        throw error;
      }
      await this.finish(uuid, { from, to: host });
      return target.volume(uuid);
    });
  }

  /**
   * Brings a move that a crash interrupted to an end: one whose copy was verified (the record
   * names its target) loses its source; one still copying is finished when `wanted` is its
   * target, else its partial copy is removed.
   */
  private async settle(uuid: string, wanted?: string): Promise<void> {
    const move = await this.pendingMove(uuid);
    if (move === null) return;
    const at = await this.hostOf(uuid);
    if (at === move.to) return this.finish(uuid, move);
    if (wanted === move.to && at === move.from) {
      await this.copy(uuid, move.from, move.to);
      return this.finish(uuid, move);
    }
    await this.storage(move.to, false).remove(uuid);
    await this.options.moves.delete(uuid);
  }

  /** The copy is verified: the volume is on `to` from now on; the source goes. */
  private async finish(uuid: string, move: Move): Promise<void> {
    await this.record(uuid, move.to);
    await this.storage(move.from, false).remove(uuid);
    await this.options.moves.delete(uuid);
  }

  private copy(uuid: string, from: string, to: string): Promise<unknown> {
    const end = (host: string) => ({ host, volumes: this.pool(host).volumes });
    return copyVolume(end(from), end(to), uuid, { timeout: this.options.copyTimeout });
  }

  /** Makes `target` from `source` on `source`'s host, and records it there. */
  private beside<T>(
    source: string,
    target: string,
    make: (storage: LibvirtStorage) => Promise<T>,
  ): Promise<T> {
    // Serial with the source's other operations; the target is new, nothing else uses it.
    return this.serially(source, async () => {
      await this.settle(source);
      const host = await this.hostOf(source);
      const made = await make(this.storage(host));
      await this.record(target, host);
      return made;
    });
  }

  private async hostOf(uuid: string): Promise<string> {
    const host = (await this.options.locations.get(uuid)) ?? this.options.defaultHost;
    if (!this.pools.has(host)) {
      throw new DriverError(
        `volume ${uuid} is on host ${host}, which this process does not serve`,
        false,
      );
    }
    this.known.set(uuid, host);
    return host;
  }

  private async record(uuid: string, host: string): Promise<void> {
    if ((await this.options.locations.get(uuid)) !== host)
      await this.options.locations.put(uuid, host);
    this.known.set(uuid, host);
  }

  private async pendingMove(uuid: string): Promise<Move | null> {
    const value = await this.options.moves.get(uuid);
    return value === undefined ? null : (JSON.parse(value) as Move);
  }

  /** The host's storage; `permanent` tells whether its absence is for good (a caller's host). */
  private storage(host: string, permanent = true): LibvirtStorage {
    const storage = this.storages.get(host);
    if (!storage) throw new DriverError(`no storage pool on host ${host}`, permanent);
    return storage;
  }

  private pool(host: string): HostPool {
    const pool = this.pools.get(host);
    if (!pool) throw new DriverError(`no storage pool on host ${host}`, true);
    return pool;
  }

  /** Runs `work` after what this process already does with volume `uuid`. */
  private serially<T>(uuid: string, work: () => Promise<T>): Promise<T> {
    const before = this.busy.get(uuid) ?? Promise.resolve();
    const run = before.catch(() => {}).then(work);
    const settled = run.catch(() => {});
    this.busy.set(uuid, settled);
    void settled.then(() => {
      if (this.busy.get(uuid) === settled) this.busy.delete(uuid);
    });
    return run;
  }
}

function storageOn(host: string, pool: HostPool): LibvirtStorage {
  return new LibvirtStorage({ volumes: pool.volumes, poolPath: pool.path, host });
}
