/**
 * Simulated drive storage: every operation takes its configured time on the engine's clock. Drives
 * hold no bytes, except uploaded images (`images.ts`), which a clone copies.
 */
import type { Clock } from '../../../engine/clock.js';
import type { Transitions } from '../../transitions.js';
import type { ImageStore } from '../images.js';
import type { StorageDriver } from '../types.js';

export class SimulatedStorage implements StorageDriver {
  readonly name = 'simulated';

  constructor(
    private readonly clock: Clock,
    private readonly transitions: () => Transitions,
    /** Uploaded images: a clone of a drive that has one gets a copy of it. */
    private readonly images?: ImageStore,
  ) {}

  async create(_uuid: string, _size: number): Promise<void> {
    await this.clock.sleep(this.transitions().create);
  }

  async resize(_uuid: string, _size: number): Promise<void> {
    await this.clock.sleep(this.transitions().resize);
  }

  async clone(source: string, target: string, _size: number): Promise<void> {
    await this.clock.sleep(this.transitions().clone);
    await this.images?.copy(source, target);
  }

  /** Nothing is written to a simulated drive, so its snapshots hold nothing (0 bytes). */
  async snapshot(_drive: string, _snapshot: string): Promise<{ allocatedSize: number }> {
    await this.clock.sleep(this.transitions().snapshot);
    return { allocatedSize: 0 };
  }

  async cloneSnapshot(_snapshot: string, _target: string, _size: number): Promise<void> {
    await this.clock.sleep(this.transitions().clone);
  }

  async remove(_uuid: string): Promise<void> {}
}
