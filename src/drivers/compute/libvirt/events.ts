/**
 * A libvirt host's domain events: one `virsh -k I -K N event --all --loop --timestamp` per host
 * (keepalive every I s, given up after N unanswered; 5 and 3 by default, 1 and 3 as the driver
 * runs it), its lines parsed into typed events.
 *
 * The process ends when the connection does (a daemon restart ends it at once; a hung daemon
 * after the keepalive gives up: about 15-20 s with 5 x 3, 3-4 s with 1 x 3). It is then started
 * again with backoff, and the
 * caller is told `onDisconnected` once and `onConnected` when events flow again, so that it can
 * resync (list the domains and their states): events sent meanwhile are lost.
 *
 * virsh prints nothing once its subscription is in place, so "events flow again" is proven, not
 * guessed: after each start the stream asks `confirm(name)` to make an event happen for a domain
 * of that name (the host defines and undefines a throwaway domain), again every half second
 * (virsh may not be subscribed yet), and reports `onConnected` when such an event arrives. A
 * resync done after `onConnected` misses nothing.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';

/**
 * Names of the short-lived domains a stream defines and undefines to see its own event arrive
 * (its proof of being connected); their events are not passed on.
 */
export const EVENT_PROBE_PREFIX = 'sigmalite-event-probe-';

/** libvirt's lifecycle event types (`virDomainEventType`), as virsh names them. */
export const LIFECYCLE_EVENTS = [
  'Defined',
  'Undefined',
  'Started',
  'Suspended',
  'Resumed',
  'Stopped',
  'Shutdown',
  'PMSuspended',
  'Crashed',
] as const;
export type LifecycleEventType = (typeof LIFECYCLE_EVENTS)[number];

export type DomainEvent =
  | {
      kind: 'lifecycle';
      /** When libvirt sent it, in ms since the epoch. */
      time: number;
      domain: string;
      event: LifecycleEventType;
      /** Why: `Booted`, `Destroyed`, `Shutdown`, `Finished after guest request`, ... */
      detail: string;
    }
  | {
      /** `reboot`, `graphics`, `block-job`, `rtc-change`, ... as virsh names them. */
      kind: string;
      time: number;
      domain: string;
      /** The rest of the line, as virsh wrote it. */
      detail: string;
    };

const LINE =
  /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)\+0000: event '([^']+)' for domain '(.*?)'(?:: (.*))?$/;

/**
 * One line of `virsh event --timestamp` output:
 * `2026-12-06 07:54:02.744+0000: event 'lifecycle' for domain 'X': Started Booted`.
 * Anything else (a continuation line of a multi-line event, an error) is undefined.
 */
export function parseEventLine(line: string): DomainEvent | undefined {
  const match = LINE.exec(line.trimEnd());
  if (!match) return undefined;
  const [, date, clock, kind, domain, rest = ''] = match;
  const time = Date.parse(`${date}T${clock}Z`);
  if (kind === 'lifecycle') {
    const space = rest.indexOf(' ');
    const event = space < 0 ? rest : rest.slice(0, space);
    if (!(LIFECYCLE_EVENTS as readonly string[]).includes(event)) return undefined;
    return {
      kind,
      time,
      domain: domain!,
      event: event as LifecycleEventType,
      detail: space < 0 ? '' : rest.slice(space + 1),
    };
  }
  return { kind: kind!, time, domain: domain!, detail: rest };
}

/** Whether `event` is a lifecycle event (narrows its type). */
export function isLifecycle(
  event: DomainEvent,
): event is Extract<DomainEvent, { kind: 'lifecycle'; event: LifecycleEventType }> {
  return event.kind === 'lifecycle' && 'event' in event;
}

export interface DomainEventStreamOptions {
  uri: string;
  /** The virsh executable; default `virsh`. */
  binary?: string;
  /** Keepalive interval (s) and missed answers before virsh gives up; default 5 and 3. */
  keepalive?: { intervalS: number; count: number };
  /** Waits between restarts: doubling from `initialMs` up to `maxMs`; default 250 ms, 30 s. */
  backoff?: { initialMs: number; maxMs: number };
  /** Makes an event happen for a domain named `name` (see the module comment). */
  confirm: (name: string) => Promise<void>;
  /** How long the confirming event may take before the process is restarted; default 15 s. */
  confirmTimeoutMs?: number;
  onEvent: (event: DomainEvent) => void;
  /** Events flow (again): resync now. */
  onConnected: () => void;
  /** Events stopped flowing: the host's state is unknown until `onConnected`. */
  onDisconnected: (reason: string) => void;
}

