/**
 * Jobs list newest change first through their `name` column, which holds `last_modified`: the
 * migration that brought this in gives jobs stored before it (their name was the operation) the
 * same column, on SQLite and on PostgreSQL, so an upgraded store lists them in the same order.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { POSTGRES_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { POSTGRES_URL } from '../support/postgres.js';

/** Two jobs as a version before the migration wrote them: the older one changed last. */
const JOBS = [
  { uuid: 'job-1', last_modified: '2026-01-02T10:00:05+00:00', operation: 'drive_clone' },
  { uuid: 'job-2', last_modified: '2026-01-02T10:00:01.250+00:00', operation: 'server_clone' },
].map((job) => ({
  ...job,
  doc: JSON.stringify({ ...job, owner: 'acc', state: 'success' }),
  detail: JSON.stringify({ uuid: job.uuid }),
}));

const jobsMigration = (migrations: readonly string[]) =>
  migrations.findIndex((m) => m.includes("WHERE kind = 'jobs'"));

async function newestFirst(store: Store): Promise<{ uuid: string; name: string }[]> {
  const page = await store.read((tx) =>
    tx.list({
      kind: 'jobs',
      owner: 'acc',
      filters: [],
      order: { column: 'name', descending: true },
      limit: 0,
      offset: 0,
      view: 'detail',
    }),
  );
  const records = await Promise.all(
    page.items.map(async (item) => (await store.get(JSON.parse(item.toString()).uuid))!),
  );
  return records.map((r) => ({ uuid: r.uuid, name: r.name }));
}

const EXPECTED = [
  { uuid: 'job-1', name: '2026-01-02T10:00:05.000Z' },
  { uuid: 'job-2', name: '2026-01-02T10:00:01.250Z' },
];

const dir = mkdtempSync(join(tmpdir(), 'sigmalite-jobs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the jobs migration', () => {
  it('gives SQLite jobs of an older file their last_modified as name', async () => {
    const path = join(dir, 'old.sqlite');
    const old = new Database(path);
    const at = jobsMigration(SQLITE_MIGRATIONS);
    for (const step of SQLITE_MIGRATIONS.slice(0, at)) old.exec(step);
    old.pragma(`user_version = ${at}`);
    const insert = old.prepare(
      `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
       VALUES ('jobs', ?, 'acc', ?, ?, 'success', 1, ?, ?, ?)`,
    );
    for (const job of JOBS) {
      insert.run(job.uuid, job.operation, job.operation, job.doc, job.detail, job.detail);
    }
    old.close();
    const store = new SqliteStore({ path });
    try {
      expect(await newestFirst(store)).toEqual(EXPECTED);
    } finally {
      await store.close();
    }
  });

  it('gives PostgreSQL jobs of an older schema their last_modified as name', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(`CREATE SCHEMA ${schema}; SET search_path = ${schema}`);
      await client.query('CREATE TABLE schema_migrations (version INTEGER NOT NULL)');
      const at = jobsMigration(POSTGRES_MIGRATIONS);
      for (const [i, step] of POSTGRES_MIGRATIONS.slice(0, at).entries()) {
        await client.query(step);
        await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [i + 1]);
      }
      for (const job of JOBS) {
        await client.query(
          `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
           VALUES ('jobs', $1, 'acc', $2, $2, 'success', 1, $3, $4, $4)`,
          [job.uuid, job.operation, job.doc, job.detail],
        );
      }
    } finally {
      await client.end();
    }
    const store = await PostgresStore.open({ url: POSTGRES_URL, schema, dropSchemaOnClose: true });
    try {
      expect(await newestFirst(store)).toEqual(EXPECTED);
    } finally {
      await store.close();
    }
  });
});
