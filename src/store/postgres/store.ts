/**
 * The shared store: PostgreSQL through `pg`, for several API processes on one database.
 *
 * Inside a write transaction every read locks its row (`FOR UPDATE`), so a read-merge-write is
 * not interleaved with another writer's; version checks still guard records read elsewhere, and
 * conflicts, deadlocks and serialization failures run the transaction again (3 times) before a
 * 503 `concurrency`.
 */
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { ConflictError, errors } from '../../errors.js';
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
  SharedAuthRepo,
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
import { PgAccounts, PgSessions } from './accounts.js';
import { PgSharedAuth } from './auth-state.js';
import { Barrier, type CachedRow, PgReadCache } from './cache.js';
import {
  fromTaskRow,
  inTransaction,
  pgCode,
  RECORD_COLUMNS,
  RETRYABLE_CODES,
  type TaskRow,
} from './common.js';
import { cachedRow } from './lists.js';
import { MIGRATION_LOCK, migrate } from './migrations.js';
import { everythingNote, grantsNote, type Note, notificationPayloads } from './notify.js';
import { readPgSnapshot, restoreRows } from './snapshot.js';
import { PgTokens } from './tokens.js';
import { PgTx } from './tx.js';

export interface PostgresOptions {
  /** `postgres://user@host:port/database` */
  url: string;
  /** A schema of its own (created if missing); tests use one per store. Default `public`. */
  schema?: string;
  /** Drop the schema on close (tests). */
  dropSchemaOnClose?: boolean;
  poolSize?: number;
  /**
   * Hold the database alone until `close` (an import): opening fails with `StoreBusyError` while
   * another sigmalite process is connected to it, and processes that open it meanwhile wait.
   */
  exclusive?: boolean;
}

/** First key of the advisory locks that say a process (and so its task leases) is alive. */
const LIVENESS_LOCK = 7_421_134;

