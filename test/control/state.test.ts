/**
 * Export and import of the whole state: a round trip gives back the same state, byte for byte, in
 * the same app, across apps, and from SQLite into PostgreSQL (and back); bad dumps change nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { exportState, importState, type StateDump } from '../../src/control/index.js';
import { SqliteStore } from '../../src/store/sqlite/store.js';
import { createDrive, createServer, expectError, getObject } from '../support/api.js';
import { ALICE, type Client, startTestApp, type TestApp } from '../support/app.js';
import {
  controlOf,
  pause,
  startTestAppOn,
  statusOf,
  waitFor,
  waitForStatus,
} from '../support/control.js';
import { openTestStore } from '../support/stores.js';

const apps: TestApp[] = [];
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const app of apps.splice(0)) await app.close();
  for (const close of closers.splice(0)) await close();
});

async function started(app: Promise<TestApp>): Promise<TestApp> {
  const t = await app;
  apps.push(t);
  return t;
}

/** A state with a bit of everything: running and stopped servers, leased IPs, drives, a session. */
async function populate(t: TestApp): Promise<{ running: string; drive: string }> {
  const drive = await createDrive(t.alice, { name: 'data ✓' });
  const server = await createServer(t.alice, {
    name: 'web',
    nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }],
    drives: [{ drive: drive.uuid, device: 'virtio', dev_channel: '0:0', boot_order: 1 }],
    meta: { role: 'web' },
  });
  expect((await t.alice.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
  await waitForStatus(t.alice, `/servers/${server.uuid}/`, 'running');
  await createServer(t.alice, { name: 'idle' });
  await createServer(t.bob, { name: "bob's" });
  await t.alice.put('/profile/', { first_name: 'Alice' });
  const login = await t.anonymous.post('/accounts/action/?do=login', {
    username: ALICE.email,
    password: ALICE.password,
  });
  expect(login.status).toBe(200);
  return { running: server.uuid, drive: drive.uuid };
}

/** What the API shows an account: every list, in detail. */
async function view(client: Client): Promise<string[]> {
  const out: string[] = [];
  for (const path of ['/servers/detail/', '/drives/detail/', '/profile/']) {
    out.push((await client.get(path)).text);
  }
  return out;
}

const withoutClock = (dump: StateDump) => ({ ...dump, clock_time: null });

describe('control: export and import', () => {
  it('exports everything, and an import gives the very same state back', async () => {
    const t = await started(startTestApp({ control: true }));
    const control = controlOf(t);
    await populate(t);
    const fingerprint = await t.app.store.fingerprint();
    const aliceView = await view(t.alice);
    const dump: StateDump = await control.ok('GET', 'state');
    expect(dump).toMatchObject({ format: 'sigmalite-state', version: 1 });
    expect(dump.clock_time).toBeGreaterThan(0);
    expect(dump.accounts.map((a) => a.email).sort()).toEqual([
      'alice@example.com',
      'bob@example.com',
    ]);
    expect(dump.sessions).toHaveLength(1);
    expect(dump.objects.map((o) => o.kind)).toEqual(
      expect.arrayContaining(['profile', 'drives', 'servers']),
    );
    // The simulated machines, and the network of a running server's DHCP address.
    expect(dump.state.map((e) => e.namespace)).toEqual(['ip.dynamic.networks', 'sim.machines']);
    expect(dump.claims.length).toBeGreaterThan(0);
    // Stored JSON comes out as JSON, not as strings in strings.
    expect(typeof dump.objects[0]!.doc).toBe('object');

    // Change everything, then import.
    await createServer(t.alice, { name: 'later' });
    await control.ok('POST', 'reset', { account: 'bob@example.com' });
    expect(await t.app.store.fingerprint()).not.toBe(fingerprint);
    const summary = await control.ok('PUT', 'state', dump);
    expect(summary).toEqual({
      clock_time: dump.clock_time,
      accounts: 2,
      sessions: 1,
      tokens: 0,
      objects: dump.objects.length,
      claims: dump.claims.length,
      tasks: 0,
      state: dump.state.length,
    });
    expect(await t.app.store.fingerprint()).toBe(fingerprint);
    expect(await view(t.alice)).toEqual(aliceView);
    expect(withoutClock(await control.ok('GET', 'state'))).toEqual(withoutClock(dump));
    // The engine runs, and the imported running server is running for the engine as well.
    expect(t.app.engine.state).toBe('running');
    const running = dump.objects.find((o) => o.kind === 'servers' && o.status === 'running')!;
    expect((await t.alice.post(`/servers/${running.uuid}/action/?do=stop`)).status).toBe(202);
    expect(await statusOf(t.alice, `/servers/${running.uuid}/`)).toBe('stopped');
  });

  it('moves a SQLite state into an empty PostgreSQL store and back, unchanged', async () => {
    const source = await started(startTestAppOn('sqlite'));
    await populate(source);
    const dump = await controlOf(source).ok('GET', 'state');
    const fingerprint = await source.app.store.fingerprint();
    const aliceView = await view(source.alice);

    const postgres = await openTestStore('postgres');
    // The app started on it closes it; this is for a failure before that.
    closers.push(() => postgres.close().catch(() => {}));
    expect(await importState(postgres, dump)).toMatchObject({ objects: dump.objects.length });
    expect(await exportState(postgres, { clockTime: dump.clock_time })).toEqual(dump);

    // An app on it shows the same (no SIGMALITE_USERS: the accounts are the imported ones).
    const target = await started(startTestAppOn(postgres, { users: '' }));
    expect(target.app.generatedUsers).toEqual([]);
    expect(await view(target.alice)).toEqual(aliceView);
    expect(withoutClock(await controlOf(target).ok('GET', 'state'))).toEqual(withoutClock(dump));

    // And back into SQLite: the very rows of the source.
    const back = new SqliteStore({ path: ':memory:' });
    closers.push(() => back.close());
    await importState(back, await exportState(postgres));
    expect(await back.fingerprint()).toBe(fingerprint);
  });

  it('carries transitions under way: an imported start finishes when its time comes', async () => {
    const source = await started(
      startTestApp({ control: true, transitions: 'default', settle: false }),
    );
    const control = controlOf(source);
    const now = (await control.ok('PUT', 'clock', { scale: 0 })).now;
    await control.ok('PUT', 'clock', { time: now + 600_000 });
    const server = await createServer(source.alice);
    const path = `/servers/${server.uuid}/`;
    await source.alice.post(`${path}action/?do=start`);
    await waitFor(
      async () => (await source.app.compute.status(server.uuid)).state,
      (state) => state === 'starting',
    );
    const dump: StateDump = await control.ok('GET', 'state');
    expect(dump.tasks.map((task) => task.type)).toEqual(['server.start']);

    // Into another app, whose clock is behind the dump's: it moves forward to it.
    const target = await started(
      startTestAppOn('sqlite', { transitions: 'default', settle: false }),
    );
    const targetControl = controlOf(target);
    await targetControl.ok('PUT', 'clock', { scale: 0 });
    await targetControl.ok('PUT', 'state', dump);
    expect((await targetControl.ok('GET', 'clock')).now).toBe(dump.clock_time);
    await pause(100);
    expect(await statusOf(target.alice, path)).toBe('starting');
    await waitFor(
      () => targetControl.ok('GET', 'clock'),
      (clock) => clock.pending >= 1,
    );
    // The boot takes its 2 s from where it began, on the dump's clock.
    await targetControl.ok('POST', 'clock/advance', { ms: 1_999 });
    await pause(100);
    expect(await statusOf(target.alice, path)).toBe('starting');
    await targetControl.ok('POST', 'clock/advance', { ms: 1 });
    await waitForStatus(target.alice, path, 'running');
  });

  it('takes dumps larger than --body-limit', async () => {
    const t = await started(startTestApp({ control: true, bodyLimit: 4096 }));
    await populate(t);
    const control = controlOf(t);
    const dump = await control.ok('GET', 'state');
    expect(JSON.stringify(dump).length).toBeGreaterThan(4096);
    expect((await control.put('state', dump)).status).toBe(200);
    // The API keeps its own limit.
    const big = await t.alice.post('/servers/', { objects: [{ name: 'x'.repeat(5000) }] });
    expect(big.status).toBe(413);
  });

  it('refuses a bad dump with the place of the fault, and changes nothing', async () => {
    const t = await started(startTestApp({ control: true }));
    const control = controlOf(t);
    await populate(t);
    const dump: StateDump = await control.ok('GET', 'state');
    const fingerprint = await t.app.store.fingerprint();
    const bad: [unknown, string | null][] = [
      [[], null],
      [{ ...dump, format: 'other' }, 'format'],
      [{ ...dump, version: 2 }, 'version'],
      [{ ...dump, extra: 1 }, 'extra'],
      [{ ...dump, objects: 'none' }, 'objects'],
      [{ ...dump, objects: [{ ...dump.objects[0], uuid: 7 }] }, 'objects.0.uuid'],
      [{ ...dump, objects: [{ ...dump.objects[0], doc: '{}' }] }, 'objects.0.doc'],
      [
        { ...dump, objects: [...dump.objects, dump.objects[0]] },
        `objects.${dump.objects.length}.uuid`,
      ],
      [
        { ...dump, accounts: [{ ...dump.accounts[0], cred_version: 1.5 }] },
        'accounts.0.cred_version',
      ],
      [{ ...dump, tasks: [{ id: 'x', type: 't', target: 'y', due_at: 0 }] }, 'tasks.0.payload'],
      [{ ...dump, state: [{ namespace: 'a', key: 'b', value: 'c\u0000' }] }, null],
    ];
    for (const [body, point] of bad) {
      expectError(await control.put('state', body), 400, 'validation', point);
    }
    expect(await t.app.store.fingerprint()).toBe(fingerprint);
    expect((await getObject(t.alice, '/profile/')).first_name).toBe('Alice');
  });
});
