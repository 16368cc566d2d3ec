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
import { collectSnapshot, SNAPSHOT_BATCH, snapshotBatches } from '../snapshot.js';
import type {
  Account,
  AccountRepo,
  ApiToken,
  Claim,
  CommittedChange,
  DetailView,
  Filter,
  Grant,
  LeaseScope,
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
import { POSTGRES_MIGRATIONS } from './migrations.js';
import { PgTokens } from './tokens.js';

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

type Queryable = pg.Pool | pg.PoolClient;

interface AccountRow {
  uuid: string;
  email: string;
  password_hash: string;
  ha1: string | null;
  cred_version: number;
  created_at: string;
}

const RECORD_COLUMNS = 'kind, uuid, owner, name, status, version, doc, detail, summary';
/** Errors after which a transaction is worth running again. */
const RETRYABLE_CODES = new Set(['40001', '40P01']);
const UNIQUE_VIOLATION = '23505';
const MIGRATION_LOCK = 7_421_133;
/** First key of the advisory locks that say a process (and so its task leases) is alive. */
const LIVENESS_LOCK = 7_421_134;

export class PostgresStore implements Store {
  readonly engine = 'postgres' as const;
  readonly accounts: AccountRepo;
  readonly sessions: SessionRepo;
  readonly tokens: TokenRepo;
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

  private constructor(
    pool: pg.Pool,
    private readonly options: PostgresOptions,
  ) {
    this.pool = pool;
    this.channel = `sigmalite_${options.schema ?? 'public'}`;
    this.reader = new PgTx(pool, false, []);
    this.accounts = new PgAccounts(this, pool);
    this.sessions = new PgSessions(pool);
    this.tokens = new PgTokens(pool);
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
      if (!message.payload) return;
      const note = JSON.parse(message.payload) as { from: string; changes: CommittedChange[] };
      if (note.from !== this.token) this.emit(note.changes);
    });
    this.listener = client;
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

  async nextTaskDue(): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ due: string | null }>(
      'SELECT min(due_at) AS due FROM tasks',
    );
    const due = rows[0]?.due;
    return due === null || due === undefined ? undefined : Number(due);
  }

  async get(uuid: string): Promise<ObjectRecord | undefined> {
    return this.reader.get(uuid);
  }

  async getDetail(uuid: string): Promise<DetailView | undefined> {
    const { rows } = await this.pool.query<DetailView>(
      'SELECT kind, uuid, owner, detail FROM objects WHERE uuid = $1',
      [uuid],
    );
    return rows[0];
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
      try {
        const result = await this.transaction(async (client) => {
          const value = await fn(new PgTx(client, true, changes));
          // Delivered to the other processes only if this transaction commits.
          for (const payload of notificationPayloads(this.token, changes)) {
            await client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
          }
          return value;
        });
        this.emit(changes);
        return result;
      } catch (e) {
        if (!(e instanceof ConflictError) && !RETRYABLE_CODES.has(pgCode(e) ?? '')) throw e;
      }
    }
    throw errors.concurrency();
  }

  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
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
      'SELECT id, type, target, payload, due_at::text AS due_at FROM tasks ORDER BY seq',
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

  async readSnapshot<T>(consume: (reader: SnapshotReader) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      // One snapshot of every table. Text is ordered bytewise ("C"), as SQLite orders it.
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      const counts = {} as Record<SnapshotTable, number>;
      for (const table of SNAPSHOT_TABLES) {
        const { rows } = await client.query<{ n: number }>(
          `SELECT count(*)::integer AS n FROM ${PG_SNAPSHOT[table].from}`,
        );
        counts[table] = rows[0]!.n;
      }
      const result = await consume({ counts, batches: () => pgBatches(client) });
      await client.query('COMMIT');
      return result;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => {});
      throw e;
    } finally {
      client.release();
    }
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
    const changes: CommittedChange[] = [];
    await this.transaction(async (client) => {
      // Writers of this and other processes wait until the new state is committed.
      await client.query(
        'LOCK TABLE objects, object_counts, claims, accounts, sessions, api_tokens, tasks, component_state, links, grants IN SHARE ROW EXCLUSIVE MODE',
      );
      if (listening) {
        const before = await client.query<{ kind: string; uuid: string; owner: string | null }>(
          'SELECT kind, uuid, owner FROM objects ORDER BY seq',
        );
        for (const row of before.rows) changes.push({ op: 'remove', ...row });
      }
      await client.query(
        'DELETE FROM objects; DELETE FROM object_counts; DELETE FROM claims; DELETE FROM accounts; DELETE FROM sessions; DELETE FROM api_tokens; DELETE FROM tasks; DELETE FROM component_state; DELETE FROM links; DELETE FROM grants',
      );
      let tasks = false;
      // One statement per batch (the rows as one JSON parameter): a round trip per batch.
      for await (const batch of batches) {
        const { insert, row } = PG_SNAPSHOT[batch.table];
        await insertJson(client, insert, (batch.rows as never[]).map(row));
        if (batch.table === 'tasks' && batch.rows.length > 0) tasks = true;
        if (listening && batch.table === 'objects') {
          for (const r of batch.rows) changes.push(putChange(r));
        }
      }
      await client.query(
        `INSERT INTO object_counts (owner, kind, n)
         SELECT coalesce(owner, ''), kind, count(*) FROM objects GROUP BY coalesce(owner, ''), kind`,
      );
      if (listening && tasks) changes.push({ op: 'task' });
      for (const payload of notificationPayloads(this.token, changes)) {
        await client.query('SELECT pg_notify($1, $2)', [this.channel, payload]);
      }
    });
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

