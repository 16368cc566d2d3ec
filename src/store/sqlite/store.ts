/**
 * The embedded store: better-sqlite3 on one file (WAL) or in memory.
 *
 * better-sqlite3 is synchronous, but the store interface is asynchronous (PostgreSQL). A
 * transaction's function may await between statements, and other requests' continuations could
 * then run on the same connection inside the open transaction. So every read and write runs under
 * one FIFO lock; single-statement reads take a fast path when nobody holds it. Writes that queue
 * up meanwhile are committed together (group commit, see `write`).
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { ConflictError, errors } from '../../errors.js';
import { Mutex } from '../mutex.js';
import { collectSnapshot, snapshotBatches } from '../snapshot.js';
import type {
  AccountRepo,
  CommittedChange,
  DetailView,
  LeaseScope,
  NewRecord,
  ObjectQuotas,
  ObjectRecord,
  ReadTx,
  SessionRepo,
  SnapshotBatch,
  SnapshotReader,
  Store,
  StoreSnapshot,
  StoreStats,
  Task,
  TokenRepo,
  WriteTx,
} from '../types.js';
import {
  fingerprintedKinds,
  LOG_KINDS,
  logKindStats,
  StoreBusyError,
  sortStats,
  statsQuery,
  WRITE_RETRIES,
} from '../types.js';
import { SqliteAccounts, SqliteSessions } from './accounts.js';
import { type Change, ReadCache } from './cache.js';
import { BackgroundCheckpointer } from './checkpointer.js';
import { RECORD_COLUMNS, taskRow } from './common.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { readBatches, restoreRows, snapshotCounts } from './snapshot.js';
import { SqliteTokens } from './tokens.js';
import { SqliteTx } from './tx.js';

type Statement = Database.Statement;

export interface SqliteOptions {
  /** A file path, or `:memory:`. */
  path: string;
  /**
   * `FULL` (the default) survives a power loss: nothing acknowledged is lost; `NORMAL` survives a
   * process crash only (with WAL, the last commits before a power loss may go), and is faster.
   */
  synchronous?: 'NORMAL' | 'FULL';
  /**
   * Hold the file alone until `close` (an import): opening fails with `StoreBusyError` while
   * another process has it open, and processes that open it meanwhile wait (their busy timeout).
   */
  exclusive?: boolean;
  /**
   * Checkpoint the WAL on a worker thread (`checkpointer.ts`) rather than inside commits: for a
   * server; short commands need not start a thread.
   */
  backgroundCheckpoints?: boolean;
}

/** The most writes committed together. */
const MAX_GROUP = 64;

