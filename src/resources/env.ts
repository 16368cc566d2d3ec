import type { Random } from '../model/random.js';
import type { Store } from '../store/types.js';
import type { Capabilities } from './capabilities/types.js';

/** What resource services are given by the composition root (`app.ts`). */
export interface ResourceEnv {
  store: Store;
  capabilities: Capabilities;
  /** The `cpu_type` of a server created without one (a location's hosts decide it). */
  defaultCpuType: string;
  random: Random;
  now(): Date;
}
