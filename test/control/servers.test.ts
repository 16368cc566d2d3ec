/**
 * Server faults after CloudSigma's state diagram: a host crash takes running servers through
 * `unavailable` and `starting` back to `running`; a paused server only gets out by a revive, to
 * `stopped`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, expectError, type Obj } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import {
  type ControlClient,
  controlOf,
  pause,
  statusOf,
  waitFor,
  waitForStatus,
} from '../support/control.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function runningServer(app: TestApp, client = app.alice, nics: Obj[] = []): Promise<string> {
  const server = await createServer(client, { nics });
  const path = `/servers/${server.uuid}/`;
  expect((await client.post(`${path}action/?do=start`)).status).toBe(202);
  await waitForStatus(client, path, 'running');
  return server.uuid as string;
}

async function machineState(app: TestApp, uuid: string): Promise<string> {
  return (await app.app.compute.status(uuid)).state;
}

async function pendingSleeper(control: ControlClient): Promise<void> {
  await waitFor(
    () => control.ok('GET', 'clock'),
    (clock) => clock.pending >= 1,
  );
}

describe('control: host crash', () => {
  it('running -> unavailable (machine gone) -> starting -> running with a new active_since', async () => {
    t = await startTestApp({ control: true, transitions: 'default,start=1000', settle: false });
    const control = controlOf(t);
    const dhcp = [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }];
    await control.ok('PUT', 'clock', { scale: 100 });
    const uuid = await runningServer(t, t.alice, dhcp);
    const idle = await createServer(t.alice);
    const bobs = await runningServer(t, t.bob);
    const path = `/servers/${uuid}/`;
    const before = (await t.alice.get(path)).json;
    expect(before.nics[0].runtime.ip_v4).not.toBeNull();
    const vnc = await t.alice.post(`${path}action/?do=open_vnc`);
    expect(vnc.status).toBe(202);
    const stopped = await control.ok('PUT', 'clock', { scale: 0 });

    const crash = await control.ok('POST', 'host-crash', {
      account: 'alice@example.com',
      down_ms: 3_000,
    });
    expect(crash).toEqual({
      servers: [uuid],
      down_ms: 3_000,
      recover_at: new Date(stopped.now + 3_000).toISOString(),
    });
    expect(await statusOf(t.alice, path)).toBe('unavailable');
    await waitFor(
      () => machineState(t!, uuid),
      (state) => state === 'stopped',
    );
    // The VNC tunnel went with the host.
    const port = Number(new URL(vnc.json.vnc_url.replace('vnc:', 'http:')).port);
    const refused = await fetch(`http://127.0.0.1:${port}/`).then(
      () => false,
      () => true,
    );
    expect(refused).toBe(true);
    // Actions see the status; other servers did not move.
    expectError(await t.alice.post(`${path}action/?do=stop`), 403, 'permission', null);
    expect(await statusOf(t.alice, `/servers/${idle.uuid}/`)).toBe('stopped');
    expect(await statusOf(t.bob, `/servers/${bobs}/`)).toBe('running');

    await control.ok('POST', 'clock/advance', { ms: 2_999 });
    await pause(100);
    expect(await statusOf(t.alice, path)).toBe('unavailable');
    await control.ok('POST', 'clock/advance', { ms: 1 });
    await waitForStatus(t.alice, path, 'starting');
    const booting = (await t.alice.get(path)).json;
    expect(booting.runtime).toBeNull();
    await pendingSleeper(control);
    await control.ok('POST', 'clock/advance', { ms: 1_000 });
    await waitForStatus(t.alice, path, 'running');
    const after = (await t.alice.get(path)).json;
    expect(Date.parse(after.runtime.active_since)).toBeGreaterThan(
      Date.parse(before.runtime.active_since),
    );
    expect(after.nics[0].runtime.ip_v4).not.toBeNull();
    expect(await machineState(t, uuid)).toBe('running');
  });

  it('crashes the servers named, and only running ones', async () => {
    t = await startTestApp({ control: true, transitions: 'instant' });
    const control = controlOf(t);
    const a = await runningServer(t);
    const b = await runningServer(t);
    const stopped = await createServer(t.alice);
    expectError(
      await control.post('host-crash', { servers: [a, stopped.uuid] }),
      403,
      'permission',
      null,
    );
    expectError(
      await control.post('host-crash', { servers: ['no-such-server'] }),
      404,
      'notexist',
      null,
    );
    expectError(
      await control.post('host-crash', { servers: [a], account: 'bob@example.com' }),
      404,
      'notexist',
      null,
    );
    expect(await statusOf(t.alice, `/servers/${a}/`)).toBe('running');
    await control.ok('PUT', 'clock', { scale: 0 });
    const crash = await control.ok('POST', 'host-crash', { servers: [a] });
    expect(crash.servers).toEqual([a]);
    expect(await statusOf(t.alice, `/servers/${a}/`)).toBe('unavailable');
    expect(await statusOf(t.alice, `/servers/${b}/`)).toBe('running');
    // With the default outage (5 s) and instant boots.
    await control.ok('POST', 'clock/advance', { ms: 5_000 });
    await waitForStatus(t.alice, `/servers/${a}/`, 'running');
  });
});

describe('control: paused servers', () => {
  it('running -> paused; only revive gets it out, to stopped; then it starts again', async () => {
    t = await startTestApp({ control: true, transitions: 'instant' });
    const control = controlOf(t);
    const uuid = await runningServer(t);
    const path = `/servers/${uuid}/`;
    expect(await control.ok('POST', `servers/${uuid}/pause`)).toEqual({ uuid, status: 'paused' });
    expect(await statusOf(t.alice, path)).toBe('paused');
    await waitFor(
      () => machineState(t!, uuid),
      (state) => state === 'paused',
    );
    for (const action of ['stop', 'shutdown', 'start', 'restart']) {
      expectError(await t.alice.post(`${path}action/?do=${action}`), 403, 'permission', null);
    }
    expectError(await t.alice.delete(path), 403, 'permission', null);
    expectError(await control.post(`servers/${uuid}/pause`), 403, 'permission', null);

    expect(await control.ok('POST', `servers/${uuid}/revive`)).toEqual({
      uuid,
      status: 'stopped',
    });
    const revived = (await t.alice.get(path)).json;
    expect(revived).toMatchObject({ status: 'stopped', runtime: null });
    await waitFor(
      () => machineState(t!, uuid),
      (state) => state === 'stopped',
    );
    expectError(await control.post(`servers/${uuid}/revive`), 403, 'permission', null);
    expect((await t.alice.post(`${path}action/?do=start`)).status).toBe(202);
    expect(await statusOf(t.alice, path)).toBe('running');
    expect(await machineState(t, uuid)).toBe('running');
    expectError(await control.post('servers/nothing/pause'), 404, 'notexist', null);
  });

  it('a revive right after the pause leaves no machine behind, and a start right after it boots', async () => {
    t = await startTestApp({ control: true, transitions: 'instant', settle: false });
    const control = controlOf(t);
    const uuid = await runningServer(t);
    const path = `/servers/${uuid}/`;
    await control.ok('POST', `servers/${uuid}/pause`);
    await control.ok('POST', `servers/${uuid}/revive`);
    expect((await t.alice.post(`${path}action/?do=start`)).status).toBe(202);
    await t.app.engine.settled();
    expect(await statusOf(t.alice, path)).toBe('running');
    expect(await machineState(t, uuid)).toBe('running');
  });
});
