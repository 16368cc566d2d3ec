import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { POSTGRES_URL } from '../support/postgres.js';
import { record, storeBehaviour } from './behaviour.js';

storeBehaviour('postgres', () =>
  PostgresStore.open({
    url: POSTGRES_URL,
    schema: `t_${randomBytes(6).toString('hex')}`,
    dropSchemaOnClose: true,
  }),
);

describe('postgres across processes', () => {
  it("tells one store's commit listeners about another store's commits (LISTEN/NOTIFY)", async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const a = await PostgresStore.open({ url: POSTGRES_URL, schema, dropSchemaOnClose: true });
    const b = await PostgresStore.open({ url: POSTGRES_URL, schema });
    const seen: unknown[] = [];
    b.onCommit((changes) => seen.push(...changes));
    await a.write(async (tx) => {
      await tx.insert(record({ uuid: 'x1' }));
      await tx.addTask({ id: 'tx1', type: 't', target: 'x1', payload: '{}', dueAt: 0 });
    });
    for (let i = 0; i < 50 && seen.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual([
      { op: 'put', kind: 'servers', uuid: 'x1', owner: 'owner-a' },
      { op: 'task' },
    ]);
    await b.close();
    await a.close();
  });
});

describe('postgres task leases', () => {
  it('frees the leases of a process that is gone at once, not when they run out', async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const dead = await PostgresStore.open({ url: POSTGRES_URL, schema });
    await dead.write((tx) =>
      tx.addTask({ id: 'l1', type: 't', target: 'x', payload: '{}', dueAt: 0 }),
    );
    const hour = Date.now() + 3_600_000;
    expect((await dead.leaseTasks('w-dead', 1, hour, 10)).map((t) => t.id)).toEqual(['l1']);
    const alive = await PostgresStore.open({ url: POSTGRES_URL, schema, dropSchemaOnClose: true });
    expect(await alive.leaseTasks('w-alive', 1, hour, 10)).toEqual([]);
    await dead.close();
    expect((await alive.leaseTasks('w-alive', 1, hour, 10)).map((t) => t.id)).toEqual(['l1']);
    await alive.close();
  });
});
