/**
 * The simulated hypervisor. Machines are records, not processes: their state is kept in the store
 * (so it survives a restart of sigmalite, as a real hypervisor's machines survive a restart of
 * the control plane), transitions take the configured time on the engine's clock, the guest
 * answers ACPI unless told not to, and VNC and console tunnels are real TCP listeners.
 */
import type { Clock } from '../../../engine/clock.js';
import type { Transitions } from '../../transitions.js';
import type { ComputeDriver, MachineSpec, MachineState, MachineStatus } from '../types.js';
import { type ConsoleServer, echoConsole, startConsoleServer } from './console.js';
import type { GuestContextPorts } from './context-sockets.js';
import { type RfbServer, startRfbServer } from './rfb.js';

/** Where the driver keeps its machines (the store's component state, one namespace). */
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
}

export interface SimulatedComputeOptions {
  clock: Clock;
  transitions: () => Transitions;
  machines: MachineTable;
  /** Address the VNC and console tunnels listen on. */
  tunnelHost: string;
  /** Whether guests power off on an ACPI request (default true). */
  guestAcpi?: boolean;
  /** Where running guests' context ports are exposed (`--context-dir`); nowhere without. */
  contextPorts?: GuestContextPorts;
}

export class SimulatedCompute implements ComputeDriver {
  readonly name = 'simulated';
  private readonly vnc = new Map<string, RfbServer>();
  private readonly consoles = new Map<string, ConsoleServer>();
  /** Machines whose guest ignores ACPI, whatever the default. */
  private readonly deafGuests = new Set<string>();
  private guestAcpi: boolean;
  /** Bumped by `kill`: a transition begun under an older epoch ends without effect. */
  private readonly epochs = new Map<string, number>();

  constructor(private readonly options: SimulatedComputeOptions) {
    this.guestAcpi = options.guestAcpi ?? true;
  }

  /** Control: whether guests (all, or one machine) answer ACPI. */
  setGuestAcpi(answers: boolean, uuid?: string): void {
    if (uuid === undefined) this.guestAcpi = answers;
    else if (answers) this.deafGuests.delete(uuid);
    else this.deafGuests.add(uuid);
  }

  private async machine(uuid: string): Promise<Machine | undefined> {
    const text = await this.options.machines.get(uuid);
    return text === undefined ? undefined : (JSON.parse(text) as Machine);
  }

  private epoch(uuid: string): number {
    return this.epochs.get(uuid) ?? 0;
  }

  /** Saves `machine` unless it was killed since `epoch`; false if it was. */
  private async save(uuid: string, machine: Machine, epoch: number): Promise<boolean> {
    if (this.epoch(uuid) !== epoch) return false;
    if (machine.state === 'stopped') await this.options.machines.delete(uuid);
    else await this.options.machines.put(uuid, JSON.stringify(machine));
    return true;
  }

  /** Waits until `until` (clock time), however long has passed already (after a restart). */
  private async waitUntil(until: number): Promise<void> {
    await this.options.clock.sleep(until - this.options.clock.now());
  }

  /** A start interrupted by `kill` resolves all the same; the caller's status check decides. */
  async start(spec: MachineSpec): Promise<{ activeSince: number }> {
    const { clock } = this.options;
    const epoch = this.epoch(spec.uuid);
    let machine = await this.machine(spec.uuid);
    if (machine?.state === 'running') return { activeSince: machine.since };
    if (machine?.state !== 'starting') {
      const now = clock.now();
      machine = {
        state: 'starting',
        since: now,
        until: now + this.options.transitions().start,
        context: spec.context,
      };
      await this.save(spec.uuid, machine, epoch);
    }
    await this.waitUntil(machine.until ?? clock.now());
    const running: Machine = { state: 'running', since: clock.now(), context: spec.context };
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
    const answers = this.guestAcpi && !this.deafGuests.has(uuid);
    if (!answers) {
      await clock.sleep(timeoutMs);
      return false;
    }
    const reaction = Math.min(this.options.transitions().shutdown, timeoutMs);
    await clock.sleep(reaction);
    if (this.epoch(uuid) !== epoch) return true;
    await this.closeTunnels(uuid);
    await this.save(uuid, { state: 'stopped', since: clock.now() }, epoch);
    return true;
  }

  async kill(uuid: string): Promise<void> {
    this.epochs.set(uuid, this.epoch(uuid) + 1);
    await this.closeTunnels(uuid);
    await this.options.machines.delete(uuid);
  }

  async pause(uuid: string): Promise<void> {
    const epoch = this.epoch(uuid);
    const machine = await this.machine(uuid);
    if (machine?.state !== 'running') return;
    await this.closeTunnels(uuid);
    await this.save(uuid, { state: 'paused', since: this.options.clock.now() }, epoch);
  }

  async status(uuid: string): Promise<MachineStatus> {
    const machine = await this.machine(uuid);
    return machine
      ? { state: machine.state, since: machine.since }
      : { state: 'stopped', since: 0 };
  }

  async running(): Promise<string[]> {
    const rows = await this.options.machines.list();
    return rows
      .filter((row) => (JSON.parse(row.value) as Machine).state === 'running')
      .map((row) => row.key);
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
    for (const row of await this.options.machines.list()) {
      const machine = JSON.parse(row.value) as Machine;
      if (machine.state === 'running' && machine.context !== false) await ports.open(row.key);
    }
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.vnc.keys(), ...this.consoles.keys()].map((uuid) => this.closeTunnels(uuid)),
    );
    await this.options.contextPorts?.closeAll();
  }
}