async function migrate(pool: pg.Pool, schema: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    try {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL)');
      const { rows } = await client.query<{ v: number | null }>(
        'SELECT max(version) AS v FROM schema_migrations',
      );
      const current = rows[0]?.v ?? 0;
      for (let i = current; i < POSTGRES_MIGRATIONS.length; i++) {
        await client.query('BEGIN');
        await client.query(POSTGRES_MIGRATIONS[i]!);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
        await client.query('COMMIT');
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** Inserts `rows` in their order: `select` reads each row from `e`, a JSON element. */
/**
 * Each snapshot table: where its rows are, the query that reads them in snapshot order (text
 * bytewise, as SQLite orders it), how a row read becomes a snapshot row, and how a batch of
 * snapshot rows is inserted (`insertJson`: each row as JSON `e`, `row` shapes it first).
 */
const PG_SNAPSHOT: Record<
  SnapshotTable,
  {
    from: string;
    select: string;
    read: (row: never) => unknown;
    insert: string;
    row: (row: never) => object;
  }
> = {
  accounts: {
    from: 'accounts',
    select: 'SELECT * FROM accounts ORDER BY uuid COLLATE "C"',
    read: toAccount,
    insert: `INSERT INTO accounts (uuid, email, password_hash, ha1, cred_version, created_at)
      SELECT e->>'uuid', e->>'email', e->>'passwordHash', e->>'ha1',
        (e->>'credVersion')::integer, e->>'createdAt'`,
    row: (a: Account) => a,
  },
  sessions: {
    from: 'sessions',
    select: 'SELECT * FROM sessions ORDER BY id_hash COLLATE "C"',
    read: (row: { id_hash: string; account: string; csrf_token: string; expires_at: string }) => ({
      idHash: row.id_hash,
      account: row.account,
      csrfToken: row.csrf_token,
      expiresAt: Number(row.expires_at),
    }),
    insert: `INSERT INTO sessions (id_hash, account, csrf_token, expires_at)
      SELECT e->>'idHash', e->>'account', e->>'csrfToken', (e->>'expiresAt')::bigint`,
    row: (s: Session) => s,
  },
  tokens: {
    from: 'api_tokens',
    select: 'SELECT * FROM api_tokens ORDER BY id COLLATE "C"',
    read: toToken,
    insert: `INSERT INTO api_tokens (id, account, hash, name, created_at)
      SELECT e->>'id', e->>'account', e->>'hash', e->>'name', e->>'createdAt'`,
    row: (t: ApiToken) => t,
  },
  objects: {
    from: 'objects',
    select: `SELECT ${RECORD_COLUMNS} FROM objects ORDER BY seq`,
    read: (row: ObjectRecord) => row,
    insert: `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
      SELECT e->>'kind', e->>'uuid', e->>'owner', e->>'name', e->>'nameFold', e->>'status',
        (e->>'version')::integer, e->>'doc', e->>'detail', e->>'summary'`,
    row: (r: ObjectRecord) => ({ ...r, nameFold: fold(r.name) }),
  },
  claims: {
    from: 'claims',
    select:
      'SELECT namespace, value, holder FROM claims ORDER BY namespace COLLATE "C", value COLLATE "C"',
    read: (row: Claim) => row,
    insert: `INSERT INTO claims (namespace, value, holder)
      SELECT e->>'namespace', e->>'value', e->>'holder'`,
    row: (c: Claim) => c,
  },
  tasks: {
    from: 'tasks',
    select: 'SELECT id, type, target, payload, due_at, host FROM tasks ORDER BY seq',
    read: fromTaskRow,
    insert: `INSERT INTO tasks (id, type, target, payload, due_at, host)
      SELECT e->>'id', e->>'type', e->>'target', e->>'payload', (e->>'dueAt')::bigint, e->>'host'`,
    row: (t: Task) => t,
  },
  state: {
    from: 'component_state',
    select:
      'SELECT namespace, key, value FROM component_state ORDER BY namespace COLLATE "C", key COLLATE "C"',
    read: (row: StateEntry) => row,
    insert: `INSERT INTO component_state (namespace, key, value)
      SELECT e->>'namespace', e->>'key', e->>'value'`,
    row: (e: StateEntry) => e,
  },
  links: {
    from: 'links',
    select:
      'SELECT kind, source, target FROM links ORDER BY kind COLLATE "C", source COLLATE "C", target COLLATE "C"',
    read: (row: LinkRow) => row,
    insert: `INSERT INTO links (kind, source, target)
      SELECT e->>'kind', e->>'source', e->>'target'`,
    row: (l: LinkRow) => l,
  },
  grants: {
    from: 'grants',
    select:
      'SELECT object, grantee, permissions FROM grants ORDER BY object COLLATE "C", grantee COLLATE "C"',
    read: (row: { object: string; grantee: string; permissions: string }) => ({
      ...row,
      permissions: JSON.parse(row.permissions) as string[],
    }),
    insert: `INSERT INTO grants (object, grantee, permissions)
      SELECT e->>'object', e->>'grantee', e->>'permissions'`,
    row: (g: Grant) => ({ ...g, permissions: JSON.stringify(g.permissions) }),
  },
};

/** Each table's rows, a batch at a time, through a cursor of the transaction `client` holds. */
async function* pgBatches(client: pg.PoolClient): AsyncGenerator<SnapshotBatch> {
  for (const table of SNAPSHOT_TABLES) {
    const { select, read } = PG_SNAPSHOT[table];
    await client.query(`DECLARE snapshot_rows NO SCROLL CURSOR FOR ${select}`);
    try {
      for (;;) {
        const { rows } = await client.query(`FETCH ${SNAPSHOT_BATCH} FROM snapshot_rows`);
        if (rows.length === 0) break;
        yield { table, rows: rows.map((row) => read(row as never)) } as SnapshotBatch;
      }
    } finally {
      await client.query('CLOSE snapshot_rows');
    }
  }
}

async function insertJson(client: pg.PoolClient, select: string, rows: readonly object[]) {
  if (rows.length === 0) return;
  await client.query(
    `${select} FROM json_array_elements($1::json) WITH ORDINALITY AS x(e, i) ORDER BY i`,
    [JSON.stringify(rows)],
  );
}

function pgCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

/** PostgreSQL's limit on a notification's payload is 8000 bytes; some room is kept. */
const NOTIFY_MAX_BYTES = 7500;

/**
 * Notification payloads (PostgreSQL caps one at 8000 bytes): changes without the rendered
 * objects, which listeners in other processes read when they need them, in chunks.
 */
function notificationPayloads(from: string, changes: readonly CommittedChange[]): string[] {
  const slim = changes.map((change) =>
    change.op === 'put'
      ? { op: change.op, kind: change.kind, uuid: change.uuid, owner: change.owner }
      : change,
  );
  // Changes are small (a removal may name its grantees): as many as fit in a payload.
  const payloads: string[] = [];
  const head = `{"from":${JSON.stringify(from)},"changes":[`;
  let batch: string[] = [];
  let size = head.length;
  for (const change of slim) {
    const text = JSON.stringify(change);
    if (batch.length > 0 && size + text.length + 3 > NOTIFY_MAX_BYTES) {
      payloads.push(`${head}${batch.join(',')}]}`);
      batch = [];
      size = head.length;
    }
    batch.push(text);
    size += text.length + 1;
  }
  if (batch.length > 0) payloads.push(`${head}${batch.join(',')}]}`);
  return payloads;
}

class PgTx implements WriteTx {
  constructor(
    private readonly db: Queryable,
    /** Inside a write transaction: reads lock their rows. */
    private readonly writing: boolean,
    /** What this transaction changes, for the commit listeners. */
    private readonly changes: CommittedChange[],
  ) {}

  private get lock(): string {
    return this.writing ? ' FOR UPDATE' : '';
  }

  async get(uuid: string): Promise<ObjectRecord | undefined> {
    const { rows } = await this.db.query<ObjectRecord>(
      `SELECT ${RECORD_COLUMNS} FROM objects WHERE uuid = $1${this.lock}`,
      [uuid],
    );
    return rows[0];
  }

  async getMany(uuids: readonly string[]): Promise<ObjectRecord[]> {
    if (uuids.length === 0) return [];
    const unique = [...new Set(uuids)];
    const { rows } = await this.db.query<ObjectRecord>(
      `SELECT ${RECORD_COLUMNS} FROM objects WHERE uuid = ANY($1::text[]) ORDER BY seq${this.lock}`,
      [unique],
    );
    const byUuid = new Map(rows.map((row) => [row.uuid, row]));
    return unique.flatMap((uuid) => byUuid.get(uuid) ?? []);
  }

  async list(query: ListQuery): Promise<ListPage> {
    // Sharing costs one indexed probe to an account nothing is granted to.
    if (query.sharedWith !== undefined && query.owner !== null) {
      const { rowCount } = await this.db.query('SELECT 1 FROM grants WHERE grantee = $1 LIMIT 1', [
        query.sharedWith,
      ]);
      if (rowCount) return this.sharedList(query, query.owner, query.sharedWith);
    }
    const params: unknown[] = [query.kind];
    const where = ['kind = $1'];
    if (query.owner === null) where.push('owner IS NULL');
    else {
      params.push(query.owner);
      where.push(`owner = $${params.length}`);
    }
    for (const filter of query.filters) where.push(filterClause(filter, params));
    const whereSql = where.join(' AND ');
    let total: number;
    if (query.filters.length === 0) {
      const { rows } = await this.db.query<{ n: string }>(
        'SELECT n FROM object_counts WHERE owner = $1 AND kind = $2',
        [query.owner ?? '', query.kind],
      );
      total = Number(rows[0]?.n ?? 0);
    } else {
      const { rows } = await this.db.query<{ n: string }>(
        `SELECT count(*) AS n FROM objects WHERE ${whereSql}`,
        params,
      );
      total = Number(rows[0]?.n ?? 0);
    }
    const column = query.view === 'detail' ? 'detail' : 'summary';
    const order = query.order
      ? `${query.order.column} ${query.order.descending ? 'DESC' : 'ASC'}, seq`
      : 'seq';
    const limit = query.limit === 0 ? 'ALL' : String(query.limit);
    const { rows } = await this.db.query<{ j: string }>(
      `SELECT ${column} AS j FROM objects WHERE ${whereSql} ORDER BY ${order} LIMIT ${limit} OFFSET ${query.offset}`,
      params,
    );
    return { total, items: rows.map((row) => row.j) };
  }

  /** The owner's objects and those granted to `grantee`, with the permissions of the latter. */
  private async sharedList(query: ListQuery, owner: string, grantee: string): Promise<ListPage> {
    const params: unknown[] = [grantee, query.kind, owner];
    const where = ['o.kind = $2'];
    if (query.sharedPermission === undefined) {
      where.push('(o.owner = $3 OR g.permissions IS NOT NULL)');
    } else {
      params.push(JSON.stringify(query.sharedPermission));
      where.push(`(o.owner = $3 OR strpos(g.permissions, $${params.length}) > 0)`);
    }
    for (const filter of query.filters) where.push(filterClause(filter, params));
    const from = `objects o LEFT JOIN grants g ON g.object = o.uuid AND g.grantee = $1
      WHERE ${where.join(' AND ')}`;
    const counted = await this.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, params);
    const column = query.view === 'detail' ? 'detail' : 'summary';
    const order = query.order
      ? `o.${query.order.column} ${query.order.descending ? 'DESC' : 'ASC'}, o.seq`
      : 'o.seq';
    const limit = query.limit === 0 ? 'ALL' : String(query.limit);
    const { rows } = await this.db.query<{ j: string; p: string | null }>(
      `SELECT o.${column} AS j, CASE WHEN o.owner = $3 THEN NULL ELSE g.permissions END AS p
       FROM ${from} ORDER BY ${order} LIMIT ${limit} OFFSET ${query.offset}`,
      params,
    );
    return {
      total: Number(counted.rows[0]?.n ?? 0),
      items: rows.map((row) => row.j),
      grants: rows.map((row) => (row.p === null ? undefined : (JSON.parse(row.p) as string[]))),
    };
  }

  async claimHolder(namespace: string, value: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ holder: string }>(
      'SELECT holder FROM claims WHERE namespace = $1 AND value = $2',
      [namespace, value],
    );
    return rows[0]?.holder;
  }

  async insert(record: NewRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
       VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8, $9)`,
      [
        record.kind,
        record.uuid,
        record.owner,
        record.name,
        fold(record.name),
        record.status,
        record.doc,
        record.detail,
        record.summary,
      ],
    );
    await this.db.query(
      `INSERT INTO object_counts (owner, kind, n) VALUES ($1, $2, 1)
       ON CONFLICT (owner, kind) DO UPDATE SET n = object_counts.n + 1`,
      [record.owner ?? '', record.kind],
    );
    this.changes.push(putChange(record));
  }

  async update(record: ObjectRecord): Promise<void> {
    const result = await this.db.query(
      `UPDATE objects SET name = $1, name_fold = $2, status = $3, version = version + 1,
         doc = $4, detail = $5, summary = $6
       WHERE uuid = $7 AND version = $8`,
      [
        record.name,
        fold(record.name),
        record.status,
        record.doc,
        record.detail,
        record.summary,
        record.uuid,
        record.version,
      ],
    );
    if (result.rowCount !== 1) throw new ConflictError(`${record.kind} ${record.uuid} changed`);
    this.changes.push(putChange(record));
  }

  async remove(record: ObjectRecord): Promise<void> {
    const result = await this.db.query('DELETE FROM objects WHERE uuid = $1 AND version = $2', [
      record.uuid,
      record.version,
    ]);
    if (result.rowCount !== 1) throw new ConflictError(`${record.kind} ${record.uuid} changed`);
    await this.db.query('UPDATE object_counts SET n = n - 1 WHERE owner = $1 AND kind = $2', [
      record.owner ?? '',
      record.kind,
    ]);
    await this.db.query('DELETE FROM links WHERE source = $1 OR target = $1', [record.uuid]);
    const granted = await this.db.query<{ grantee: string }>(
      'DELETE FROM grants WHERE object = $1 RETURNING grantee',
      [record.uuid],
    );
    const grantees = granted.rows.map((row) => row.grantee);
    this.changes.push({
      op: 'remove',
      kind: record.kind,
      uuid: record.uuid,
      owner: record.owner,
      ...(grantees.length > 0 ? { grantees } : {}),
    });
  }

  async linksFrom(kind: string, source: string): Promise<string[]> {
    const { rows } = await this.db.query<{ target: string }>(
      'SELECT target FROM links WHERE kind = $1 AND source = $2 ORDER BY target COLLATE "C"',
      [kind, source],
    );
    return rows.map((row) => row.target);
  }

  async linksTo(kind: string, target: string): Promise<string[]> {
    const { rows } = await this.db.query<{ source: string }>(
      `SELECT l.source FROM links l LEFT JOIN objects o ON o.uuid = l.source
       WHERE l.kind = $1 AND l.target = $2 ORDER BY o.seq, l.source COLLATE "C"`,
      [kind, target],
    );
    return rows.map((row) => row.source);
  }

  async setLinks(kind: string, source: string, targets: readonly string[]): Promise<void> {
    await this.db.query('DELETE FROM links WHERE kind = $1 AND source = $2', [kind, source]);
    if (targets.length === 0) return;
    await this.db.query(
      `INSERT INTO links (kind, source, target)
       SELECT $1, $2, t FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING`,
      [kind, source, [...targets]],
    );
  }

  async grantsOf(object: string): Promise<Grant[]> {
    const { rows } = await this.db.query<{ object: string; grantee: string; permissions: string }>(
      'SELECT object, grantee, permissions FROM grants WHERE object = $1 ORDER BY grantee COLLATE "C"',
      [object],
    );
    return rows.map((row) => ({ ...row, permissions: JSON.parse(row.permissions) as string[] }));
  }

  async grantFor(object: string, grantee: string): Promise<string[] | undefined> {
    const { rows } = await this.db.query<{ permissions: string }>(
      'SELECT permissions FROM grants WHERE object = $1 AND grantee = $2',
      [object, grantee],
    );
    const text = rows[0]?.permissions;
    return text === undefined ? undefined : (JSON.parse(text) as string[]);
  }

  async setGrants(object: string, grants: readonly Omit<Grant, 'object'>[]): Promise<void> {
    await this.db.query('DELETE FROM grants WHERE object = $1', [object]);
    for (const grant of grants) {
      await this.db.query('INSERT INTO grants (object, grantee, permissions) VALUES ($1, $2, $3)', [
        object,
        grant.grantee,
        JSON.stringify(grant.permissions),
      ]);
    }
  }

  async claim(namespace: string, value: string, holder: string): Promise<boolean> {
    await this.db.query(
      'INSERT INTO claims (namespace, value, holder) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [namespace, value, holder],
    );
    return (await this.claimHolder(namespace, value)) === holder;
  }

  async releaseAll(namespace: string, holder: string): Promise<void> {
    await this.db.query('DELETE FROM claims WHERE namespace = $1 AND holder = $2', [
      namespace,
      holder,
    ]);
  }

  async byStatus(
    kind: string,
    statuses: readonly string[],
    owner?: string,
  ): Promise<ObjectRecord[]> {
    if (statuses.length === 0) return [];
    const ownerClause = owner === undefined ? '' : ' AND owner = $3';
    const { rows } = await this.db.query<ObjectRecord>(
      `SELECT ${RECORD_COLUMNS} FROM objects WHERE kind = $1 AND status = ANY($2::text[])${ownerClause} ORDER BY seq`,
      owner === undefined ? [kind, [...statuses]] : [kind, [...statuses], owner],
    );
    return rows;
  }

  async claimsOf(namespace: string, holder: string): Promise<string[]> {
    const { rows } = await this.db.query<{ value: string }>(
      'SELECT value FROM claims WHERE namespace = $1 AND holder = $2 ORDER BY value',
      [namespace, holder],
    );
    return rows.map((row) => row.value);
  }

  async tasksOf(target: string): Promise<Task[]> {
    const { rows } = await this.db.query<TaskRow>(
      'SELECT id, type, target, payload, due_at, host FROM tasks WHERE target = $1 ORDER BY seq',
      [target],
    );
    return rows.map(fromTaskRow);
  }

  async addTask(task: Task): Promise<void> {
    await this.db.query(
      'INSERT INTO tasks (id, type, target, payload, due_at, host) VALUES ($1, $2, $3, $4, $5, $6)',
      [task.id, task.type, task.target, task.payload, task.dueAt, task.host ?? null],
    );
    if (!this.changes.some((change) => change.op === 'task')) this.changes.push({ op: 'task' });
  }

  async removeTask(id: string): Promise<void> {
    await this.db.query('DELETE FROM tasks WHERE id = $1', [id]);
  }

  async getState(namespace: string, key: string): Promise<string | undefined> {
    const { rows } = await this.db.query<{ value: string }>(
      'SELECT value FROM component_state WHERE namespace = $1 AND key = $2',
      [namespace, key],
    );
    return rows[0]?.value;
  }

  async listState(namespace: string): Promise<{ key: string; value: string }[]> {
    const { rows } = await this.db.query<{ key: string; value: string }>(
      'SELECT key, value FROM component_state WHERE namespace = $1 ORDER BY key',
      [namespace],
    );
    return rows;
  }

  async putState(namespace: string, key: string, value: string): Promise<void> {
    await this.db.query(
      `INSERT INTO component_state (namespace, key, value) VALUES ($1, $2, $3)
       ON CONFLICT (namespace, key) DO UPDATE SET value = excluded.value`,
      [namespace, key, value],
    );
  }

  async deleteState(namespace: string, key: string): Promise<void> {
    await this.db.query('DELETE FROM component_state WHERE namespace = $1 AND key = $2', [
      namespace,
      key,
    ]);
  }

  async removeOwned(owner: string): Promise<Pick<ObjectRecord, 'kind' | 'uuid'>[]> {
    const { rows } = await this.db.query<{ kind: string; uuid: string; seq: string }>(
      'DELETE FROM objects WHERE owner = $1 RETURNING kind, uuid, seq',
      [owner],
    );
    if (rows.length === 0) return [];
    const removed = rows
      .sort((a, b) => Number(a.seq) - Number(b.seq))
      .map(({ kind, uuid }) => ({ kind, uuid }));
    const uuids = removed.map((r) => r.uuid);
    await this.db.query('DELETE FROM claims WHERE holder = ANY($1::text[])', [uuids]);
    await this.db.query('DELETE FROM tasks WHERE target = ANY($1::text[])', [uuids]);
    await this.db.query('DELETE FROM component_state WHERE key = ANY($1::text[])', [uuids]);
    await this.db.query(
      'DELETE FROM links WHERE source = ANY($1::text[]) OR target = ANY($1::text[])',
      [uuids],
    );
    await this.db.query('DELETE FROM grants WHERE object = ANY($1::text[]) OR grantee = $2', [
      uuids,
      owner,
    ]);
    await this.db.query('DELETE FROM object_counts WHERE owner = $1', [owner]);
    for (const { kind, uuid } of removed) this.changes.push({ op: 'remove', kind, uuid, owner });
    return removed;
  }
}

function putChange(record: NewRecord): CommittedChange {
  return {
    op: 'put',
    kind: record.kind,
    uuid: record.uuid,
    owner: record.owner,
    detail: record.detail,
  };
}

function filterClause(filter: Filter, params: unknown[]): string {
  if (filter.column === 'tag') {
    params.push([...filter.values]);
    return `uuid IN (SELECT source FROM links WHERE kind = 'tag' AND target = ANY($${params.length}::text[]))`;
  }
  if (filter.op === 'contains') {
    const column = filter.column === 'name' ? 'name_fold' : filter.column;
    const parts = filter.values.map((value) => {
      params.push(fold(value));
      return `strpos(${column}, $${params.length}) > 0`;
    });
    return `(${parts.join(' OR ')})`;
  }
  params.push([...filter.values]);
  return `${filter.column} = ANY($${params.length}::text[])`;
}

class PgAccounts implements AccountRepo {
  constructor(
    private readonly store: PostgresStore,
    private readonly pool: pg.Pool,
  ) {}

  async create(account: Account): Promise<void> {
    try {
      await this.pool.query(
        `INSERT INTO accounts (uuid, email, password_hash, ha1, cred_version, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [
          account.uuid,
          account.email,
          account.passwordHash,
          account.ha1,
          account.credVersion,
          account.createdAt,
        ],
      );
    } catch (e) {
      if (pgCode(e) === UNIQUE_VIOLATION) throw new DuplicateEmailError(account.email);
      throw e;
    }
  }

  private async one(sql: string, value: string): Promise<Account | undefined> {
    const { rows } = await this.pool.query<AccountRow>(sql, [value]);
    return rows[0] && toAccount(rows[0]);
  }

  byEmail(email: string): Promise<Account | undefined> {
    return this.one('SELECT * FROM accounts WHERE email = $1', email);
  }

  byUuid(uuid: string): Promise<Account | undefined> {
    return this.one('SELECT * FROM accounts WHERE uuid = $1', uuid);
  }

  async credVersion(uuid: string): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ cred_version: number }>(
      'SELECT cred_version FROM accounts WHERE uuid = $1',
      [uuid],
    );
    return rows[0]?.cred_version;
  }

  async list(): Promise<Account[]> {
    const { rows } = await this.pool.query<AccountRow>(
      'SELECT * FROM accounts ORDER BY created_at, email',
    );
    return rows.map(toAccount);
  }

  async count(): Promise<number> {
    const { rows } = await this.pool.query<{ n: string }>('SELECT count(*) AS n FROM accounts');
    return Number(rows[0]?.n ?? 0);
  }

  setPassword(uuid: string, passwordHash: string, ha1: string | null): Promise<void> {
    return this.store.transaction(async (client) => {
      await client.query(
        'UPDATE accounts SET password_hash = $1, ha1 = $2, cred_version = cred_version + 1 WHERE uuid = $3',
        [passwordHash, ha1, uuid],
      );
      await client.query('DELETE FROM sessions WHERE account = $1', [uuid]);
    });
  }

  async clearDigest(): Promise<void> {
    await this.pool.query('UPDATE accounts SET ha1 = NULL WHERE ha1 IS NOT NULL');
  }

  remove(uuid: string): Promise<void> {
    return this.store.transaction(async (client) => {
      await client.query(
        'DELETE FROM claims WHERE holder IN (SELECT uuid FROM objects WHERE owner = $1)',
        [uuid],
      );
      const owned = 'SELECT uuid FROM objects WHERE owner = $1';
      await client.query(`DELETE FROM links WHERE source IN (${owned}) OR target IN (${owned})`, [
        uuid,
      ]);
      await client.query(`DELETE FROM grants WHERE object IN (${owned}) OR grantee = $1`, [uuid]);
      await client.query('DELETE FROM objects WHERE owner = $1', [uuid]);
      await client.query('DELETE FROM object_counts WHERE owner = $1', [uuid]);
      await client.query('DELETE FROM sessions WHERE account = $1', [uuid]);
      await client.query('DELETE FROM api_tokens WHERE account = $1', [uuid]);
      await client.query('DELETE FROM accounts WHERE uuid = $1', [uuid]);
    });
  }
}

