/**
 * The simulated hypervisor, with any number of simulated hosts. Machines are records, not
 * processes: their state is kept in the store (so it survives a restart of sigmalite, as a real
 * hypervisor's machines survive a restart of the control plane), transitions take the configured
 * time on the engine's clock, the guest answers ACPI unless told not to, VNC and console tunnels
 * are real TCP listeners, and every state change is reported as an event. Tests can make a guest
 * power itself off, a hypervisor process die, or a start fail.
 */
import type { Clock } from '../../../engine/clock.js';
import type { NamedHost } from '../../../engine/hosts.js';
import { DriverError } from '../../errors.js';
import type { Transitions } from '../../transitions.js';
import type {
  ComputeDriver,
  DriverProbe,
  HostStateEvent,
  MachineCounters,
  MachineEvent,
  MachineEventReason,
  MachineInfo,
  MachineSpec,
  MachineState,
  MachineStatus,
  TunnelInfo,
} from '../types.js';
import { type ConsoleServer, echoConsole, startConsoleServer } from './console.js';
import type { GuestContextPorts } from './context-sockets.js';
import { type RfbServer, startRfbServer } from './rfb.js';
import { tunnelInfos } from './tcp-listener.js';

/** Where the driver keeps a host's machines (the store's component state, one namespace). */
export interface MachineTable {
  get(uuid: string): Promise<string | undefined>;
  put(uuid: string, value: string): Promise<void>;
  delete(uuid: string): Promise<void>;
  list(): Promise<{ key: string; value: string }[]>;
}

interface Machine {
  state: MachineState;
  since: number;
  /** When a transition under way ends (clock time). */
  until?: number;
  /** Whether the guest has a context port (the server's `context`); absent means true. */
  context?: boolean;
  /** What it was started with, for its counters (absent in records of older versions). */
  drives?: string[];
  nics?: { mac: string; ipv4: string | null }[];
}

export interface SimulatedComputeOptions {
  clock: Clock;
  transitions: () => Transitions;
  /** The simulated hosts this process serves. */
  hosts: readonly string[];
  /** Each host's table of machines. */
  machines: (host: string) => MachineTable;
  /** Address the VNC and console tunnels listen on. */
  tunnelHost: string;
  /** Whether guests power off on an ACPI request (default true). */
  guestAcpi?: boolean;
  /** Where running guests' context ports are exposed (`--context-dir`); nowhere without. */
  contextPorts?: GuestContextPorts;
}

/** Injected failures, per operation and machine: how many fail yet, and whether for good. */
type SimulatedOperation = 'start' | 'stop';

interface InjectedFailure {
  permanent: boolean;
  remaining: number;
}

export class SimulatedCompute implements ComputeDriver {
  readonly name = 'simulated';
  private readonly served: string[] = [];
  private readonly byHost = new Map<string, SimulatedHost>();
  private readonly listeners = new Set<(event: MachineEvent) => void>();
  private readonly hostListeners = new Set<(event: HostStateEvent) => void>();
  private readonly shared: SharedSettings;

  constructor(private readonly options: SimulatedComputeOptions) {
    this.shared = {
      guestAcpi: options.guestAcpi ?? true,
      deafGuests: new Set(),
      failures: new Map(),
    };
    for (const host of options.hosts) this.serve(host);
  }

  get hosts(): readonly string[] {
    return this.served;
  }

  private serve(name: string): void {
    const host = new SimulatedHost(
      name,
      this.options,
      this.options.machines(name),
      this.shared,
      (event) => this.emit(event),
      (event) => {
        for (const listener of this.hostListeners) listener(event);
      },
    );
    this.byHost.set(name, host);
    this.served.push(name);
  }

  /**
   * Serves one more simulated host: its machines are those the store keeps under its name (a
   * host served before, by this process or another, finds them again). Nothing to declare: a
   * record's libvirt fields mean nothing here.
   */
  async addHost(host: NamedHost): Promise<void> {
    if (this.byHost.has(host.name)) return;
    this.serve(host.name);
    // Its running machines get their context ports, as at a start of sigmalite.
    await this.byHost.get(host.name)!.restoreContextPorts();
  }

