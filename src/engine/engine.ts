/**
 * The engine: a runner of leased tasks below the domain. Resources hand it modules (their task
 * handlers by type, their reconcile step, what they do with a machine's events); it knows no
 * resource. Tasks live in the store and are leased, so that a task a crashed process was running
 * is run again (every handler is idempotent), several processes sharing PostgreSQL never run one
 * twice, each process runs only the tasks of the hosts it serves (and host-less ones), and the
 * tasks of one object run one at a time, in order, across processes. A task that fails for good
 * (the driver says so, or its retry budget is spent) ends through its module's `failed`.
 *
 * It is the only code that calls the compute and storage drivers.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { ComputeDriver, HostStateEvent, MachineEvent } from '../drivers/compute/types.js';
import { DriverError } from '../drivers/errors.js';
import type { StorageDriver } from '../drivers/storage/types.js';
import { ApiError, errors } from '../errors.js';
import type { Store, Task, WriteTx } from '../store/types.js';
import type { Clock } from './clock.js';
import { putHostStatus } from './hosts.js';
import { hostOf, PLACEMENT_STATE, registerHosts } from './placement.js';
import { DEFAULT_TUNNEL_LIMITS, TunnelLedger, type TunnelLimits } from './tunnel-limits.js';

export interface EngineContext {
  store: Store;
  clock: Clock;
  compute: ComputeDriver;
  storage: StorageDriver;
  logger: FastifyBaseLogger;
  /** The hosts this process serves: it leases their tasks and reconciles their machines. */
  hosts: readonly string[];
  /**
   * The host name clients reach this process's tunnels at (its `--public-url`'s), told to the
   * processes that ask it to open a tunnel; absent: they name their own.
   */
  tunnelAddress?: string;
  /**
   * The hosts of this process whose hypervisor does not answer now (the driver's host events),
   * kept by the engine: reconciliation leaves their servers alone until they answer again.
   */
  hostsDown?: ReadonlySet<string>;
}

/** Finishes one task. Must be idempotent, and end by removing the task in its last write. */
export type TaskHandler = (task: Task, ctx: EngineContext) => Promise<void>;

/** A task type: how it runs, and how it ends when it fails for good. */
export interface TaskKind {
  run: TaskHandler;
  /**
   * Puts the task's object in its defined failed state (back to its last stable status, the error
   * in its job, an audit entry) and removes the task, in one transaction. Without it the task is
   * removed and the failure logged.
   */
  failed?: (task: Task, error: Error, ctx: EngineContext) => Promise<void>;
}

/** Makes stored state agree with the hosts of `ctx.hosts`; `startup` on the engine's start. */
export type ReconcileStep = (ctx: EngineContext, startup: boolean) => Promise<void>;

/** What a module does when a host of this process reports a machine's state change. */
export type MachineEventHandler = (event: MachineEvent, ctx: EngineContext) => Promise<void>;

/** What a module does when a host of this process stops or starts answering. */
export type HostEventHandler = (event: HostStateEvent, ctx: EngineContext) => Promise<void>;

/** What a resource (or the test control) contributes to the engine. */
export interface EngineModule {
  name: string;
  tasks?: Readonly<Record<string, TaskHandler | TaskKind>>;
  reconcile?: ReconcileStep;
  machineEvents?: MachineEventHandler;
  hostEvents?: HostEventHandler;
}

export interface EngineOptions {
  /** Real milliseconds between two periodic reconciliations; 0 for only at start. */
  reconcileIntervalMs?: number;
  /** Attempts before a failing task fails for good (default 5). */
  retryBudget?: number;
  /** Caps on VNC and console tunnels, and when idle ones close (`tunnel-limits.ts`). */
  tunnels?: TunnelLimits;
}

export type EngineState = 'idle' | 'running' | 'stopping' | 'stopped';

/**
 * Where a tunnel listens: `port` on `host`, or, without `host`, on the host clients reach this
 * process at.
 */
export interface TunnelEndpoint {
  port: number;
  host?: string;
}

