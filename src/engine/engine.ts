/**
 * The lifecycle engine: runs the tasks that finish asynchronous statuses (`starting`, `creating`,
 * `cloning_dst`...) through the drivers. Tasks live in the store and are leased, so that a task a
 * crashed process was running is run again (every handler is idempotent), and several processes
 * sharing PostgreSQL never run one twice. Tasks of one object run one at a time.
 *
 * It is the only code that calls the compute and storage drivers.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger } from 'fastify';
import type { ComputeDriver } from '../drivers/compute/types.js';
import type { StorageDriver } from '../drivers/storage/types.js';
import type { Random } from '../model/random.js';
import type { Store, Task } from '../store/types.js';
import type { Clock } from './clock.js';
import type { IpPool } from './ippool.js';

export interface EngineContext {
  store: Store;
  clock: Clock;
  compute: ComputeDriver;
  storage: StorageDriver;
  logger: FastifyBaseLogger;
  /** Where DHCP NICs get their address while their server runs. */
  ips: IpPool;
  random: Random;
}

/** Finishes one task. Must be idempotent, and end by removing the task in its last write. */
export type TaskHandler = (task: Task, ctx: EngineContext) => Promise<void>;

export type EngineState = 'idle' | 'running' | 'stopping' | 'stopped';

/** The tunnels the API opens on request (they answer with a URL at once, not through a task). */
export interface Tunnels {
  openVnc(uuid: string, password: string, name: string): Promise<{ port: number }>;
  closeVnc(uuid: string): Promise<void>;
  openConsole(uuid: string, password: string, name: string): Promise<{ port: number }>;
  closeConsole(uuid: string): Promise<void>;
}

const LEASE_MS = 30_000;
const RENEW_EVERY_MS = 10_000;
/** Other processes' tasks (PostgreSQL) are noticed by notification; this is the safety net. */
const POLL_MS = 1_000;
const BATCH = 64;
const RETRY_BACKOFF_MS = [1_000, 5_000, 30_000];

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

  constructor(
    readonly ctx: EngineContext,
    private readonly handlers: Readonly<Record<string, TaskHandler>>,
    private readonly reconcile: (ctx: EngineContext) => Promise<void> = async () => {},
  ) {}

  get state(): EngineState {
    return this.stateValue;
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
    await this.reconcile(this.ctx);
    this.stopListening = this.ctx.store.onCommit((changes) => {
      if (changes.some((change) => change.op === 'task')) this.wake();
    });
    this.renewTimer = setInterval(() => void this.renew(), RENEW_EVERY_MS);
    this.renewTimer.unref();
    this.loop = this.run();
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
    if (this.renewTimer) clearInterval(this.renewTimer);
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
    for (const uuid of uuids) await this.ctx.compute.kill(uuid);
  }

  openVnc(uuid: string, password: string, name: string): Promise<{ port: number }> {
    return this.ctx.compute.openVnc(uuid, password, name);
  }

  closeVnc(uuid: string): Promise<void> {
    return this.ctx.compute.closeVnc(uuid);
  }

  openConsole(uuid: string, password: string, name: string): Promise<{ port: number }> {
    return this.ctx.compute.openConsole(uuid, password, name);
  }

  closeConsole(uuid: string): Promise<void> {
    return this.ctx.compute.closeConsole(uuid);
  }

  /**
   * Resolves once no task is running here and none is due in the store (tests with instant
   * transitions use it to see stable states; with a stopped clock it may never resolve). Tasks
   * due later (a subscription's end, next month) are not waited for.
   */
  async settled(pollMs = 5): Promise<void> {
    for (;;) {
      const due = await this.ctx.store.nextTaskDue();
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
    const tasks = await this.ctx.store.leaseTasks(this.worker, now, Date.now() + LEASE_MS, BATCH);
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
    const handler = this.handlers[task.type];
    try {
      if (this.stateValue !== 'running') return await this.release(task);
      if (!handler) throw new Error(`no handler for task type ${task.type}`);
      await handler(task, this.ctx);
      this.failures.delete(task.id);
    } catch (e) {
      if (this.stateValue !== 'running') {
        // Interrupted by stop(): it runs again at the next start, here or in another process.
        this.ctx.logger.debug({ task: task.type, target: task.target }, 'engine: task interrupted');
        return await this.release(task);
      }
      const count = (this.failures.get(task.id)?.count ?? 0) + 1;
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
    const due = await this.ctx.store.nextTaskDue().catch(() => undefined);
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
