import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { record, storeBehaviour } from './behaviour.js';

storeBehaviour('sqlite in memory', async () => new SqliteStore({ path: ':memory:' }));

const dir = mkdtempSync(join(tmpdir(), 'sigmalite-store-'));
let n = 0;
storeBehaviour('sqlite file', async () => new SqliteStore({ path: join(dir, `db-${n++}.sqlite`) }));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
});
