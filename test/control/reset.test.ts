/**
 * Reset: everything, or one account. Accounts and their passwords stay; what they own goes, with
 * its tasks, claims and machines, even in the middle of a transition.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createDrive, createServer, expectError, getObject } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';
import { controlOf, pause, statusOf, waitFor, waitForStatus } from '../support/control.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function accountUuid(client: Client): Promise<string> {
  return (await getObject(client, '/profile/')).uuid as string;
}

async function runningServer(client: Client): Promise<string> {
  const server = await createServer(client, {
    nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }],
  });
  expect((await client.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
  await waitForStatus(client, `/servers/${server.uuid}/`, 'running');
  return server.uuid as string;
}

async function counts(client: Client): Promise<[number, number]> {
  const servers = await client.get('/servers/');
  const drives = await client.get('/drives/');
  return [servers.json.meta.total_count, drives.json.meta.total_count];
}

describe('control: reset', () => {
  it('resets one account: its objects go, its profile is new, the other account keeps everything', async () => {
    t = await startTestApp({ control: true });
    const control = controlOf(t);
    const alice = await accountUuid(t.alice);
    const aliceServer = await runningServer(t.alice);
    await createDrive(t.alice);
    expect((await t.alice.put('/profile/', { first_name: 'Alice' })).status).toBe(200);
    const bobServer = await runningServer(t.bob);
    const bobDrive = await createDrive(t.bob);
    const bobBefore = [
      (await t.bob.get(`/servers/${bobServer}/`)).text,
      (await t.bob.get(`/drives/${bobDrive.uuid}/`)).text,
      (await t.bob.get('/profile/')).text,
    ];
    await control.ok('POST', 'faults', { path: '/drives/', account: alice, count: 9 });
    await control.ok('POST', 'faults', { path: '/drives/', account: 'bob@example.com', count: 9 });

    const reset = await control.ok('POST', 'reset', { account: 'alice@example.com' });
    // The server, the IP record of its DHCP lease (listed in /ips/ while it runs), the drive.
    expect(reset).toEqual({ reset: 'account', account: alice, removed: 3 });
    expect(await counts(t.alice)).toEqual([0, 0]);
    const profile = await getObject(t.alice, '/profile/');
    expect(profile).toMatchObject({ uuid: alice, email: 'alice@example.com', first_name: '' });
    expect((await t.app.compute.status(aliceServer)).state).toBe('stopped');
    // Alice's faults went with her state; Bob's stay.
    expect((await control.ok('GET', 'faults')).objects).toHaveLength(1);
    expect((await t.bob.get('/drives/')).status).toBe(500);
    await control.delete('faults');

    expect([
      (await t.bob.get(`/servers/${bobServer}/`)).text,
      (await t.bob.get(`/drives/${bobDrive.uuid}/`)).text,
      (await t.bob.get('/profile/')).text,
    ]).toEqual(bobBefore);
    expect((await t.app.compute.status(bobServer)).state).toBe('running');
    // By uuid too; an account with nothing is fine; an unknown one is 404.
    expect(await control.ok('POST', 'reset', { account: alice })).toMatchObject({ removed: 0 });
    expectError(
      await control.post('reset', { account: 'carol@example.com' }),
      404,
      'notexist',
      'account',
    );
    expectError(
      await control.post('reset', { account: 'no-such-uuid' }),
      404,
      'notexist',
      'account',
    );
    // Alice works as before.
    await runningServer(t.alice);
  });

  it('resets everything: no objects, tasks, claims or machines; accounts log in with fresh profiles', async () => {
    t = await startTestApp({ control: true });
    const control = controlOf(t);
    const servers = [await runningServer(t.alice), await runningServer(t.bob)];
    await createDrive(t.alice);
    await t.alice.put('/profile/', { first_name: 'Alice' });
    await control.ok('POST', 'faults', { path: '/drives/' });
    const before = await t.app.store.snapshot();

    expect(await control.ok('POST', 'reset', {})).toEqual({ reset: 'all' });
    expect(await counts(t.alice)).toEqual([0, 0]);
    expect(await counts(t.bob)).toEqual([0, 0]);
    expect((await getObject(t.alice, '/profile/')).first_name).toBe('');
    const after = await t.app.store.snapshot();
    expect(after.accounts).toEqual(before.accounts);
    // The cloud's own objects (the library drives) stay.
    const owned = after.objects.filter((o) => o.owner !== null);
    expect(owned.map((o) => o.kind)).toEqual(['profile', 'profile']);
    expect(after.objects.filter((o) => o.owner === null)).toEqual(
      before.objects.filter((o) => o.owner === null),
    );
    expect(after.objects.some((o) => o.kind === 'libdrives')).toBe(true);
    expect(after.objects.every((o) => o.version === 1)).toBe(true);
    expect([after.claims, after.tasks, after.state]).toEqual([[], [], []]);
    for (const uuid of servers) expect((await t.app.compute.status(uuid)).state).toBe('stopped');
    expect((await control.ok('GET', 'faults')).objects).toEqual([]);
    // And the engine runs again.
    expect(t.app.engine.state).toBe('running');
    await runningServer(t.bob);
    // A body is optional.
    expect((await control.post('reset')).status).toBe(200);
  });

  it('resets in the middle of transitions, on a stopped clock, and leaves no machine behind', async () => {
    t = await startTestApp({ control: true, transitions: 'default', settle: false });
    const control = controlOf(t);
    await control.ok('PUT', 'clock', { scale: 0 });
    const alices = await createServer(t.alice);
    const bobs = await createServer(t.bob);
    await t.alice.post(`/servers/${alices.uuid}/action/?do=start`);
    await t.bob.post(`/servers/${bobs.uuid}/action/?do=start`);
    const starting = async (uuid: string) =>
      (await t!.app.compute.status(uuid)).state === 'starting';
    await waitFor(
      async () => (await starting(alices.uuid)) && (await starting(bobs.uuid)),
      (both) => both,
    );

    // One account: Bob's start goes on, Alice's machine is gone for good.
    await control.ok('POST', 'reset', { account: 'alice@example.com' });
    await control.ok('POST', 'clock/advance', { ms: 2_000 });
    await waitForStatus(t.bob, `/servers/${bobs.uuid}/`, 'running');
    await pause(100);
    expect((await t.app.compute.status(alices.uuid)).state).toBe('stopped');
    const machines = (await t.app.store.snapshot()).state.map((entry) => entry.key);
    expect(machines).toEqual([bobs.uuid]);

    // Everything, while Bob's stop waits on the stopped clock.
    await t.bob.post(`/servers/${bobs.uuid}/action/?do=stop`);
    expect(await statusOf(t.bob, `/servers/${bobs.uuid}/`)).toBe('stopping');
    await control.ok('POST', 'reset');
    await control.ok('POST', 'clock/advance', { ms: 10_000 });
    await pause(100);
    const after = await t.app.store.snapshot();
    expect([after.tasks, after.state, after.claims]).toEqual([[], [], []]);
    expect(await counts(t.bob)).toEqual([0, 0]);
  });
});
