/**
 * Fault injection: the next N matching requests fail with the error asked for, change nothing,
 * and then requests work again.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer, expectError } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { type ControlClient, controlOf, statusOf } from '../support/control.js';

let t: TestApp;
let control: ControlClient;
beforeEach(async () => {
  t = await startTestApp({ control: true });
  control = controlOf(t);
});
afterEach(async () => {
  await t.close();
});

describe('control: faults', () => {
  it('fails the next N starts with the status, type and message given, then starts work', async () => {
    const server = await createServer(t.alice);
    const path = `/servers/${server.uuid}/`;
    const fault = await control.ok('POST', 'faults', {
      method: 'post',
      path: '/servers/*/action/',
      action: 'start',
      count: 2,
      status: 503,
      type: 'backend',
      message: 'The host is busy',
    });
    expect(fault).toEqual({
      id: expect.any(String),
      method: 'POST',
      path: '/servers/*/action/',
      action: 'start',
      account: null,
      count: 2,
      remaining: 2,
      type: 'backend',
      status: 503,
      message: 'The host is busy',
      point: null,
    });
    const before = await t.app.store.fingerprint();
    // Requests the fault does not match go through and leave it be.
    expectError(await t.alice.post(`${path}action/?do=stop`), 403, 'permission', null);
    expect((await t.alice.get(path)).status).toBe(200);
    for (const remaining of [1, 0]) {
      const res = await t.alice.post(`${path}action/?do=start`);
      const error = expectError(res, 503, 'backend', null);
      expect(error.error_message).toBe('The host is busy');
      expect(await statusOf(t.alice, path)).toBe('stopped');
      expect(await t.app.store.fingerprint()).toBe(before);
      const listed = (await control.ok('GET', 'faults')).objects;
      expect(listed.map((f: { remaining: number }) => f.remaining)).toEqual(
        remaining === 0 ? [] : [remaining],
      );
    }
    expect((await t.alice.post(`${path}action/?do=start`)).status).toBe(202);
    expect(await statusOf(t.alice, path)).toBe('running');
  });

  it('matches the action as the route reads it, and only the method, path and account given', async () => {
    const server = await createServer(t.alice);
    const other = await createServer(t.bob);
    await control.ok('POST', 'faults', {
      path: `/api/2.0/servers/${server.uuid}/action`,
      action: 'start',
      account: 'alice@example.com',
      status: 402,
      message: 'Not enough money',
    });
    // Bob's start, and a start of another server, pass.
    expect((await t.bob.post(`/servers/${other.uuid}/action/?do=start`)).status).toBe(202);
    // jclouds' `?do=start?avoid=...` is a start.
    const res = await t.alice.post(`/servers/${server.uuid}/action/?do=start?avoid=x`);
    expect(expectError(res, 402, 'billing', null).error_message).toBe('Not enough money');
    expect((await t.alice.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
  });

  it('fails a bulk create with nothing created (a fault never leaves a half-made change)', async () => {
    await control.ok('POST', 'faults', {
      method: 'POST',
      path: '/servers/',
      type: 'concurrency',
      point: 'objects',
    });
    const before = await t.app.store.fingerprint();
    const res = await t.alice.post('/servers/', {
      objects: [
        { name: 'a', cpu: 1000, mem: 536870912, vnc_password: 'x' },
        { name: 'b', cpu: 1000, mem: 536870912, vnc_password: 'x' },
      ],
    });
    const error = expectError(res, 503, 'concurrency', 'objects');
    expect(error.error_message).toBe('Injected fault (sigmalite test control)');
    expect(await t.app.store.fingerprint()).toBe(before);
    expect((await t.alice.get('/servers/')).json.meta.total_count).toBe(0);
    expect(
      (
        await t.alice.post('/servers/', {
          objects: [{ name: 'c', cpu: 1000, mem: 536870912, vnc_password: 'x' }],
        })
      ).status,
    ).toBe(201);
  });

  it('spends no fault on requests that fail authentication, and none on OPTIONS', async () => {
    await control.ok('POST', 'faults', { path: '/servers/', status: 500 });
    expect((await t.anonymous.get('/servers/')).status).toBe(401);
    expect((await t.alice.request('OPTIONS', '/servers/')).status).toBe(200);
    expectError(await t.alice.get('/servers/'), 500, 'backend', null);
    expect((await t.alice.get('/servers/')).status).toBe(200);
  });

  it('lists, removes one, clears all; refuses bad faults', async () => {
    const a = await control.ok('POST', 'faults', { path: '/drives/', count: 5 });
    const b = await control.ok('POST', 'faults', { path: '/servers/', status: 404 });
    expect(b.type).toBe('notexist');
    expect((await control.ok('GET', `faults/${a.id}`)).count).toBe(5);
    expect((await control.delete(`faults/${a.id}`)).status).toBe(204);
    expectError(await control.delete(`faults/${a.id}`), 404, 'notexist', null);
    expectError(await control.get(`faults/${a.id}`), 404, 'notexist', null);
    expect((await control.ok('GET', 'faults')).objects.map((f: { id: string }) => f.id)).toEqual([
      b.id,
    ]);
    expect((await control.delete('faults')).status).toBe(204);
    expect((await control.ok('GET', 'faults')).objects).toEqual([]);
    expect((await t.alice.get('/servers/')).status).toBe(200);

    expectError(await control.post('faults', { type: 'boom' }), 400, 'validation', 'type');
    expectError(await control.post('faults', { status: 302 }), 400, 'validation', 'status');
    expectError(await control.post('faults', { count: 0 }), 400, 'validation', 'count');
    expectError(await control.post('faults', { method: 'BREW' }), 400, 'validation', 'method');
    expectError(
      await control.post('faults', { account: 'nobody@x.y' }),
      404,
      'notexist',
      'account',
    );
    expectError(await control.post('faults', { when: 'now' }), 400, 'validation', 'when');
  });
});