class PgSessions implements SessionRepo {
  constructor(private readonly pool: pg.Pool) {}

  async create(session: Session): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE expires_at <= $1', [Date.now()]);
    await this.pool.query(
      'INSERT INTO sessions (id_hash, account, csrf_token, expires_at) VALUES ($1, $2, $3, $4)',
      [session.idHash, session.account, session.csrfToken, session.expiresAt],
    );
  }

  async get(idHash: string, now: number): Promise<Session | undefined> {
    const { rows } = await this.pool.query<PgSessionRow>(
      'SELECT * FROM sessions WHERE id_hash = $1 AND expires_at > $2',
      [idHash, now],
    );
    return rows[0] && toPgSession(rows[0]);
  }

  async remove(idHash: string): Promise<void> {
    await this.pool.query('DELETE FROM sessions WHERE id_hash = $1', [idHash]);
  }

  async take(idHash: string, now: number): Promise<Session | undefined> {
    // One DELETE: of concurrent takers, only the one whose DELETE removed the row sees it.
    const { rows } = await this.pool.query<PgSessionRow>(
      'DELETE FROM sessions WHERE id_hash = $1 RETURNING *',
      [idHash],
    );
    const row = rows[0];
    return row && Number(row.expires_at) > now ? toPgSession(row) : undefined;
  }
}

interface PgSessionRow {
  id_hash: string;
  account: string;
  csrf_token: string;
  expires_at: string;
}

function toPgSession(row: PgSessionRow): Session {
  return {
    idHash: row.id_hash,
    account: row.account,
    csrfToken: row.csrf_token,
    expiresAt: Number(row.expires_at),
  };
}

function toAccount(row: AccountRow): Account {
  return {
    uuid: row.uuid,
    email: row.email,
    passwordHash: row.password_hash,
    ha1: row.ha1,
    credVersion: row.cred_version,
    createdAt: row.created_at,
  };
}

interface TaskRow {
  id: string;
  type: string;
  target: string;
  payload: string;
  /** BIGINT arrives as text. */
  due_at: string;
  host: string | null;
}

/** A task as stored: a null host is left out (tasks written before hosts existed look the same). */
function fromTaskRow(row: TaskRow): Task {
  const task: Task = {
    id: row.id,
    type: row.type,
    target: row.target,
    payload: row.payload,
    dueAt: Number(row.due_at),
  };
  if (row.host !== null) task.host = row.host;
  return task;
}
