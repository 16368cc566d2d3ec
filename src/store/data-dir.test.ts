import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from '../app.js';
import { prepareDataDir } from './data-dir.js';

describe('the data directory', () => {
  const made: string[] = [];
  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('is created 0700 with the database 0600, its WAL files alike', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'sigmalite-dir-'));
    made.push(parent);
    const dir = join(parent, 'data');
    const store = await openStore({ memory: false, data: dir, store: undefined });
    try {
      await store.write(async () => {});
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, 'sigmalite.db')).mode & 0o777).toBe(0o600);
      expect(statSync(join(dir, 'sigmalite.db-wal')).mode & 0o777).toBe(0o600);
    } finally {
      await store.close();
    }
  });

  it('never changes an existing directory, only warns when others may read it', () => {
    const parent = mkdtempSync(join(tmpdir(), 'sigmalite-dir-'));
    made.push(parent);
    const open = join(parent, 'open');
    mkdirSync(open, { mode: 0o755 });
    const warnings = prepareDataDir(open, join(open, 'sigmalite.db'));
    expect(warnings).toEqual([expect.stringContaining('chmod 700')]);
    expect(statSync(open).mode & 0o777).toBe(0o755);
    const pool = join(parent, 'pool');
    mkdirSync(pool, { mode: 0o711 });
    expect(prepareDataDir(pool, join(pool, 'sigmalite.db'))).toEqual([]);
  });

  it('opens SQLite with synchronous=FULL by default, NORMAL when asked', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'sigmalite-dir-'));
    made.push(parent);
    const level = async (sqliteSynchronous?: string) => {
      const store = await openStore({
        memory: false,
        data: join(parent, sqliteSynchronous ?? 'default'),
        store: undefined,
        ...(sqliteSynchronous ? { sqliteSynchronous } : {}),
      });
      try {
        const db = (store as unknown as { db: { pragma(p: string, o: object): unknown } }).db;
        return db.pragma('synchronous', { simple: true });
      } finally {
        await store.close();
      }
    };
    expect(await level()).toBe(2);
    expect(await level('NORMAL')).toBe(1);
  });
});
