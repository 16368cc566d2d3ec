/**
 * A firewall policy's change reaches every host, also those another process serves (issue 16,
 * several processes): the process that takes the task applies it on its hosts and hands each other
 * registered host a task of its own. Both processes' simulated drivers are given the optional
 * `applyPolicy` and `removePolicy` to see the calls.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { MachineFirewallPolicy } from '../../src/drivers/compute/types.js';
import type { TestApp } from '../support/app.js';
import { type TwoProcesses, twoProcesses } from '../support/processes.js';

let processes: TwoProcesses | undefined;
let one: TestApp;
let two: TestApp;

beforeAll(async () => {
  processes = await twoProcesses({ settle: false, reconcileInterval: 0, transitions: 'fast' });
  ({ one, two } = processes);
});
afterAll(() => processes?.close());

/** The calls a process's driver gets, as `[host, policy uuid, rule count]` (no rules: removal). */
function watch(app: TestApp): Array<[string, string, number?]> {
  const calls: Array<[string, string, number?]> = [];
  Object.assign(app.app.drivers.compute, {
    applyPolicy: vi.fn(async (host: string, policy: MachineFirewallPolicy) => {
      calls.push([host, policy.uuid, policy.rules.length]);
    }),
    removePolicy: vi.fn(async (host: string, policy: string) => {
      calls.push([host, policy]);
    }),
  });
  return calls;
}

describe("a firewall policy's change", () => {
  it('reaches the hosts of every process, and so does its deletion', async () => {
    const atOne = watch(one);
    const atTwo = watch(two);
    const made = await two.alice.post('/fwpolicies/', { objects: [{ name: 'web', rules: [] }] });
    expect(made.status, made.text).toBe(201);
    const uuid: string = made.json.objects[0].uuid;
    const rule = { action: 'accept', direction: 'in', ip_proto: 'tcp', dst_port: '22' };
    const put = await two.alice.put(`/fwpolicies/${uuid}/`, { rules: [rule] });
    expect(put.status, put.text).toBe(200);
    await expect.poll(() => atOne, { timeout: 10_000 }).toEqual([['h1', uuid, 1]]);
    await expect.poll(() => atTwo, { timeout: 10_000 }).toEqual([['h2', uuid, 1]]);

    expect((await one.alice.delete(`/fwpolicies/${uuid}/`)).status).toBe(204);
    await expect.poll(() => atOne.length, { timeout: 10_000 }).toBe(2);
    await expect.poll(() => atTwo.length, { timeout: 10_000 }).toBe(2);
    expect(atOne[1]).toEqual(['h1', uuid]);
    expect(atTwo[1]).toEqual(['h2', uuid]);
    // Nothing is left waiting.
    await one.app.engine.settled();
    await two.app.engine.settled();
    const left = await one.app.store.read((tx) => tx.tasksOf(`${uuid}@h1`));
    expect(left.concat(await one.app.store.read((tx) => tx.tasksOf(`${uuid}@h2`)))).toEqual([]);
  }, 30_000);
});
