/**
 * Two simulated hosts, each served by its own process (app) on one PostgreSQL database
 * (issue 14): servers are placed on either host; each process runs only the tasks of its host's
 * servers, whichever process accepted the request; each reconciles only its own host's servers.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PLACEMENT_STATE } from '../../src/engine/placement.js';
import { action, get, waitStatus } from '../lifecycle/support.js';
import { createServer } from '../support/api.js';
import type { TestApp } from '../support/app.js';
import { type TwoProcesses, twoProcesses } from '../support/processes.js';

let processes: TwoProcesses | undefined;
let one: TestApp;
let two: TestApp;

beforeAll(async () => {
  processes = await twoProcesses({ settle: false, reconcileInterval: 0 });
  ({ one, two } = processes);
});
afterAll(() => processes?.close());

async function hostOf(uuid: string): Promise<string | undefined> {
  return one.app.store.read((tx) => tx.getState(PLACEMENT_STATE, uuid));
}

describe('two hosts, two processes, one PostgreSQL', () => {
  it('run only their own tasks and reconcile only their own servers', async () => {
    const startedBy = { h1: [] as string[], h2: [] as string[] };
    const stoppedBy = { h1: [] as string[], h2: [] as string[] };
    const startOne = one.app.compute.start.bind(one.app.compute);
    const startTwo = two.app.compute.start.bind(two.app.compute);
    const stopOne = one.app.compute.stop.bind(one.app.compute);
    const stopTwo = two.app.compute.stop.bind(two.app.compute);
    vi.spyOn(one.app.compute, 'start').mockImplementation((spec) => {
      startedBy.h1.push(spec.uuid);
      return startOne(spec);
    });
    vi.spyOn(two.app.compute, 'start').mockImplementation((spec) => {
      startedBy.h2.push(spec.uuid);
      return startTwo(spec);
    });
    vi.spyOn(one.app.compute, 'stop').mockImplementation((uuid) => {
      stoppedBy.h1.push(uuid);
      return stopOne(uuid);
    });
    vi.spyOn(two.app.compute, 'stop').mockImplementation((uuid) => {
      stoppedBy.h2.push(uuid);
      return stopTwo(uuid);
    });

    // The hosts each process's engine asks its driver to boot on.
    const asked = { one: [] as string[], two: [] as string[] };
    for (const [t, list] of [
      [one, asked.one],
      [two, asked.two],
    ] as const) {
      const compute = t.app.engine.ctx.compute;
      const start = compute.start.bind(compute);
      vi.spyOn(compute, 'start').mockImplementation((host, spec) => {
        list.push(host);
        return start(host, spec);
      });
    }

    // Servers created and started through the first process only, until each host has two.
    const placed = { h1: [] as string[], h2: [] as string[] };
    for (let i = 0; i < 40 && (placed.h1.length < 2 || placed.h2.length < 2); i++) {
      const uuid = (await createServer(one.alice, { name: `s${i}` })).uuid as string;
      expect((await one.alice.post(action(uuid, 'start'))).status).toBe(202);
      const host = await hostOf(uuid);
      expect(host === 'h1' || host === 'h2').toBe(true);
      placed[host as 'h1' | 'h2'].push(uuid);
    }
    expect(placed.h1.length).toBeGreaterThanOrEqual(2);
    expect(placed.h2.length).toBeGreaterThanOrEqual(2);
    for (const uuid of [...placed.h1, ...placed.h2]) {
      await waitStatus(one.alice, `/servers/${uuid}/`, 'running', 15_000);
    }
    // Each process leased only its own host's starts, and its host booted exactly its servers.
    expect(new Set(asked.one)).toEqual(new Set(['h1']));
    expect(new Set(asked.two)).toEqual(new Set(['h2']));
    expect(startedBy.h1.sort()).toEqual([...placed.h1].sort());
    expect(startedBy.h2.sort()).toEqual([...placed.h2].sort());
    const running = async (t: TestApp) =>
      (await t.app.compute.machines()).map((m) => m.uuid).sort();
    expect(await running(one)).toEqual([...placed.h1].sort());
    expect(await running(two)).toEqual([...placed.h2].sort());

    // A stop asked of the second process for a server of the first host runs in the first.
    const [h1First, h1Second] = placed.h1 as [string, string];
    const [h2First, h2Second] = placed.h2 as [string, string];
    expect((await two.alice.post(action(h1First, 'stop'))).status).toBe(202);
    await waitStatus(two.alice, `/servers/${h1First}/`, 'stopped', 15_000);
    expect(stoppedBy).toEqual({ h1: [h1First], h2: [] });

    // The second process goes away; each host loses a machine without telling anyone.
    await two.app.engine.stop();
    await one.app.store.write(async (tx) => {
      await tx.deleteState('sim.machines.h1', h1Second);
      await tx.deleteState('sim.machines.h2', h2Second);
    });
    await one.app.engine.reconcileNow();
    // The first process reconciles its own host's server, and leaves the other host's alone
    // (its own driver has no such machine: it is not its to say).
    expect((await get(one.alice, `/servers/${h1Second}/`)).status).toBe('stopped');
    expect((await get(one.alice, `/servers/${h2Second}/`)).status).toBe('running');
    expect((await get(one.alice, `/servers/${h2First}/`)).status).toBe('running');
    // Back, the second process reconciles its own.
    await two.app.engine.start();
    expect((await get(one.alice, `/servers/${h2Second}/`)).status).toBe('stopped');
    expect((await get(one.alice, `/servers/${h2First}/`)).status).toBe('running');
    expect(stoppedBy.h2).toEqual([]);
  });
});
