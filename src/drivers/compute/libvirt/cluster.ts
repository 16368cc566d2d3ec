/**
 * The libvirt hosts of one process as one compute driver: each host is a `LibvirtCompute` of its
 * own (its own interactive virsh, event stream, domain locks and serial ports), and every call
 * goes to the one its host argument names. Hosts can be added and removed while the process
 * runs (`addHost`, `removeHost`: a removed host's machines run on, untouched).
 *
 * Each host's event stream says when it stops answering (its keepalive gives up, or libvirtd
 * went away) and when it answers again (events flow): the cluster turns that into host events
 * (`onHostState`), each host's changes once, and tells a new listener every host's state at
 * once, so that the engine, which listens after the hosts were connected, knows them all.
 *
 * A host that cannot be connected (`serveWhenReachable`) is down, and tried again until it can.
 */
import type { Clock } from '../../../engine/clock.js';
import type { NamedHost } from '../../../engine/hosts.js';
import { DriverError } from '../../errors.js';
import type {
  ComputeDriver,
  DriverProbe,
  HostStateEvent,
  MachineCounters,
  MachineEvent,
  MachineFirewallPolicy,
  MachineInfo,
  MachineSpec,
  MachineStatus,
  TunnelInfo,
} from '../types.js';
import type { LibvirtCompute } from './driver.js';
import type { LibvirtHost } from './host.js';

/**
 * Connects a host and makes what it needs (the process's composition: `drivers/libvirt.ts`);
 * `report` is told when its hypervisor stops (`up` false, why) and starts answering again.
 */
export type ConnectHost = (
  host: NamedHost,
  report: (up: boolean, reason?: string) => void,
) => Promise<{ compute: LibvirtCompute; libvirt: LibvirtHost }>;

export interface LibvirtClusterOptions {
  clock: Clock;
  connect: ConnectHost;
  /** A host `serveWhenReachable` could not connect (each failure; the logs). */
  onUnreachable?: (host: string, error: Error) => void;
}

interface Member {
  record: NamedHost;
  compute: LibvirtCompute;
  libvirt: LibvirtHost;
  stopEvents: () => void;
  state: HostStateEvent;
}

export class LibvirtCluster implements ComputeDriver {
  readonly name = 'libvirt';
  private readonly members = new Map<string, Member>();
  /** Hosts being connected: a second `addHost` of one waits for the first. */
  private readonly connecting = new Map<string, Promise<void>>();
  private readonly listeners = new Set<(event: MachineEvent) => void>();
  private readonly hostListeners = new Set<(event: HostStateEvent) => void>();
  /** Hosts to serve that could not be connected yet: their state (down) and the next try. */
  private readonly unreachable = new Map<
    string,
    { state: HostStateEvent; timer: NodeJS.Timeout }
  >();
  private closed = false;

  constructor(private readonly options: LibvirtClusterOptions) {}

  get hosts(): readonly string[] {
    return [...this.members.keys()];
  }

  /** Connects the host (made ready, its running machines adopted); one served already is kept. */
  async addHost(host: NamedHost): Promise<void> {
    if (this.members.has(host.name)) return;
    const pending = this.connecting.get(host.name);
    if (pending) return pending;
    const connecting = this.connect(host).finally(() => this.connecting.delete(host.name));
    this.connecting.set(host.name, connecting);
    return connecting;
  }

  private async connect(host: NamedHost): Promise<void> {
    const { compute, libvirt } = await this.options.connect(host, (up, reason) =>
      this.report(host.name, up, reason),
    );
    const stopEvents = compute.onEvent((event) => {
      for (const listener of this.listeners) listener(event);
    });
    const state: HostStateEvent = { host: host.name, up: true, at: this.options.clock.now() };
    this.members.set(host.name, { record: host, compute, libvirt, stopEvents, state });
    this.tell(state);
  }

  /**
   * Connects the host, or, when it cannot be connected now, reports it down (why: the error)
   * and tries again every `retryMs` until it can (or it is removed, or the cluster closed).
   */
  async serveWhenReachable(host: NamedHost, retryMs: number): Promise<void> {
    try {
      await this.addHost(host);
      this.unreachable.delete(host.name);
    } catch (error) {
      if (this.closed) return;
      this.options.onUnreachable?.(host.name, error as Error);
      const known = this.unreachable.get(host.name);
      const reason = (error as Error).message;
      const state: HostStateEvent = known?.state ?? {
        host: host.name,
        up: false,
        at: this.options.clock.now(),
        reason,
      };
      const timer = setTimeout(() => void this.serveWhenReachable(host, retryMs), retryMs);
      timer.unref();
      this.unreachable.set(host.name, { state, timer });
      if (!known) this.tell(state);
    }
  }