/** The tunnels the API opens on request (they answer with a URL at once, not through a task). */
export interface Tunnels {
  /** Opens the server's VNC tunnel for `account` (counted against its cap and the process's). */
  openVnc(uuid: string, password: string, name: string, account: string): Promise<TunnelEndpoint>;
  /**
   * Closes the server's VNC tunnels: here, and through a task on the process serving its host if
   * that is another (inside `tx` when the caller writes one, so that it goes with the change).
   */
  closeVnc(uuid: string, tx?: WriteTx): Promise<void>;
  openConsole(
    uuid: string,
    password: string,
    name: string,
    account: string,
  ): Promise<TunnelEndpoint>;
  /** As `closeVnc`, for its console tunnels. */
  closeConsole(uuid: string, tx?: WriteTx): Promise<void>;
}

/** The task that asks the process serving a server's host to open a tunnel to it. */
const OPEN_TUNNEL_TASK = 'engine.open_tunnel';
/** The task that asks the process serving a server's host to close its tunnels there. */
const CLOSE_TUNNEL_TASK = 'engine.close_tunnel';
/** Component state where that process answers (key: the request's id). */
const TUNNEL_REPLIES = 'tunnel-replies';
/** How long a process waits for another to open a tunnel. */
const TUNNEL_REPLY_MS = 10_000;

interface TunnelRequest {
  tunnel: 'vnc' | 'console';
  uuid: string;
  password: string;
  name: string;
  /** Whose tunnel it is: the host's process counts it against that account's cap. */
  account: string;
}

interface TunnelClosing {
  tunnel: 'vnc' | 'console';
  uuid: string;
}

type TunnelReply =
  | { port: number; host: string | null }
  | { error: string }
  /** The host's process refused it as the API would (a tunnel cap): the asker answers the same. */
  | {
      refused: {
        type: ApiError['type'];
        message: string;
        status: number;
        headers: Record<string, string | string[]>;
      };
    };

function failureReply(error: Error): TunnelReply {
  if (error instanceof ApiError) {
    const { type, message, status, headers } = error;
    return { refused: { type, message, status, headers } };
  }
  return { error: error.message };
}

const LEASE_MS = 30_000;
const RENEW_EVERY_MS = 10_000;
/** Other processes' tasks (PostgreSQL) are noticed by notification; this is the safety net. */
const POLL_MS = 1_000;
const BATCH = 64;
const RETRY_BACKOFF_MS = [1_000, 5_000, 30_000];
const RETRY_BUDGET = 5;

export class Engine implements Tunnels {
  private stateValue: EngineState = 'idle';
  private readonly worker = `engine-${randomUUID()}`;
  private readonly inFlight = new Map<string, Promise<void>>();
  /** The tail of each target's chain of tasks: tasks of one object run one after another. */
  private readonly targets = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, { count: number; retryAt: number }>();
  private wakeUp: (() => void) | undefined;
  private loop: Promise<void> | undefined;
  private stopped: Promise<void> | undefined;
  private stopListening: (() => void) | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  /** The reconciliation under way, if any (one at a time). */
  private reconciling: Promise<void> | undefined;
  private stopEvents: (() => void) | undefined;
  private stopHostEvents: (() => void) | undefined;
  /** Hosts of this process whose hypervisor does not answer (`ctx.hostsDown`). */
  private readonly down = new Set<string>();
  /** Machine events are handled one after another, in the order they came. */
  private events: Promise<void> = Promise.resolve();
  private readonly kinds = new Map<string, TaskKind>();
  /** Who holds which tunnel: the caps, and the closing of idle tunnels. */
  readonly tunnelLedger: TunnelLedger;
  private idleTimer: NodeJS.Timeout | undefined;

  readonly ctx: EngineContext;

