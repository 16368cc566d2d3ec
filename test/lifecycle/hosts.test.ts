/**
 * What a host does on its own, and what a failure ends in (issue 14): a guest that powers itself
 * off, or whose hypervisor process dies, makes its server `stopped` through the driver's event
 * (no restart, no periodic reconcile); a start that fails for good ends `stopped`, with the
 * error in a job and in the audit log; a transient failure is retried. `/readyz?verbose` shows
 * the drivers' probe.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';
import { createServer, type Obj } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';
import { action, get, waitStatus } from './support.js';

let t: TestApp;

beforeAll(async () => {
  // No periodic reconcile: only the event can notice a machine that stopped on its own.
  t = await startTestApp({ reconcileInterval: 0 });
});
afterAll(() => t.close());

const dhcp = [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }];

async function runningServer(name: string): Promise<string> {
  const server = await createServer(t.alice, { name, nics: dhcp });
  const uuid = server.uuid as string;
  expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
  await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
  return uuid;
}

async function dynamicIps(uuid: string): Promise<Obj[]> {
  const ips = (await get(t.alice, '/ips/detail/')).objects as Obj[];
  return ips.filter((ip) => ip.server?.uuid === uuid);
}

describe('machine events', () => {
  it('a guest that powers itself off makes its server stopped, runtime and addresses gone', async () => {
    const uuid = await runningServer('self-off');
    expect(await dynamicIps(uuid)).toHaveLength(1);
    await t.app.compute.powerOff(uuid, 'guest');
    await t.app.engine.eventsHandled();
    const server = await waitStatus(t.alice, `/servers/${uuid}/`, 'stopped');
    expect(server.runtime).toBeNull();
    expect(server.nics[0].runtime).toBeNull();
    expect(await dynamicIps(uuid)).toEqual([]);
    // It starts again as any stopped server does.
    expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
    await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
  });

  it('a hypervisor process killed from outside makes its server stopped', async () => {
    const uuid = await runningServer('killed');
    await t.app.compute.powerOff(uuid, 'crashed');
    await t.app.engine.eventsHandled();
    await waitStatus(t.alice, `/servers/${uuid}/`, 'stopped');
  });
});

describe('failures', () => {
  it('a start that fails for good ends stopped, with the error in a job and the audit log', async () => {
    const server = await createServer(t.alice, { name: 'broken', nics: dhcp });
    const uuid = server.uuid as string;
    t.app.compute.failStarts(uuid, true);
    expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
    const stopped = await waitStatus(t.alice, `/servers/${uuid}/`, 'stopped');
    expect(stopped.runtime).toBeNull();
    // Its DHCP address, reserved when the start was accepted, is free again.
    expect(await dynamicIps(uuid)).toEqual([]);
    expect(await t.app.store.read((tx) => tx.tasksOf(uuid))).toEqual([]);
    expect(stopped.jobs).toHaveLength(1);
    const job = await get(t.alice, `/jobs/${stopped.jobs[0].uuid}/`);
    expect(job).toMatchObject({
      operation: 'server_start',
      state: 'error',
      resources: [`/api/2.0/servers/${uuid}/`],
    });
    expect(job.data.error).toMatch(/cannot boot .*unreadable/);
    const logs = (await get(t.alice, `/logs/?uuid=${uuid}`)).objects as Obj[];
    const boot = logs.find((entry) => entry.action === 'boot');
    expect(boot).toMatchObject({ success: false, error_type: 'backend' });
    expect(boot!.error_message).toBe(job.data.error);
    // Nothing of the machine is left on the host.
    expect((await t.app.compute.status(uuid)).state).toBe('stopped');
  });

  it('a stop that fails for good leaves the server running, with a failed stop in the audit log', async () => {
    const uuid = await runningServer('stuck');
    t.app.compute.failStops(uuid, true);
    expect((await t.alice.post(action(uuid, 'stop'))).status).toBe(202);
    const server = await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
    expect(server.runtime).not.toBeNull();
    expect(await t.app.store.read((tx) => tx.tasksOf(uuid))).toEqual([]);
    const logs = (await get(t.alice, `/logs/?uuid=${uuid}`)).objects as Obj[];
    expect(logs.find((entry) => entry.action === 'stop')).toMatchObject({
      success: false,
      error_message: expect.stringMatching(/cannot stop .*does not answer/),
    });
    // Once the host answers again, the server stops.
    t.app.compute.failStops(uuid, true, 0);
    expect((await t.alice.post(action(uuid, 'stop'))).status).toBe(202);
    await waitStatus(t.alice, `/servers/${uuid}/`, 'stopped');
  });

  it('a transient failure is retried, and the start ends running', async () => {
    const server = await createServer(t.alice, { name: 'flaky' });
    const uuid = server.uuid as string;
    t.app.compute.failStarts(uuid, false, 1);
    expect((await t.alice.post(action(uuid, 'start'))).status).toBe(202);
    // The retry comes after a second's backoff.
    await waitStatus(t.alice, `/servers/${uuid}/`, 'running', 10_000);
    expect((await get(t.alice, `/servers/${uuid}/`)).jobs).toEqual([]);
  });
});

describe('drivers', () => {
  it('/readyz?verbose shows what the drivers can do; /readyz alone does not', async () => {
    const plain = await fetch(`${t.origin}/readyz`).then((r) => r.json());
    expect(plain).toEqual({ status: 'ready', checks: { store: 'ok', engine: 'ok' } });
    const verbose = (await fetch(`${t.origin}/readyz?verbose`).then((r) => r.json())) as Obj;
    expect(verbose.drivers).toEqual({
      driver: 'simulated',
      hosts: [{ name: 'local', accelerator: 'simulated', warning: null }],
      features: ['events', 'counters', 'vnc', 'console'],
    });
    expect(verbose.hosts).toEqual({ local: 'up' });
  });

  it('--driver and --hosts are checked', () => {
    expect(resolveConfig({}, {}).driver).toBe('simulated');
    expect(resolveConfig({}, { SIGMALITE_DRIVER: 'simulated' }).driver).toBe('simulated');
    expect(resolveConfig({ driver: 'libvirt' }, {}).driver).toBe('libvirt');
    expect(() => resolveConfig({ driver: 'libvirt', libvirtAccelerator: 'hvf' }, {})).toThrow(
      /--libvirt-accelerator: "hvf" is none of auto, kvm, tcg/,
    );
    expect(() => resolveConfig({ driver: 'xen' }, {})).toThrow(
      /unknown driver "xen" \(drivers: simulated, libvirt\)/,
    );
    expect(resolveConfig({ hosts: 'h1,h2' }, {}).hosts).toBe('h1,h2');
    expect(() => resolveConfig({ hosts: 'h1,h1' }, {})).toThrow(/named twice/);
    expect(() => resolveConfig({ hosts: 'a b' }, {})).toThrow(/"a b" is no host name/);
  });
});
