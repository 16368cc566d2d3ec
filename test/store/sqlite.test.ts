import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ReadCache } from '../../src/store/sqlite/cache.js';
import { CHECKPOINT_DELAY_MS } from '../../src/store/sqlite/checkpointer.js';
import { SQLITE_MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { ListQuery } from '../../src/store/types.js';
import { record, storeBehaviour } from './behaviour.js';

storeBehaviour('sqlite in memory', async () => new SqliteStore({ path: ':memory:' }));

const dir = mkdtempSync(join(tmpdir(), 'sigmalite-store-'));
let n = 0;
// As a server opens it: WAL checkpoints on a worker thread.
storeBehaviour(
  'sqlite file',
  async () => new SqliteStore({ path: join(dir, `db-${n++}.sqlite`), backgroundCheckpoints: true }),
);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A list of owner-a's servers: all of them, detail view, unless `query` says otherwise. */
const listOf = (store: SqliteStore, query: Partial<ListQuery> = {}) =>
  store.read((tx) =>
    tx.list({
      kind: 'servers',
      owner: 'owner-a',
      filters: [],
      limit: 0,
      offset: 0,
      view: 'detail',
      ...query,
    }),
  );

describe('sqlite read cache', () => {
  const turn = () => new Promise((resolve) => setImmediate(resolve));

  it('sees commits of another connection (another process) on the next event-loop turn', async () => {
    const path = join(dir, 'shared.sqlite');
    const server = new SqliteStore({ path });
    const cli = new SqliteStore({ path });
    await server.accounts.create({
      uuid: 'acc',
      email: 'a@example.com',
      passwordHash: 'scrypt$1',
      ha1: null,
      credVersion: 1,
      createdAt: '2026-01-01T00:00:00Z',
    });
    await server.write((tx) => tx.insert(record({ uuid: 'obj', owner: 'acc', detail: '{"v":1}' })));
    const page = () => listOf(server, { owner: 'acc' });
    expect(String((await server.getDetail('obj'))?.detail)).toBe('{"v":1}');
    expect(await server.accounts.credVersion('acc')).toBe(1);
    expect((await page()).items.map(String)).toEqual(['{"v":1}']);
    await cli.accounts.setPassword('acc', 'scrypt$2', null);
    const stale = (await cli.get('obj'))!;
    await cli.write(async (tx) => {
      await tx.update({ ...stale, detail: '{"v":2}' });
      await tx.insert(record({ uuid: 'obj2', owner: 'acc', detail: '{"v":3}' }));
    });
    await turn();
    expect(await server.accounts.credVersion('acc')).toBe(2);
    expect(String((await server.getDetail('obj'))?.detail)).toBe('{"v":2}');
    expect((await page()).items.map(String)).toEqual(['{"v":2}', '{"v":3}']);
    await cli.accounts.remove('acc');
    await turn();
    expect(await server.getDetail('obj')).toBeUndefined();
    expect((await page()).total).toBe(0);
    await cli.close();
    await server.close();
  });

  it('keeps its own writes and nothing of a rolled-back one', async () => {
    const store = new SqliteStore({ path: ':memory:' });
    const page = () => listOf(store, { view: 'summary' });
    expect((await page()).total).toBe(0);
    await store.write((tx) => tx.insert(record({ uuid: 'a' })));
    await expect(
      store.write(async (tx) => {
        await tx.insert(record({ uuid: 'b' }));
        throw new Error('no');
      }),
    ).rejects.toThrow('no');
    expect((await page()).items.map(String)).toEqual([JSON.stringify({ uuid: 'a' })]);
    expect(await store.getDetail('b')).toBeUndefined();
    const a = (await store.get('a'))!;
    await store.write((tx) => tx.update({ ...a, detail: '{"x":1}' }));
    expect(String((await store.getDetail('a'))?.detail)).toBe('{"x":1}');
    await store.write(async (tx) => tx.remove((await tx.get('a'))!));
    expect(await store.getDetail('a')).toBeUndefined();
    expect((await page()).total).toBe(0);
    await store.close();
  });
});

describe('sqlite joined lists', () => {
  const turn = () => new Promise((resolve) => setImmediate(resolve));
  const whole = (store: SqliteStore, view: 'detail' | 'summary' = 'detail') =>
    listOf(store, { view, joined: true });
  const text = async (store: SqliteStore, view?: 'detail' | 'summary') =>
    String((await whole(store, view)).joined);

  it('joins a list (whole or a page) once, until the list or one of its objects changes', async () => {
    const path = join(dir, 'joined.sqlite');
    const store = new SqliteStore({ path });
    const other = new SqliteStore({ path });
    for (const uuid of ['a', 'b']) {
      await store.write((tx) => tx.insert(record({ uuid, detail: `{"d":"${uuid}"}` })));
    }
    const first = await whole(store);
    expect(first).toMatchObject({ total: 2, items: [] });
    expect(String(first.joined)).toBe('{"d":"a"},{"d":"b"}');
    // Kept: the same bytes, not joined again.
    expect((await whole(store)).joined).toBe(first.joined);
    expect(await text(store, 'summary')).toBe(
      `${JSON.stringify({ uuid: 'a' })},${JSON.stringify({ uuid: 'b' })}`,
    );
    // A page is joined too, once.
    const page = () => listOf(store, { limit: 1, offset: 1, joined: true });
    const second = await page();
    expect(second).toMatchObject({ total: 2, items: [] });
    expect(String(second.joined)).toBe('{"d":"b"}');
    expect((await page()).joined).toBe(second.joined);

    const a = (await store.get('a'))!;
    await store.write((tx) => tx.update({ ...a, detail: '{"d":"a2"}' }));
    expect(await text(store)).toBe('{"d":"a2"},{"d":"b"}');
    await store.write((tx) => tx.insert(record({ uuid: 'c', detail: '{"d":"c"}' })));
    expect(await text(store)).toBe('{"d":"a2"},{"d":"b"},{"d":"c"}');
    await store.write(async (tx) => tx.remove((await tx.get('b'))!));
    expect(await text(store)).toBe('{"d":"a2"},{"d":"c"}');
    expect(String((await page()).joined)).toBe('{"d":"c"}');
    // Another owner's change leaves this join as it is.
    const kept = (await whole(store)).joined;
    await store.write((tx) => tx.insert(record({ uuid: 'x', owner: 'owner-b' })));
    expect((await whole(store)).joined).toBe(kept);
    // Another connection's commit (another process) drops it on the next turn.
    await other.write((tx) => tx.insert(record({ uuid: 'd', detail: '{"d":"d"}' })));
    await turn();
    expect(await text(store)).toBe('{"d":"a2"},{"d":"c"},{"d":"d"}');
    await other.close();
    await store.close();
  });
});

describe('sqlite joined windows', () => {
  it('keep at most 4,096 windows and 64 MiB, dropping the least recently joined list first', () => {
    const cache = new ReadCache(() => 1);
    const small = Buffer.from('{}');
    cache.rememberJoined('old', 'servers', 'detail/0/1', small);
    for (let i = 0; i < 4095; i++) cache.rememberJoined('new', 'servers', `detail/${i}/1`, small);
    expect(cache.joined('old', 'servers', 'detail/0/1')).toBe(small);
    cache.rememberJoined('newest', 'servers', 'detail/0/1', small);
    expect(cache.joined('old', 'servers', 'detail/0/1')).toBeUndefined();
    expect(cache.joined('new', 'servers', 'detail/0/1')).toBe(small);

    const big = Buffer.alloc(40 * 2 ** 20);
    cache.rememberJoined('a', 'servers', 'detail/0/0', big);
    cache.rememberJoined('b', 'servers', 'detail/0/0', big);
    expect(cache.joined('a', 'servers', 'detail/0/0')).toBeUndefined();
    expect(cache.joined('b', 'servers', 'detail/0/0')).toBe(big);
    // Larger than the whole budget: not kept.
    cache.rememberJoined('c', 'servers', 'detail/0/0', Buffer.alloc(65 * 2 ** 20));
    expect(cache.joined('c', 'servers', 'detail/0/0')).toBeUndefined();
    expect(cache.joined('b', 'servers', 'detail/0/0')).toBe(big);
  });
});

describe('sqlite file', () => {
  it('keeps what was committed across a reopen, and migrates once', async () => {
    const path = join(dir, 'reopen.sqlite');
    const first = new SqliteStore({ path });
    await first.write((tx) => tx.insert(record({ uuid: 'kept' })));
    await first.close();
    const second = new SqliteStore({ path });
    expect((await second.get('kept'))?.version).toBe(1);
    await second.close();
  });

  it('moves audit entries out of the objects table when it migrates a file made before', async () => {
    const path = join(dir, 'old-logs.sqlite');
    // A file at the schema before log entries had a table of their own, holding one entry.
    const old = new Database(path);
    const logMigration = SQLITE_MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE log_entries'));
    for (const step of SQLITE_MIGRATIONS.slice(0, logMigration)) old.exec(step);
    old.pragma(`user_version = ${logMigration}`);
    const entry = record({ uuid: 'l1', kind: 'logs', name: 'target', status: 'create' });
    old
      .prepare(
        `INSERT INTO objects (kind, uuid, owner, name, name_fold, status, version, doc, detail, summary)
         VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?)`,
      )
      .run(
        'logs',
        'l1',
        'owner-a',
        'target',
        'target',
        'create',
        entry.doc,
        entry.detail,
        entry.summary,
      );
    old.prepare("INSERT INTO object_counts (owner, kind, n) VALUES ('owner-a', 'logs', 1)").run();
    old.close();
    const store = new SqliteStore({ path });
    const page = await store.read((tx) =>
      tx.list({ kind: 'logs', owner: 'owner-a', filters: [], limit: 0, offset: 0, view: 'detail' }),
    );
    expect(page).toEqual({ total: 1, items: [entry.detail] });
    expect((await store.snapshot()).objects.map((o) => [o.kind, o.uuid])).toEqual([['logs', 'l1']]);
    await store.close();
  });
});

describe('sqlite background checkpoints', () => {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  /** ~400 KiB of objects: far below the automatic checkpoint's 4,000 pages. */
  const fill = (store: SqliteStore, prefix: string) =>
    Promise.all(
      Array.from({ length: 100 }, (_, i) =>
        store.write((tx) =>
          tx.insert({ ...record({ uuid: `${prefix}-${i}` }), doc: 'x'.repeat(4000) }),
        ),
      ),
    );
  const dataVersion = (store: SqliteStore) =>
    store.statement('PRAGMA data_version').pluck().get() as number;

  it('copy commits into the database file soon after, without dropping the read cache', async () => {
    const path = join(dir, 'checkpointed.sqlite');
    const store = new SqliteStore({ path, backgroundCheckpoints: true });
    const before = statSync(path).size;
    await fill(store, 'a');
    const version = dataVersion(store);
    await sleep(CHECKPOINT_DELAY_MS + 400);
    expect(statSync(path).size).toBeGreaterThan(before + 300_000);
    expect(dataVersion(store)).toBe(version);
    expect((await store.get('a-99'))?.doc).toHaveLength(4000);
    await store.close();
    // The worker's connection closed first: the store's, the last, removed the WAL.
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('are not taken without the option (the automatic checkpoint waits for 4,000 pages)', async () => {
    const path = join(dir, 'not-checkpointed.sqlite');
    const store = new SqliteStore({ path });
    const before = statSync(path).size;
    await fill(store, 'b');
    await sleep(CHECKPOINT_DELAY_MS + 400);
    expect(statSync(path).size).toBeLessThan(before + 100_000);
    await store.close();
  });
});
