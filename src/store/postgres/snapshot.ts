/**
 * Snapshots of a PostgreSQL store (export) and restores into it (import): each snapshot table's
 * queries, row shapes and inserts.
 */
import type pg from 'pg';
import { SNAPSHOT_BATCH } from '../snapshot.js';
import { STORE_TABLES, TABLE_NAMES } from '../tables.js';
import {
  type Account,
  type ApiToken,
  type Claim,
  type CommittedChange,
  fold,
  type Grant,
  type LinkRow,
  LOG_KINDS,
  type ObjectRecord,
  type Session,
  SNAPSHOT_TABLES,
  type SnapshotBatch,
  type SnapshotReader,
  type SnapshotTable,
  type StateEntry,
  type Task,
  toToken,
} from '../types.js';
import { toAccount } from './accounts.js';
import { fromTaskRow, putChange, RECORD_COLUMNS } from './common.js';

/**
 * Each snapshot table: the queries that read its rows in snapshot order (text bytewise, as
 * SQLite orders it), how a row read becomes a snapshot row, and how a batch of
 * snapshot rows is inserted (`insertJson`: each row as JSON `e`, `row` shapes it first).
 */
export const PG_SNAPSHOT: Record<
  SnapshotTable,
  {
    /** Its queries, in snapshot order. */
    select: readonly string[];
    read: (row: never) => unknown;
    insert: string;
    row: (row: never) => object;
  }
