/** Simulated drive storage: every operation takes its configured time on the engine's clock. */
import type { Clock } from '../../../engine/clock.js';
import type { Transitions } from '../../transitions.js';
import type { StorageDriver, VolumeHandle } from '../types.js';

/** The one pool of the simulator, which every simulated host reaches. */
export const SIMULATED_POOL = 'simulated';

export class SimulatedStorage implements StorageDriver {
  readonly name = 'simulated';

  constructor(
    private readonly clock: Clock,
    private readonly transitions: () => Transitions,
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

  async clone(_source: string, target: string, _size: number): Promise<VolumeHandle> {
    await this.clock.sleep(this.transitions().clone);
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
