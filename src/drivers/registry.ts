/**
 * The driver registry: `--driver NAME` picks the compute and storage drivers a process runs
 * machines and drives with. Each entry builds both from what the composition root hands every
 * driver; adding a driver is adding an entry (docs/architecture.md, "Adding a driver").
 */
import type { Socket } from 'node:net';
import type { Clock } from '../engine/clock.js';
import { type MachineTable, SimulatedCompute } from './compute/simulated/driver.js';
import type { ComputeDriver, DriverProbe } from './compute/types.js';
import { createLibvirtDrivers, type LibvirtSettings } from './libvirt.js';
import { SimulatedStorage } from './storage/simulated/driver.js';
import type { StorageDriver } from './storage/types.js';
import type { Transitions } from './transitions.js';

/** What the composition root gives every driver. */
export interface DriverEnv {
  clock: Clock;
  /** The hosts this process serves (`--hosts`). */
  hosts: readonly string[];
  /** A namespace of the store's component state, for drivers that keep records there. */
  state: (namespace: string) => MachineTable;
  /** The simulated transition times (`--transitions`), as they are now. */
  transitions: () => Transitions;
  /** The address tunnels (VNC, console) listen on. */
  tunnelHost: string;
  /** Whether simulated guests answer ACPI (`--no-guest-acpi`). */
  guestAcpi: boolean;
  /** The data directory (`--data`): the libvirt pool and sockets are below it. */
  dataDir: string;
  /** The libvirt driver's settings (`--libvirt-*`). */
  libvirt: LibvirtSettings;
  /** The address guests' serial ports connect to (a libvirt host must reach it). */
  serialHost: string;
  /** The public network: its gateway, prefix and the range DHCP hands out to unknown NICs. */
  publicNetwork: { gateway: string; prefix: number; dhcp: { start: string; end: string } };
  /** Serves a server's context (docs/context.md) on a connection; returns what stops it. */
  serveContext: (server: string, port: Socket) => () => void;
  log: (level: 'info' | 'warn', context: Record<string, unknown>, message: string) => void;
}

export interface Drivers {
  name: string;
  compute: ComputeDriver;
  storage: StorageDriver;
  /** What the drivers can do, for `/readyz` and the logs. */
  probe: DriverProbe;
  /** The simulated compute driver's test controls, when that is the driver. */
  simulated: SimulatedCompute | undefined;
}

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
    });
    return {
      name: 'simulated',
      compute,
      storage: new SimulatedStorage(env.clock, env.transitions),
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
