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
import { ConflictError, errors } from '../../http/errors.js';
import { Mutex } from '../mutex.js';
import { batched, collectSnapshot, snapshotBatches } from '../snapshot.js';
import type {
  Account,
  AccountRepo,
  Claim,
  CommittedChange,
  DetailView,
  Filter,
  Grant,
  LinkRow,
  ListPage,
  ListQuery,
  NewRecord,
  ObjectRecord,
  ReadTx,
  Session,
  SessionRepo,
  SnapshotBatch,
  SnapshotReader,
  SnapshotTable,
  StateEntry,
  Store,
  StoreSnapshot,
  StoreStats,
  Task,
  TokenRepo,
  WriteTx,
} from '../types.js';
import {
  DuplicateEmailError,
  fingerprintedKinds,
  fold,
  LOG_KINDS,
  logKindStats,
  SNAPSHOT_TABLES,
  StoreBusyError,
  sortStats,
  statsQuery,
  toToken,
  WRITE_RETRIES,
} from '../types.js';
import { type CachedObject, type Change, encoded, ReadCache } from './cache.js';
import { BackgroundCheckpointer } from './checkpointer.js';
import { SQLITE_MIGRATIONS } from './migrations.js';
import { SqliteTokens } from './tokens.js';

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

interface Row {
  kind: string;
  uuid: string;
  owner: string | null;
  name: string;
  status: string | null;
  version: number;
  doc: string;
  detail: string;
  summary: string;
}

interface AccountRow {
  uuid: string;
  email: string;
  password_hash: string;
  ha1: string | null;
  cred_version: number;
  created_at: string;
}