/** Records `append` was given, waiting for the next group commit. */
interface AppendJob {
  records: readonly NewRecord[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

interface WriteJob {
  run: (tx: WriteTx) => Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
  retries: number;
}

export class SqliteStore implements Store {
  readonly engine = 'sqlite' as const;
  readonly accounts: AccountRepo;
  readonly sessions: SessionRepo;
  readonly tokens: TokenRepo;
  private readonly db: Database.Database;
  private readonly lock = new Mutex();
  private readonly statements = new Map<string, Statement>();
  private readonly tx: SqliteTx;
  private readonly pending: WriteJob[] = [];
  private readonly appends: AppendJob[] = [];
  private flushing = false;
  private readonly checkpointer: BackgroundCheckpointer | undefined;
  readonly cache: ReadCache;
  /** Changes of the transaction being built, applied to the cache after its COMMIT. */
  readonly changes: Change[] = [];
  /** Inside a write transaction: reads must see its uncommitted rows, so they skip the cache. */
  writing = false;
  /** Tasks were added by the transaction being built. */
  tasksAdded = false;
  /** The transaction wrote grants (the cache's per-account "anything granted" answers go). */
  grantsWritten = false;
  quotas: ObjectQuotas = new Map();
  private readonly listeners = new Set<(changes: readonly CommittedChange[]) => void>();

  constructor(options: SqliteOptions) {
    // Exclusive: a short wait (a `sigmalite user` command ends in milliseconds, a server never).
    this.db = new Database(options.path, options.exclusive ? { timeout: 1000 } : {});
    if (options.exclusive) this.lockAlone();
    this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${options.synchronous ?? 'FULL'}`);
    this.db.pragma('busy_timeout = 5000');
    // Checkpoints copy the WAL into the database file; fewer, larger ones cost less per write.
    this.db.pragma('wal_autocheckpoint = 4000');
    // 8 MiB of pages (the default is 2) for the index pages writes touch. Not more: every COMMIT
    // scans the page cache's hash table (pcache1TruncateUnsafe, ~4% of a create at 64 MiB).
    this.db.pragma('cache_size = -8192');
    this.db.pragma('foreign_keys = ON');
    // Savepoints' journals (one per write job of a group) in memory, not in a temporary file.
    this.db.pragma('temp_store = MEMORY');
    this.migrate();
    if (options.backgroundCheckpoints && options.path !== ':memory:' && !options.exclusive) {
      this.checkpointer = new BackgroundCheckpointer(options.path, (error) =>
        process.emitWarning(`background WAL checkpoints stopped: ${error.message}`),
      );
    }
    this.cache = new ReadCache(() => this.statement('PRAGMA data_version').pluck().get() as number);
    this.tx = new SqliteTx(this);
    this.accounts = new SqliteAccounts(this);
    this.sessions = new SqliteSessions(this);
    this.tokens = new SqliteTokens(this);
  }

  /**
   * Locking mode EXCLUSIVE, taken at once: in WAL mode every other connection holds a shared lock
   * on the file for as long as it is open, so this fails while any other process has it open.
   */
  private lockAlone(): void {
    try {
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.exec('BEGIN EXCLUSIVE; COMMIT');
    } catch (e) {
      this.db.close();
      if ((e as { code?: unknown }).code === 'SQLITE_BUSY') {
        throw new StoreBusyError(
          'the database file is open in another process (a running sigmalite?)',
        );
      }
      throw e;
    }
  }

  private migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    const apply = this.db.transaction(() => {
      for (let i = current; i < SQLITE_MIGRATIONS.length; i++) {
        this.db.exec(SQLITE_MIGRATIONS[i]!);
      }
      this.db.pragma(`user_version = ${SQLITE_MIGRATIONS.length}`);
    });
    if (current < SQLITE_MIGRATIONS.length) apply.immediate();
  }

  /** A cached prepared statement. */
  statement(sql: string): Statement {
    let statement = this.statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  async get(uuid: string): Promise<ObjectRecord | undefined> {
    if (this.lock.locked) return this.lock.run(() => this.tx.getSync(uuid));
    return this.tx.getSync(uuid);
  }

  async getDetail(uuid: string): Promise<DetailView | undefined> {
    if (this.lock.locked) return this.lock.run(() => this.detailNow(uuid));
    return this.detailNow(uuid);
  }

  private detailNow(uuid: string): DetailView | undefined {
    const object = this.tx.cachedObject(uuid);
    return (
      object && { kind: object.kind, uuid: object.uuid, owner: object.owner, detail: object.detail }
    );
  }

  read<T>(fn: (tx: ReadTx) => Promise<T>): Promise<T> {
    return this.lock.run(() => fn(this.tx));
  }

  /**
   * Group commit: writes that queue up while the connection is busy run together in one
   * transaction, each inside a savepoint of its own (so one failing rolls back only itself), and
   * are acknowledged after the one COMMIT. A process crash loses none that was acknowledged.
   */
  write<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.pending.push({
        run: fn,
        resolve: resolve as (value: unknown) => void,
        reject,
        retries: 0,
      });
      this.scheduleFlush();
    });
  }

  append(records: readonly NewRecord[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.appends.push({ records, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Flushes after the current round of I/O callbacks (setImmediate), so that the requests already
   * received get to queue their writes and commit together.
   */
  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    setImmediate(() => {
      void this.lock
        .run(() => this.flush())
        .finally(() => {
          this.flushing = false;
          if (this.pending.length > 0 || this.appends.length > 0) this.scheduleFlush();
        });
    });
  }

  private async flush(): Promise<void> {
    const jobs = this.pending.splice(0, MAX_GROUP);
    const appends = this.appends.splice(0);
    const outcomes: { job: WriteJob; ok: boolean; value: unknown }[] = [];
    const rejectAll = (e: unknown) => {
      for (const job of jobs) job.reject(e);
      for (const append of appends) append.reject(e);
    };
    try {
      this.statement('BEGIN IMMEDIATE').run();
    } catch (e) {
      rejectAll(e);
      return;
    }
    this.writing = true;
    this.changes.length = 0;
    this.tasksAdded = false;
    this.grantsWritten = false;
    for (const job of jobs) {
      this.statement('SAVEPOINT write_job').run();
      const mark = this.changes.length;
      try {
        const value = await job.run(this.tx);
        this.statement('RELEASE write_job').run();
        outcomes.push({ job, ok: true, value });
      } catch (e) {
        this.statement('ROLLBACK TO write_job').run();
        this.statement('RELEASE write_job').run();
        this.changes.length = mark;
        outcomes.push({ job, ok: false, value: e });
      }
    }
    const appended = this.insertAppends(appends);
    this.writing = false;
    let committed: CommittedChange[];
    try {
      this.statement('COMMIT').run();
      this.checkpointer?.committed();
      if (this.grantsWritten) this.cache.forgetGrants();
      this.cache.apply(this.changes);
      committed = this.changes.map(toCommitted);
      if (this.tasksAdded) committed.push({ op: 'task' });
    } catch (e) {
      if (this.db.inTransaction) this.statement('ROLLBACK').run();
      rejectAll(e);
      return;
    } finally {
      this.changes.length = 0;
    }
    this.emit(committed);
    for (const append of appends) {
      if (appended === true) append.resolve();
      else append.reject(appended);
    }
    for (const { job, ok, value } of outcomes) {
      if (ok) job.resolve(value);
      else if (!(value instanceof ConflictError)) job.reject(value);
      else if (job.retries < WRITE_RETRIES) {
        job.retries++;
        this.pending.push(job);
      } else job.reject(errors.concurrency());
    }
  }

  /**
   * The appended records of a group, inside its transaction, in one savepoint: if one cannot be
   * written, none is (their requests fail) and the group's write jobs still commit. Returns true,
   * or why they failed.
   */
  private insertAppends(appends: readonly AppendJob[]): true | unknown {
    if (appends.length === 0) return true;
    this.statement('SAVEPOINT append_job').run();
    const mark = this.changes.length;
    try {
      for (const { records } of appends) for (const record of records) this.tx.insertSync(record);
      this.statement('RELEASE append_job').run();
      return true;
    } catch (e) {
      this.statement('ROLLBACK TO append_job').run();
      this.statement('RELEASE append_job').run();
      this.changes.length = mark;
      return e;
    }
  }

  setQuotas(quotas: ObjectQuotas): void {
    this.quotas = quotas;
  }

  onCommit(listener: (changes: readonly CommittedChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Listeners run after the current work (never inside the lock that made the changes). */
  private emit(changes: readonly CommittedChange[]): void {
    if (changes.length === 0 || this.listeners.size === 0) return;
    setImmediate(() => {
      for (const listener of this.listeners) listener(changes);
    });
  }

  async leaseTasks(
    worker: string,
    now: number,
    leaseUntil: number,
    limit: number,
    scope?: LeaseScope,
  ): Promise<Task[]> {
    // A scope leases only its hosts' (or host-less) tasks, each the first left of its target.
    const scoped = scope
      ? `AND (host IS NULL OR host IN (SELECT value FROM json_each(?)))
         AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.target = t.target AND p.seq < t.seq)`
      : '';
    const params: unknown[] = [worker, leaseUntil, now, Date.now()];
    if (scope) params.push(JSON.stringify(scope.hosts));
    params.push(limit);
    return this.lock.run(() => {
      const rows = this.statement(
        `UPDATE tasks SET lease_owner = ?, lease_until = ?
         WHERE seq IN (SELECT seq FROM tasks t WHERE due_at <= ? AND lease_until <= ? ${scoped}
                       ORDER BY due_at, seq LIMIT ?)
         RETURNING id, type, target, payload, due_at AS dueAt, host, seq`,
      ).all(...params) as (Task & { seq: number })[];
      return rows
        .sort((a, b) => a.dueAt - b.dueAt || a.seq - b.seq)
        .map(({ seq: _, ...task }) => taskRow(task));
    });
  }

  async renewLeases(worker: string, ids: readonly string[], leaseUntil: number): Promise<void> {
    await this.lock.run(() => {
      const renew = this.statement(
        'UPDATE tasks SET lease_until = ? WHERE id = ? AND lease_owner = ?',
      );
      for (const id of ids) renew.run(leaseUntil, id, worker);
    });
  }

  async recoverLeases(): Promise<void> {
    await this.lock.run(() =>
      this.statement('UPDATE tasks SET lease_owner = NULL, lease_until = 0').run(),
    );
  }

  async nextTaskDue(scope?: LeaseScope): Promise<number | undefined> {
    return this.lock.run(() => {
      const due = scope
        ? this.statement(
            'SELECT min(due_at) FROM tasks WHERE host IS NULL OR host IN (SELECT value FROM json_each(?))',
          )
            .pluck()
            .get(JSON.stringify(scope.hosts))
        : this.statement('SELECT min(due_at) FROM tasks').pluck().get();
      return (due as number | null) ?? undefined;
    });
  }

  /** Runs a synchronous unit under the lock, in a transaction (account operations). */
  pause(): Promise<void> {
    return this.lock.pause();
  }

  locked<T>(fn: () => T): Promise<T> {
    return this.lock.run(() => this.db.transaction(fn).immediate());
  }

  async fingerprint(): Promise<string> {
    return this.lock.run(() => {
      const hash = createHash('sha256');
      for (const table of [
        `SELECT ${RECORD_COLUMNS} FROM objects WHERE ${fingerprintedKinds()} ORDER BY seq`,
        `SELECT * FROM object_counts WHERE ${fingerprintedKinds()} ORDER BY owner, kind`,
        'SELECT * FROM claims ORDER BY namespace, value',
        'SELECT * FROM accounts ORDER BY uuid',
        'SELECT * FROM sessions ORDER BY id_hash',
        'SELECT * FROM api_tokens ORDER BY id',
        'SELECT id, type, target, payload, due_at FROM tasks ORDER BY seq',
        'SELECT * FROM component_state ORDER BY namespace, key',
        'SELECT * FROM links ORDER BY kind, source, target',
        'SELECT * FROM grants ORDER BY object, grantee',
      ]) {
        for (const row of this.statement(table).iterate()) hash.update(JSON.stringify(row));
      }
      return hash.digest('hex');
    });
  }

  async stats(): Promise<StoreStats> {
    return this.lock.run(() => {
      const objects = this.statement(statsQuery('COUNT(*)')).all() as StoreStats['objects'];
      const logs = this.statement(
        `SELECT kind, SUM(n) AS n FROM object_counts WHERE kind IN (${LOG_KINDS.map(() => '?').join(', ')}) GROUP BY kind`,
      ).all(...LOG_KINDS) as { kind: string; n: number | null }[];
      return {
        objects: sortStats([...objects, ...logKindStats(logs)]),
        tasks: (this.statement('SELECT COUNT(*) AS n FROM tasks').get() as { n: number }).n,
      };
    });
  }

  async ping(): Promise<void> {
    await this.lock.run(() => this.statement('SELECT 1 FROM accounts LIMIT 1').get());
  }

  async snapshot(): Promise<StoreSnapshot> {
    return this.readSnapshot(collectSnapshot);
  }

  async readSnapshot<T>(consume: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    return this.lock.run(async () => {
      // One read transaction: a consistent view even while another process writes the file.
      this.db.exec('BEGIN');
      try {
        const counts = snapshotCounts((sql) => this.statement(sql));
        return await consume({ counts, batches: () => readBatches((sql) => this.statement(sql)) });
      } finally {
        this.db.exec('COMMIT');
      }
    });
  }

  async restore(snapshot: StoreSnapshot): Promise<void> {
    await this.restoreFrom(snapshotBatches(snapshot));
  }

  async restoreFrom(batches: AsyncIterable<SnapshotBatch>): Promise<void> {
    // Commit listeners hear of every object that went and came; without any, nothing is kept.
    const listening = this.listeners.size > 0;
    const changes = await this.lock.run(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        const changes = await restoreRows((sql) => this.statement(sql), batches, listening);
        this.db.exec('COMMIT');
        return changes;
      } catch (e) {
        this.db.exec('ROLLBACK');
        throw e;
      } finally {
        this.cache.clear();
      }
    });
    this.emit(changes);
  }

  async close(): Promise<void> {
    // The worker's connection first: the last one to close checkpoints and removes the WAL.
    await this.checkpointer?.close();
    await this.lock.run(() => this.db.close());
  }
}

function toCommitted(change: Change): CommittedChange {
  const { kind, uuid, owner } = change.record;
  if (change.op === 'put') return { op: 'put', kind, uuid, owner, detail: change.record.detail };
  const { grantees } = change;
  return { op: 'remove', kind, uuid, owner, ...(grantees ? { grantees } : {}) };
}
