/** What the PostgreSQL store's modules share: connections, record columns, errors, changes. */
import type pg from 'pg';
import type { CommittedChange, NewRecord } from '../types.js';

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
