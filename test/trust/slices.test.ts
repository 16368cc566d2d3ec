/**
 * Long work yields (issue 12 item 2): a whole list of thousands is read in slices, the store's
 * lock handed to whoever waits in between, and it stops once its client goes away.
 */
import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Store } from '../../src/store/types.js';
import { ALICE, BOB, serverBody, startTestApp, type TestApp } from '../support/app.js';

const SERVERS = 20_000;

/** `n` servers of `owner` straight into the store (the list splices their stored detail). */
async function seedServers(store: Store, owner: string, n: number): Promise<void> {
  await store.write(async (tx) => {
    for (let i = 0; i < n; i++) {
      const uuid = randomUUID();
      const detail = JSON.stringify({
        name: `s${i}`,
        uuid,
        status: 'stopped',
        meta: { pad: 'x'.repeat(400) },
      });
      await tx.insert({
        kind: 'servers',
        uuid,
        owner,
        name: `s${i}`,
        status: 'stopped',
        doc: '{}',
        detail,
        summary: JSON.stringify({ name: `s${i}`, uuid }),
      });
    }
  });
}

describe('a whole list of thousands', () => {
  let t: TestApp;
  const lines: Record<string, unknown>[] = [];
  let alice: string;
  beforeAll(async () => {
    const logger = pino(
      { level: 'info' },
      { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
    );
    t = await startTestApp({ logger });
    alice = (await t.app.store.accounts.byEmail(ALICE.email))!.uuid;
    await seedServers(t.app.store, alice, SERVERS);
  }, 120_000);
  afterAll(() => t.close());

  it('lets a write queued behind it through before it ends, and answers every object', async () => {
    const bob = (await t.app.store.accounts.byEmail(BOB.email))!.uuid;
    const order: string[] = [];
    let turns = 0;
    let listing = true;
    const count = () => {
      turns++;
      if (listing) setImmediate(count);
    };
    setImmediate(count);
    const list = t.app.store
      .read((tx) =>
        tx.list({
          kind: 'servers',
          owner: alice,
          filters: [],
          limit: 0,
          offset: 0,
          view: 'detail',
          joined: true,
        }),
      )
      .then((page) => {
        order.push('list');
        return page;
      });
    const write = t.app.store.write(async (tx) => {
      await tx.insert({
        kind: 'tags',
        uuid: randomUUID(),
        owner: bob,
        name: 't',
        status: null,
        doc: '{}',
        detail: '{}',
        summary: '{}',
      });
    });
    await write.then(() => order.push('write'));
    const page = await list;
    listing = false;
    expect(order).toEqual(['write', 'list']);
    expect(turns).toBeGreaterThan(1);
    const text = page.joined ? page.joined.toString() : page.items.join(',');
    expect(JSON.parse(`[${text}]`)).toHaveLength(SERVERS);
  });

  it('answers the same bytes over HTTP as a list read at once', async () => {
    const all = await t.alice.get('/servers/detail/?limit=0');
    expect(all.status).toBe(200);
    expect(all.json.meta.total_count).toBe(SERVERS);
    expect(all.json.objects).toHaveLength(SERVERS);
    // The same objects, in the same order, as the pages of a paged client (read at once).
    const paged: unknown[] = [];
    for (let offset = 0; offset < SERVERS; offset += 1000) {
      paged.push(
        ...(await t.alice.get(`/servers/detail/?limit=1000&offset=${offset}`)).json.objects,
      );
    }
    expect(all.json.objects).toEqual(paged);
    expect(
      all.text.startsWith('{"meta":{"limit":0,"offset":0,"total_count":20000},"objects":[{'),
    ).toBe(true);
    expect(all.text.endsWith('}]}')).toBe(true);
    // Picked fields come from each object.
    const picked = await t.alice.get('/servers/detail/?limit=0&fields=name');
    expect(picked.status).toBe(200);
    expect(picked.json.objects).toHaveLength(SERVERS);
    expect(picked.json.objects[SERVERS - 1]).toEqual({ name: `s${SERVERS - 1}` });
  });

  it('stops reading once its client goes away', async () => {
    // A list no one read yet, for the other account: its objects are not in the cache.
    const bob = (await t.app.store.accounts.byEmail(BOB.email))!.uuid;
    await seedServers(t.app.store, bob, SERVERS);
    const url = new URL(`${t.origin}/api/2.0/servers/detail/?limit=0`);
    const auth = Buffer.from(`${BOB.email}:${BOB.password}`).toString('base64');
    await new Promise<void>((resolve) => {
      const req = request(url, { headers: { authorization: `Basic ${auth}` } });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.end(() => setTimeout(() => req.destroy(), 5));
    });
    const logged = async () =>
      lines.find(
        (line) => line.path === '/api/2.0/servers/detail/?limit=0' && line.account === BOB.email,
      );
    for (let i = 0; i < 200 && !(await logged()); i++) await new Promise((r) => setTimeout(r, 25));
    // The answer a client that left never reads: the list stopped at its next slice.
    expect((await logged())?.status).toBe(499);
  });
});

describe('a bulk create of a thousand', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('creates nothing when its client goes away before the commit', async () => {
    const objects = Array.from({ length: 1000 }, (_, i) =>
      serverBody({ name: `s${i}`, meta: { note: 'n'.repeat(200) } }),
    );
    const auth = Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64');
    // The store's writes are held until the client has gone, so that the create reaches its
    // commit only after the disconnect, however fast this machine validates a thousand servers.
    let gone: () => void = () => {};
    const clientGone = new Promise<void>((resolve) => {
      gone = resolve;
    });
    const after = clientGone.then(() => new Promise((resolve) => setTimeout(resolve, 200)));
    const write = t.app.store.write.bind(t.app.store);
    const spy = vi.spyOn(t.app.store, 'write').mockImplementation(async (fn) => {
      await after;
      return write(fn);
    });
    await new Promise<void>((resolve) => {
      const req = request(`${t.origin}/api/2.0/servers/`, {
        method: 'POST',
        headers: { authorization: `Basic ${auth}`, 'content-type': 'application/json' },
      });
      req.on('error', () => resolve());
      req.on('close', () => resolve());
      req.end(JSON.stringify({ objects }), () => req.destroy());
    });
    gone();
    await after;
    spy.mockRestore();
    // Whatever the server was doing has ended by the time a later request of the same account
    // is answered (its write queues behind the create's).
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect((await t.alice.post('/tags/', { name: 'after' })).status).toBe(201);
    expect((await t.alice.get('/servers/')).json.meta.total_count).toBe(0);
    // The same create, waited for, creates them all.
    const r = await t.alice.post('/servers/', { objects });
    expect(r.status).toBe(201);
    expect((await t.alice.get('/servers/')).json.meta.total_count).toBe(1000);
  }, 60_000);
});
