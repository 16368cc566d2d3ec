/**
 * `sigmalite export` and `import` stream (docs/backup.md): the export is written a batch of rows
 * at a time from one read (the text `dumpText` makes of the whole dump, byte for byte), and the
 * import is checked, then written, as it is read, in batches; a dump cut short changes nothing.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  checkDumpStream,
  DumpError,
  dumpText,
  exportState,
  restoreDumpStream,
  writeDump,
} from '../../src/control/state.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import type { Store } from '../../src/store/types.js';
import { record } from '../store/behaviour.js';
import { POSTGRES_URL } from '../support/postgres.js';

/** A store with two accounts, 1,300 objects, claims, a task and state. */
async function filled(store: Store): Promise<Store> {
  for (const uuid of ['acc-1', 'acc-2']) {
    await store.accounts.create({
      uuid,
      email: `${uuid}@example.com`,
      passwordHash: 'scrypt$x',
      ha1: null,
      credVersion: 1,
      createdAt: '2026-01-01T00:00:00Z',
    });
  }
  await store.write(async (tx) => {
    for (let i = 0; i < 1300; i++) {
      const owner = i % 2 === 0 ? 'acc-1' : 'acc-2';
      const uuid = `o-${String(i).padStart(4, '0')}`;
      const name = `ü-${i}`;
      // Rendered forms in canonical JSON, as the resources write them (an import writes them so).
      const detail = JSON.stringify({ detail: true, name, uuid });
      await tx.insert(record({ uuid, owner, name, detail }));
    }
    await tx.claim('mac', '22:00:00:00:00:01', 'o-0000');
    await tx.addTask({ id: 't1', type: 't', target: 'o-0001', payload: '{"x":1}', dueAt: 7 });
    await tx.putState('sim', 'o-0000', '{"state":"running"}');
  });
  return store;
}

/** `text` as a stream of small chunks, as a file or a pipe delivers it. */
async function* chunked(text: string, size = 1000): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

const stores: [string, () => Promise<Store>][] = [
  ['sqlite', async () => new SqliteStore({ path: ':memory:' })],
  [
    'postgres',
    () =>
      PostgresStore.open({
        url: POSTGRES_URL,
        schema: `t_${randomBytes(6).toString('hex')}`,
        dropSchemaOnClose: true,
      }),
  ],
];

describe.each(stores)('streamed dumps (%s)', (_name, open) => {
  it('exports a batch at a time the very text of the whole dump', async () => {
    const store = await filled(await open());
    try {
      const pieces: string[] = [];
      const progress: [number, number][] = [];
      const counts = await writeDump(
        store,
        async (text) => {
          pieces.push(text);
        },
        { clockTime: 42, onRows: (done, total) => progress.push([done, total]) },
      );
      expect(counts).toMatchObject({ accounts: 2, objects: 1300, claims: 1, tasks: 1, state: 1 });
      const whole = [...dumpText(await exportState(store, { clockTime: 42 }))].join('');
      expect(pieces.join('')).toBe(whole);
      // Written as read: the objects alone came in three batches.
      expect(pieces.length).toBeGreaterThan(8);
      expect(progress.at(-1)).toEqual([1305, 1305]);
      expect(progress.map(([done]) => done)).toEqual(
        [...progress.map(([done]) => done)].sort((a, b) => a - b),
      );
    } finally {
      await store.close();
    }
  });

  it('imports a dump as it is read, checked first; a dump cut short changes nothing', async () => {
    const source = await filled(await open());
    const target = await open();
    try {
      const text = [...dumpText(await exportState(source))].join('');
      const summary = await checkDumpStream(chunked(text));
      expect(summary.rows).toMatchObject({ accounts: 2, objects: 1300, tasks: 1 });
      const progress: number[] = [];
      await restoreDumpStream(target, chunked(text), summary, (done) => progress.push(done));
      expect(await target.snapshot()).toEqual(await source.snapshot());
      expect(progress.at(-1)).toBe(1305);

      // The check reads every row; a fault deep in the dump is found before anything is written.
      const bad = text.replace('"uuid":"o-1200"', '"uuid":12');
      await expect(checkDumpStream(chunked(bad))).rejects.toThrow(
        new DumpError('objects.1200.uuid', 'Expected a string'),
      );
      // A dump that ends half way through its objects: the store keeps what it had.
      const fingerprint = await target.fingerprint();
      const cut = text.slice(0, text.indexOf('"o-0900"'));
      await expect(restoreDumpStream(target, chunked(cut), summary)).rejects.toThrow();
      expect(await target.fingerprint()).toBe(fingerprint);
    } finally {
      await source.close();
      await target.close();
    }
  });
});
