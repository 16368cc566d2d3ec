/**
 * Simulated drive storage: every operation takes its configured time on the engine's clock. Drives
 * hold no bytes, except uploaded images (`images.ts`), which a clone copies.
 */
import type { Clock } from '../../../engine/clock.js';
import type { Transitions } from '../../transitions.js';
import type { ImageStore } from '../images.js';
import type { StorageDriver, VolumeHandle } from '../types.js';

/** The one pool of the simulator, which every simulated host reaches. */
export const SIMULATED_POOL = 'simulated';

export class SimulatedStorage implements StorageDriver {
  readonly name = 'simulated';

  constructor(
    private readonly clock: Clock,
    private readonly transitions: () => Transitions,
    /** Uploaded images: a clone of a drive that has one gets a copy of it. */
    private readonly images?: ImageStore,
  ) {}

  /** Shared storage: no host of its own, no file. */
  volume(uuid: string): VolumeHandle {
    return { host: null, pool: SIMULATED_POOL, name: uuid, path: null, format: 'raw' };
  }

  async create(uuid: string, _size: number): Promise<VolumeHandle> {
    await this.clock.sleep(this.transitions().create);
    return this.volume(uuid);
  }

  async resize(uuid: string, _size: number): Promise<VolumeHandle> {
    await this.clock.sleep(this.transitions().resize);
    return this.volume(uuid);
  }

  async clone(source: string, target: string, _size: number): Promise<VolumeHandle> {
    await this.clock.sleep(this.transitions().clone);
    await this.images?.copy(source, target);
    return this.volume(target);
  }

  /** Nothing is written to a simulated drive, so its snapshots hold nothing (0 bytes). */
  async snapshot(_drive: string, _snapshot: string): Promise<{ allocatedSize: number }> {
    await this.clock.sleep(this.transitions().snapshot);
    return { allocatedSize: 0 };
  }

  async cloneSnapshot(_snapshot: string, target: string, _size: number): Promise<VolumeHandle> {
    await this.clock.sleep(this.transitions().clone);
    return this.volume(target);
  }

  async remove(_uuid: string): Promise<void> {}
}
