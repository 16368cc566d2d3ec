/**
 * Placement on several hosts (issue 16), through the API of one process serving three simulated
 * hosts: a start goes to a host with room (MHz and memory of what runs there), never to a drained
 * host or one known to be down; `avoid` is honoured when it can be, and ignored (never an error)
 * when it cannot or names servers the caller cannot see; no room at all answers 503 and changes
 * nothing; a stopped server is placed again at its next start, and its old host forgets it;
 * availability groups are the hosts. The single-host case stores nothing of placement.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ComputeDriver } from '../../src/drivers/compute/types.js';
import {
  type HostRecord,
  type HostStatus,
  putHost,
  putHostStatus,
} from '../../src/engine/hosts.js';
import { hostOf, PLACEMENT_STATE } from '../../src/engine/placement.js';
import { TASKS } from '../../src/resources/tasks.js';
import { createServer, expectError } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';
import { action, get } from './support.js';

const GB = 1024 ** 3;

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function app(hosts = 'a,b,c'): Promise<TestApp> {
  t = await startTestApp({ hosts });
  return t;
}

async function declare(records: Record<string, HostRecord>): Promise<void> {
  await t!.app.store.write(async (tx) => {
    for (const [name, record] of Object.entries(records)) await putHost(tx, name, record);
  });
}

async function seen(statuses: Record<string, HostStatus>): Promise<void> {
  await t!.app.store.write(async (tx) => {
    for (const [name, status] of Object.entries(statuses)) await putHostStatus(tx, name, status);
  });
}

const placedOn = (uuid: string) => t!.app.store.read((tx) => hostOf(tx, uuid));

/** A stopped server of 1000 MHz and `mem` bytes. */
async function server(client: Client, mem = GB, name = 'vm'): Promise<string> {
  return (await createServer(client, { name, cpu: 1000, mem })).uuid as string;
}

/** Starts a server (the engine settles before the answer); the host it went to. */
async function start(client: Client, uuid: string, query = ''): Promise<string> {
  const res = await client.post(`${action(uuid, 'start')}${query}`);
  expect(res.status, res.text).toBe(202);
  expect((await get(client, `/servers/${uuid}/`)).status).toBe('running');
  return placedOn(uuid);
}

async function stop(client: Client, uuid: string): Promise<void> {
  expect((await client.post(action(uuid, 'stop'))).status).toBe(202);
  expect((await get(client, `/servers/${uuid}/`)).status).toBe('stopped');
}

/**
 * The driver's `forget`, as a spy: the simulated hosts keep nothing of a stopped machine, so the
 * spy stands in for libvirt's and records which host was asked to forget which machine.
 */
function spyOnForget() {
  const forget = vi.fn(
    async (_host: string, _uuid: string, _options?: { onlyStopped?: boolean }) => {},
  );
  (t!.app.engine.ctx.compute as ComputeDriver).forget = forget;
  return forget;
}

/** What each host runs, from the driver. */
async function running(): Promise<Record<string, string[]>> {
  const compute = t!.app.engine.ctx.compute;
  const out: Record<string, string[]> = {};
  for (const host of compute.hosts) {
    out[host] = (await compute.machines(host)).map((m) => m.uuid).sort();
  }
  return out;
}