  /** Stops serving a host: its tunnels and context ports close; its machines stay in the store. */
  async removeHost(name: string): Promise<void> {
    const host = this.byHost.get(name);
    if (!host) return;
    this.byHost.delete(name);
    this.served.splice(this.served.indexOf(name), 1);
    await host.detach();
  }

  /** The simulated host `name` (tests drive it directly). */
  host(name: string): SimulatedHost {
    const host = this.byHost.get(name);
    if (!host) throw new DriverError(`this process serves no simulated host "${name}"`, false);
    return host;
  }

  /** The host, for a call about its machines: rejected while it does not answer. */
  private live(host: string): SimulatedHost {
    const simulated = this.host(host);
    simulated.checkAnswering();
    return simulated;
  }

  private emit(event: MachineEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  async probe(): Promise<DriverProbe> {
    return {
      driver: this.name,
      hosts: this.hosts.map((name) => ({ name, accelerator: 'simulated', warning: null })),
      features: ['events', 'counters', 'vnc', 'console'],
    };
  }

  async start(host: string, spec: MachineSpec): Promise<{ activeSince: number }> {
    return this.live(host).start(spec);
  }

  async stop(host: string, uuid: string): Promise<void> {
    return this.live(host).stop(uuid);
  }

  async shutdown(host: string, uuid: string, timeoutMs: number): Promise<boolean> {
    return this.live(host).shutdown(uuid, timeoutMs);
  }

  async kill(host: string, uuid: string): Promise<void> {
    return this.live(host).kill(uuid);
  }

  async pause(host: string, uuid: string): Promise<void> {
    return this.live(host).pause(uuid);
  }

  async status(host: string, uuid: string): Promise<MachineStatus> {
    return this.live(host).status(uuid);
  }

  async machines(host: string): Promise<MachineInfo[]> {
    return this.live(host).machines();
  }

  async counters(host: string, uuid: string): Promise<MachineCounters | null> {
    return this.live(host).counters(uuid);
  }

  onEvent(listener: (event: MachineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Simulated hosts stop answering only when a test says so (`SimulatedHost.stopAnswering`). */
  onHostState(listener: (event: HostStateEvent) => void): () => void {
    this.hostListeners.add(listener);
    return () => this.hostListeners.delete(listener);
  }

  openVnc(host: string, uuid: string, password: string, name: string): Promise<{ port: number }> {
    return this.host(host).openVnc(uuid, password, name);
  }

  closeVnc(host: string, uuid: string): Promise<void> {
    return this.host(host).closeVnc(uuid);
  }

  openConsole(
    host: string,
    uuid: string,
    password: string,
    name: string,
  ): Promise<{ port: number }> {
    return this.host(host).openConsole(uuid, password, name);
  }

  closeConsole(host: string, uuid: string): Promise<void> {
    return this.host(host).closeConsole(uuid);
  }

  tunnels(host: string): TunnelInfo[] {
    return this.host(host).tunnels();
  }

  /** Each host's running machines get their context ports back (after a restart of sigmalite). */
  async restoreContextPorts(): Promise<void> {
    for (const host of this.byHost.values()) await host.restoreContextPorts();
  }

  async close(): Promise<void> {
    this.listeners.clear();
    this.hostListeners.clear();
    await Promise.all([...this.byHost.values()].map((host) => host.close()));
  }
}

/** What the hosts of one driver share: the guests' ACPI behaviour and injected failures. */
interface SharedSettings {
  guestAcpi: boolean;
  /** Machines whose guest ignores ACPI, whatever the default. */
  deafGuests: Set<string>;
  failures: Map<string, InjectedFailure>;
}

/**
 * One simulated host: the calls of `ComputeDriver` for its machines (without the host), and its
 * test controls. `App.compute` is the first host's, for tests.
 */
export class SimulatedHost {
  private readonly vnc = new Map<string, RfbServer>();
  private readonly consoles = new Map<string, ConsoleServer>();
  /** Bumped by `kill`: a transition begun under an older epoch ends without effect. */
  private readonly epochs = new Map<string, number>();

  constructor(
    readonly name: string,
    private readonly options: SimulatedComputeOptions,
    private readonly table: MachineTable,
    private readonly shared: SharedSettings,
    private readonly emit: (event: MachineEvent) => void,
    private readonly emitHostState: (event: HostStateEvent) => void,
  ) {}

  /** Why the host does not answer (`stopAnswering`), or null while it does. */
  private silence: string | null = null;

  /**
   * Tests: the host stops answering (a hung or unreachable hypervisor): it says so, and every
   * call for its machines fails (worth retrying) until `answerAgain`. Its machines run on.
   */
  stopAnswering(reason = 'the simulated host does not answer'): void {
    if (this.silence !== null) return;
    this.silence = reason;
    this.emitHostState({ host: this.name, up: false, at: this.options.clock.now(), reason });
  }

  /** Tests: the host answers again (after `stopAnswering`). */
  answerAgain(): void {
    if (this.silence === null) return;
    this.silence = null;
    this.emitHostState({ host: this.name, up: true, at: this.options.clock.now() });
  }

  /** Throws while the host does not answer. */
  checkAnswering(): void {
    if (this.silence !== null) {
      throw new DriverError(`host ${this.name} does not answer: ${this.silence}`, false);
    }
  }

  /** Control: whether guests (all, of every host, or one machine) answer ACPI. */
  setGuestAcpi(answers: boolean, uuid?: string): void {
    if (uuid === undefined) this.shared.guestAcpi = answers;
    else if (answers) this.shared.deafGuests.delete(uuid);
    else this.shared.deafGuests.add(uuid);
  }

  /**
   * Tests: the next `times` starts of `uuid` fail (for ever with `permanent`, as a broken image
   * does); `times` 0 clears it.
   */
  failStarts(uuid: string, permanent: boolean, times = 1): void {
    this.fail('start', uuid, permanent, times);
  }

  /** Tests: the next `times` stops (hard or ACPI) of `uuid` fail; `times` 0 clears it. */
  failStops(uuid: string, permanent: boolean, times = 1): void {
    this.fail('stop', uuid, permanent, times);
  }

  private fail(op: SimulatedOperation, uuid: string, permanent: boolean, times: number): void {
    if (times <= 0) this.shared.failures.delete(`${op}:${uuid}`);
    else this.shared.failures.set(`${op}:${uuid}`, { permanent, remaining: times });
  }

  private async machine(uuid: string): Promise<Machine | undefined> {
    const text = await this.table.get(uuid);
    return text === undefined ? undefined : (JSON.parse(text) as Machine);
  }

  private epoch(uuid: string): number {
    return this.epochs.get(uuid) ?? 0;
  }

  private event(uuid: string, state: MachineState, reason: MachineEventReason): void {
    this.emit({ host: this.name, uuid, state, reason, at: this.options.clock.now() });
  }

  /** Saves `machine` unless it was killed since `epoch`; false if it was. */
  private async save(
    uuid: string,
    machine: Machine,
    epoch: number,
    reason: MachineEventReason = 'requested',
  ): Promise<boolean> {
    if (this.epoch(uuid) !== epoch) return false;
    if (machine.state === 'stopped') await this.table.delete(uuid);
    else await this.table.put(uuid, JSON.stringify(machine));
    this.event(uuid, machine.state, reason);
    return true;
  }

  /** Waits until `until` (clock time), however long has passed already (after a restart). */
  private async waitUntil(until: number): Promise<void> {
    await this.options.clock.sleep(until - this.options.clock.now());
  }

  /** Throws the failure injected for `op` of `uuid`, if any is left. */
  private injectedFailure(op: SimulatedOperation, uuid: string): void {
    const key = `${op}:${uuid}`;
    const failure = this.shared.failures.get(key);
    if (!failure) return;
    if (!failure.permanent && --failure.remaining <= 0) this.shared.failures.delete(key);
    const permanent =
      op === 'start'
        ? `the simulated host ${this.name} cannot boot ${uuid}: its boot image is unreadable`
        : `the simulated host ${this.name} cannot stop ${uuid}: its hypervisor does not answer`;
    throw new DriverError(
      failure.permanent
        ? permanent
        : `the simulated host ${this.name} failed to ${op} ${uuid} (transient)`,
      failure.permanent,
    );
  }

  /** A start interrupted by `kill` resolves all the same; the caller's status check decides. */
  async start(spec: MachineSpec): Promise<{ activeSince: number }> {
    const { clock } = this.options;
    const epoch = this.epoch(spec.uuid);
    let machine = await this.machine(spec.uuid);
    if (machine?.state === 'running') return { activeSince: machine.since };
    this.injectedFailure('start', spec.uuid);
    const started = {
      drives: spec.drives.map((drive) => drive.uuid),
      nics: spec.nics.map((nic) => ({ mac: nic.mac, ipv4: nic.ipv4 })),
    };
    if (machine?.state !== 'starting') {
      const now = clock.now();
      machine = {
        state: 'starting',
        since: now,
        until: now + this.options.transitions().start,
        context: spec.context,
        ...started,
      };
      await this.save(spec.uuid, machine, epoch);
    }
    await this.waitUntil(machine.until ?? clock.now());
    const running: Machine = {
      state: 'running',
      since: clock.now(),
      context: spec.context,
      ...started,
    };
    if ((await this.save(spec.uuid, running, epoch)) && spec.context) {
      await this.options.contextPorts?.open(spec.uuid);
    }
    return { activeSince: running.since };
  }

  async stop(uuid: string): Promise<void> {
    const { clock } = this.options;
    const epoch = this.epoch(uuid);
    let machine = await this.machine(uuid);
    if (!machine) return;
    this.injectedFailure('stop', uuid);
    if (machine.state !== 'stopping') {
      const now = clock.now();
      machine = { state: 'stopping', since: now, until: now + this.options.transitions().stop };
      await this.save(uuid, machine, epoch);
    }
    await this.waitUntil(machine.until ?? clock.now());
    if (this.epoch(uuid) !== epoch) return;
    await this.closeTunnels(uuid);
    await this.save(uuid, { state: 'stopped', since: clock.now() }, epoch);
  }

  async shutdown(uuid: string, timeoutMs: number): Promise<boolean> {
    const { clock } = this.options;
    const epoch = this.epoch(uuid);
    const machine = await this.machine(uuid);
    if (!machine) return true;
    this.injectedFailure('stop', uuid);
    const answers = this.shared.guestAcpi && !this.shared.deafGuests.has(uuid);
    if (!answers) {
      await clock.sleep(timeoutMs);
      return false;
    }
    const reaction = Math.min(this.options.transitions().shutdown, timeoutMs);
    await clock.sleep(reaction);
    if (this.epoch(uuid) !== epoch) return true;
    await this.closeTunnels(uuid);
    await this.save(uuid, { state: 'stopped', since: clock.now() }, epoch, 'guest');
    return true;
  }

  /**
   * Tests: the guest powers itself off (`guest`), or its hypervisor process dies from outside
   * (`crashed`); no transition is waited for.
   */
  async powerOff(uuid: string, reason: 'guest' | 'crashed' = 'guest'): Promise<void> {
    const machine = await this.machine(uuid);
    if (!machine) return;
    this.epochs.set(uuid, this.epoch(uuid) + 1);
    await this.closeTunnels(uuid);
    await this.table.delete(uuid);
    this.event(uuid, 'stopped', reason);
  }

  async kill(uuid: string): Promise<void> {
    this.epochs.set(uuid, this.epoch(uuid) + 1);
    await this.closeTunnels(uuid);
    const had = await this.machine(uuid);
    await this.table.delete(uuid);
    if (had) this.event(uuid, 'stopped', 'requested');
  }

  async pause(uuid: string): Promise<void> {
    const epoch = this.epoch(uuid);
    const machine = await this.machine(uuid);
    if (machine?.state !== 'running') return;
    await this.closeTunnels(uuid);
    await this.save(uuid, { ...machine, state: 'paused', since: this.options.clock.now() }, epoch);
  }

  async status(uuid: string): Promise<MachineStatus> {
    const machine = await this.machine(uuid);
    return machine
      ? { state: machine.state, since: machine.since }
      : { state: 'stopped', since: 0 };
  }

  async machines(): Promise<MachineInfo[]> {
    const rows = await this.table.list();
    return rows.map((row) => {
      const machine = JSON.parse(row.value) as Machine;
      return { uuid: row.key, state: machine.state, since: machine.since };
    });
  }

  /** A simulated guest does no I/O: every counter is 0, the addresses are those it started with. */
  async counters(uuid: string): Promise<MachineCounters | null> {
    const machine = await this.machine(uuid);
    if (machine?.state !== 'running') return null;
    const drive = {
      bytesRead: 0,
      bytesWritten: 0,
      countFlush: 0,
      countRead: 0,
      countWritten: 0,
      totalTimeNsFlush: 0,
      totalTimeNsRead: 0,
      totalTimeNsWrite: 0,
    };
    const nic = { bytesRecv: 0, bytesSent: 0, packetsRecv: 0, packetsSent: 0 };
    return {
      drives: Object.fromEntries((machine.drives ?? []).map((uuid) => [uuid, { ...drive }])),
      nics: Object.fromEntries(
        (machine.nics ?? []).map(({ mac, ipv4 }) => [mac, { ...nic, ipv4 }]),
      ),
    };
  }

  /**
   * The new listener replaces the previous one only once it listens, in one synchronous step: the
   * URL is new on every open (both ports are held at once), and concurrent opens leave exactly
   * one listener, which `closeVnc` closes.
   */
  async openVnc(uuid: string, password: string, desktopName: string): Promise<{ port: number }> {
    const server = await startRfbServer({
      host: this.options.tunnelHost,
      port: 0,
      password,
      desktopName,
    });
    const previous = this.vnc.get(uuid);
    this.vnc.set(uuid, server);
    await previous?.close();
    return { port: server.port };
  }

  async closeVnc(uuid: string): Promise<void> {
    const server = this.vnc.get(uuid);
    this.vnc.delete(uuid);
    await server?.close();
  }

  /** As `openVnc`: the new listener replaces the previous one once it listens. */
  async openConsole(uuid: string, password: string, name: string): Promise<{ port: number }> {
    const server = await startConsoleServer({
      host: this.options.tunnelHost,
      port: 0,
      password,
      open: () => echoConsole(name),
    });
    const previous = this.consoles.get(uuid);
    this.consoles.set(uuid, server);
    await previous?.close();
    return { port: server.port };
  }

  async closeConsole(uuid: string): Promise<void> {
    const server = this.consoles.get(uuid);
    this.consoles.delete(uuid);
    await server?.close();
  }

  /** The tunnels open now. */
  tunnels(): TunnelInfo[] {
    return tunnelInfos(this.vnc, this.consoles);
  }

  /** What a machine that no longer runs leaves behind: its tunnels and its context port. */
  private async closeTunnels(uuid: string): Promise<void> {
    await Promise.all([
      this.closeVnc(uuid),
      this.closeConsole(uuid),
      this.options.contextPorts?.close(uuid),
    ]);
  }

  /**
   * Exposes the context ports of the machines that run (after a restart of sigmalite, whose
   * machines kept running in the store). Ports of machines that do not run are left alone.
   */
  async restoreContextPorts(): Promise<void> {
    const ports = this.options.contextPorts;
    if (!ports) return;
    for (const row of await this.table.list()) {
      const machine = JSON.parse(row.value) as Machine;
      if (machine.state === 'running' && machine.context !== false) await ports.open(row.key);
    }
  }

  /**
   * This process stops serving the host: what it holds open for the host's machines (tunnels,
   * context ports) closes; the machines stay as they are (in the store).
   */
  async detach(): Promise<void> {
    const machines = (await this.table.list()).map((row) => row.key);
    const open = new Set([...this.vnc.keys(), ...this.consoles.keys(), ...machines]);
    await Promise.all([...open].map((uuid) => this.closeTunnels(uuid)));
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.vnc.keys(), ...this.consoles.keys()].map((uuid) => this.closeTunnels(uuid)),
    );
    await this.options.contextPorts?.closeAll();
  }
}
