/**
 * Snapshots of a SQLite store (export) and restores into it (import), inside a transaction the
 * store holds: each snapshot table's queries and row shapes, and the inserts of a restore.
 */
import type Database from 'better-sqlite3';
import { batched } from '../snapshot.js';
import { STORE_TABLES, TABLE_NAMES } from '../tables.js';
import {
  type Claim,
  type CommittedChange,
  fold,
  type LinkRow,
  LOG_KINDS,
  SNAPSHOT_TABLES,
  type SnapshotBatch,
  type SnapshotTable,
  type StateEntry,
  toToken,
} from '../types.js';
import { type AccountRow, toAccount, toSession } from './accounts.js';
import { RECORD_COLUMNS, type Row, taskRow } from './common.js';

/** The store's cached prepared statements. */
export type StatementOf = (sql: string) => Database.Statement;

/**
 * Each snapshot table: its queries in order (the log kinds' entries, kept in a
 * table of their own, after the objects) and how a row becomes a snapshot row.
 */
const SQLITE_SNAPSHOT: Record<SnapshotTable, { rows: string[]; convert: (row: never) => unknown }> =
  {
    accounts: {
      rows: ['SELECT * FROM accounts ORDER BY uuid'],
      convert: (row: AccountRow) => toAccount(row)!,
    },
    sessions: {
      rows: ['SELECT * FROM sessions ORDER BY id_hash'],
      convert: toSession,
    },
    tokens: {
      rows: ['SELECT * FROM api_tokens ORDER BY id'],
      convert: toToken,
    },
    objects: {
      rows: [
        `SELECT ${RECORD_COLUMNS} FROM objects ORDER BY seq`,
        // Entries are never updated: version 1; their list form is their detail.
        'SELECT kind, uuid, owner, name, status, 1 AS version, doc, detail, detail AS summary FROM log_entries ORDER BY seq',
      ],
      convert: (row: Row) => row,
    },
    claims: {
      rows: ['SELECT namespace, value, holder FROM claims ORDER BY namespace, value'],
      convert: (row: Claim) => row,
    },
    tasks: {
      rows: ['SELECT id, type, target, payload, due_at AS dueAt, host FROM tasks ORDER BY seq'],
      convert: taskRow,
    },
    state: {
      rows: ['SELECT namespace, key, value FROM component_state ORDER BY namespace, key'],
      convert: (row: StateEntry) => row,
    },
    links: {
      rows: ['SELECT kind, source, target FROM links ORDER BY kind, source, target'],
      convert: (row: LinkRow) => row,
    },
    grants: {
      rows: ['SELECT object, grantee, permissions FROM grants ORDER BY object, grantee'],
      convert: (row: { object: string; grantee: string; permissions: string }) => ({
        ...row,
        permissions: JSON.parse(row.permissions) as string[],
      }),
    },
  };

/** How many rows each snapshot table has (from the catalogue: objects and log entries count). */
export function snapshotCounts(statement: StatementOf): Record<SnapshotTable, number> {
  const counts = Object.fromEntries(SNAPSHOT_TABLES.map((table) => [table, 0])) as Record<
    SnapshotTable,
    number
  >;
  for (const { name, snapshot } of STORE_TABLES) {
    if (snapshot === undefined) continue;
    counts[snapshot] += statement(`SELECT count(*) FROM ${name}`).pluck().get() as number;
  }
  return counts;
}

/** Each table's rows, a batch at a time, read by the transaction the caller holds. */
export async function* readBatches(statement: StatementOf): AsyncGenerator<SnapshotBatch> {
  for (const table of SNAPSHOT_TABLES) {
    const { rows: queries, convert } = SQLITE_SNAPSHOT[table];
    for (const sql of queries) {
      const rows = (function* (statement: Database.Statement) {
        for (const row of statement.iterate()) yield convert(row as never);
      })(statement(sql));
      yield* batched(table, rows as Iterable<never>);
    }
  }
}

/**
 * Replaces every row with those of `batches`, in the transaction the caller holds; the list
 * counts are rebuilt. Returns what commit listeners are to hear (nothing unless `listening`):
 * every object that went, every object that came, and tasks.
 */
export async function restoreRows(
  statement: StatementOf,
  batches: AsyncIterable<SnapshotBatch>,
  listening: boolean,
): Promise<CommittedChange[]> {
  const changes: CommittedChange[] = [];
  if (listening) {
    const before = statement(
      'SELECT kind, uuid, owner FROM objects UNION ALL SELECT kind, uuid, owner FROM log_entries',
    ).all() as { kind: string; uuid: string; owner: string | null }[];
    for (const row of before) changes.push({ op: 'remove', ...row });
  }
  for (const table of TABLE_NAMES) statement(`DELETE FROM ${table}`).run();
  let tasks = false;
  for await (const batch of batches) {
    insertBatch(statement, batch);
    if (batch.table === 'tasks' && batch.rows.length > 0) tasks = true;
    if (listening && batch.table === 'objects') {
      for (const r of batch.rows) {
        changes.push({ op: 'put', kind: r.kind, uuid: r.uuid, owner: r.owner, detail: r.detail });
      }
    }
  }
  statement(
    `INSERT INTO object_counts (owner, kind, n)
     SELECT coalesce(owner, ''), kind, count(*) FROM objects GROUP BY coalesce(owner, ''), kind
     UNION ALL
     SELECT coalesce(owner, ''), kind, count(*) FROM log_entries GROUP BY coalesce(owner, ''), kind`,
  ).run();
  if (listening && tasks) changes.push({ op: 'task' });
  return changes;
}

function insertBatch(statement: StatementOf, batch: SnapshotBatch): void {
  const run = statement;
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
        'INSERT INTO tasks (id, type, target, payload, due_at, host) VALUES (?, ?, ?, ?, ?, ?)',
      );
      for (const t of batch.rows)
        insert.run(t.id, t.type, t.target, t.payload, t.dueAt, t.host ?? null);
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