const RECORD_COLUMNS = 'kind, uuid, owner, name, status, version, doc, detail, summary';
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
  ): Promise<Task[]> {
    return this.lock.run(() => {
      const rows = this.statement(
        `UPDATE tasks SET lease_owner = ?, lease_until = ?
         WHERE seq IN (SELECT seq FROM tasks WHERE due_at <= ? AND lease_until <= ? ORDER BY due_at, seq LIMIT ?)
         RETURNING id, type, target, payload, due_at AS dueAt, seq`,
      ).all(worker, leaseUntil, now, Date.now(), limit) as (Task & { seq: number })[];
      return rows
        .sort((a, b) => a.dueAt - b.dueAt || a.seq - b.seq)
        .map(({ seq: _, ...task }) => task);
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

  async nextTaskDue(): Promise<number | undefined> {
    return this.lock.run(
      () =>
        (this.statement('SELECT min(due_at) FROM tasks').pluck().get() as number | null) ??
        undefined,
    );
  }

  /** Runs a synchronous unit under the lock, in a transaction (account operations). */
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
        const counts = Object.fromEntries(
          SNAPSHOT_TABLES.map((table) => [
            table,
            SQLITE_SNAPSHOT[table].count.reduce(
              (n, sql) => n + (this.statement(sql).pluck().get() as number),
              0,
            ),
          ]),
        ) as Record<SnapshotTable, number>;
        return await consume({ counts, batches: () => this.readBatches() });
      } finally {
        this.db.exec('COMMIT');
      }
    });
  }

  /** Each table's rows, a batch at a time, read by the transaction `readSnapshot` holds. */
  private async *readBatches(): AsyncGenerator<SnapshotBatch> {
    for (const table of SNAPSHOT_TABLES) {
      const { rows: queries, convert } = SQLITE_SNAPSHOT[table];
      for (const sql of queries) {
        const rows = (function* (statement: Statement) {
          for (const row of statement.iterate()) yield convert(row as never);
        })(this.statement(sql));
        yield* batched(table, rows as Iterable<never>);
      }
    }
  }

  async restore(snapshot: StoreSnapshot): Promise<void> {
    await this.restoreFrom(snapshotBatches(snapshot));
  }

  async restoreFrom(batches: AsyncIterable<SnapshotBatch>): Promise<void> {
    // Commit listeners hear of every object that went and came; without any, nothing is kept.
    const listening = this.listeners.size > 0;
    const changes: CommittedChange[] = [];
    await this.lock.run(async () => {
      this.db.exec('BEGIN IMMEDIATE');
      try {
        if (listening) {
          const before = this.statement(
            'SELECT kind, uuid, owner FROM objects UNION ALL SELECT kind, uuid, owner FROM log_entries',
          ).all() as { kind: string; uuid: string; owner: string | null }[];
          for (const row of before) changes.push({ op: 'remove', ...row });
        }
        for (const table of [
          'objects',
          'log_entries',
          'object_counts',
          'claims',
          'accounts',
          'sessions',
          'api_tokens',
          'tasks',
          'component_state',
          'links',
          'grants',
        ]) {
          this.statement(`DELETE FROM ${table}`).run();
        }
        let tasks = false;
        for await (const batch of batches) {
          this.insertBatch(batch);
          if (batch.table === 'tasks' && batch.rows.length > 0) tasks = true;
          if (listening && batch.table === 'objects') {
            for (const r of batch.rows) {
              changes.push({
                op: 'put',
                kind: r.kind,
                uuid: r.uuid,
                owner: r.owner,
                detail: r.detail,
              });
            }
          }
        }
        this.statement(
          `INSERT INTO object_counts (owner, kind, n)
           SELECT coalesce(owner, ''), kind, count(*) FROM objects GROUP BY coalesce(owner, ''), kind
           UNION ALL
           SELECT coalesce(owner, ''), kind, count(*) FROM log_entries GROUP BY coalesce(owner, ''), kind`,
        ).run();
        if (listening && tasks) changes.push({ op: 'task' });
        this.db.exec('COMMIT');
      } catch (e) {
        this.db.exec('ROLLBACK');
        throw e;
      } finally {
        this.cache.clear();
      }
    });
    this.emit(changes);
  }

  private insertBatch(batch: SnapshotBatch): void {
    const run = (sql: string) => this.statement(sql);
    switch (batch.table) {
      case 'accounts': {
        const insert = run(
          `INSERT INTO accounts (uuid, email, password_hash, ha1, cred_version, created_at)
           VALUES (?, ?, ?, ?, ?, ?)`,
        );
        for (const a of batch.rows) {
          insert.run(a.uuid, a.email, a.passwordHash, a.ha1, a.credVersion, a.createdAt);
        }
        return;
      }
      case 'sessions': {
        const insert = run(
          'INSERT INTO sessions (id_hash, account, csrf_token, expires_at) VALUES (?, ?, ?, ?)',
        );
        for (const s of batch.rows) insert.run(s.idHash, s.account, s.csrfToken, s.expiresAt);
        return;
      }
      case 'tokens': {
        const insert = run(
          'INSERT INTO api_tokens (id, account, hash, name, created_at) VALUES (?, ?, ?, ?, ?)',
        );
        for (const t of batch.rows) insert.run(t.id, t.account, t.hash, t.name, t.createdAt);
        return;
      }
      case 'objects': {
        const object = run(
          `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        const logEntry = run(
          `INSERT INTO log_entries (kind, uuid, owner, name, status, doc, detail, summary)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        for (const r of batch.rows) {
          if (LOG_KINDS.includes(r.kind)) {
            logEntry.run(r.kind, r.uuid, r.owner, r.name, r.status, r.doc, r.detail, '');
          } else {
            object.run(
              r.kind,
              r.uuid,
              r.owner,
              r.name,
              fold(r.name),
              r.status,
              r.version,
              r.doc,
              r.detail,
              r.summary,
            );
          }
        }
        return;
      }
      case 'claims': {
        const insert = run('INSERT INTO claims (namespace, value, holder) VALUES (?, ?, ?)');
        for (const c of batch.rows) insert.run(c.namespace, c.value, c.holder);
        return;
      }
      case 'tasks': {
        const insert = run(
          'INSERT INTO tasks (id, type, target, payload, due_at) VALUES (?, ?, ?, ?, ?)',
        );
        for (const t of batch.rows) insert.run(t.id, t.type, t.target, t.payload, t.dueAt);
        return;
      }
      case 'state': {
        const insert = run('INSERT INTO component_state (namespace, key, value) VALUES (?, ?, ?)');
        for (const e of batch.rows) insert.run(e.namespace, e.key, e.value);
        return;
      }
      case 'links': {
        const insert = run('INSERT INTO links (kind, source, target) VALUES (?, ?, ?)');
        for (const l of batch.rows) insert.run(l.kind, l.source, l.target);
        return;
      }
      case 'grants': {
        const insert = run('INSERT INTO grants (object, grantee, permissions) VALUES (?, ?, ?)');
        for (const g of batch.rows) insert.run(g.object, g.grantee, JSON.stringify(g.permissions));
        return;
      }
    }
  }

  async close(): Promise<void> {
    // The worker's connection first: the last one to close checkpoints and removes the WAL.
    await this.checkpointer?.close();
    await this.lock.run(() => this.db.close());
  }
}

