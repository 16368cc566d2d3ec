/**
 * The driver registry: `--driver NAME` picks the compute and storage drivers a process runs
 * machines and drives with. Each entry builds both from what the composition root hands every
 * driver; adding a driver is adding an entry (docs/architecture.md, "Adding a driver").
 */
import { SimulatedCompute } from './compute/simulated/driver.js';
import type { DriverEnv, Drivers } from './env.js';
import { createLibvirtDrivers } from './libvirt.js';
import { SimulatedStorage } from './storage/simulated/driver.js';

export type { DriverEnv, Drivers } from './env.js';

type DriverFactory = (env: DriverEnv) => Promise<Drivers>;

/**
 * The host machines of the store's data written before hosts existed ran on, and the one a
 * process serves by default. The simulated host of that name keeps its machines where they
 * always were (`sim.machines`).
 */
export const DEFAULT_HOST = 'local';

function machineNamespace(host: string): string {
  return host === DEFAULT_HOST ? 'sim.machines' : `sim.machines.${host}`;
}

const REGISTRY: Record<string, DriverFactory> = {
  simulated: async (env) => {
    const compute = new SimulatedCompute({
      clock: env.clock,
      transitions: env.transitions,
      hosts: env.hosts,
      machines: (host) => env.state(machineNamespace(host)),
      tunnelHost: env.tunnelHost,
      guestAcpi: env.guestAcpi,
      contextPorts: env.contextPorts,
    });
    return {
      name: 'simulated',
      compute,
      storage: new SimulatedStorage(env.clock, env.transitions, env.images),
      probe: await compute.probe(),
      simulated: compute,
    };
  },
  libvirt: createLibvirtDrivers,
};

/** Drivers `--driver` will take, with why a known one is not here yet. */
const COMING: Record<string, string> = {};

export const DRIVER_NAMES: readonly string[] = Object.keys(REGISTRY);

/** Why `name` is no driver to run with, or undefined if it is one. */
export function driverProblem(name: string): string | undefined {
  if (Object.hasOwn(REGISTRY, name)) return undefined;
  return COMING[name] ?? `unknown driver "${name}" (drivers: ${[...DRIVER_NAMES].join(', ')})`;
}

export class DriverUnavailableError extends Error {}

/** Builds the drivers `name` names. */
export async function createDrivers(name: string, env: DriverEnv): Promise<Drivers> {
  const factory = REGISTRY[name];
  if (!factory || !Object.hasOwn(REGISTRY, name)) {
    throw new DriverUnavailableError(driverProblem(name));
  }
  return factory(env);
}
