/** What the PostgreSQL store's modules share: connections, record columns, errors, changes. */
import type pg from 'pg';
import type { CommittedChange, NewRecord, Task } from '../types.js';

export type Queryable = pg.Pool | pg.PoolClient;

export const RECORD_COLUMNS = 'kind, uuid, owner, name, status, version, doc, detail, summary';
/** Errors after which a transaction is worth running again. */
export const RETRYABLE_CODES = new Set(['40001', '40P01']);
export const UNIQUE_VIOLATION = '23505';

export function pgCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof e.code === 'string'
    ? e.code
    : undefined;
}

/** Runs `fn` in a transaction of a client of its own from `pool`. */
export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
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

export function putChange(record: NewRecord): CommittedChange {
  return {
    op: 'put',
    kind: record.kind,
    uuid: record.uuid,
    owner: record.owner,
    detail: record.detail,
  };
}

/** A task row as PostgreSQL answers it. */
export interface TaskRow {
  id: string;
  type: string;
  target: string;
  payload: string;
  /** BIGINT arrives as text. */
  due_at: string;
  host: string | null;
}

/** A task as stored: a null host is left out (tasks written before hosts existed look the same). */
export function fromTaskRow(row: TaskRow): Task {
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