  constructor(
    ctx: EngineContext,
    private readonly modules: readonly EngineModule[],
    private readonly options: EngineOptions = {},
  ) {
    this.ctx = { ...ctx, hostsDown: this.down };
    for (const module of modules) {
      for (const [type, handler] of Object.entries(module.tasks ?? {})) {
        if (this.kinds.has(type)) throw new Error(`task type ${type} is registered twice`);
        this.kinds.set(type, typeof handler === 'function' ? { run: handler } : handler);
      }
    }
    this.kinds.set(OPEN_TUNNEL_TASK, {
      run: (task) => this.openRequestedTunnel(task),
      failed: (task, error) => this.replyTunnel(task, failureReply(error)),
    });
    this.kinds.set(CLOSE_TUNNEL_TASK, { run: (task) => this.closeRequestedTunnels(task) });
    this.tunnelLedger = new TunnelLedger(
      ctx.compute,
      ctx.hosts,
      options.tunnels ?? DEFAULT_TUNNEL_LIMITS,
    );
  }

  get state(): EngineState {
    return this.stateValue;
  }

  /**
   * The hosts this process serves now (hosts added while running too), each `up`, or `down` while
   * its hypervisor does not answer.
   */
  hostStates(): Record<string, 'up' | 'down'> {
    return Object.fromEntries(
      this.ctx.hosts.map((host) => [host, this.down.has(host) ? 'down' : 'up'] as const),
    );
  }

  /** Tasks leased and running in this process. */
  get running(): number {
    return this.inFlight.size;
  }

