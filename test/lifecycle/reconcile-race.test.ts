/**
 * Reconciliation powers off machines that run for no live server, but a server started while a
 * reconciliation is under way (after it read the live servers, before it asked the host what
 * runs) is live: its machine must be left running. A host added to a `--hosts '*'` process
 * reconciles at once, which made this window easy to hit.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { action, waitStatus } from './support.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ reconcileInterval: 0 });
});
afterAll(() => t?.close());

describe('a reconciliation under way', () => {
  it('leaves the machine of a server started meanwhile running', async () => {
    const uuid = (await createServer(t.alice, { name: 'meanwhile' })).uuid as string;
    const compute = t.app.engine.ctx.compute;
    const machines = compute.machines.bind(compute);
    let started = false;
    compute.machines = async (host) => {
      if (!started) {
        // The server starts after the reconciliation read which servers are live.
        started = true;
        expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
        await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
      }
      return machines(host);
    };
    try {
      await t.app.engine.reconcileNow();
    } finally {
      compute.machines = machines;
    }
    expect(started).toBe(true);
    await t.app.engine.eventsHandled();
    expect((await t.app.compute.status(uuid)).state).toBe('running');
    await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
  });
});
