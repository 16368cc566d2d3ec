/**
 * `--seed N`: two fresh apps with the same seed, answering the same requests, give the same
 * generated admin password, server and drive uuids, NIC MACs and DHCP runtime addresses; another
 * seed gives other ones.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { attach, createDrive, createServer, getObject, MAC, type Obj } from '../support/api.js';
import { ALICE, Client, startTestApp, type TestApp } from '../support/app.js';
import { lastingStore, startSeeded } from './support.js';

const apps: TestApp[] = [];
afterEach(async () => {
  for (const t of apps.splice(0)) await t.close();
});

interface Outcome {
  password: string;
  drives: string[];
  servers: string[];
  macs: string[];
  addresses: string[];
  subscribed: string[];
}

/** A fresh app (no SIGMALITE_USERS: the first start generates the admin) and a fixed scenario. */
async function scenario(seed: number): Promise<Outcome> {
  const t = await startTestApp({ users: undefined, seed });
  apps.push(t);
  expect(t.app.generatedUsers).toHaveLength(1);
  const admin = t.app.generatedUsers[0]!;
  const client = new Client(t.origin, admin, () => t.app.engine.settled());
  const bought = await client.post('/subscriptions/', {
    resource: 'ip',
    amount: 1,
    period: '1 month',
  });
  expect(bought.status, bought.text).toBe(201);
  const disk = await createDrive(client, { name: 'disk' });
  const data = await createDrive(client, { name: 'data' });
  const server = await createServer(client, {
    drives: [attach(disk.uuid, 'virtio', '0:0', 1), attach(data.uuid, 'virtio', '0:1')],
    nics: [
      { model: 'virtio', ip_v4_conf: { conf: 'dhcp' } },
      { model: 'virtio', ip_v4_conf: { conf: 'dhcp' } },
    ],
  });
  const start = await client.post(`/servers/${server.uuid}/action/?do=start`);
  expect(start.status, start.text).toBe(202);
  const running = await getObject(client, `/servers/${server.uuid}/`);
  expect(running.status).toBe('running');
  const ips = await client.get('/ips/detail/');
  return {
    password: admin.password,
    drives: [disk.uuid, data.uuid],
    servers: [server.uuid],
    macs: running.nics.map((n: Obj) => n.mac as string),
    addresses: running.nics.map((n: Obj) => n.runtime.ip_v4.uuid as string),
    subscribed: (ips.json.objects as Obj[])
      .filter((ip) => ip.subscription !== null)
      .map((ip) => ip.uuid as string),
  };
}

describe('--seed N', () => {
  it('makes the same uuids, MACs, password and addresses for the same requests', async () => {
    const a = await scenario(7);
    const b = await scenario(7);
    expect(b).toEqual(a);
    for (const mac of a.macs) expect(mac).toMatch(MAC);
    expect(a.addresses).toHaveLength(2);
    expect(a.password).toMatch(/^[A-Za-z0-9]{16}$/);
  });

  it('makes other ones with another seed', async () => {
    const a = await scenario(7);
    const c = await scenario(8);
    expect(c.password).not.toBe(a.password);
    for (const key of ['drives', 'servers', 'macs', 'addresses'] as const) {
      for (const [i, value] of c[key].entries()) expect(value, key).not.toBe(a[key][i]);
    }
  });

  it('does not hand out the uuids of an earlier start again after a restart on the same data', async () => {
    const lasting = lastingStore();
    const users = `${ALICE.email}:${ALICE.password}`;
    const made: string[] = [];
    try {
      for (let start = 0; start < 2; start++) {
        const t = await startSeeded(await lasting.open(), { seed: 7, users });
        try {
          const drive = await createDrive(t.as(ALICE), { name: `drive ${start}` });
          made.push(drive.uuid);
        } finally {
          await t.close();
        }
      }
    } finally {
      await lasting.dispose();
    }
    expect(new Set(made).size).toBe(2);
  });
});
