/**
 * The PostgreSQL store's read cache: rendered objects (what a GET of one object sends) and
 * accounts' credential versions (what every cached login checks), so that the hot reads of a
 * process need no query of their own.
 *
 * It is exact across processes. Every commit that changes an object or a credential sends a
 * notification on the schema's channel (in the committing transaction), and PostgreSQL delivers
 * notifications to each listener in commit order. Before the cache answers a request, the store
 * sends a notification of its own on its listening connection and waits for it to come back
 * (`Barrier`): every commit before that one has then been heard, and its changes dropped from the
 * cache. Requests that arrive while one such round trip is under way share the next one, so a busy
 * process pays about one round trip per batch of requests, not one per request.
 *
 * A value read from the database is kept only if nothing was dropped from the cache while it was
 * being read (`generation`): a notification heard meanwhile may concern it. If the listening
 * connection fails, the cache turns itself off (every read goes to the database).
 */
import type { CommittedChange, DetailView } from '../types.js';

/** The most objects kept (oldest forgotten first). */
const MAX_OBJECTS = 100_000;
/** The most bytes of joined list windows kept (over it, they all go). */
const JOINED_MAX_BYTES = 64 * 2 ** 20;

function listKey(owner: string | null, kind: string): string {
  return `${owner ?? ''}\u0000${kind}`;
}

/** A cached object: both rendered forms, as the bytes that are sent. */
export interface CachedRow extends DetailView {
  detail: Buffer;
  summary: Buffer;
}

export class PgReadCache {
  private readonly objects = new Map<string, CachedRow>();
  private readonly creds = new Map<string, number>();
  /** `owner\0kind` -> every uuid of that list, in creation order. */
  private readonly lists = new Map<string, string[]>();
  /** `owner\0kind` -> window (view, offset, limit) -> its items, comma-separated. */
  private readonly joinedLists = new Map<string, Map<string, Buffer>>();
  private joinedBytes = 0;
  /** Whether anything is granted to an account (lists of accounts without grants skip sharing). */
  private readonly grantees = new Map<string, boolean>();
  /** Bumped by every drop: a read that started before a drop is not kept. */
  private generationCount = 0;
  private on = true;
  /** Reads the cache answered, and those it sent to the database (tests, diagnostics). */
  readonly stats = { hits: 0, misses: 0 };

  get enabled(): boolean {
    return this.on;
  }

  get generation(): number {
    return this.generationCount;
  }

  /** For good: the notifications that keep the cache exact can no longer be heard. */
  disable(): void {
    this.on = false;
    this.clear();
  }

  clear(): void {
    this.generationCount++;
    this.objects.clear();
    this.creds.clear();
    this.lists.clear();
    this.joinedLists.clear();
    this.joinedBytes = 0;
    this.grantees.clear();
  }

  object(uuid: string): CachedRow | undefined {
    return this.count(this.objects.get(uuid));
  }

  private count<T>(hit: T | undefined): T | undefined {
    if (hit === undefined) this.stats.misses++;
    else this.stats.hits++;
    return hit;
  }

  /** Keeps `object` if nothing was dropped since `generation` was read (before reading it). */
  rememberObject(object: CachedRow, generation: number): void {
    if (!this.on || generation !== this.generationCount) return;
    if (this.objects.size >= MAX_OBJECTS) {
      const oldest = this.objects.keys().next().value;
      if (oldest !== undefined) this.objects.delete(oldest);
    }
    this.objects.set(object.uuid, object);
  }

  credVersion(account: string): number | undefined {
    return this.count(this.creds.get(account));
  }

  rememberCredVersion(account: string, version: number, generation: number): void {
    if (!this.on || generation !== this.generationCount) return;
    this.creds.set(account, version);
  }

  list(owner: string | null, kind: string): string[] | undefined {
    return this.count(this.lists.get(listKey(owner, kind)));
  }

  rememberList(owner: string | null, kind: string, uuids: string[], generation: number): void {
    if (!this.on || generation !== this.generationCount) return;
    this.lists.set(listKey(owner, kind), uuids);
  }

  joined(owner: string | null, kind: string, window: string): Buffer | undefined {
    return this.joinedLists.get(listKey(owner, kind))?.get(window);
  }