class SqliteTx implements WriteTx {
  constructor(private readonly store: SqliteStore) {}

  getSync(uuid: string): ObjectRecord | undefined {
    return this.store.statement(`SELECT ${RECORD_COLUMNS} FROM objects WHERE uuid = ?`).get(uuid) as
      | Row
      | undefined;
  }

  async get(uuid: string): Promise<ObjectRecord | undefined> {
    return this.getSync(uuid);
  }

  /** One object's rendered forms, from the cache when it may answer (not inside a write). */
  cachedObject(uuid: string): CachedObject | undefined {
    if (!this.store.writing) {
      this.store.cache.validate();
      const hit = this.store.cache.object(uuid);
      if (hit) return hit;
    }
    const row = this.store
      .statement('SELECT kind, uuid, owner, detail, summary FROM objects WHERE uuid = ?')
      .get(uuid) as
      | Pick<ObjectRecord, 'kind' | 'uuid' | 'owner' | 'detail' | 'summary'>
      | undefined;
    if (!row) return undefined;
    const object = encoded(row);
    if (!this.store.writing) this.store.cache.rememberObject(object);
    return object;
  }

  async getMany(uuids: readonly string[]): Promise<ObjectRecord[]> {
    const out: ObjectRecord[] = [];
    for (const uuid of new Set(uuids)) {
      const record = this.getSync(uuid);
      if (record) out.push(record);
    }
    return out;
  }

  async list(query: ListQuery): Promise<ListPage> {
    // Sharing costs nothing to an account nothing is granted to: its lists stay on the fast paths.
    if (
      query.sharedWith !== undefined &&
      query.owner !== null &&
      this.hasGrants(query.sharedWith)
    ) {
      return this.sharedList(query, query.owner, query.sharedWith);
    }
    if (LOG_KINDS.includes(query.kind)) return this.logList(query);
    if (query.filters.length === 0 && !query.order && !this.store.writing)
      return this.cachedList(query);
    const where = ['kind = ?', query.owner === null ? 'owner IS NULL' : 'owner = ?'];
    const params: unknown[] = [query.kind];
    if (query.owner !== null) params.push(query.owner);
    for (const filter of query.filters) {
      const [clause, values] = filterClause(filter);
      where.push(clause);
      params.push(...values);
    }
    return this.page('objects', where.join(' AND '), params, query);
  }

  /** The total and the window of `table`'s rows matching `whereSql`, in the query's order. */
  private page(
    table: 'objects' | 'log_entries',
    whereSql: string,
    params: unknown[],
    query: ListQuery,
  ): ListPage {
    // Unfiltered, the list counts answer without counting.
    const total =
      query.filters.length === 0
        ? ((
            this.store
              .statement('SELECT n FROM object_counts WHERE owner = ? AND kind = ?')
              .get(query.owner ?? '', query.kind) as { n: number } | undefined
          )?.n ?? 0)
        : (
            this.store
              .statement(`SELECT count(*) AS n FROM ${table} WHERE ${whereSql}`)
              .get(...params) as { n: number }
          ).n;
    const column = query.view === 'detail' ? 'detail' : 'summary';
    const order = query.order
      ? `${query.order.column} ${query.order.descending ? 'DESC' : 'ASC'}, seq`
      : 'seq';
    const items = this.store
      .statement(
        `SELECT ${column} FROM ${table} WHERE ${whereSql} ORDER BY ${order} LIMIT ? OFFSET ?`,
      )
      .pluck()
      .all(...params, query.limit === 0 ? -1 : query.limit, query.offset) as string[];
    return { total, items };
  }

  /** A page of a log kind's entries (their own table; in creation order, never shared). */
  private logList(query: ListQuery): ListPage {
    const where = ['owner IS ?', 'kind = ?'];
    const params: unknown[] = [query.owner, query.kind];
    for (const filter of query.filters) {
      if (filter.column === 'tag' || (filter.op === 'contains' && filter.column === 'name')) {
        throw new Error(`log entries have no ${filter.column} ${filter.op} filter`);
      }
      const [clause, values] = filterClause(filter);
      where.push(clause);
      params.push(...values);
    }
    // An entry's list form is its detail (`summary` is not stored twice).
    return this.page('log_entries', where.join(' AND '), params, { ...query, view: 'detail' });
  }

