/**
 * The PostgreSQL read cache is exact across processes: two apps on one database (as two API
 * processes behind a load balancer), a client writing through one and reading through the other
 * at once always sees its write, while reads that nothing changed come from the cache.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { removeAccount, setPassword } from '../../src/accounts/service.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { createServer, getObject } from '../support/api.js';
import { ALICE, Client, startTestApp, type TestApp } from '../support/app.js';
import { POSTGRES_URL } from '../support/postgres.js';

const schema = `t_${randomBytes(6).toString('hex')}`;
let one: TestApp;
let two: TestApp;
let storeTwo: PostgresStore;

beforeAll(async () => {
  const open = (drop: boolean) =>
    PostgresStore.open({ url: POSTGRES_URL, schema, dropSchemaOnClose: drop, poolSize: 4 });
  one = await startTestApp({ withStore: await open(false) });
  storeTwo = await open(true);
  two = await startTestApp({ withStore: storeTwo });
});

afterAll(async () => {
  await one?.close();
  await two?.close();
});

/** Delays every notification the store's listening connection hears by `ms` (order kept). */
function slowNotifications(store: PostgresStore, ms: number): void {
  // The listening connection is private: the test reaches in to slow it down.
  const client = (store as unknown as { listener: pg.Client }).listener;
  const handlers = client.listeners('notification') as ((message: pg.Notification) => void)[];
  client.removeAllListeners('notification');
  client.on('notification', (message: pg.Notification) => {
    setTimeout(() => {
      for (const handler of handlers) handler(message);
    }, ms);
  });
}

describe('the PostgreSQL read cache, two processes on one database', () => {
  it('answers repeated reads from the cache', async () => {
    const server = await createServer(one.alice, { name: 'cached' });
    const before = storeTwo.cacheStats.hits;
    for (let i = 0; i < 5; i++) {
      expect((await getObject(two.alice, `/servers/${server.uuid}/`)).name).toBe('cached');
    }
    // The object and the login's credential version, after their first reads (a notification
    // heard during a read keeps it from being cached: one more miss at most).
    expect(storeTwo.cacheStats.hits - before).toBeGreaterThanOrEqual(6);
  });

  it('shows a write through one process to a read through the other at once', async () => {
    // Notifications that take their time (a busy listener, a slow network): reads must wait for
    // them, not answer from what the cache held.
    slowNotifications(one.app.store as PostgresStore, 40);
    slowNotifications(storeTwo, 40);
    const server = await createServer(one.alice, { name: 'v0' });
    // Cached in the second process first.
    expect((await getObject(two.alice, `/servers/${server.uuid}/`)).name).toBe('v0');
    let definition = await getObject(one.alice, `/servers/${server.uuid}/`);
    for (let i = 1; i <= 15; i++) {
      // The second process holds the version before (it read it last).
      const put = await one.alice.put(`/servers/${server.uuid}/`, { ...definition, name: `v${i}` });
      expect(put.status, put.text).toBe(200);
      definition = put.json;
      expect((await getObject(two.alice, `/servers/${server.uuid}/`)).name).toBe(`v${i}`);
      // Lists too (a page, cached joined in the second process).
      const page = await getObject(two.alice, '/servers/detail/?limit=20');
      expect(page.objects.find((s: { uuid: string }) => s.uuid === server.uuid).name).toBe(`v${i}`);
    }
    const before = (await getObject(two.alice, '/servers/?limit=0')).meta.total_count as number;
    await createServer(one.alice, { name: 'one more' });
    expect((await getObject(two.alice, '/servers/?limit=0')).meta.total_count).toBe(before + 1);
    const gone = await one.alice.delete(`/servers/${server.uuid}/`);
    expect(gone.status).toBe(204);
    expect((await two.alice.get(`/servers/${server.uuid}/`)).status).toBe(404);
  });

  it('refuses an old password through the other process as soon as it changed', async () => {
    // A login the second process has cached.
    expect((await two.alice.get('/servers/')).status).toBe(200);
    expect((await two.alice.get('/servers/')).status).toBe(200);
    await setPassword(
      one.app.store,
      { email: ALICE.email, password: 'a-new-secret' },
      { digest: false },
    );
    expect((await two.alice.get('/servers/')).status).toBe(401);
    const renewed = new Client(two.origin, { email: ALICE.email, password: 'a-new-secret' });
    expect((await renewed.get('/servers/')).status).toBe(200);
    await removeAccount(one.app.store, ALICE.email);
    expect((await renewed.get('/servers/')).status).toBe(401);
  });
});
