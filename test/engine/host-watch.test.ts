/**
 * The live host set (issue 16, item 1): a process started with `--hosts '*'` serves every host
 * of the registry and follows `sigmalite host add|remove` while it runs, here through the very
 * functions the commands call; `host remove` is refused while a server there is not stopped.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { putHost } from '../../src/engine/hosts.js';
import { hostOf, PLACEMENT_STATE } from '../../src/engine/placement.js';
import { HostInUseError, releaseHost } from '../../src/resources/servers/host-use.js';
import { action, get, waitFor, waitStatus } from '../lifecycle/support.js';
import { createServer } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ hosts: '*', reconcileInterval: 0 });
});
afterAll(() => t?.close());

const placement = (uuid: string) => t.app.store.read((tx) => tx.getState(PLACEMENT_STATE, uuid));

/** Creates and starts servers until one is placed on `host`; returns it, running. */
async function runningOn(host: string): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const uuid = (await createServer(t.alice, { name: `on-${host}-${i}` })).uuid as string;
    expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
    await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
    if ((await placement(uuid)) === host) return uuid;
  }
  throw new Error(`no server was placed on ${host}`);
}

describe("--hosts '*'", () => {
  it('serves local, registered, when the registry is empty', async () => {
    expect(t.app.hosts).toEqual(['local']);
    expect(await t.app.store.read((tx) => tx.listState('engine.hosts'))).toEqual([
      { key: 'local', value: '{}' },
    ]);
  });

  it('serves a host added while it runs: servers are placed and run there', async () => {
    // No capacity declared: both hosts are unbounded, and starts spread over them by use.
    await t.app.store.write((tx) => putHost(tx, 'h2', {}));
    // Within the registry poll (every second), with no call of ours.
    await waitFor('h2 served', () => t.app.hosts.includes('h2'), 5000);
    expect(t.app.drivers.compute.hosts).toContain('h2');
    const uuid = await runningOn('h2');
    // The new host's machine runs it (the engine leased its task and drove that host).
    expect((await t.app.drivers.simulated!.host('h2').status(uuid)).state).toBe('running');
    expect((await t.app.drivers.simulated!.host('local').status(uuid)).state).toBe('stopped');
  });

  it('refuses to remove a host while a server there is not stopped, and changes nothing', async () => {
    const uuid = await runningOn('h2');
    const attempt = t.app.store.write((tx) => releaseHost(tx, 'h2'));
    await expect(attempt).rejects.toThrow(HostInUseError);
    await expect(attempt).rejects.toThrow(/on h2 and not stopped .*stop (it|them) first/);
    expect(await placement(uuid)).toBe('h2');
    await t.app.hostWatch!.refresh();
    expect(t.app.hosts).toContain('h2');
  });

  it('removes a host whose servers are stopped: they start elsewhere, it is served no more', async () => {
    const servers = (await get(t.alice, '/servers/detail/')).objects as { uuid: string }[];
    const onH2: string[] = [];
    for (const { uuid } of servers) {
      if ((await placement(uuid)) !== 'h2') continue;
      onH2.push(uuid);
      expect((await t.alice.post(action(uuid, 'stop'))).status).toBe(202);
      await waitStatus(t.alice, `/servers/${uuid}/`, 'stopped');
    }
    expect(onH2.length).toBeGreaterThan(0);
    const forgotten = await t.app.store.write((tx) => releaseHost(tx, 'h2'));
    expect(forgotten).toBe(onH2.length);
    await t.app.hostWatch!.refresh();
    expect(t.app.hosts).toEqual(['local']);
    expect(t.app.drivers.compute.hosts).toEqual(['local']);
    // The next start places it again, on a host that is served.
    const uuid = onH2[0]!;
    expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
    await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
    // (on `local`, as every object without a placement record)
    expect(await t.app.store.read((tx) => hostOf(tx, uuid))).toBe('local');
    expect((await t.app.drivers.simulated!.host('local').status(uuid)).state).toBe('running');
  });

  it('keeps the registry, and so what it serves, through a reset of the test control', async () => {
    await t.app.store.write((tx) => putHost(tx, 'h3', { mhz: 5000 }));
    await t.app.hostWatch!.refresh();
    expect(t.app.hosts).toEqual(['local', 'h3']);
    await t.app.reset();
    await t.app.hostWatch!.refresh();
    expect(t.app.hosts).toEqual(['local', 'h3']);
    const registry = await t.app.store.read((tx) => tx.listState('engine.hosts'));
    expect(registry).toEqual([
      { key: 'h3', value: '{"mhz":5000}' },
      { key: 'local', value: '{}' },
    ]);
  });

  it('says there is no such host', async () => {
    const attempt = t.app.store.write((tx) => releaseHost(tx, 'nowhere'));
    await expect(attempt).rejects.toThrow(/no host "nowhere"/);
  });
});

describe('[[hypervisor]] tables at the start', () => {
  it("are the registry's hosts, which --hosts '*' serves", async () => {
    const declared = await startTestApp({
      hosts: '*',
      hypervisors: [
        { name: 'h1', mhz: 8000 },
        { name: 'h2', memory: 2 ** 30 },
      ],
    });
    try {
      expect(declared.app.hosts).toEqual(['h1', 'h2']);
      expect(await declared.app.store.read((tx) => tx.getState('engine.hosts', 'h1'))).toBe(
        '{"mhz":8000}',
      );
    } finally {
      await declared.close();
    }
  });
});