  /**
   * Whether anything is granted to `grantee`, cached outside write transactions. Only `setGrants`
   * adds grants and it drops the cached answers; deletions leave a stale yes at worst, which only
   * sends lists down the (equally correct) shared path.
   */
  private hasGrants(grantee: string): boolean {
    const { cache } = this.store;
    const read = () =>
      this.store
        .statement('SELECT 1 FROM grants WHERE grantee = ? LIMIT 1')
        .pluck()
        .get(grantee) !== undefined;
    if (this.store.writing) return read();
    cache.validate();
    let granted = cache.hasGrants(grantee);
    if (granted === undefined) {
      granted = read();
      cache.rememberHasGrants(grantee, granted);
    }
    return granted;
  }

  /** The owner's objects and those granted to `grantee`, with the permissions of the latter. */
  private sharedList(query: ListQuery, owner: string, grantee: string): ListPage {
    const where = ['o.kind = ?'];
    const params: unknown[] = [grantee, query.kind];
    if (query.sharedPermission === undefined) {
      where.push('(o.owner = ? OR g.permissions IS NOT NULL)');
      params.push(owner);
    } else {
      where.push('(o.owner = ? OR instr(g.permissions, ?) > 0)');
      params.push(owner, JSON.stringify(query.sharedPermission));
    }
    for (const filter of query.filters) {
      const [clause, values] = filterClause(filter);
      where.push(clause);
      params.push(...values);
    }
    const from = `objects o LEFT JOIN grants g ON g.object = o.uuid AND g.grantee = ?
      WHERE ${where.join(' AND ')}`;
    const { n: total } = this.store
      .statement(`SELECT count(*) AS n FROM ${from}`)
      .get(...params) as { n: number };
    const column = query.view === 'detail' ? 'detail' : 'summary';
    const order = query.order
      ? `o.${query.order.column} ${query.order.descending ? 'DESC' : 'ASC'}, o.seq`
      : 'o.seq';
    const rows = this.store
      .statement(
        `SELECT o.${column} AS j, CASE WHEN o.owner = ? THEN NULL ELSE g.permissions END AS p
         FROM ${from} ORDER BY ${order} LIMIT ? OFFSET ?`,
      )
      .all(owner, ...params, query.limit === 0 ? -1 : query.limit, query.offset) as {
      j: string;
      p: string | null;
    }[];
    return {
      total,
      items: rows.map((row) => row.j),
      grants: rows.map((row) => (row.p === null ? undefined : (JSON.parse(row.p) as string[]))),
    };
  }

  /** An unfiltered page in creation order, from the cached list of uuids and cached objects. */
  private cachedList(query: ListQuery): ListPage {
    const { cache } = this.store;
    cache.validate();
    let uuids = cache.list(query.owner, query.kind);
    if (!uuids) {
      uuids = this.store
        .statement(
          `SELECT uuid FROM objects WHERE kind = ? AND ${query.owner === null ? 'owner IS NULL' : 'owner = ?'} ORDER BY seq`,
        )
        .pluck()
        .all(...(query.owner === null ? [query.kind] : [query.kind, query.owner])) as string[];
      cache.rememberList(query.owner, query.kind, uuids);
    }
    const window = query.joined ? `${query.view}/${query.offset}/${query.limit}` : undefined;
    if (window !== undefined) {
      const joined = cache.joined(query.owner, query.kind, window);
      if (joined) return { total: uuids.length, items: [], joined };
    }
    const page =
      query.limit === 0
        ? uuids.slice(query.offset)
        : uuids.slice(query.offset, query.offset + query.limit);
    const items: Buffer[] = [];
    for (const uuid of page) {
      const object = this.cachedObject(uuid);
      if (object) items.push(query.view === 'detail' ? object.detail : object.summary);
    }
    if (window === undefined) return { total: uuids.length, items };
    const joined = joinWithCommas(items);
    cache.rememberJoined(query.owner, query.kind, window, joined);
    return { total: uuids.length, items: [], joined };
  }

  async claimHolder(namespace: string, value: string): Promise<string | undefined> {
    return this.store
      .statement('SELECT holder FROM claims WHERE namespace = ? AND value = ?')
      .pluck()
      .get(namespace, value) as string | undefined;
  }

  async insert(record: NewRecord): Promise<void> {
    this.insertSync(record);
  }