  /** Stops serving the host: its event stream and virsh end, its machines run on. */
  async removeHost(name: string): Promise<void> {
    const unreachable = this.unreachable.get(name);
    if (unreachable) clearTimeout(unreachable.timer);
    this.unreachable.delete(name);
    await this.connecting.get(name)?.catch(() => {});
    const member = this.members.get(name);
    if (!member) return;
    this.members.delete(name);
    member.stopEvents();
    await member.compute.close();
  }

  /** A host's stream changed its mind: told once per change. */
  private report(name: string, up: boolean, reason?: string): void {
    const member = this.members.get(name);
    // While connecting the host is not served yet: `connect` says it is up once it is.
    if (!member || member.state.up === up) return;
    member.state = {
      host: name,
      up,
      at: this.options.clock.now(),
      ...(reason !== undefined ? { reason } : {}),
    };
    this.tell(member.state);
  }

  private tell(event: HostStateEvent): void {
    for (const listener of this.hostListeners) listener(event);
  }

  /** Calls `listener` on every change, and at once with every host's state now. */
  onHostState(listener: (event: HostStateEvent) => void): () => void {
    this.hostListeners.add(listener);
    for (const member of this.members.values()) listener(member.state);
    for (const { state } of this.unreachable.values()) listener(state);
    return () => this.hostListeners.delete(listener);
  }

  private member(host: string): LibvirtCompute {
    const member = this.members.get(host);
    if (!member) throw new DriverError(`this process serves no libvirt host "${host}"`, false);
    return member.compute;
  }

  /** The hosts served, as they were declared when they were connected. */
  records(): NamedHost[] {
    return [...this.members.values()].map((member) => member.record);
  }

  /**
   * A served host whose hypervisor answers now, the first in order (a pool every host reaches
   * is worked on through it); throws when none does.
   */
  answering(): LibvirtHost {
    for (const member of this.members.values()) if (member.state.up) return member.libvirt;
    throw new DriverError('no libvirt host of this process answers', false);
  }

  async probe(): Promise<DriverProbe> {
    const hosts: DriverProbe['hosts'] = [];
    let features: string[] = ['events', 'counters', 'vnc', 'console'];
    for (const member of this.members.values()) {
      const probe = await member.compute.probe();
      hosts.push(...probe.hosts);
      features = probe.features;
    }
    return { driver: this.name, hosts, features };
  }

  async start(host: string, spec: MachineSpec): Promise<{ activeSince: number }> {
    return this.member(host).start(host, spec);
  }

  async stop(host: string, uuid: string): Promise<void> {
    return this.member(host).stop(host, uuid);
  }

  async shutdown(host: string, uuid: string, timeoutMs: number): Promise<boolean> {
    return this.member(host).shutdown(host, uuid, timeoutMs);
  }

  async kill(host: string, uuid: string): Promise<void> {
    return this.member(host).kill(host, uuid);
  }

  async pause(host: string, uuid: string): Promise<void> {
    return this.member(host).pause(host, uuid);
  }

  async status(host: string, uuid: string): Promise<MachineStatus> {
    return this.member(host).status(host, uuid);
  }

  async forget(host: string, uuid: string): Promise<void> {
    return this.member(host).forget(host, uuid);
  }

  async applyPolicy(host: string, policy: MachineFirewallPolicy): Promise<void> {
    return this.member(host).applyPolicy(host, policy);
  }

  async removePolicy(host: string, policy: string): Promise<void> {
    return this.member(host).removePolicy(host, policy);
  }

  async machines(host: string): Promise<MachineInfo[]> {
    return this.member(host).machines(host);
  }

  async counters(host: string, uuid: string): Promise<MachineCounters | null> {
    return this.member(host).counters(host, uuid);
  }

  onEvent(listener: (event: MachineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async openVnc(host: string, uuid: string, password: string): Promise<{ port: number }> {
    return this.member(host).openVnc(host, uuid, password);
  }

  async closeVnc(host: string, uuid: string): Promise<void> {
    return this.member(host).closeVnc(host, uuid);
  }

  async openConsole(host: string, uuid: string, password: string): Promise<{ port: number }> {
    return this.member(host).openConsole(host, uuid, password);
  }

  async closeConsole(host: string, uuid: string): Promise<void> {
    return this.member(host).closeConsole(host, uuid);
  }

  tunnels(host: string): TunnelInfo[] {
    return this.member(host).tunnels(host);
  }

  /** Every host's streams and listeners end; machines keep their state. */
  async close(): Promise<void> {
    this.closed = true;
    for (const { timer } of this.unreachable.values()) clearTimeout(timer);
    this.unreachable.clear();
    this.listeners.clear();
    this.hostListeners.clear();
    await Promise.allSettled([...this.connecting.values()]);
    const members = [...this.members.values()];
    this.members.clear();
    for (const member of members) member.stopEvents();
    await Promise.all(members.map((member) => member.compute.close()));
  }
}