> = {
  accounts: {
    select: ['SELECT * FROM accounts ORDER BY uuid COLLATE "C"'],
    read: toAccount,
    insert: `INSERT INTO accounts (uuid, email, password_hash, ha1, cred_version, created_at)
      SELECT e->>'uuid', e->>'email', e->>'passwordHash', e->>'ha1',
        (e->>'credVersion')::integer, e->>'createdAt'`,
    row: (a: Account) => a,
  },
  sessions: {
    select: ['SELECT * FROM sessions ORDER BY id_hash COLLATE "C"'],
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
    select: ['SELECT * FROM api_tokens ORDER BY id COLLATE "C"'],
    read: toToken,
    insert: `INSERT INTO api_tokens (id, account, hash, name, created_at)
      SELECT e->>'id', e->>'account', e->>'hash', e->>'name', e->>'createdAt'`,
    row: (t: ApiToken) => t,
  },
  objects: {
    select: [
      `SELECT ${RECORD_COLUMNS} FROM objects ORDER BY seq`,
      // The log kinds' entries, after the objects. Never updated: version 1; their list form is
      // their detail.
      'SELECT kind, uuid, owner, name, status, 1 AS version, doc, detail, detail AS summary FROM log_entries ORDER BY seq',
    ],
    read: (row: ObjectRecord) => row,
    insert: `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
      SELECT e->>'kind', e->>'uuid', e->>'owner', e->>'name', e->>'nameFold', e->>'status',
        (e->>'version')::integer, e->>'doc', e->>'detail', e->>'summary'`,
    row: (r: ObjectRecord) => ({ ...r, nameFold: fold(r.name) }),
  },
  claims: {
    select: [
      'SELECT namespace, value, holder FROM claims ORDER BY namespace COLLATE "C", value COLLATE "C"',
    ],
    read: (row: Claim) => row,
    insert: `INSERT INTO claims (namespace, value, holder)
      SELECT e->>'namespace', e->>'value', e->>'holder'`,
    row: (c: Claim) => c,
  },
  tasks: {
    select: ['SELECT id, type, target, payload, due_at, host FROM tasks ORDER BY seq'],
    read: fromTaskRow,
    insert: `INSERT INTO tasks (id, type, target, payload, due_at, host)
      SELECT e->>'id', e->>'type', e->>'target', e->>'payload', (e->>'dueAt')::bigint, e->>'host'`,
    row: (t: Task) => t,
  },
  state: {
    select: [
      'SELECT namespace, key, value FROM component_state ORDER BY namespace COLLATE "C", key COLLATE "C"',
    ],
    read: (row: StateEntry) => row,
    insert: `INSERT INTO component_state (namespace, key, value)
      SELECT e->>'namespace', e->>'key', e->>'value'`,
    row: (e: StateEntry) => e,
  },
  links: {
    select: [
      'SELECT kind, source, target FROM links ORDER BY kind COLLATE "C", source COLLATE "C", target COLLATE "C"',
    ],
    read: (row: LinkRow) => row,
    insert: `INSERT INTO links (kind, source, target)
      SELECT e->>'kind', e->>'source', e->>'target'`,
    row: (l: LinkRow) => l,
  },
  grants: {
    select: [
      'SELECT object, grantee, permissions FROM grants ORDER BY object COLLATE "C", grantee COLLATE "C"',
    ],
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
export async function* pgBatches(client: pg.PoolClient): AsyncGenerator<SnapshotBatch> {
  for (const table of SNAPSHOT_TABLES) {
    const { select, read } = PG_SNAPSHOT[table];
    for (const query of select) {
      await client.query(`DECLARE snapshot_rows NO SCROLL CURSOR FOR ${query}`);
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
}

/** Every row, read in one snapshot of every table and handed to `consume` a batch at a time. */
export async function readPgSnapshot<T>(
  pool: pg.Pool,
  consume: (reader: SnapshotReader) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    // One snapshot of every table. Text is ordered bytewise ("C"), as SQLite orders it.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const counts = {} as Record<SnapshotTable, number>;
    for (const table of SNAPSHOT_TABLES) counts[table] = 0;
    for (const { name, snapshot } of STORE_TABLES) {
      if (snapshot === undefined) continue;
      const { rows } = await client.query<{ n: number }>(
        `SELECT count(*)::integer AS n FROM ${name}`,
      );
      counts[snapshot] += rows[0]!.n;
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

const LOG_ENTRY_INSERT = `INSERT INTO log_entries (kind, uuid, owner, name, status, doc, detail, summary)
  SELECT e->>'kind', e->>'uuid', e->>'owner', e->>'name', e->>'status', e->>'doc', e->>'detail', ''`;

/**
 * Replaces every row with those of `batches`, in the transaction `client` holds (which the
 * caller commits); the list counts are rebuilt. Returns what commit listeners are to hear
 * (nothing unless `listening`): every object that went, every object that came, and tasks.
 */
export async function restoreRows(
  client: pg.PoolClient,
  batches: AsyncIterable<SnapshotBatch>,
  listening: boolean,
): Promise<CommittedChange[]> {
  const changes: CommittedChange[] = [];
  // Writers of this and other processes wait until the new state is committed.
  await client.query(`LOCK TABLE ${TABLE_NAMES.join(', ')} IN SHARE ROW EXCLUSIVE MODE`);
  if (listening) {
    const before = await client.query<{ kind: string; uuid: string; owner: string | null }>(
      `SELECT kind, uuid, owner FROM (
         SELECT kind, uuid, owner, 0 AS log, seq FROM objects
         UNION ALL SELECT kind, uuid, owner, 1 AS log, seq FROM log_entries
       ) everything ORDER BY log, seq`,
    );
    for (const row of before.rows) changes.push({ op: 'remove', ...row });
  }
  await client.query(TABLE_NAMES.map((table) => `DELETE FROM ${table}`).join('; '));
  let tasks = false;
  // One statement per batch (the rows as one JSON parameter): a round trip per batch.
  for await (const batch of batches) {
    const { insert, row } = PG_SNAPSHOT[batch.table];
    if (batch.table === 'objects') {
      const logs = batch.rows.filter((r) => LOG_KINDS.includes(r.kind));
      const objects = batch.rows.filter((r) => !LOG_KINDS.includes(r.kind));
      await insertJson(client, insert, objects.map(row as (r: ObjectRecord) => object));
      await insertJson(client, LOG_ENTRY_INSERT, logs);
      if (listening) for (const r of batch.rows) changes.push(putChange(r));
    } else {
      await insertJson(client, insert, (batch.rows as never[]).map(row));
    }
    if (batch.table === 'tasks' && batch.rows.length > 0) tasks = true;
  }
  await client.query(
    `INSERT INTO object_counts (owner, kind, n)
     SELECT coalesce(owner, ''), kind, count(*) FROM objects GROUP BY coalesce(owner, ''), kind
     UNION ALL
     SELECT coalesce(owner, ''), kind, count(*) FROM log_entries GROUP BY coalesce(owner, ''), kind`,
  );
  if (listening && tasks) changes.push({ op: 'task' });
  return changes;
}

/** Inserts `rows` in their order: `select` reads each row from `e`, a JSON element. */
export async function insertJson(client: pg.PoolClient, select: string, rows: readonly object[]) {
  if (rows.length === 0) return;
  await client.query(
    `${select} FROM json_array_elements($1::json) WITH ORDINALITY AS x(e, i) ORDER BY i`,
    [JSON.stringify(rows)],
  );
}
