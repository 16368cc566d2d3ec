/**
 * The compute driver: what the lifecycle engine asks of hypervisor hosts. Implemented by the
 * simulated driver (default, any number of simulated hosts) and, next, by the libvirt driver
 * (`compute/libvirt/`, whose `DomainSpec` is a `MachineSpec` resolved for libvirt). Only the
 * engine calls it.
 *
 * A driver serves the hosts of one process (`hosts`); every call names the host it is about.
 * What a host does on its own (a guest that powers itself off, a hypervisor process killed from
 * outside) comes back as events; counters and the list of machines a host runs let the engine
 * reconcile periodically.
 */
import type { NamedHost } from '../../engine/hosts.js';
import type { VolumeHandle } from '../storage/types.js';

export interface MachineDrive {
  /** The drive's uuid (a library cdrom's own uuid). */
  uuid: string;
  /** Where its image is, from the storage driver. */
  volume: VolumeHandle;
  /** CloudSigma's `device`: the bus. */
  device: 'ide' | 'virtio';
  /** CloudSigma's `dev_channel`, `C:U`. */
  devChannel: string;
  media: 'disk' | 'cdrom';
  /** CloudSigma's `boot_order`: 1 boots first; null does not boot. */
  bootOrder: number | null;
}

/** A firewall rule as CloudSigma declares it (`/fwpolicies/`). */
export interface MachineFirewallRule {
  action: 'drop' | 'accept';
  direction: 'in' | 'out' | 'both';
  protocol: 'tcp' | 'udp' | null;
  srcIp: string | null;
  srcPort: string | null;
  dstIp: string | null;
  dstPort: string | null;
}

export interface MachineFirewallPolicy {
  uuid: string;
  rules: MachineFirewallRule[];
}

export interface MachineNic {
  mac: string;
  /** virtio, e1000, rtl8139, ... */
  model: string;
  bootOrder: number | null;
  /** The public network, or the private VLAN (its uuid) the NIC joins. */
  network: { kind: 'public' } | { kind: 'vlan'; vlan: string };
  /** The address the NIC gets (static, or leased from the dynamic pool), if any. */
  ipv4: string | null;
  /** How it is configured (`ip_v4_conf.conf`): the host answers DHCP for `dhcp` only. */
  ipv4Conf: 'dhcp' | 'static' | 'manual' | null;
  firewallPolicy: MachineFirewallPolicy | null;
}

/** What a machine is started from: everything of the server definition a hypervisor needs. */
export interface MachineSpec {
  uuid: string;
  name: string;
  /** CloudSigma's `cpu`: MHz for the whole server. */
  cpuMhz: number;
  /** Virtual CPUs. */
  smp: number;
  memBytes: number;
  /** CloudSigma's `cpu_type` (`amd`, `intel`). */
  cpuType: string;
  /** CloudSigma's `cpu_model`: `kvm64` or null (the host's own). */
  cpuModel: string | null;
  socketsInsteadOfCores: boolean;
  enableNuma: boolean;
  hvRelaxed: boolean;
  hvTsc: boolean;
  vncPassword: string;
  /** Whether the server context (the second serial port) is on. */
  context: boolean;
  /**
   * Where the machine's serial ports connect to (the console, and the context when it is on), on
   * the process that serves the host; null where the driver keeps them itself (simulated).
   */
  serial: { console: number | null; context: number | null };
  drives: MachineDrive[];
  nics: MachineNic[];
}

export type MachineState = 'stopped' | 'starting' | 'running' | 'stopping' | 'paused';

export interface MachineStatus {
  state: MachineState;
  /** Clock milliseconds since the state began. */
  since: number;
}

/** A machine a host runs, as its hypervisor reports it. */
export interface MachineInfo extends MachineStatus {
  uuid: string;
}

/** Why a machine's state changed, when the host says. */
export type MachineEventReason =
  /** The guest powered itself off (or answered ACPI). */
  | 'guest'
  /** The hypervisor process went away (killed from outside, crashed). */
  | 'crashed'
  /** sigmalite asked for it (start, stop, kill, pause). */
  | 'requested';

/** A state change a host reports. */
export interface MachineEvent {
  host: string;
  uuid: string;
  state: MachineState;
  reason: MachineEventReason;
  /** Clock milliseconds. */
  at: number;
}

export interface DriveCounters {
  bytesRead: number;
  bytesWritten: number;
  countFlush: number;
  countRead: number;
  countWritten: number;
  totalTimeNsFlush: number;
  totalTimeNsRead: number;
  totalTimeNsWrite: number;
}

export interface NicCounters {
  bytesRecv: number;
  bytesSent: number;
  packetsRecv: number;
  packetsSent: number;
}

/** A running machine's counters since it started, and the addresses its NICs have. */
export interface MachineCounters {
  /** By drive uuid. */
  drives: Record<string, DriveCounters>;
  /** By MAC. */
  nics: Record<string, NicCounters & { ipv4: string | null }>;
}