  insertSync(record: NewRecord): void {
    if (LOG_KINDS.includes(record.kind)) {
      this.store
        .statement(
          `INSERT INTO log_entries (kind, uuid, owner, name, status, doc, detail, summary)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.kind,
          record.uuid,
          record.owner,
          record.name,
          record.status,
          record.doc,
          record.detail,
          // The audit log has no list fields: its list form is the detail, read from there.
          '',
        );
    } else {
      this.store
        .statement(
          `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
           VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
        )
        .run(
          record.kind,
          record.uuid,
          record.owner,
          record.name,
          fold(record.name),
          record.status,
          record.doc,
          record.detail,
          record.summary,
        );
    }
    this.store
      .statement(
        `INSERT INTO object_counts (owner, kind, n) VALUES (?, ?, 1)
         ON CONFLICT (owner, kind) DO UPDATE SET n = n + 1`,
      )
      .run(record.owner ?? '', record.kind);
    this.store.changes.push({ op: 'put', record, inserted: true });
  }

  async update(record: ObjectRecord): Promise<void> {
    const result = this.store
      .statement(
        `UPDATE objects SET name = ?, name_fold = ?, status = ?, version = version + 1,
           doc = ?, detail = ?, summary = ?
         WHERE uuid = ? AND version = ?`,
      )
      .run(
        record.name,
        fold(record.name),
        record.status,
        record.doc,
        record.detail,
        record.summary,
        record.uuid,
        record.version,
      );
    if (result.changes !== 1) throw new ConflictError(`${record.kind} ${record.uuid} changed`);
    this.store.changes.push({ op: 'put', record, inserted: false });
  }

  async remove(record: ObjectRecord): Promise<void> {
    const result = this.store
      .statement('DELETE FROM objects WHERE uuid = ? AND version = ?')
      .run(record.uuid, record.version);
    if (result.changes !== 1) throw new ConflictError(`${record.kind} ${record.uuid} changed`);
    this.store
      .statement('UPDATE object_counts SET n = n - 1 WHERE owner = ? AND kind = ?')
      .run(record.owner ?? '', record.kind);
    this.store
      .statement('DELETE FROM links WHERE source = ? OR target = ?')
      .run(record.uuid, record.uuid);
    const grantees = this.store
      .statement('DELETE FROM grants WHERE object = ? RETURNING grantee')
      .pluck()
      .all(record.uuid) as string[];
    this.store.changes.push({ op: 'remove', record, ...(grantees.length > 0 ? { grantees } : {}) });
  }

  async linksFrom(kind: string, source: string): Promise<string[]> {
    return this.store
      .statement('SELECT target FROM links WHERE kind = ? AND source = ? ORDER BY target')
      .pluck()
      .all(kind, source) as string[];
  }

  async linksTo(kind: string, target: string): Promise<string[]> {
    return this.store
      .statement(
        `SELECT l.source FROM links l LEFT JOIN objects o ON o.uuid = l.source
         WHERE l.kind = ? AND l.target = ? ORDER BY o.seq, l.source`,
      )
      .pluck()
      .all(kind, target) as string[];
  }

  async setLinks(kind: string, source: string, targets: readonly string[]): Promise<void> {
    this.store.statement('DELETE FROM links WHERE kind = ? AND source = ?').run(kind, source);
    const insert = this.store.statement(
      'INSERT INTO links (kind, source, target) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
    );
    for (const target of targets) insert.run(kind, source, target);
  }

  async grantsOf(object: string): Promise<Grant[]> {
    const rows = this.store
      .statement(
        'SELECT object, grantee, permissions FROM grants WHERE object = ? ORDER BY grantee',
      )
      .all(object) as { object: string; grantee: string; permissions: string }[];
    return rows.map((row) => ({ ...row, permissions: JSON.parse(row.permissions) as string[] }));
  }

  async grantFor(object: string, grantee: string): Promise<string[] | undefined> {
    const text = this.store
      .statement('SELECT permissions FROM grants WHERE object = ? AND grantee = ?')
      .pluck()
      .get(object, grantee) as string | undefined;
    return text === undefined ? undefined : (JSON.parse(text) as string[]);
  }

  async setGrants(object: string, grants: readonly Omit<Grant, 'object'>[]): Promise<void> {
    this.store.grantsWritten = true;
    this.store.statement('DELETE FROM grants WHERE object = ?').run(object);
    const insert = this.store.statement(
      'INSERT INTO grants (object, grantee, permissions) VALUES (?, ?, ?)',
    );
    for (const grant of grants)
      insert.run(object, grant.grantee, JSON.stringify(grant.permissions));
  }

  async claim(namespace: string, value: string, holder: string): Promise<boolean> {
    const { changes } = this.store
      .statement(
        'INSERT INTO claims (namespace, value, holder) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
      )
      .run(namespace, value, holder);
    // Not inserted: taken already, by this holder (a claim again) or another.
    return changes === 1 || (await this.claimHolder(namespace, value)) === holder;
  }