  /**
   * Reconciles stored state with the drivers, then runs tasks until `stop()`. Idempotent; a
   * stopped engine may start again (the test-control API stops it while it replaces the state).
   */
  async start(): Promise<void> {
    if (this.stateValue === 'running' || this.stateValue === 'stopping') return;
    this.stateValue = 'running';
    this.failures.clear();
    await this.ctx.store.recoverLeases();
    await registerHosts(this.ctx.store, this.ctx.hosts);
    await this.reconcile(true);
    this.stopListening = this.ctx.store.onCommit((changes) => {
      if (changes.some((change) => change.op === 'task')) this.wake();
    });
    this.stopEvents = this.ctx.compute.onEvent((event) => this.machineEvent(event));
    this.stopHostEvents = this.ctx.compute.onHostState?.((event) => this.hostEvent(event));
    this.renewTimer = setInterval(() => void this.renew(), RENEW_EVERY_MS);
    this.renewTimer.unref();
    const every = this.options.reconcileIntervalMs ?? 0;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => void this.reconcileNow(), every);
      this.reconcileTimer.unref();
    }
    const idleMs = this.tunnelLedger.limits.idleMs;
    if (idleMs > 0) {
      // A tunnel closes between idleMs and idleMs plus a quarter of it (at most 30 s more).
      const sweep = Math.min(30_000, Math.max(50, Math.floor(idleMs / 4)));
      this.idleTimer = setInterval(() => void this.closeIdleTunnels(), sweep);
      this.idleTimer.unref();
    }
    this.loop = this.run();
  }

  private async closeIdleTunnels(): Promise<void> {
    try {
      await this.tunnelLedger.closeIdle();
    } catch (e) {
      this.ctx.logger.warn({ err: e }, 'engine: closing idle tunnels failed');
    }
  }

  /**
   * Runs every module's reconcile step for this process's hosts now (the periodic timer's work),
   * after the one under way if there is one.
   */
  async reconcileNow(): Promise<void> {
    if (this.stateValue !== 'running') return;
    await this.reconcile(false);
  }

  private async reconcile(startup: boolean): Promise<void> {
    const previous = this.reconciling ?? Promise.resolve();
    const run = previous.then(async () => {
      for (const module of this.modules) {
        if (!module.reconcile) continue;
        try {
          await module.reconcile(this.ctx, startup);
        } catch (e) {
          if (startup) throw e;
          this.ctx.logger.error({ err: e, module: module.name }, 'engine: reconcile failed');
        }
      }
    });
    const tail = run.finally(() => {
      if (this.reconciling === tail) this.reconciling = undefined;
    });
    this.reconciling = tail;
    await run;
  }

  /** A host of this process reported a state change: the modules see it, in order. */
  private machineEvent(event: MachineEvent): void {
    if (!this.ctx.hosts.includes(event.host) || this.stateValue !== 'running') return;
    this.events = this.events.then(async () => {
      for (const module of this.modules) {
        if (!module.machineEvents) continue;
        try {
          await module.machineEvents(event, this.ctx);
        } catch (e) {
          this.ctx.logger.error(
            { err: e, module: module.name, host: event.host, machine: event.uuid },
            'engine: handling a machine event failed',
          );
        }
      }
    });
  }

  /**
   * A host of this process stopped or started answering: its status is written (with the
   * capacity its driver reports when it is up), then the modules see it, in order with machine
   * events.
   */
  private hostEvent(event: HostStateEvent): void {
    if (this.stateValue !== 'running') return;
    // A host added while running (`ComputeDriver.addHost`) is the driver's before it is in `hosts`.
    if (!this.ctx.hosts.includes(event.host) && !this.ctx.compute.hosts.includes(event.host)) {
      return;
    }
    if (event.up) this.down.delete(event.host);
    else this.down.add(event.host);
    this.events = this.events.then(async () => {
      try {
        await this.writeHostStatus(event);
      } catch (e) {
        this.ctx.logger.error({ err: e, host: event.host }, 'engine: writing a host status failed');
      }
      for (const module of this.modules) {
        if (!module.hostEvents) continue;
        try {
          await module.hostEvents(event, this.ctx);
        } catch (e) {
          this.ctx.logger.error(
            { err: e, module: module.name, host: event.host, up: event.up },
            'engine: handling a host event failed',
          );
        }
      }
    });
  }

  private async writeHostStatus(event: HostStateEvent): Promise<void> {
    const capacity = event.up
      ? (await this.ctx.compute.probe()).hosts.find((h) => h.name === event.host)?.capacity
      : undefined;
    await this.ctx.store.write((tx) =>
      putHostStatus(tx, event.host, {
        up: event.up,
        since: event.at,
        ...(capacity ? { mhz: capacity.mhz, memory: capacity.memory } : {}),
        ...(event.reason !== undefined ? { reason: event.reason } : {}),
      }),
    );
    if (event.up) this.ctx.logger.info({ host: event.host }, 'host answers');
    else this.ctx.logger.warn({ host: event.host, reason: event.reason }, 'host does not answer');
  }

  /** Resolves once the machine events reported so far are handled (tests). */
  async eventsHandled(): Promise<void> {
    await this.events;
  }

  /**
   * Stops taking tasks and ends those under way. Idempotent. A task waiting on the clock (a
   * transition; on a stopped clock, for ever) is interrupted: it stays stored, and its idempotent
   * handler runs it again at the next start.
   */
  async stop(): Promise<void> {
    if (this.stateValue === 'idle') {
      this.stateValue = 'stopped';
      return;
    }
    if (this.stateValue === 'stopped') return;
    if (this.stateValue === 'stopping') return this.stopped;
    this.stateValue = 'stopping';
    this.stopped = this.windDown();
    return this.stopped;
  }

  private async windDown(): Promise<void> {
    this.stopListening?.();
    this.stopEvents?.();
    this.stopHostEvents?.();
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.idleTimer) clearInterval(this.idleTimer);
    await this.reconciling?.catch(() => {});
    await this.events;
    this.wake();
    await this.loop;
    while (this.inFlight.size > 0) {
      // Again and again: a handler may go on to wait for something else.
      this.ctx.clock.interrupt(new Error('engine stopping'));
      const settled = Promise.allSettled([...this.inFlight.values()]);
      await Promise.race([settled, new Promise((resolve) => setTimeout(resolve, 10))]);
    }
    this.stateValue = 'stopped';
  }

  /**
   * Test control: powers machines off at once (their servers are gone); transitions under way for
   * them end without effect.
   */
  async killMachines(uuids: readonly string[]): Promise<void> {
    // On every host of this process: the records that said where they ran may be gone already.
    for (const uuid of uuids) {
      for (const host of this.ctx.hosts) await this.ctx.compute.kill(host, uuid);
    }
  }

  private hostOf(uuid: string): Promise<string> {
    return this.ctx.store.read((tx) => hostOf(tx, uuid));
  }

  /**
   * On a host of this process, the driver opens the tunnel here (counted against the caps); on a
   * host another process serves (several processes on PostgreSQL), that process is asked through
   * a task of the host, counts it against its own caps, and the tunnel listens there: the answer
   * names where.
   */
  async openVnc(
    uuid: string,
    password: string,
    name: string,
    account: string,
  ): Promise<TunnelEndpoint> {
    const host = await this.hostOf(uuid);
    if (!this.ctx.hosts.includes(host)) {
      return this.askForTunnel(host, { tunnel: 'vnc', uuid, password, name, account });
    }
    return this.openHere('vnc', host, uuid, password, name, account);
  }

  /**
   * Closing is done on every host of this process (closing what is not open is nothing) and, when
   * the server is placed on a host another process serves, asked of that process by a task. A PUT
   * closes tunnels inside its write transaction and passes it: the task is written there, since a
   * read through the pool could wait for a connection that concurrent writers of the same object
   * hold (a deadlock on PostgreSQL).
   */
  async closeVnc(uuid: string, tx?: WriteTx): Promise<void> {
    for (const host of this.ctx.hosts) await this.ctx.compute.closeVnc(host, uuid);
    this.tunnelLedger.closed('vnc', uuid);
    await this.askToClose({ tunnel: 'vnc', uuid }, tx);
  }

  async openConsole(
    uuid: string,
    password: string,
    name: string,
    account: string,
  ): Promise<TunnelEndpoint> {
    const host = await this.hostOf(uuid);
    if (!this.ctx.hosts.includes(host)) {
      return this.askForTunnel(host, { tunnel: 'console', uuid, password, name, account });
    }
    return this.openHere('console', host, uuid, password, name, account);
  }

  /** Opens a tunnel on a host of this process, counted against the caps while it opens. */
  private async openHere(
    tunnel: 'vnc' | 'console',
    host: string,
    uuid: string,
    password: string,
    name: string,
    account: string,
  ): Promise<{ port: number }> {
    const done = this.tunnelLedger.reserve(tunnel, uuid, account);
    try {
      return tunnel === 'vnc'
        ? await this.ctx.compute.openVnc(host, uuid, password, name)
        : await this.ctx.compute.openConsole(host, uuid, password, name);
    } finally {
      done();
    }
  }

  /**
   * Writes the request as a task of `host` (its own target, so that it waits behind none of the
   * server's lifecycle tasks) and waits for the reply the process that runs it writes.
   */
  private async askForTunnel(host: string, request: TunnelRequest): Promise<TunnelEndpoint> {
    const id = randomUUID();
    await this.ctx.store.write((tx) =>
      tx.addTask({
        id,
        type: OPEN_TUNNEL_TASK,
        target: `tunnel:${id}`,
        payload: JSON.stringify(request),
        dueAt: this.ctx.clock.now(),
        host,
      }),
    );
    const end = Date.now() + TUNNEL_REPLY_MS;
    for (;;) {
      const text = await this.ctx.store.read((tx) => tx.getState(TUNNEL_REPLIES, id));
      if (text !== undefined) {
        await this.ctx.store.write((tx) => tx.deleteState(TUNNEL_REPLIES, id));
        const reply = JSON.parse(text) as TunnelReply;
        if ('refused' in reply) {
          const { type, message, status, headers } = reply.refused;
          throw new ApiError(type, message, null, status, headers);
        }
        if ('error' in reply) throw new DriverError(reply.error, true);
        return reply.host === null ? { port: reply.port } : { port: reply.port, host: reply.host };
      }
      if (Date.now() > end) {
        // Nobody answered: the request goes (a process that runs it later writes no reply), and
        // so does a reply that came meanwhile, so that none is left behind.
        await this.ctx.store.write(async (tx) => {
          await tx.removeTask(id);
          await tx.deleteState(TUNNEL_REPLIES, id);
        });
        throw errors.tunnelHostSilent(host, TUNNEL_REPLY_MS / 1000);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  /** Another process asked: the tunnel opens here (on this process's caps), the reply says where. */
  private async openRequestedTunnel(task: Task): Promise<void> {
    const request = JSON.parse(task.payload) as TunnelRequest;
    let port: number;
    try {
      ({ port } = await this.openHere(
        request.tunnel,
        task.host!,
        request.uuid,
        request.password,
        request.name,
        request.account,
      ));
    } catch (e) {
      // A cap reached is an answer, not a failure to retry.
      if (e instanceof ApiError) return this.replyTunnel(task, failureReply(e));
      throw e;
    }
    await this.replyTunnel(task, { port, host: this.ctx.tunnelAddress ?? null });
  }

  private async replyTunnel(task: Task, reply: TunnelReply): Promise<void> {
    await this.ctx.store.write(async (tx) => {
      // The asking process gave up and took its request back: nobody would read the reply.
      if (!(await tx.tasksOf(task.target)).some((t) => t.id === task.id)) return;
      await tx.putState(TUNNEL_REPLIES, task.id, JSON.stringify(reply));
      await tx.removeTask(task.id);
    });
  }

  /** As `closeVnc`, for its console tunnels. */
  async closeConsole(uuid: string, tx?: WriteTx): Promise<void> {
    for (const host of this.ctx.hosts) await this.ctx.compute.closeConsole(host, uuid);
    this.tunnelLedger.closed('console', uuid);
    await this.askToClose({ tunnel: 'console', uuid }, tx);
  }

  /**
   * A task of the server's host when another process serves it (tunnels there are that process's
   * to close). A server never placed has no record: it is on a host of this process or never ran.
   */
  private async askToClose(closing: TunnelClosing, tx?: WriteTx): Promise<void> {
    const ask = async (w: WriteTx) => {
      const host = await w.getState(PLACEMENT_STATE, closing.uuid);
      if (host === undefined || this.ctx.hosts.includes(host)) return;
      const id = randomUUID();
      await w.addTask({
        id,
        type: CLOSE_TUNNEL_TASK,
        target: `tunnel:${id}`,
        payload: JSON.stringify(closing),
        dueAt: this.ctx.clock.now(),
        host,
      });
    };
    await (tx ? ask(tx) : this.ctx.store.write(ask));
  }

  /** Another process asked: the server's tunnels on this host close. */
  private async closeRequestedTunnels(task: Task): Promise<void> {
    const { tunnel, uuid } = JSON.parse(task.payload) as TunnelClosing;
    const host = task.host!;
    if (tunnel === 'vnc') await this.ctx.compute.closeVnc(host, uuid);
    else await this.ctx.compute.closeConsole(host, uuid);
    this.tunnelLedger.closed(tunnel, uuid);
    await this.ctx.store.write((tx) => tx.removeTask(task.id));
  }

  /**
   * Resolves once no task is running here and none is due in the store (tests with instant
   * transitions use it to see stable states; with a stopped clock it may never resolve). Tasks
   * due later (a subscription's end, next month) are not waited for.
   */
  async settled(pollMs = 5): Promise<void> {
    for (;;) {
      const due = await this.ctx.store.nextTaskDue({ hosts: this.ctx.hosts });
      if (this.inFlight.size === 0 && (due === undefined || due > this.ctx.clock.now())) return;
      this.wake();
      await new Promise((resolve) => setTimeout(resolve, pollMs));
    }
  }

  /** Looks for new tasks now (a commit added some). */
  wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    while (this.stateValue === 'running') {
      try {
        await this.takeTasks();
      } catch (e) {
        this.ctx.logger.error({ err: e }, 'engine: leasing tasks failed');
      }
      await this.idle();
    }
  }

  private async takeTasks(): Promise<void> {
    const now = this.ctx.clock.now();
    const tasks = await this.ctx.store.leaseTasks(this.worker, now, Date.now() + LEASE_MS, BATCH, {
      hosts: this.ctx.hosts,
    });
    for (const task of tasks) {
      if (this.inFlight.has(task.id)) continue;
      const failure = this.failures.get(task.id);
      if (failure && failure.retryAt > Date.now()) {
        await this.ctx.store.renewLeases(this.worker, [task.id], 0);
        continue;
      }
      this.inFlight.set(task.id, this.schedule(task));
    }
  }

  /** Runs `task` after the tasks of the same object already scheduled. */
  private schedule(task: Task): Promise<void> {
    const previous = this.targets.get(task.target) ?? Promise.resolve();
    const run = previous.then(() => this.execute(task));
    const tail = run.finally(() => {
      this.inFlight.delete(task.id);
      if (this.targets.get(task.target) === tail) this.targets.delete(task.target);
      // The object may have more tasks (a stop queued behind a start).
      this.wake();
    });
    this.targets.set(task.target, tail);
    return tail;
  }

  private async execute(task: Task): Promise<void> {
    const kind = this.kinds.get(task.type);
    try {
      if (this.stateValue !== 'running') return await this.release(task);
      if (!kind) throw new Error(`no handler for task type ${task.type}`);
      await kind.run(task, this.ctx);
      this.failures.delete(task.id);
    } catch (e) {
      if (this.stateValue !== 'running') {
        // Interrupted by stop(): it runs again at the next start, here or in another process.
        this.ctx.logger.debug({ task: task.type, target: task.target }, 'engine: task interrupted');
        return await this.release(task);
      }
      const count = (this.failures.get(task.id)?.count ?? 0) + 1;
      const budget = this.options.retryBudget ?? RETRY_BUDGET;
      if ((e instanceof DriverError && e.permanent) || count >= budget) {
        this.failures.delete(task.id);
        return await this.fail(task, kind, e instanceof Error ? e : new Error(String(e)), count);
      }
      const backoff = RETRY_BACKOFF_MS[Math.min(count - 1, RETRY_BACKOFF_MS.length - 1)]!;
      this.failures.set(task.id, { count, retryAt: Date.now() + backoff });
      this.ctx.logger.error(
        { err: e, task: task.type, target: task.target, attempt: count },
        'engine: task failed; it will be retried',
      );
      await this.ctx.store.renewLeases(this.worker, [task.id], 0).catch(() => {});
      const timer = setTimeout(() => this.wake(), backoff);
      timer.unref();
    }
  }

  /** The task failed for good: its module puts its object in the failed state; it goes. */
  private async fail(
    task: Task,
    kind: TaskKind | undefined,
    error: Error,
    attempts: number,
  ): Promise<void> {
    this.ctx.logger.error(
      { err: error, task: task.type, target: task.target, attempts },
      'engine: task failed for good',
    );
    try {
      await kind?.failed?.(task, error, this.ctx);
      await this.ctx.store.write((tx) => tx.removeTask(task.id));
    } catch (e) {
      // The store failed too: the task stays and runs again (its lease is given up).
      this.ctx.logger.error({ err: e, task: task.type }, 'engine: ending a failed task failed');
      await this.release(task);
    }
  }

  private async release(task: Task): Promise<void> {
    await this.ctx.store.renewLeases(this.worker, [task.id], 0).catch(() => {});
  }

  /** Waits for a wake-up, the next due task, or the poll interval, whichever comes first. */
  private async idle(): Promise<void> {
    if (this.stateValue !== 'running') return;
    const controller = new AbortController();
    const woken = new Promise<void>((resolve) => {
      this.wakeUp = resolve;
    });
    const waits: Promise<unknown>[] = [woken, sleepReal(POLL_MS, controller.signal)];
    const due = await this.ctx.store.nextTaskDue({ hosts: this.ctx.hosts }).catch(() => undefined);
    if (due !== undefined && due > this.ctx.clock.now()) {
      waits.push(
        this.ctx.clock.sleep(due - this.ctx.clock.now(), controller.signal).catch(() => {}),
      );
    }
    await Promise.race(waits);
    controller.abort();
    this.wakeUp = undefined;
  }

  private async renew(): Promise<void> {
    const ids = [...this.inFlight.keys()];
    if (ids.length === 0) return;
    await this.ctx.store
      .renewLeases(this.worker, ids, Date.now() + LEASE_MS)
      .catch((e: unknown) => {
        this.ctx.logger.error({ err: e }, 'engine: renewing leases failed');
      });
  }
}

function sleepReal(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}
