/**
 * What the composition root gives every driver (`DriverEnv`) and what a driver entry of the
 * registry builds (`Drivers`): apart from the registry, so that drivers built in modules of
 * their own (`libvirt.ts`) import it without an import circle.
 */
import type { Socket } from 'node:net';
import type { Clock } from '../engine/clock.js';
import type { HostRecord } from '../engine/hosts.js';
import type { GuestContextPorts } from './compute/simulated/context-sockets.js';
import type { MachineTable, SimulatedCompute } from './compute/simulated/driver.js';
import type { ComputeDriver, DriverProbe } from './compute/types.js';
import type { LibvirtSettings } from './libvirt-settings.js';
import type { ImageStore } from './storage/images.js';
import type { StorageDriver } from './storage/types.js';
import type { Transitions } from './transitions.js';

/** What the composition root gives every driver. */
export interface DriverEnv {
  clock: Clock;
  /** The hosts this process serves (`--hosts`). */
  hosts: readonly string[];
  /**
   * What the operator declared of hosts (`engine/hosts.ts`), by name, as the store had it when
   * the drivers were built; a host without a record takes the process's settings.
   */
  hostRecords?: ReadonlyMap<string, HostRecord>;
  /** A namespace of the store's component state, for drivers that keep records there. */
  state: (namespace: string) => MachineTable;
  /** The simulated transition times (`--transitions`), as they are now. */
  transitions: () => Transitions;
  /** The address tunnels (VNC, console) listen on. */
  tunnelHost: string;
  /** Whether simulated guests answer ACPI (`--no-guest-acpi`). */
  guestAcpi: boolean;
  /** Where running simulated guests' context ports are exposed (`--context-dir`); nowhere without. */
  contextPorts?: GuestContextPorts | undefined;
  /** Uploaded images (a clone of a drive that has one gets a copy). */
  images?: ImageStore | undefined;
  /**
   * Whether other processes may share this one's store (PostgreSQL): they then coordinate through
   * it; without, a process claims its libvirt host alone (`host-claim.ts`).
   */
  sharedStore: boolean;
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
  /**
   * Where uploads go when the driver keeps them itself (libvirt: in drives' volumes); absent,
   * the data directory's files (`env.images`).
   */
  images?: ImageStore;
}