  async releaseAll(namespace: string, holder: string): Promise<void> {
    this.store
      .statement('DELETE FROM claims WHERE namespace = ? AND holder = ?')
      .run(namespace, holder);
  }

  async byStatus(
    kind: string,
    statuses: readonly string[],
    owner?: string,
  ): Promise<ObjectRecord[]> {
    if (statuses.length === 0) return [];
    const ownerClause = owner === undefined ? '' : ' AND owner = ?';
    return this.store
      .statement(
        `SELECT ${RECORD_COLUMNS} FROM objects WHERE kind = ?${ownerClause} AND status IN (${statuses.map(() => '?').join(', ')}) ORDER BY seq`,
      )
      .all(kind, ...(owner === undefined ? [] : [owner]), ...statuses) as Row[];
  }

  async claimsOf(namespace: string, holder: string): Promise<string[]> {
    return this.store
      .statement('SELECT value FROM claims WHERE namespace = ? AND holder = ? ORDER BY value')
      .pluck()
      .all(namespace, holder) as string[];
  }

  async tasksOf(target: string): Promise<Task[]> {
    return this.store
      .statement(
        'SELECT id, type, target, payload, due_at AS dueAt FROM tasks WHERE target = ? ORDER BY seq',
      )
      .all(target) as Task[];
  }

  async addTask(task: Task): Promise<void> {
    this.store
      .statement('INSERT INTO tasks (id, type, target, payload, due_at) VALUES (?, ?, ?, ?, ?)')
      .run(task.id, task.type, task.target, task.payload, task.dueAt);
    this.store.tasksAdded = true;
  }

  async removeTask(id: string): Promise<void> {
    this.store.statement('DELETE FROM tasks WHERE id = ?').run(id);
  }

  async getState(namespace: string, key: string): Promise<string | undefined> {
    return this.store
      .statement('SELECT value FROM component_state WHERE namespace = ? AND key = ?')
      .pluck()
      .get(namespace, key) as string | undefined;
  }

  async listState(namespace: string): Promise<{ key: string; value: string }[]> {
    return this.store
      .statement('SELECT key, value FROM component_state WHERE namespace = ? ORDER BY key')
      .all(namespace) as { key: string; value: string }[];
  }

  async putState(namespace: string, key: string, value: string): Promise<void> {
    this.store
      .statement(
        `INSERT INTO component_state (namespace, key, value) VALUES (?, ?, ?)
         ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value`,
      )
      .run(namespace, key, value);
  }

  async deleteState(namespace: string, key: string): Promise<void> {
    this.store
      .statement('DELETE FROM component_state WHERE namespace = ? AND key = ?')
      .run(namespace, key);
  }

  async removeOwned(owner: string): Promise<Pick<ObjectRecord, 'kind' | 'uuid'>[]> {
    const removed = this.store
      .statement(
        `SELECT kind, uuid FROM (
           SELECT kind, uuid, 0 AS log, seq FROM objects WHERE owner = ?
           UNION ALL SELECT kind, uuid, 1 AS log, seq FROM log_entries WHERE owner = ?
         ) ORDER BY log, seq`,
      )
      .all(owner, owner) as Pick<ObjectRecord, 'kind' | 'uuid'>[];
    if (removed.length === 0) return [];
    const owned = 'SELECT uuid FROM objects WHERE owner = ?';
    this.store.statement(`DELETE FROM claims WHERE holder IN (${owned})`).run(owner);
    this.store.statement(`DELETE FROM tasks WHERE target IN (${owned})`).run(owner);
    this.store.statement(`DELETE FROM component_state WHERE key IN (${owned})`).run(owner);
    this.store
      .statement(`DELETE FROM links WHERE source IN (${owned}) OR target IN (${owned})`)
      .run(owner, owner);
    this.store.statement(`DELETE FROM grants WHERE object IN (${owned})`).run(owner);
    this.store.statement('DELETE FROM grants WHERE grantee = ?').run(owner);
    this.store.statement('DELETE FROM objects WHERE owner = ?').run(owner);
    this.store.statement('DELETE FROM log_entries WHERE owner = ?').run(owner);
    this.store.statement('DELETE FROM object_counts WHERE owner = ?').run(owner);
    for (const { kind, uuid } of removed) {
      this.store.changes.push({ op: 'remove', record: { kind, uuid, owner } });
    }
    return removed;
  }
}

/**
 * Each snapshot table: how to count it, its queries in order (the log kinds' entries, kept in a
 * table of their own, after the objects) and how a row becomes a snapshot row.
 */