describe('a start', () => {
  it('goes to the host with the most room, filling hosts until none has room (503, nothing changed)', async () => {
    const { alice } = await app('a,b');
    await declare({ a: { memory: 2 * GB, mhz: 10_000 }, b: { memory: 2 * GB, mhz: 10_000 } });
    const [s1, s2, s3, s4, s5] = [
      await server(alice),
      await server(alice),
      await server(alice),
      await server(alice),
      await server(alice),
    ] as [string, string, string, string, string];
    expect(await start(alice, s1)).toBe('a');
    expect(await start(alice, s2)).toBe('b');
    expect(await start(alice, s3)).toBe('a');
    expect(await start(alice, s4)).toBe('b');
    expect(await running()).toEqual({ a: [s1, s3].sort(), b: [s2, s4].sort() });

    const before = await t!.app.store.fingerprint();
    const full = await alice.post(action(s5, 'start'));
    expectError(full, 503, 'backend', null);
    expect(full.json[0].error_message).toBe(
      `No host has room for this server now (1000 MHz, ${GB} bytes of memory); try again later or with a smaller server`,
    );
    expect(await t!.app.store.fingerprint()).toBe(before);
    expect((await get(alice, `/servers/${s5}/`)).status).toBe('stopped');

    // Room made on b: the server goes there.
    await stop(alice, s4);
    expect(await start(alice, s5)).toBe('b');
  });

  it('takes concurrent starts one at a time: room for one is given once', async () => {
    const { alice } = await app('a,b');
    await declare({ a: { memory: GB }, b: { memory: GB } });
    const uuids = [];
    for (let i = 0; i < 6; i++) uuids.push(await server(alice, GB, `race${i}`));
    const answers = await Promise.all(uuids.map((uuid) => alice.post(action(uuid, 'start'))));
    expect(answers.map((res) => res.status).sort()).toEqual([202, 202, 503, 503, 503, 503]);
    const started = uuids.filter((_, i) => answers[i]!.status === 202);
    expect(new Set(await Promise.all(started.map(placedOn)))).toEqual(new Set(['a', 'b']));
  });

  it('counts MHz too, and takes the capacity a host reports when none is declared', async () => {
    const { alice } = await app('a,b');
    await declare({ a: { mhz: 1500 } });
    await seen({ b: { up: true, since: 0, mhz: 1000, memory: GB } });
    const [s1, s2, s3] = [await server(alice), await server(alice), await server(alice)] as [
      string,
      string,
      string,
    ];
    // a: unbounded memory (most free), b: 1 GB.
    expect(await start(alice, s1)).toBe('a');
    // a has 500 MHz left: too few.
    expect(await start(alice, s2)).toBe('b');
    expectError(await alice.post(action(s3, 'start')), 503, 'backend', null);
  });

  it('skips drained hosts and hosts known to be down; with none left, 503', async () => {
    const { alice } = await app('a,b,c');
    await declare({ a: { drained: true } });
    await seen({ b: { up: false, since: 0, reason: 'no answer' }, c: { up: true, since: 0 } });
    const s1 = await server(alice);
    const s2 = await server(alice);
    expect(await start(alice, s1)).toBe('c');
    expect(await start(alice, s2)).toBe('c');
    // c drained as well: nowhere to go. What runs on a drained host stays.
    await declare({ c: { drained: true } });
    const s3 = await server(alice);
    expectError(await alice.post(action(s3, 'start')), 503, 'backend', null);
    expect((await get(alice, `/servers/${s1}/`)).status).toBe('running');
    // b back up: it takes servers again.
    await seen({ b: { up: true, since: 1 } });
    expect(await start(alice, s3)).toBe('b');
  });
});