  rememberJoined(
    owner: string | null,
    kind: string,
    window: string,
    joined: Buffer,
    generation: number,
  ): void {
    if (!this.on || generation !== this.generationCount) return;
    if (this.joinedBytes + joined.length > JOINED_MAX_BYTES) {
      this.joinedLists.clear();
      this.joinedBytes = 0;
    }
    const key = listKey(owner, kind);
    const windows = this.joinedLists.get(key) ?? new Map<string, Buffer>();
    this.joinedBytes += joined.length - (windows.get(window)?.length ?? 0);
    windows.set(window, joined);
    this.joinedLists.set(key, windows);
  }

  hasGrants(grantee: string): boolean | undefined {
    return this.grantees.get(grantee);
  }

  rememberHasGrants(grantee: string, granted: boolean, generation: number): void {
    if (!this.on || generation !== this.generationCount) return;
    this.grantees.set(grantee, granted);
  }

  /**
   * Committed changes (of this process, or heard from another): the objects, the lists they are
   * in, credential versions of `accounts`, and with `grants`, every "anything granted" answer.
   */
  drop(
    changes: readonly CommittedChange[],
    accounts: readonly string[] = [],
    grants = false,
  ): void {
    if (changes.length === 0 && accounts.length === 0 && !grants) return;
    this.generationCount++;
    for (const change of changes) {
      if (change.op === 'task') continue;
      this.objects.delete(change.uuid);
      // An insert, an update or a removal: the list's order or items may have changed.
      const key = listKey(change.owner, change.kind);
      this.lists.delete(key);
      this.forgetJoined(key);
    }
    for (const account of accounts) this.creds.delete(account);
    if (grants) this.grantees.clear();
  }

  private forgetJoined(key: string): void {
    const windows = this.joinedLists.get(key);
    if (!windows) return;
    for (const joined of windows.values()) this.joinedBytes -= joined.length;
    this.joinedLists.delete(key);
  }
}

/** How long a barrier notification may take to come back before the cache is turned off. */
const BARRIER_TIMEOUT_MS = 2000;

/** Prefix of the barrier's own notifications (the stores' change notes are JSON objects). */
export const BARRIER_PREFIX = 'b:';

/**
 * The round trip that makes the cache current: a notification sent on the listening connection,
 * awaited back. A request joins the next round trip that starts after it arrived (one that is
 * already under way may have been sent before a commit the request must see).
 */
export class Barrier {
  private sent = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private inFlight: Promise<void> | undefined;
  private queued: Promise<void> | undefined;

  constructor(
    /** Sends `payload` on the listening connection (a NOTIFY in a transaction of its own). */
    private readonly send: (payload: string) => Promise<void>,
    /** Tells this process's barrier notifications from other processes'. */
    private readonly token: string,
  ) {}

  /** Resolves once every commit made before the call has been heard. */
  pass(): Promise<void> {
    if (!this.inFlight) return this.start();
    this.queued ??= this.inFlight
      .catch(() => {})
      .then(() => {
        this.queued = undefined;
        return this.start();
      });
    return this.queued;
  }

  /** A barrier notification arrived; true if it was one (of any process). */
  heard(payload: string): boolean {
    if (!payload.startsWith(BARRIER_PREFIX)) return false;
    const [token, n] = payload.slice(BARRIER_PREFIX.length).split(':');
    if (token === this.token) {
      const waiter = this.waiting.get(Number(n));
      this.waiting.delete(Number(n));
      waiter?.resolve();
    }
    return true;
  }

  /** Every round trip under way fails (the listening connection is gone). */
  fail(error: Error): void {
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  private start(): Promise<void> {
    const n = ++this.sent;
    const round = new Promise<void>((resolve, reject) => {
      // A notification that never comes back must not hold requests: they go to the database.
      const timer = setTimeout(() => {
        this.waiting.delete(n);
        reject(new Error('the read cache barrier timed out'));
      }, BARRIER_TIMEOUT_MS);
      timer.unref();
      const settle = (fn: () => void) => () => {
        clearTimeout(timer);
        fn();
      };
      this.waiting.set(n, {
        resolve: settle(resolve),
        reject: (e) => settle(() => reject(e))(),
      });
      this.send(`${BARRIER_PREFIX}${this.token}:${n}`).catch((e: unknown) => {
        this.waiting.delete(n);
        settle(() => reject(e))();
      });
    });
    this.inFlight = round;
    const clear = () => {
      if (this.inFlight === round) this.inFlight = undefined;
    };
    round.then(clear, clear);
    return round;
  }
}