const SQLITE_SNAPSHOT: Record<
  SnapshotTable,
  { count: string[]; rows: string[]; convert: (row: never) => unknown }
> = {
  accounts: {
    count: ['SELECT count(*) FROM accounts'],
    rows: ['SELECT * FROM accounts ORDER BY uuid'],
    convert: (row: AccountRow) => toAccount(row)!,
  },
  sessions: {
    count: ['SELECT count(*) FROM sessions'],
    rows: ['SELECT * FROM sessions ORDER BY id_hash'],
    convert: toSession,
  },
  tokens: {
    count: ['SELECT count(*) FROM api_tokens'],
    rows: ['SELECT * FROM api_tokens ORDER BY id'],
    convert: toToken,
  },
  objects: {
    count: ['SELECT count(*) FROM objects', 'SELECT count(*) FROM log_entries'],
    rows: [
      `SELECT ${RECORD_COLUMNS} FROM objects ORDER BY seq`,
      // Entries are never updated: version 1; their list form is their detail.
      'SELECT kind, uuid, owner, name, status, 1 AS version, doc, detail, detail AS summary FROM log_entries ORDER BY seq',
    ],
    convert: (row: Row) => row,
  },
  claims: {
    count: ['SELECT count(*) FROM claims'],
    rows: ['SELECT namespace, value, holder FROM claims ORDER BY namespace, value'],
    convert: (row: Claim) => row,
  },
  tasks: {
    count: ['SELECT count(*) FROM tasks'],
    rows: ['SELECT id, type, target, payload, due_at AS dueAt FROM tasks ORDER BY seq'],
    convert: (row: Task) => row,
  },
  state: {
    count: ['SELECT count(*) FROM component_state'],
    rows: ['SELECT namespace, key, value FROM component_state ORDER BY namespace, key'],
    convert: (row: StateEntry) => row,
  },
  links: {
    count: ['SELECT count(*) FROM links'],
    rows: ['SELECT kind, source, target FROM links ORDER BY kind, source, target'],
    convert: (row: LinkRow) => row,
  },
  grants: {
    count: ['SELECT count(*) FROM grants'],
    rows: ['SELECT object, grantee, permissions FROM grants ORDER BY object, grantee'],
    convert: (row: { object: string; grantee: string; permissions: string }) => ({
      ...row,
      permissions: JSON.parse(row.permissions) as string[],
    }),
  },
};

function toCommitted(change: Change): CommittedChange {
  const { kind, uuid, owner } = change.record;
  if (change.op === 'put') return { op: 'put', kind, uuid, owner, detail: change.record.detail };
  const { grantees } = change;
  return { op: 'remove', kind, uuid, owner, ...(grantees ? { grantees } : {}) };
}

function filterClause(filter: Filter): [string, string[]] {
  if (filter.column === 'tag') {
    const marks = filter.values.map(() => '?').join(', ');
    return [
      `uuid IN (SELECT source FROM links WHERE kind = 'tag' AND target IN (${marks}))`,
      [...filter.values],
    ];
  }
  if (filter.op === 'contains') {
    const column = filter.column === 'name' ? 'name_fold' : filter.column;
    const values = filter.values.map(fold);
    return [`(${values.map(() => `instr(${column}, ?) > 0`).join(' OR ')})`, values];
  }
  return [`${filter.column} IN (${filter.values.map(() => '?').join(', ')})`, [...filter.values]];
}

class SqliteAccounts implements AccountRepo {
  constructor(private readonly store: SqliteStore) {}

  private s(sql: string): Statement {
    return this.store.statement(sql);
  }