type StreamState = 'stopped' | 'starting' | 'connected' | 'waiting';

/** How often the confirming event is made again while none has arrived. */
const CONFIRM_RETRY_MS = 500;

export class DomainEventStream {
  private state: StreamState = 'stopped';
  private child: ChildProcess | undefined;
  private probeName: string | undefined;
  private confirmTimer: NodeJS.Timeout | undefined;
  private confirmRetry: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private delayMs: number;
  /** Whether the last report was onConnected (so onDisconnected is said once per loss). */
  private reportedConnected = false;
  private lastError = '';

  constructor(private readonly options: DomainEventStreamOptions) {
    this.delayMs = options.backoff?.initialMs ?? 250;
  }

  get connected(): boolean {
    return this.state === 'connected';
  }

  /** The event process's id, while one runs. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): void {
    if (this.state !== 'stopped') return;
    this.launch();
  }

  /** Ends the process and stops restarting it; no more callbacks. */
  async stop(): Promise<void> {
    this.state = 'stopped';
    clearTimeout(this.retryTimer);
    clearTimeout(this.confirmTimer);
    clearTimeout(this.confirmRetry);
    const child = this.child;
    this.child = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
  }

  private launch(): void {
    this.state = 'starting';
    this.lastError = '';
    const { intervalS, count } = this.options.keepalive ?? { intervalS: 5, count: 3 };
    const args = ['-q', '-k', `${intervalS}`, '-K', `${count}`, '-c', this.options.uri];
    const child = spawn(this.options.binary ?? 'virsh', [
      ...args,
      'event',
      '--all',
      '--loop',
      '--timestamp',
    ]);
    this.child = child;
    const probe = `${EVENT_PROBE_PREFIX}${randomBytes(6).toString('hex')}`;
    this.probeName = probe;
    createInterface({ input: child.stdout! }).on('line', (line) => this.line(child, line));
    createInterface({ input: child.stderr! }).on('line', (line) => {
      if (line.startsWith('error: ')) this.lastError = line.slice('error: '.length);
    });
    child.on('error', (error) => {
      this.lastError = error.message;
    });
    child.on('close', () => this.ended(child));
    this.confirmTimer = setTimeout(() => {
      if (this.child !== child || this.state !== 'starting') return;
      this.lastError = 'no confirming event arrived';
      child.kill('SIGKILL');
    }, this.options.confirmTimeoutMs ?? 15_000);
    const attempt = () => {
      if (this.child !== child || this.state !== 'starting') return;
      this.options.confirm(probe).then(
        () => {
          this.confirmRetry = setTimeout(attempt, CONFIRM_RETRY_MS);
        },
        (error: Error) => {
          if (this.child !== child || this.state !== 'starting') return;
          this.lastError = error.message;
          child.kill('SIGKILL');
        },
      );
    };
    attempt();
  }

  private line(child: ChildProcess, line: string): void {
    if (child !== this.child) return;
    const event = parseEventLine(line);
    if (!event) return;
    if (event.domain.startsWith(EVENT_PROBE_PREFIX)) {
      if (event.domain === this.probeName && this.state === 'starting') {
        clearTimeout(this.confirmTimer);
        clearTimeout(this.confirmRetry);
        this.state = 'connected';
        this.delayMs = this.options.backoff?.initialMs ?? 250;
        this.reportedConnected = true;
        this.options.onConnected();
      }
      return;
    }
    if (this.state === 'connected') this.options.onEvent(event);
  }

  private ended(child: ChildProcess): void {
    if (child !== this.child || this.state === 'stopped') return;
    clearTimeout(this.confirmTimer);
    clearTimeout(this.confirmRetry);
    this.child = undefined;
    if (this.reportedConnected) {
      this.reportedConnected = false;
      this.options.onDisconnected(this.lastError || `virsh event exited (${child.exitCode})`);
    }
    this.state = 'waiting';
    const delay = this.delayMs;
    this.delayMs = Math.min(this.delayMs * 2, this.options.backoff?.maxMs ?? 30_000);
    this.retryTimer = setTimeout(() => {
      if (this.state === 'waiting') this.launch();
    }, delay);
  }
}
