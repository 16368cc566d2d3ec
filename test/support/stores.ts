/**
 * The store the HTTP tests run on: SQLite in memory by default, or PostgreSQL (a fresh schema per
 * app, dropped on close) when SIGMALITE_TEST_STORE=postgres. `npm test` runs the suite on both.
 */
import { randomBytes } from 'node:crypto';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { POSTGRES_URL } from './postgres.js';

export type TestStoreKind = 'sqlite' | 'postgres';

export const TEST_STORE: TestStoreKind =
  process.env.SIGMALITE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

export async function openTestStore(kind: TestStoreKind = TEST_STORE): Promise<Store> {
  if (kind === 'postgres') {
    return PostgresStore.open({
      url: POSTGRES_URL,
      schema: `t_${randomBytes(6).toString('hex')}`,
      dropSchemaOnClose: true,
      poolSize: 4,
    });
  }
  return new SqliteStore({ path: ':memory:' });
}