export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  readonly accounts: AccountRepo;
  readonly sessions: SessionRepo;
  readonly tokens: TokenRepo;
  readonly sharedAuth: SharedAuthRepo;
  private readonly pool: pg.Pool;
  private readonly reader: PgTx;
  private readonly listeners = new Set<(changes: readonly CommittedChange[]) => void>();
  /** Tells this process's notifications from other processes'. */
  private readonly token = randomBytes(8).toString('hex');
  /**
   * This process's liveness key: the listening connection holds the advisory lock
   * (LIVENESS_LOCK, key) as long as the process lives, so its task leases die with it.
   */
  private readonly livenessKey = randomBytes(4).readUInt32BE() & 0x7fffffff;
  private readonly channel: string;
  private listener: pg.Client | undefined;
  private readonly cache = new PgReadCache();
  private quotas: ObjectQuotas = new Map();
  private readonly barrier = new Barrier(async (payload) => {
    await this.listener!.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
  }, this.token);

  private constructor(
    pool: pg.Pool,
    private readonly options: PostgresOptions,
  ) {
    this.pool = pool;
    this.channel = `sigmalite_${options.schema ?? 'public'}`;
    this.reader = new PgTx(pool, false, [], { cache: this.cache, fresh: () => this.fresh() });
    this.accounts = new PgAccounts(pool, {
      cache: this.cache,
      fresh: () => this.fresh(),
      notify: (client, payload) =>
        client.query('SELECT pg_notify($1, $2)', [this.channel, payload]).then(() => {}),
      token: this.token,
    });
    this.sessions = new PgSessions(pool);
    this.tokens = new PgTokens(pool);
    this.sharedAuth = new PgSharedAuth(pool);
  }

  static async open(options: PostgresOptions): Promise<PostgresStore> {
    const schema = options.schema ?? 'public';
    if (!/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`invalid schema name "${schema}"`);
    const pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      options: `-c search_path=${schema}`,
    });
    // An idle client's error (the server restarting) must not crash the process.
    pool.on('error', () => {});
    try {
      await migrate(pool, schema);
    } catch (e) {
      await pool.end();
      throw e;
    }
    const store = new PostgresStore(pool, options);
    try {
      await store.listen();
      if (options.exclusive) await store.holdAlone();
    } catch (e) {
      await store.close();
      throw e;
    }
    return store;
  }

  /**
   * Takes the migration lock for good (a process that opens the database waits at its
   * migrations), then counts the liveness locks of other processes.
   */
  private async holdAlone(): Promise<void> {
    const client = this.listener!;
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    const { rows } = await client.query<{ n: number }>(
      `SELECT count(*)::integer AS n FROM pg_locks
       WHERE locktype = 'advisory' AND granted AND classid = $1 AND objsubid = 2 AND objid <> $2
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      [LIVENESS_LOCK, this.livenessKey],
    );
    const others = rows[0]?.n ?? 0;
    if (others > 0) {
      throw new StoreBusyError(
        `${others} other sigmalite process${others === 1 ? ' is' : 'es are'} connected to the database (a running sigmalite?)`,
      );
    }
  }

  /** Other processes' commits arrive as notifications on the schema's channel. */
  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.options.url });
    client.on('error', () => {});
    await client.connect();
    await client.query('SELECT pg_advisory_lock($1, $2)', [LIVENESS_LOCK, this.livenessKey]);
    await client.query(`LISTEN ${this.channel}`);
    client.on('notification', (message) => {
      if (!message.payload || this.barrier.heard(message.payload)) return;
      const note = JSON.parse(message.payload) as Note;
      if (note.from === this.token) return;
      if (note.all) this.cache.clear();
      else this.cache.drop(note.changes, note.accounts, note.grants === true);
      this.emit(note.changes);
    });
    // Without the notifications, the read cache cannot know what other processes change.
    const lost = () => {
      this.cache.disable();
      this.barrier.fail(new Error('the listening connection ended'));
    };
    client.on('end', lost);
    client.on('error', lost);
    this.listener = client;
  }

  setQuotas(quotas: ObjectQuotas): void {
    this.quotas = quotas;
  }

  onCommit(listener: (changes: readonly CommittedChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

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
      ? `AND (t.host IS NULL OR t.host = ANY($8::text[]))
         AND NOT EXISTS (SELECT 1 FROM tasks p WHERE p.target = t.target AND p.seq < t.seq)`
      : '';
    const params: unknown[] = [worker, leaseUntil, now, Date.now(), limit, this.livenessKey];
    params.push(LIVENESS_LOCK);
    if (scope) params.push([...scope.hosts]);
    const { rows } = await this.pool.query<TaskRow & { seq: string }>(
      // A lease is free when it ran out, or when the process holding it is gone (its liveness
      // lock is no longer held): a restarted process resumes its tasks at once.
      `UPDATE tasks SET lease_owner = $1, lease_until = $2, lease_key = $6
       WHERE seq IN (
         SELECT seq FROM tasks t WHERE due_at <= $3 AND (lease_until <= $4 OR NOT EXISTS (
           SELECT 1 FROM pg_locks l
           WHERE l.locktype = 'advisory' AND l.granted AND l.classid = $7 AND l.objsubid = 2
             AND l.objid = t.lease_key::oid
             AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())))
           ${scoped}
         ORDER BY due_at, seq LIMIT $5 FOR UPDATE SKIP LOCKED)
       RETURNING id, type, target, payload, due_at, host, seq`,
      params,
    );
    return rows
      .sort((a, b) => Number(a.due_at) - Number(b.due_at) || Number(a.seq) - Number(b.seq))
      .map(fromTaskRow);
  }

  async renewLeases(worker: string, ids: readonly string[], leaseUntil: number): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query(
      'UPDATE tasks SET lease_until = $1 WHERE id = ANY($2::text[]) AND lease_owner = $3',
      [leaseUntil, [...ids], worker],
    );
  }

  async recoverLeases(): Promise<void> {
    // Nothing to do: a dead process's leases are free as soon as its liveness lock is gone.
  }

  async nextTaskDue(scope?: LeaseScope): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ due: string | null }>(
      scope
        ? 'SELECT min(due_at) AS due FROM tasks WHERE host IS NULL OR host = ANY($1::text[])'
        : 'SELECT min(due_at) AS due FROM tasks',
      scope ? [[...scope.hosts]] : [],
    );
    const due = rows[0]?.due;
    return due === null || due === undefined ? undefined : Number(due);
  }

  async get(uuid: string): Promise<ObjectRecord | undefined> {
    return this.reader.get(uuid);
  }

  async getDetail(uuid: string): Promise<DetailView | undefined> {
    const fresh = await this.fresh();
    if (fresh) {
      const hit = this.cache.object(uuid);
      if (hit) return detailView(hit);
    }
    const generation = this.cache.generation;
    const { rows } = await this.pool.query<{
      kind: string;
      uuid: string;
      owner: string | null;
      detail: string;
      summary: string;
    }>('SELECT kind, uuid, owner, detail, summary FROM objects WHERE uuid = $1', [uuid]);
    const row = rows[0];
    if (!row) return undefined;
    // Kept as the bytes that are sent (encoded once, not per request).
    const object = cachedRow(row);
    if (fresh) this.cache.rememberObject(object, generation);
    return detailView(object);
  }

  /**
   * Whether the read cache may answer: once every commit made before this call has been heard
   * (see `cache.ts`). False when the cache is off.
   */
  /** How often the read cache answered (tests, diagnostics). */
  get cacheStats(): Readonly<{ hits: number; misses: number }> {
    return this.cache.stats;
  }

  async fresh(): Promise<boolean> {
    if (!this.cache.enabled) return false;
    try {
      await this.barrier.pass();
    } catch {
      this.cache.disable();
      return false;
    }
    return this.cache.enabled;
  }

  read<T>(fn: (tx: ReadTx) => Promise<T>): Promise<T> {
    return fn(this.reader);
  }

  /** One transaction of its own (PostgreSQL commits concurrent transactions independently). */
  async append(records: readonly NewRecord[]): Promise<void> {
    await this.write(async (tx) => {
      for (const record of records) await tx.insert(record);
    });
  }

  async write<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T> {
    for (let attempt = 0; attempt <= WRITE_RETRIES; attempt++) {
      const changes: CommittedChange[] = [];
      let grants = false;
      try {
        const result = await this.transaction(async (client) => {
          const tx = new PgTx(client, true, changes, undefined, this.quotas);
          const value = await fn(tx);
          grants = tx.grantsWritten;
          // Delivered to the other processes only if this transaction commits.
          for (const payload of notificationPayloads(this.token, changes)) {
            await client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
          }
          if (grants) {
            await client.query('SELECT pg_notify($1, $2)', [this.channel, grantsNote(this.token)]);
          }
          return value;
        });
        // Before the caller hears of the commit: its next read here sees its write.
        this.cache.drop(changes, [], grants);
        this.emit(changes);
        return result;
      } catch (e) {
        if (!(e instanceof ConflictError) && !RETRYABLE_CODES.has(pgCode(e) ?? '')) throw e;
      }
    }
    throw errors.concurrency();
  }

  transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, fn);
  }

  async fingerprint(): Promise<string> {
    const hash = createHash('sha256');
    for (const sql of [
      `SELECT ${RECORD_COLUMNS} FROM objects WHERE ${fingerprintedKinds()} ORDER BY seq`,
      `SELECT owner, kind, n::integer AS n FROM object_counts WHERE ${fingerprintedKinds()} ORDER BY owner, kind`,
      'SELECT * FROM claims ORDER BY namespace, value',
      'SELECT * FROM accounts ORDER BY uuid',
      'SELECT id_hash, account, csrf_token, expires_at::text AS expires_at FROM sessions ORDER BY id_hash',
      'SELECT * FROM api_tokens ORDER BY id',
      'SELECT id, type, target, payload, due_at::text AS due_at, host FROM tasks ORDER BY seq',
      'SELECT * FROM component_state ORDER BY namespace, key',
      'SELECT * FROM links ORDER BY kind, source, target',
      'SELECT * FROM grants ORDER BY object, grantee',
    ]) {
      for (const row of (await this.pool.query(sql)).rows) hash.update(JSON.stringify(row));
    }
    return hash.digest('hex');
  }

  async stats(): Promise<StoreStats> {
    const objects = await this.pool.query<StoreStats['objects'][number]>(
      statsQuery('COUNT(*)::integer'),
    );
    const logs = await this.pool.query<{ kind: string; n: number | null }>(
      'SELECT kind, SUM(n)::integer AS n FROM object_counts WHERE kind = ANY($1) GROUP BY kind',
      [LOG_KINDS],
    );
    const tasks = await this.pool.query<{ n: number }>('SELECT COUNT(*)::integer AS n FROM tasks');
    return {
      objects: sortStats([...objects.rows, ...logKindStats(logs.rows)]),
      tasks: tasks.rows[0]!.n,
    };
  }

  async ping(): Promise<void> {
    await this.pool.query('SELECT 1 FROM accounts LIMIT 1');
  }

  async snapshot(): Promise<StoreSnapshot> {
    return this.readSnapshot(collectSnapshot);
  }

  readSnapshot<T>(consume: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    return readPgSnapshot(this.pool, consume);
  }

  async restore(snapshot: StoreSnapshot): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.restoreFrom(snapshotBatches(snapshot));
        return;
      } catch (e) {
        if (attempt >= WRITE_RETRIES || !RETRYABLE_CODES.has(pgCode(e) ?? '')) throw e;
      }
    }
  }

  async restoreFrom(batches: AsyncIterable<SnapshotBatch>): Promise<void> {
    // Listeners here, or other processes (unless this one is alone, importing), hear of every
    // object that went and came; when nobody can, nothing is kept.
    const listening = this.listeners.size > 0 || this.options.exclusive !== true;
    const changes = await this.transaction(async (client) => {
      const changes = await restoreRows(client, batches, listening);
      for (const payload of notificationPayloads(this.token, changes)) {
        await client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
      }
      // Credentials changed too: every process's cache starts again.
      await client.query('SELECT pg_notify($1, $2)', [this.channel, everythingNote(this.token)]);
      return changes;
    });
    this.cache.clear();
    this.emit(changes);
  }

  async close(): Promise<void> {
    await this.listener?.end().catch(() => {});
    if (this.options.dropSchemaOnClose && this.options.schema) {
      await this.pool.query(`DROP SCHEMA IF EXISTS ${this.options.schema} CASCADE`);
    }
    await this.pool.end();
  }
}

function detailView(object: CachedRow): DetailView {
  return { kind: object.kind, uuid: object.uuid, owner: object.owner, detail: object.detail };
}
