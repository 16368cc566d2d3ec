/**
 * The compute driver: what the lifecycle engine asks of a hypervisor. Implemented by the simulated
 * driver (default) and, later, by the QEMU driver (`../shared/notes/vm-backend.md` §6.1). Only
 * the engine calls it.
 */

export interface MachineDrive {
  uuid: string;
  device: 'ide' | 'virtio';
  devChannel: string;
  bootOrder: number | null;
  media: 'disk' | 'cdrom';
}

export interface MachineNic {
  mac: string;
  model: string;
  bootOrder: number | null;
  vlan: string | null;
  /** The address the NIC gets (static or leased from the dynamic pool), if any. */
  ipv4: string | null;
}

/** What a machine is started from: the server definition, resolved. */
export interface MachineSpec {
  uuid: string;
  name: string;
  cpu: number;
  mem: number;
  smp: number;
  vncPassword: string;
  context: boolean;
  drives: MachineDrive[];
  nics: MachineNic[];
}

export type MachineState = 'stopped' | 'starting' | 'running' | 'stopping' | 'paused';

export interface MachineStatus {
  state: MachineState;
  /** Clock milliseconds since the state began. */
  since: number;
}

export interface ComputeDriver {
  readonly name: string;
  /** Boots a machine; resolves once it runs. A machine already running resolves at once. */
  start(spec: MachineSpec): Promise<{ activeSince: number }>;
  /** Powers a machine off at once (hard stop). Stopping a stopped machine is no error. */
  stop(uuid: string): Promise<void>;
  /**
   * Presses the ACPI power button (repeatedly, as CloudSigma does every second) for up to
   * `timeoutMs`: true if the guest powered off, false if it ignored the request (still running).
   */
  shutdown(uuid: string, timeoutMs: number): Promise<boolean>;
  /**
   * Powers a machine off at once, without a transition (its host died; a paused machine is
   * revived). A transition under way for it ends without effect. Killing no machine is no error.
   */
  kill(uuid: string): Promise<void>;
  /** Freezes a running machine (`paused`, "essentially dead"): only `kill` ends that. */
  pause(uuid: string): Promise<void>;
  status(uuid: string): Promise<MachineStatus>;
  /** Machines that run (for reconciliation). */
  running(): Promise<string[]>;
  /** Opens a VNC tunnel to the machine's screen (a new port every time). */
  openVnc(uuid: string, password: string, desktopName: string): Promise<{ port: number }>;
  closeVnc(uuid: string): Promise<void>;
  /** Opens a serial-console tunnel guarded by the password (docs/console.md). */
  openConsole(uuid: string, password: string, name: string): Promise<{ port: number }>;
  closeConsole(uuid: string): Promise<void>;
  /** Releases listeners and timers; machines keep their state. */
  close(): Promise<void>;
}
