/**
 * The clock (read, scale, stop, advance, set) and the transition times, seen through what clients
 * see: how long a server stays `starting`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, expectError } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { controlOf, pause, statusOf, waitFor, waitForStatus } from '../support/control.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

async function startServer(app: TestApp): Promise<string> {
  const server = await createServer(app.alice);
  const res = await app.alice.post(`/servers/${server.uuid}/action/?do=start`);
  expect(res.status).toBe(202);
  return `/servers/${server.uuid}/`;
}

describe('control: clock', () => {
  it('reads the clock: real time by default', async () => {
    t = await startTestApp({ control: true });
    const clock = await controlOf(t).ok('GET', 'clock');
    expect(clock).toMatchObject({ mode: 'real', scale: 1 });
    expect(Math.abs(clock.now - Date.now())).toBeLessThan(1_000);
    expect(clock.time).toBe(new Date(clock.now).toISOString());
  });

  it('stopped, a start takes exactly as long as the clock is advanced (default transitions)', async () => {
    t = await startTestApp({ control: true, transitions: 'default', settle: false });
    const control = controlOf(t);
    const stopped = await control.ok('PUT', 'clock', { scale: 0 });
    expect(stopped).toMatchObject({ mode: 'manual', scale: 0 });
    await pause(30);
    expect((await control.ok('GET', 'clock')).now).toBe(stopped.now);

    const path = await startServer(t);
    await waitFor(
      () => control.ok('GET', 'clock'),
      (clock) => clock.pending >= 1,
    );
    await control.ok('POST', 'clock/advance', { ms: 1_999 });
    await pause(100);
    expect(await statusOf(t.alice, path)).toBe('starting');
    const advanced = await control.ok('POST', 'clock/advance', { ms: 1 });
    expect(advanced.now).toBe(stopped.now + 2_000);
    await waitForStatus(t.alice, path, 'running');
    const server = (await t.alice.get(path)).json;
    expect(Date.parse(server.runtime.active_since)).toBe(
      Math.floor((stopped.now + 2_000) / 1000) * 1000,
    );
  });

  it('sets the time forward only, and scales it: 2 s of boot at 100x take about 20 ms', async () => {
    t = await startTestApp({ control: true, transitions: 'default', settle: false });
    const control = controlOf(t);
    const now = (await control.ok('PUT', 'clock', { scale: 0 })).now;
    const later = now + 3_600_000;
    const set = await control.ok('PUT', 'clock', { time: new Date(later).toISOString() });
    expect(set.now).toBe(later);
    expectError(await control.put('clock', { time: now }), 400, 'validation', 'time');
    expectError(await control.put('clock', { time: 'yesterday' }), 400, 'validation', 'time');

    const path = await startServer(t);
    await pause(100);
    expect(await statusOf(t.alice, path)).toBe('starting');
    const scaled = await control.ok('PUT', 'clock', { scale: 100 });
    expect(scaled).toMatchObject({ mode: 'scaled', scale: 100 });
    const before = Date.now();
    await waitForStatus(t.alice, path, 'running');
    expect(Date.now() - before).toBeLessThan(1_500);
    const server = (await t.alice.get(path)).json;
    expect(Date.parse(server.runtime.active_since)).toBeGreaterThanOrEqual(later);
  });

  it('stops the engine at once while a start waits on the stopped clock; the start resumes after a restart', async () => {
    t = await startTestApp({ control: true, transitions: 'default', settle: false });
    const control = controlOf(t);
    await control.ok('PUT', 'clock', { scale: 0 });
    const path = await startServer(t);
    await waitFor(
      () => control.ok('GET', 'clock'),
      (clock) => clock.pending >= 1,
    );
    const before = Date.now();
    await t.app.engine.stop();
    expect(Date.now() - before).toBeLessThan(1_000);
    expect(t.app.engine.state).toBe('stopped');
    // The task is still stored; the engine takes it up again where the machine left off.
    expect(await statusOf(t.alice, path)).toBe('starting');
    await t.app.engine.start();
    await control.ok('POST', 'clock/advance', { ms: 2_000 });
    await waitForStatus(t.alice, path, 'running');
  });
});

describe('control: transitions', () => {
  it('reads the times in force and changes them: a whole spec, or single values', async () => {
    t = await startTestApp({ control: true, transitions: 'default', settle: false });
    const control = controlOf(t);
    expect(await control.ok('GET', 'transitions')).toEqual({
      spec: 'default',
      start: 2000,
      stop: 1500,
      shutdown: 1500,
      create: 1500,
      resize: 2000,
      clone: 3000,
      snapshot: 1000,
    });
    expect(await control.ok('PUT', 'transitions', { spec: 'instant,start=700' })).toMatchObject({
      spec: 'instant,start=700',
      start: 700,
      stop: 0,
    });
    expect(await control.ok('PUT', 'transitions', { stop: 50, start: 0 })).toMatchObject({
      spec: 'instant,stop=50',
      start: 0,
      stop: 50,
    });
    expectError(await control.put('transitions', { spec: 'warp' }), 400, 'validation', 'spec');
    expectError(await control.put('transitions', { start: -1 }), 400, 'validation', 'start');
    expectError(await control.put('transitions', { boot: 1 }), 400, 'validation', 'boot');
    expect((await control.ok('GET', 'transitions')).spec).toBe('instant,stop=50');

    // A start now takes what was set: 5 s on a stopped clock.
    await control.ok('PUT', 'transitions', { start: 5_000 });
    await control.ok('PUT', 'clock', { scale: 0 });
    const path = await startServer(t);
    await waitFor(
      () => control.ok('GET', 'clock'),
      (clock) => clock.pending >= 1,
    );
    await control.ok('POST', 'clock/advance', { ms: 4_000 });
    await pause(100);
    expect(await statusOf(t.alice, path)).toBe('starting');
    await control.ok('POST', 'clock/advance', { ms: 1_000 });
    await waitForStatus(t.alice, path, 'running');
  });

  it('tells simulated guests to ignore ACPI shutdowns, then to answer again', async () => {
    t = await startTestApp({ control: true, transitions: 'instant', acpiTimeout: 1 });
    const control = controlOf(t);
    const server = await createServer(t.alice);
    const path = `/servers/${server.uuid}/`;
    await t.alice.post(`${path}action/?do=start`);
    expect(await statusOf(t.alice, path)).toBe('running');
    expect(await control.ok('PUT', 'guest-acpi', { answers: false, server: server.uuid })).toEqual({
      answers: false,
      server: server.uuid,
    });
    await t.alice.post(`${path}action/?do=shutdown`);
    // The guest ignored it: back to running after the ACPI timeout.
    expect(await statusOf(t.alice, path)).toBe('running');
    await control.ok('PUT', 'guest-acpi', { answers: true, server: server.uuid });
    await t.alice.post(`${path}action/?do=shutdown`);
    expect(await statusOf(t.alice, path)).toBe('stopped');
    expectError(await control.put('guest-acpi', {}), 400, 'validation', 'answers');
  });
});