describe('avoid', () => {
  /** a has more room than b: without avoid, starts go to a. */
  async function unequalHosts(): Promise<TestApp> {
    const test = await app('a,b');
    await declare({ a: { memory: 16 * GB }, b: { memory: 4 * GB } });
    return test;
  }

  it('keeps a server off the hosts of the servers it names, in order of priority', async () => {
    const { alice } = await unequalHosts();
    const s1 = await server(alice);
    const s2 = await server(alice);
    const s3 = await server(alice);
    const s4 = await server(alice);
    expect(await start(alice, s1)).toBe('a');
    expect(await start(alice, s2, `&avoid=${s1}`)).toBe('b');
    // Both hosts run one: the first named weighs most.
    expect(await start(alice, s3, `&avoid=${s1},${s2}`)).toBe('b');
    expect(await start(alice, s4, `&avoid=${s2}&avoid=${s1}`)).toBe('a');
  });

  it("reads jclouds' `?do=start?avoid=a&avoid=b`", async () => {
    const { alice } = await unequalHosts();
    const s1 = await server(alice);
    const s2 = await server(alice);
    const s3 = await server(alice);
    expect(await start(alice, s1)).toBe('a');
    const res = await alice.post(`/servers/${s2}/action/?do=start?avoid=${s1}`);
    expect(res.status, res.text).toBe(202);
    expect(await placedOn(s2)).toBe('b');
    // The first value (in `do`) comes first.
    const again = await alice.post(`/servers/${s3}/action/?do=start?avoid=${s2}&avoid=${s1}`);
    expect(again.status, again.text).toBe(202);
    expect(await placedOn(s3)).toBe('a');
  });

  it('is ignored when it cannot be honoured, and never fails a start', async () => {
    const { alice } = await unequalHosts();
    const s1 = await server(alice);
    const s2 = await server(alice);
    const s3 = await server(alice);
    expect(await start(alice, s1)).toBe('a');
    // The only other host is drained: the start goes next to the server it avoids.
    await declare({ b: { memory: 4 * GB, drained: true } });
    expect(await start(alice, s2, `&avoid=${s1}`)).toBe('a');
    // Unknown uuids, stopped servers, itself, garbage: ignored.
    await declare({ b: { memory: 4 * GB } });
    const stopped = await server(alice);
    expect(
      await start(
        alice,
        s3,
        `&avoid=472835d5-2bbb-4d87-9d08-7364bc373692,${stopped},${s3},not-a-uuid,,&avoid=`,
      ),
    ).toBe('a');
  });

  it("counts only servers the caller can see: another account's placement does not leak", async () => {
    const { alice, bob } = await unequalHosts();
    const bobs = await server(bob);
    expect(await start(bob, bobs)).toBe('a');
    const mine = await server(alice);
    expect(await start(alice, mine, `&avoid=${bobs}`)).toBe('a');
    // Shared with alice, granted something but not LIST: still not seen.
    const aliceUuid = (await alice.get('/profile/')).json.uuid as string;
    const tag = (await bob.post('/tags/', { name: 'shared' })).json.objects[0].uuid as string;
    const shared = (await createServer(bob, { name: 'shared', mem: GB, tags: [tag] }))
      .uuid as string;
    expect(await start(bob, shared)).toBe('a');
    const acl = await bob.post('/acls/', {
      grantees: [{ uuid: aliceUuid }],
      rules: [{ permission: 'STOP' }],
      tags: [tag],
    });
    expect(acl.status, acl.text).toBe(201);
    const second = await server(alice);
    expect(await start(alice, second, `&avoid=${shared}`)).toBe('a');
    // Granted LIST: it counts.
    expect(
      (
        await bob.put(`/acls/${acl.json.objects[0].uuid}/`, {
          rules: [{ permission: 'LIST' }],
        })
      ).status,
    ).toBe(200);
    const third = await server(alice);
    expect(await start(alice, third, `&avoid=${shared}`)).toBe('b');
  });

  it('is accepted and ignored by a clone (drives have no location yet)', async () => {
    const { alice } = await unequalHosts();
    const s1 = await server(alice);
    const res = await alice.post(`/servers/${s1}/action/?do=clone&avoid=${s1}`, {});
    expect(res.status, res.text).toBe(202);
  });
});

