/**
 * A deleted firewall policy leaves nothing on its hosts: the hosts of the process drop what they
 * kept of it (libvirt: its nwfilter, `test/libvirt/api.test.ts`) in a task after the commit.
 * Here the simulated driver is given the optional `removePolicy` to see the calls.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;

beforeAll(async () => {
  t = await startTestApp({ hosts: 'h1,h2' });
});
afterAll(() => t?.close());

describe('deleting a firewall policy', () => {
  it("has every host of the process drop the policy's filter", async () => {
    const removePolicy = vi.fn(async (_host: string, _policy: string) => {});
    Object.assign(t.app.drivers.compute, { removePolicy });
    const made = await t.alice.post('/fwpolicies/', { objects: [{ name: 'gone', rules: [] }] });
    expect(made.status, made.text).toBe(201);
    const uuid: string = made.json.objects[0].uuid;
    // A change of rules is no removal.
    expect((await t.alice.put(`/fwpolicies/${uuid}/`, { rules: [] })).status).toBe(200);
    expect(removePolicy).not.toHaveBeenCalled();

    expect((await t.alice.delete(`/fwpolicies/${uuid}/`)).status).toBe(204);
    await t.app.engine.settled();
    expect(removePolicy.mock.calls.sort()).toEqual([
      ['h1', uuid],
      ['h2', uuid],
    ]);
  });
});