/** What a driver found it can do, for `/readyz` and the logs. */
export interface DriverProbe {
  driver: string;
  /** The hosts it serves, each with what runs its guests. */
  hosts: {
    name: string;
    accelerator: 'kvm' | 'tcg' | 'simulated';
    warning: string | null;
    /** What the host offers servers (MHz of all its cores, memory bytes), when it says. */
    capacity?: { mhz: number; memory: number };
  }[];
  /** Optional abilities (`events`, `counters`, `vnc`, `console`, `hyperv`, `numa`...). */
  features: string[];
}

/** A host's hypervisor stopped or started answering (libvirt: its connection and keepalive). */
export interface HostStateEvent {
  host: string;
  up: boolean;
  /** Clock milliseconds. */
  at: number;
  /** Why it is down, when it is. */
  reason?: string;
}

/** A VNC or console tunnel a host holds open. */
export interface TunnelInfo {
  uuid: string;
  kind: 'vnc' | 'console';
  /** Since when (`Date.now()`) no client has been connected to it; null while one is. */
  idleSince: number | null;
}

export interface ComputeDriver {
  readonly name: string;
  /** The hosts this process runs machines on. */
  readonly hosts: readonly string[];
  probe(): Promise<DriverProbe>;
  /** Boots a machine; resolves once it runs. A machine already running resolves at once. */
  start(host: string, spec: MachineSpec): Promise<{ activeSince: number }>;
  /** Powers a machine off at once (hard stop). Stopping a stopped machine is no error. */
  stop(host: string, uuid: string): Promise<void>;
  /**
   * Presses the ACPI power button (repeatedly, as CloudSigma does every second) for up to
   * `timeoutMs`: true if the guest powered off, false if it ignored the request (still running).
   */
  shutdown(host: string, uuid: string, timeoutMs: number): Promise<boolean>;
  /**
   * Powers a machine off at once, without a transition (its host died; a paused machine is
   * revived). A transition under way for it ends without effect. Killing no machine is no error.
   */
  kill(host: string, uuid: string): Promise<void>;
  /** Freezes a running machine (`paused`, "essentially dead"): only `kill` ends that. */
  pause(host: string, uuid: string): Promise<void>;
  status(host: string, uuid: string): Promise<MachineStatus>;
  /**
   * Removes what the host keeps of a deleted server's machine (libvirt: its domain's
   * definition), powering it off first if it runs; nothing kept is no error. With `onlyStopped`
   * (a server that started on another host), a machine that is not stopped is left alone,
   * decided under the machine's own lock so that a start under way there is never undone.
   * Drivers that keep nothing of a stopped machine need not have it.
   */
  forget?(host: string, uuid: string, options?: { onlyStopped?: boolean }): Promise<void>;
  /**
   * A firewall policy's rules changed: NICs running with it on `host` follow the new rules. For
   * drivers that enforce policies (libvirt); others need not have it.
   */
  applyPolicy?(host: string, policy: MachineFirewallPolicy): Promise<void>;
  /**
   * A firewall policy was deleted: `host` drops what it kept of it (libvirt: its nwfilter), once
   * no NIC runs with it (deletion needs its servers stopped). Absent: no error.
   */
  removePolicy?(host: string, policy: string): Promise<void>;
  /** The machines a host has that are not stopped (for reconciliation). */
  machines(host: string): Promise<MachineInfo[]>;
  /** A running machine's counters; null when it does not run. */
  counters(host: string, uuid: string): Promise<MachineCounters | null>;
  /** Calls `listener` on every state change of any machine of any host served. */
  onEvent(listener: (event: MachineEvent) => void): () => void;
  /** Opens a VNC tunnel to the machine's screen (a new port every time). */
  openVnc(host: string, uuid: string, password: string, name: string): Promise<{ port: number }>;
  closeVnc(host: string, uuid: string): Promise<void>;
  /** Opens a serial-console tunnel guarded by the password (docs/console.md). */
  openConsole(
    host: string,
    uuid: string,
    password: string,
    name: string,
  ): Promise<{ port: number }>;
  closeConsole(host: string, uuid: string): Promise<void>;
  /** The tunnels a host holds open now (the engine caps them and closes idle ones). */
  tunnels(host: string): TunnelInfo[];
  /**
   * Calls `listener` when a host served stops or starts answering. Drivers whose hosts cannot
   * go away (simulated, where the control API crashes hosts instead) need not have it.
   */
  onHostState?(listener: (event: HostStateEvent) => void): () => void;
  /**
   * Starts serving one more host (`sigmalite host add` while running): `hosts` then names it.
   * Drivers with a fixed set of hosts need not have it.
   */
  addHost?(host: NamedHost): Promise<void>;
  /** Stops serving a host (its machines run on, untouched); `hosts` no longer names it. */
  removeHost?(name: string): Promise<void>;
  /** Releases listeners, event streams and timers; machines keep their state. */
  close(): Promise<void>;
}
