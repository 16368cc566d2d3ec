/** Added latency: every API path, or a prefix; the longest prefix decides; control is never slowed. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectError } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { type ControlClient, controlOf } from '../support/control.js';

let t: TestApp;
let control: ControlClient;
beforeEach(async () => {
  t = await startTestApp({ control: true });
  control = controlOf(t);
});
afterEach(async () => {
  await t.close();
});

const DELAY = 400;

/** How long a request took, in real milliseconds, and its status. */
async function timed(run: () => Promise<{ status: number }>): Promise<[number, number]> {
  const before = performance.now();
  const res = await run();
  return [performance.now() - before, res.status];
}

describe('control: latency', () => {
  it('delays the paths of a prefix, then every path, then none', async () => {
    expect(await control.ok('PUT', 'latency', { ms: DELAY, prefix: '/servers/' })).toEqual({
      objects: [{ prefix: '/servers/', ms: DELAY }],
    });
    const [slow, status] = await timed(() => t.alice.get('/servers/'));
    expect(status).toBe(200);
    expect(slow).toBeGreaterThanOrEqual(DELAY - 5);
    const [detail] = await timed(() => t.alice.get('/servers/detail/'));
    expect(detail).toBeGreaterThanOrEqual(DELAY - 5);
    const [fast] = await timed(() => t.alice.get('/drives/'));
    expect(fast).toBeLessThan(DELAY);
    // Errors are delayed too (a stranger's 401 included); control requests never.
    const [denied, deniedStatus] = await timed(() => t.anonymous.get('/servers/'));
    expect([deniedStatus, denied >= DELAY - 5]).toEqual([401, true]);
    const [own] = await timed(() => control.get('latency'));
    expect(own).toBeLessThan(DELAY);

    // Every path; the longer prefix still decides for servers.
    await control.ok('PUT', 'latency', { ms: 2 * DELAY, prefix: '' });
    await control.ok('PUT', 'latency', { ms: 0, prefix: '/servers/' });
    await control.ok('PUT', 'latency', { ms: DELAY / 4, prefix: '/api/2.0/servers' });
    expect((await control.ok('GET', 'latency')).objects).toEqual([
      { prefix: '/servers', ms: DELAY / 4 },
      { prefix: '', ms: 2 * DELAY },
    ]);
    const [drives] = await timed(() => t.alice.get('/drives/'));
    expect(drives).toBeGreaterThanOrEqual(2 * DELAY - 5);
    const [servers] = await timed(() => t.alice.get('/servers/'));
    expect(servers).toBeGreaterThanOrEqual(DELAY / 4 - 5);
    expect(servers).toBeLessThan(2 * DELAY);

    expect((await control.delete('latency')).status).toBe(204);
    expect((await control.ok('GET', 'latency')).objects).toEqual([]);
    const [after] = await timed(() => t.alice.get('/drives/'));
    expect(after).toBeLessThan(DELAY);
  });

  it('refuses a delay out of range', async () => {
    expectError(await control.put('latency', { ms: -1 }), 400, 'validation', 'ms');
    expectError(await control.put('latency', { ms: 600_000 }), 400, 'validation', 'ms');
    expectError(await control.put('latency', {}), 400, 'validation', 'ms');
  });
});
