/**
 * The store the HTTP tests run on: SQLite in memory by default, or PostgreSQL (a fresh schema per
 * app, dropped on close) when SIGMALITE_TEST_STORE=postgres. `npm test` runs the suite on both.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

/**
 * A store that outlives the apps that open it, as a data directory or database outlives a
 * process: each `open()` is a restart on the same data (a SQLite file, or one PostgreSQL schema).
 * `dispose()` removes the data.
 */
export interface LastingTestStore {
  open(): Promise<Store>;
  dispose(): Promise<void>;
}

export function lastingTestStore(kind: TestStoreKind = TEST_STORE): LastingTestStore {
  if (kind === 'postgres') {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const open = (drop: boolean) =>
      PostgresStore.open({ url: POSTGRES_URL, schema, dropSchemaOnClose: drop, poolSize: 4 });
    return {
      open: () => open(false),
      dispose: async () => (await open(true)).close(),
    };
  }
  const dir = mkdtempSync(join(tmpdir(), 'sigmalite-store-'));
  return {
    open: async () => new SqliteStore({ path: join(dir, 'sigmalite.sqlite') }),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
}
