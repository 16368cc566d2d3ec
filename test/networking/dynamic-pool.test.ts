/**
 * The dynamic pool across restarts: DHCP addresses come from `--dynamic-pool` (by default
 * 198.18.0.0/15, which clients take for public as CloudSigma's DHCP addresses are), and an
 * address keeps the gateway and prefix of the pool it was leased from while its server holds it,
 * whatever the pool is when the server is next started; leases of versions that recorded no
 * network and had 10.30.0.0/16 for default keep that one after an upgrade.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DYNAMIC_NETWORKS } from '../../src/resources/networking/ippool.js';
import { advance, drain, startManualApp, T, waitStatus } from '../lifecycle/support.js';
import { createServer, getObject, linkTo, type Obj } from '../support/api.js';
import type { TestApp } from '../support/app.js';
import { type LastingTestStore, lastingTestStore } from '../support/stores.js';

let data: LastingTestStore | undefined;
let running: TestApp | undefined;

afterEach(async () => {
  await running?.close();
  running = undefined;
  await data?.dispose();
  data = undefined;
});

/** An app on the lasting store, with a stopped clock (a start stays `starting` until stepped). */
async function restart(options: { dynamicPool?: string } = {}): Promise<TestApp> {
  await running?.close();
  running = await startManualApp({ withStore: await data!.open(), ...options });
  return running;
}

const dhcpServer = (t: TestApp, name: string) =>
  createServer(t.alice, { name, nics: [{ ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' }] });

async function start(t: TestApp, uuid: string): Promise<void> {
  const res = await t.alice.post(`/servers/${uuid}/action/?do=start`, {});
  expect(res.status, res.text).toBe(202);
}

/** The server, running, and the IP record of its DHCP address. */
async function leased(t: TestApp, uuid: string): Promise<{ address: string; ip: Obj }> {
  const server = await waitStatus(t.alice, `/servers/${uuid}/`, 'running');
  const address = server.nics[0].runtime.ip_v4.uuid as string;
  return { address, ip: await getObject(t.alice, `/ips/${address}/`) };
}

describe('the dynamic pool', () => {
  it('hands out 198.18.0.0/15 by default: gateway 198.18.0.1, prefix 15', async () => {
    data = lastingTestStore();
    const t = await restart();
    const server = await dhcpServer(t, 'fresh');
    await start(t, server.uuid);
    await advance(t.app, T.start);
    const { address, ip } = await leased(t, server.uuid);
    expect(address).toMatch(/^198\.1[89]\.\d+\.\d+$/);
    expect(ip).toMatchObject({
      uuid: address,
      subscription: null,
      server: linkTo('servers', server.uuid),
      gateway: '198.18.0.1',
      netmask: 15,
    });
  });

  it('keeps the network an address was leased from across a restart with another pool', async () => {
    data = lastingTestStore();
    let t = await restart({ dynamicPool: '203.0.113.0/24' });
    const before = await dhcpServer(t, 'running-before');
    await start(t, before.uuid);
    await advance(t.app, T.start);
    const first = await leased(t, before.uuid);
    expect(first.ip).toMatchObject({ gateway: '203.0.113.1', netmask: 24 });
    // Accepted (its address reserved) but not yet running when the process goes.
    const starting = await dhcpServer(t, 'starting-across');
    await start(t, starting.uuid);
    expect((await getObject(t.alice, `/servers/${starting.uuid}/`)).status).toBe('starting');

    t = await restart();
    await drain(t.app);
    // The running server's record is as it was; the held address gets its own network.
    expect(await getObject(t.alice, `/ips/${first.address}/`)).toEqual(first.ip);
    const held = await leased(t, starting.uuid);
    expect(held.address).toMatch(/^203\.0\.113\.\d+$/);
    expect(held.ip).toMatchObject({ gateway: '203.0.113.1', netmask: 24 });
    // A start after the restart leases from the new pool.
    const after = await dhcpServer(t, 'started-after');
    await start(t, after.uuid);
    await drain(t.app);
    const fresh = await leased(t, after.uuid);
    expect(fresh.address).toMatch(/^198\.1[89]\.\d+\.\d+$/);
    expect(fresh.ip).toMatchObject({ gateway: '198.18.0.1', netmask: 15 });

    // Stopped, the old address goes with what was kept about it; started again, a new one.
    const stop = await t.alice.post(`/servers/${starting.uuid}/action/?do=stop`, {});
    expect(stop.status).toBe(202);
    await drain(t.app);
    await waitStatus(t.alice, `/servers/${starting.uuid}/`, 'stopped');
    expect(await t.app.store.read((tx) => tx.getState(DYNAMIC_NETWORKS, starting.uuid))).toBe(
      undefined,
    );
    expect((await t.alice.get(`/ips/${held.address}/`)).status).toBe(404);
  });

  it('keeps 10.30.0.0/16 for an address leased by a version that recorded no network', async () => {
    data = lastingTestStore();
    let t = await restart({ dynamicPool: '10.30.0.0/16' });
    const server = await dhcpServer(t, 'upgraded');
    await start(t, server.uuid);
    // What a version before 198.18.0.0/15 left: the claim, without its network.
    await t.app.store.write((tx) => tx.deleteState(DYNAMIC_NETWORKS, server.uuid));

    t = await restart();
    await drain(t.app);
    const { address, ip } = await leased(t, server.uuid);
    expect(address).toMatch(/^10\.30\.\d+\.\d+$/);
    expect(ip).toMatchObject({ gateway: '10.30.0.1', netmask: 16 });
  });
});
