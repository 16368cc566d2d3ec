/**
 * Upgrades lose nothing: a SQLite data directory and a PostgreSQL database written by an older
 * version (`fixtures/COMMIT/`, made by `make-fixtures.sh` through that version's API) open with
 * today's code, which answers the same objects and values the old version answered, and goes on
 * working on them (a write, a new object, an API token: tables later migrations added).
 *
 * A schema change that breaks old data fails here. Each new schema change may add fixtures of the
 * commit before it; the old ones stay.
 */
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { createDrive, getObject, type Obj } from '../support/api.js';
import { type Client, startTestApp, type TestAppOptions } from '../support/app.js';
import { POSTGRES_URL } from '../support/postgres.js';
import type { Answers } from './questions.js';

const FIXTURES = join(import.meta.dirname, 'fixtures');
/** The schema `make-fixtures.sh` dumps; replaced by a fresh one per test. */
const DUMPED_SCHEMA = 'sigmalite_upgrade_fixture';

const temp = mkdtempSync(join(tmpdir(), 'sigmalite-upgrade-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

/** A copy of the fixture's data directory (the test must not change the fixture), as a start opens it. */
function sqliteData(fixture: string): Partial<TestAppOptions> {
  const data = join(temp, `${fixture}-${randomBytes(4).toString('hex')}`);
  cpSync(join(FIXTURES, fixture, 'sqlite'), data, { recursive: true });
  return { memory: false, data };
}

/** The dump loaded into a schema of its own, then opened (and so migrated) by today's store. */
async function postgresData(fixture: string): Promise<Partial<TestAppOptions>> {
  const schema = `t_${randomBytes(6).toString('hex')}`;
  const dump = readFileSync(join(FIXTURES, fixture, 'postgres.sql'), 'utf8')
    .split('\n')
    // psql's meta-commands, and the dump's empty search_path (its names are schema-qualified).
    .filter((line) => !line.startsWith('\\') && !line.includes("set_config('search_path'"))
    .join('\n')
    .replaceAll(DUMPED_SCHEMA, schema);
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(dump);
  } finally {
    await client.end();
  }
  const store = await PostgresStore.open({
    url: POSTGRES_URL,
    schema,
    dropSchemaOnClose: true,
    poolSize: 4,
  });
  return { withStore: store };
}

async function ask(client: Client, path: string): Promise<{ status: number; body: unknown }> {
  const res = await client.get(path);
  return normalise({ status: res.status, body: res.json as unknown });
}

/**
 * A list's objects in uuid order: the same objects and values, whatever order a later version
 * lists them in (jobs list newest change first since 34ca2f8: a change of behaviour, not of data).
 */
function normalise(answer: { status: number; body: unknown }): { status: number; body: unknown } {
  const body = answer.body as Obj | undefined;
  if (!Array.isArray(body?.objects)) return answer;
  const key = (o: Obj) => String(o.uuid ?? o.id);
  const objects = [...(body.objects as Obj[])].sort((a, b) => (key(a) < key(b) ? -1 : 1));
  return { ...answer, body: { ...body, objects } };
}

const fixtures = readdirSync(FIXTURES, { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name);

describe.each(fixtures)('a store written by %s', (fixture) => {
  describe.each([
    ['sqlite', () => Promise.resolve(sqliteData(fixture))],
    ['postgres', () => postgresData(fixture)],
  ] as const)('on %s', (engine, open) => {
    const expected = JSON.parse(
      readFileSync(join(FIXTURES, fixture, `${engine}.answers.json`), 'utf8'),
    ) as Answers;

    it('answers what the old version answered, then keeps working', async () => {
      const t = await startTestApp(await open());
      try {
        const clients: Record<string, Client> = { alice: t.alice, bob: t.bob };
        let asked = 0;
        const differing: string[] = [];
        for (const [who, answers] of Object.entries(expected)) {
          const client = clients[who]!;
          for (const [path, answer] of Object.entries(answers)) {
            const now = await ask(client, path);
            try {
              expect(now).toEqual(normalise(answer));
            } catch (e) {
              differing.push(`${who} GET ${path}: ${(e as Error).message}`);
            }
            asked++;
          }
        }
        expect(differing).toEqual([]);
        // Not a vacuous comparison: the fixture holds objects of every kind.
        expect(asked).toBeGreaterThan(50);
        const servers = expected.alice!['/servers/detail/?limit=0']!.body as Obj;
        expect(servers.objects.map((s: Obj) => s.status).sort()).toEqual([
          'running',
          'stopped',
          'stopped',
        ]);

        // Old jobs list in today's order (newest change first) through the jobs migration.
        const jobs = (await getObject(t.alice, '/jobs/detail/?limit=0')).objects as Obj[];
        expect(jobs.length).toBeGreaterThan(1);
        const changed = jobs.map((job) => Date.parse(job.last_modified as string));
        expect(changed).toEqual([...changed].sort((a, b) => b - a));

        // Old objects change and new ones join them.
        const drives = (await getObject(t.alice, '/drives/detail/?limit=0')).objects as Obj[];
        const data = drives.find((d) => d.name === 'data (renamed)')!;
        const put = await t.alice.put(`/drives/${data.uuid}/`, { ...data, name: 'data again' });
        expect(put.status, put.text).toBe(200);
        expect((await getObject(t.alice, `/drives/${data.uuid}/`)).name).toBe('data again');
        const added = await createDrive(t.alice, { name: 'after the upgrade' });
        const after = await getObject(t.alice, '/drives/?limit=0');
        expect(after.meta.total_count).toBe(drives.length + 1);
        expect(after.objects.at(-1).uuid).toBe(added.uuid);
        // A table newer than the fixture (API tokens) works on the upgraded store.
        const account = await t.app.store.accounts.byEmail('alice@example.com');
        await t.app.store.tokens.create({
          id: 'tok-upgrade',
          account: account!.uuid,
          hash: 'f'.repeat(64),
          name: 'after the upgrade',
          createdAt: new Date().toISOString(),
        });
        expect(await t.app.store.tokens.accountOf('f'.repeat(64))).toEqual({
          uuid: account!.uuid,
          email: 'alice@example.com',
        });
      } finally {
        await t.close();
      }
    });
  });
});
