/**
 * A host that stops answering (issue 16): its running servers become `unavailable` at the
 * driver's host event, its status is written down; when it answers again the hypervisor is the
 * authority (a machine that ran through the outage is `running` with the same `active_since`,
 * one that died meanwhile is `stopped`). A server with a task under way is left to its task.
 * Simulated, so it is fast; test/libvirt/hosts.test.ts does the same with real libvirt hosts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hostStatuses } from '../../src/engine/hosts.js';
import { createServer } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { action, get, waitStatus } from './support.js';

let t: TestApp;

beforeAll(async () => {
  // No periodic reconcile: only the host events may change anything.
  t = await startTestApp({ reconcileInterval: 0, settle: false });
});
afterAll(() => t.close());

async function runningServer(name: string): Promise<{ uuid: string; activeSince: string }> {
  const server = await createServer(t.alice, { name });
  const uuid = server.uuid as string;
  expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
  const running = await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
  return { uuid, activeSince: running.runtime.active_since as string };
}

async function hostStatus() {
  return (await t.app.store.read((tx) => hostStatuses(tx))).get('local');
}

describe('a host that stops answering', () => {
  it('makes its running servers unavailable; back, they run on with the same active_since', async () => {
    const { uuid, activeSince } = await runningServer('through-outage');
    t.app.compute.stopAnswering('hung');
    await t.app.engine.eventsHandled();
    expect((await get(t.alice, `/servers/${uuid}/`)).status).toBe('unavailable');
    expect(await hostStatus()).toMatchObject({ up: false, reason: 'hung' });
    // The process stays ready (it serves the API and its other hosts); verbose says which is down.
    const readyz = await fetch(`${t.origin}/readyz?verbose`);
    expect(readyz.status).toBe(200);
    expect(((await readyz.json()) as { hosts: unknown }).hosts).toEqual({ local: 'down' });

    t.app.compute.answerAgain();
    await t.app.engine.eventsHandled();
    const server = await get(t.alice, `/servers/${uuid}/`);
    expect(server.status).toBe('running');
    expect(server.runtime.active_since).toBe(activeSince);
    expect(await hostStatus()).toMatchObject({ up: true });
    const again = (await fetch(`${t.origin}/readyz?verbose`).then((r) => r.json())) as {
      hosts: unknown;
    };
    expect(again.hosts).toEqual({ local: 'up' });
    await t.alice.post(action(uuid, 'stop'));
    await waitStatus(t.alice, `/servers/${uuid}/`, 'stopped');
  });

  it('a machine that died meanwhile is stopped when the host answers again', async () => {
    const { uuid } = await runningServer('died-in-outage');
    t.app.compute.stopAnswering();
    await t.app.engine.eventsHandled();
    expect((await get(t.alice, `/servers/${uuid}/`)).status).toBe('unavailable');
    // Its event says it stopped, but the server is unavailable: nothing is done before the host answers.
    await t.app.compute.powerOff(uuid, 'crashed');
    await t.app.engine.eventsHandled();
    expect((await get(t.alice, `/servers/${uuid}/`)).status).toBe('unavailable');

    t.app.compute.answerAgain();
    await t.app.engine.eventsHandled();
    const server = await get(t.alice, `/servers/${uuid}/`);
    expect(server.status).toBe('stopped');
    expect(server.runtime).toBeNull();
  });

  it('leaves a server whose task is under way to its task', async () => {
    const server = await createServer(t.alice, { name: 'starting-in-outage' });
    const uuid = server.uuid as string;
    // The first try fails (worth retrying): the start task stays, retried a second later.
    t.app.compute.failStarts(uuid, false, 1);
    expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
    t.app.compute.stopAnswering();
    await t.app.engine.eventsHandled();
    expect((await get(t.alice, `/servers/${uuid}/`)).status).toBe('starting');
    t.app.compute.answerAgain();
    await t.app.engine.eventsHandled();
    await waitStatus(t.alice, `/servers/${uuid}/`, 'running', 10_000);
    await t.alice.post(action(uuid, 'stop'));
    await waitStatus(t.alice, `/servers/${uuid}/`, 'stopped');
  });
});