describe('a stopped server', () => {
  it('is placed again at its next start; its old host forgets its machine', async () => {
    const { alice } = await app('a,b');
    const forget = spyOnForget();
    const s1 = await server(alice);
    expect(await start(alice, s1)).toBe('a');
    await stop(alice, s1);
    // Started again with a stays where it was: nothing to forget.
    expect(await start(alice, s1)).toBe('a');
    await stop(alice, s1);
    expect(forget).not.toHaveBeenCalled();

    await declare({ a: { drained: true } });
    expect(await start(alice, s1)).toBe('b');
    await t!.app.engine.settled();
    expect(forget.mock.calls).toEqual([['a', s1, { onlyStopped: true }]]);
    expect(await running()).toEqual({ a: [], b: [s1] });
    // A restart stays on its host, drained or not.
    await declare({ a: {}, b: { drained: true } });
    expect((await alice.post(action(s1, 'restart'))).status).toBe(202);
    expect((await get(alice, `/servers/${s1}/`)).status).toBe('running');
    expect(await placedOn(s1)).toBe('b');

    await stop(alice, s1);
    expect(await start(alice, s1)).toBe('a');
    await t!.app.engine.settled();
    expect(forget.mock.calls).toEqual([
      ['a', s1, { onlyStopped: true }],
      ['b', s1, { onlyStopped: true }],
    ]);
    expect(await t!.app.store.read((tx) => tx.tasksOf(s1))).toEqual([]);
  });

  it('forgets nothing at its first start, on the default host too', async () => {
    const { alice } = await app('local,b');
    const forget = spyOnForget();
    const s1 = await server(alice);
    const s2 = await server(alice);
    expect(await start(alice, s1)).toBe('b');
    expect(await start(alice, s2)).toBe('local');
    await t!.app.engine.settled();
    expect(forget).not.toHaveBeenCalled();
    // Moved off the default host: that host forgets it.
    await stop(alice, s2);
    await declare({ local: { drained: true } });
    expect(await start(alice, s2)).toBe('b');
    await t!.app.engine.settled();
    expect(forget.mock.calls).toEqual([['local', s2, { onlyStopped: true }]]);
  });

  it('keeps its machine on a host it is placed on again before that host forgot it', async () => {
    const { alice } = await app('a,b');
    const forget = spyOnForget();
    const s1 = await server(alice);
    expect(await start(alice, s1)).toBe('a');
    // A forget of a that comes late (its process was away) while the server runs there again.
    await t!.app.store.write((tx) =>
      tx.addTask({
        id: 'late-forget',
        type: TASKS.serverForget,
        target: `forget:a:${s1}`,
        payload: JSON.stringify({ machine: s1 }),
        dueAt: 0,
        host: 'a',
      }),
    );
    await t!.app.engine.settled();
    expect(forget).not.toHaveBeenCalled();
    expect(await running()).toEqual({ a: [s1], b: [] });
  });
});

describe('availability groups', () => {
  it("are the caller's running servers, one group per host", async () => {
    const { alice, bob } = await app('a,b');
    const [s1, s2, s3, s4] = [
      await server(alice),
      await server(alice),
      await server(alice),
      await server(alice),
    ] as [string, string, string, string];
    const bobs = await server(bob);
    expect(await start(alice, s1)).toBe('a');
    expect(await start(alice, s2)).toBe('b');
    expect(await start(alice, s3)).toBe('a');
    expect(await start(bob, bobs)).toBe('b');
    expect(await get(alice, '/servers/availability_groups/')).toEqual([[s1, s3], [s2]]);
    expect(await get(alice, `/servers/availability_groups/${s3}/`)).toEqual([s1, s3]);
    expect(await get(alice, `/servers/availability_groups/${s2}/`)).toEqual([s2]);
    expect(await get(alice, `/servers/availability_groups/${s4}/`)).toEqual([]);
    expect(await get(bob, '/servers/availability_groups/')).toEqual([[bobs]]);
    await stop(alice, s2);
    expect(await get(alice, '/servers/availability_groups/')).toEqual([[s1, s3]]);
  });
});

describe('one host', () => {
  it('stores nothing of placement', async () => {
    const { alice } = await app('local');
    const s1 = await server(alice);
    expect(await start(alice, s1)).toBe('local');
    expect(
      await t!.app.store.read(async (tx) => [
        await tx.listState(PLACEMENT_STATE),
        await tx.listState('engine.placement-turn'),
        await tx.listState('engine.hosts'),
      ]),
    ).toEqual([[], [], []]);
  });
});