  create(account: Account): Promise<void> {
    return this.store.locked(() => {
      const taken = this.s('SELECT 1 FROM accounts WHERE email = ?').get(account.email);
      if (taken) throw new DuplicateEmailError(account.email);
      this.s(
        `INSERT INTO accounts (uuid, email, password_hash, ha1, cred_version, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
      ).run(
        account.uuid,
        account.email,
        account.passwordHash,
        account.ha1,
        account.credVersion,
        account.createdAt,
      );
    });
  }

  async byEmail(email: string): Promise<Account | undefined> {
    return toAccount(this.s('SELECT * FROM accounts WHERE email = ?').get(email) as AccountRow);
  }

  async byUuid(uuid: string): Promise<Account | undefined> {
    return toAccount(this.s('SELECT * FROM accounts WHERE uuid = ?').get(uuid) as AccountRow);
  }

  async credVersion(uuid: string): Promise<number | undefined> {
    const { cache } = this.store;
    cache.validate();
    const cached = cache.credVersion(uuid);
    if (cached !== undefined) return cached;
    const version = this.s('SELECT cred_version FROM accounts WHERE uuid = ?').pluck().get(uuid) as
      | number
      | undefined;
    if (version !== undefined) cache.rememberCredVersion(uuid, version);
    return version;
  }

  async list(): Promise<Account[]> {
    const rows = this.s('SELECT * FROM accounts ORDER BY created_at, email').all() as AccountRow[];
    return rows.map((row) => toAccount(row)!);
  }

  async count(): Promise<number> {
    return this.s('SELECT count(*) FROM accounts').pluck().get() as number;
  }

  setPassword(uuid: string, passwordHash: string, ha1: string | null): Promise<void> {
    return this.store.locked(() => {
      this.s(
        'UPDATE accounts SET password_hash = ?, ha1 = ?, cred_version = cred_version + 1 WHERE uuid = ?',
      ).run(passwordHash, ha1, uuid);
      this.s('DELETE FROM sessions WHERE account = ?').run(uuid);
      this.store.cache.forgetAccount(uuid);
    });
  }

  clearDigest(): Promise<void> {
    return this.store.locked(() => {
      this.s('UPDATE accounts SET ha1 = NULL WHERE ha1 IS NOT NULL').run();
    });
  }

  remove(uuid: string): Promise<void> {
    return this.store.locked(() => {
      this.s('DELETE FROM claims WHERE holder IN (SELECT uuid FROM objects WHERE owner = ?)').run(
        uuid,
      );
      const owned = 'SELECT uuid FROM objects WHERE owner = ?';
      this.s(`DELETE FROM links WHERE source IN (${owned}) OR target IN (${owned})`).run(
        uuid,
        uuid,
      );
      this.s(`DELETE FROM grants WHERE object IN (${owned}) OR grantee = ?`).run(uuid, uuid);
      this.s('DELETE FROM objects WHERE owner = ?').run(uuid);
      this.s('DELETE FROM object_counts WHERE owner = ?').run(uuid);
      this.s('DELETE FROM sessions WHERE account = ?').run(uuid);
      this.s('DELETE FROM api_tokens WHERE account = ?').run(uuid);
      this.s('DELETE FROM accounts WHERE uuid = ?').run(uuid);
      this.store.cache.clear();
    });
  }
}

interface SessionRow {
  id_hash: string;
  account: string;
  csrf_token: string;
  expires_at: number;
}

class SqliteSessions implements SessionRepo {
  constructor(private readonly store: SqliteStore) {}

  create(session: Session): Promise<void> {
    return this.store.locked(() => {
      this.store.statement('DELETE FROM sessions WHERE expires_at <= ?').run(Date.now());
      this.store
        .statement(
          'INSERT INTO sessions (id_hash, account, csrf_token, expires_at) VALUES (?, ?, ?, ?)',
        )
        .run(session.idHash, session.account, session.csrfToken, session.expiresAt);
    });
  }

  async get(idHash: string, now: number): Promise<Session | undefined> {
    const row = this.store
      .statement('SELECT * FROM sessions WHERE id_hash = ? AND expires_at > ?')
      .get(idHash, now) as SessionRow | undefined;
    return row && toSession(row);
  }

  remove(idHash: string): Promise<void> {
    return this.store.locked(() => {
      this.store.statement('DELETE FROM sessions WHERE id_hash = ?').run(idHash);
    });
  }

  take(idHash: string, now: number): Promise<Session | undefined> {
    return this.store.locked(() => {
      const row = this.store
        .statement('DELETE FROM sessions WHERE id_hash = ? RETURNING *')
        .get(idHash) as SessionRow | undefined;
      return row && row.expires_at > now ? toSession(row) : undefined;
    });
  }
}

function toSession(row: SessionRow): Session {
  return {
    idHash: row.id_hash,
    account: row.account,
    csrfToken: row.csrf_token,
    expiresAt: row.expires_at,
  };
}

function toAccount(row: AccountRow | undefined): Account | undefined {
  if (!row) return undefined;
  return {
    uuid: row.uuid,
    email: row.email,
    passwordHash: row.password_hash,
    ha1: row.ha1,
    credVersion: row.cred_version,
    createdAt: row.created_at,
  };
}

const COMMA = Buffer.from(',');

function joinWithCommas(items: readonly Buffer[]): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i > 0) chunks.push(COMMA);
    chunks.push(items[i]!);
  }
  return Buffer.concat(chunks);
}
