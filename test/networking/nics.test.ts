/**
 * NICs on VLANs, with static IPs and under firewall policies (api-reference.md §4.1): every
 * reference must be the account's own, a static IP a subscribed one on no other server; the IP's
 * `server`, the VLAN's and the policy's `servers` follow the NICs through create, update, clone
 * and delete; a running server shows a VLAN NIC as private with no address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, expectError, getObject, linkTo, type Obj } from '../support/api.js';
import { type Client, serverBody, startTestApp, type TestApp } from '../support/app.js';
import { act, buyIps, buyVlan } from './support.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let ips: string[];
let vlan: string;
let bobIp: string;
let bobVlan: string;
let policy: string;

beforeAll(async () => {
  t = await startTestApp({ ipPool: '198.51.100.10-198.51.100.30/24' });
  alice = t.alice;
  bob = t.bob;
  ips = await buyIps(alice, 3);
  vlan = await buyVlan(alice);
  [bobIp] = (await buyIps(bob, 1)) as [string];
  bobVlan = await buyVlan(bob);
  const res = await alice.post('/fwpolicies/', { objects: [{ name: 'p' }] });
  policy = res.json.objects[0].uuid;
});
afterAll(() => t.close());

const post = (client: Client, body: Obj) => client.post('/servers/', { objects: [body] });
const staticNic = (ip: string, name = 'ip_v4_conf') => ({ [name]: { conf: 'static', ip } });

async function serverOf(ip: string): Promise<string | null> {
  return (await getObject(alice, `/ips/${ip}/`)).server?.uuid ?? null;
}

async function serversOf(kind: 'vlans' | 'fwpolicies', uuid: string): Promise<string[]> {
  return (await getObject(alice, `/${kind}/${uuid}/`)).servers.map((s: Obj) => s.uuid);
}

describe('static IPs', () => {
  it("takes one of the account's subscribed IPs, in any reference form; the IP names the server", async () => {
    const [a, b] = ips as [string, string];
    const server = await createServer(alice, {
      nics: [
        { ip_v4_conf: { conf: 'static', ip: { uuid: a, resource_uri: `/api/2.0/ips/${a}/` } } },
        { ip_v4_conf: { conf: 'static', ip: `/api/2.0/ips/${b}/` } },
      ],
    });
    expect(server.nics.map((n: Obj) => n.ip_v4_conf)).toEqual([
      { conf: 'static', ip: linkTo('ips', a) },
      { conf: 'static', ip: linkTo('ips', b) },
    ]);
    expect(await serverOf(a)).toBe(server.uuid);
    expect(await serverOf(b)).toBe(server.uuid);
    // Dropped from the NICs: free again.
    const res = await alice.put(`/servers/${server.uuid}/`, { nics: [staticNic(b)] });
    expect(res.status, res.text).toBe(200);
    expect(await serverOf(a)).toBeNull();
    expect(await serverOf(b)).toBe(server.uuid);
    await alice.delete(`/servers/${server.uuid}/`);
    expect(await serverOf(b)).toBeNull();
  });

  it('refuses an IP on another server, naming nics.N.ip_v4_conf.ip', async () => {
    const [a] = ips as [string];
    const holder = await createServer(alice, { nics: [staticNic(a)] });
    const error = expectError(
      await post(alice, serverBody({ nics: [{}, staticNic(a)] })),
      400,
      'validation',
      'nics.1.ip_v4_conf.ip',
    );
    expect(error.error_message).toContain(holder.uuid);
    const other = await createServer(alice);
    expectError(
      await alice.put(`/servers/${other.uuid}/`, { nics: [staticNic(a)] }),
      400,
      'validation',
      'nics.0.ip_v4_conf.ip',
    );
    // Saving the holder again keeps it (its own IP).
    const again = await alice.put(`/servers/${holder.uuid}/`, {
      name: 'renamed',
      nics: [staticNic(a)],
    });
    expect(again.status, again.text).toBe(200);
    expect(await serverOf(a)).toBe(holder.uuid);
    await alice.delete(`/servers/${holder.uuid}/`);
    await alice.delete(`/servers/${other.uuid}/`);
  });

  it('refuses one IP on two NICs of a server, and in one bulk create on two servers', async () => {
    const [, , c] = ips as [string, string, string];
    expectError(
      await post(alice, serverBody({ nics: [staticNic(c), staticNic(c)] })),
      400,
      'validation',
      'nics.1.ip_v4_conf.ip',
    );
    const bulk = await alice.post('/servers/', {
      objects: [serverBody({ nics: [staticNic(c)] }), serverBody({ nics: [staticNic(c)] })],
    });
    expectError(bulk, 400, 'validation', 'nics.0.ip_v4_conf.ip');
    expect(await serverOf(c)).toBeNull();
  });

  it("refuses another account's IP, a missing one, a dynamic one and a v4 address in ip_v6_conf", async () => {
    for (const ip of [bobIp, '203.0.113.77']) {
      const error = expectError(
        await post(alice, serverBody({ nics: [staticNic(ip)] })),
        400,
        'validation',
        'nics.0.ip_v4_conf.ip',
      );
      expect(error.error_message).toBe(`Object with uuid ${ip} does not exist`);
    }
    expectError(
      await post(alice, serverBody({ nics: [staticNic(ips[2]!, 'ip_v6_conf')] })),
      400,
      'validation',
      'nics.0.ip_v6_conf.ip',
    );
    const dhcp = await createServer(alice, { nics: [{ ip_v4_conf: { conf: 'dhcp' } }] });
    await act(alice, dhcp.uuid, 'start');
    const dynamic = (await getObject(alice, `/servers/${dhcp.uuid}/`)).nics[0].runtime.ip_v4.uuid;
    const error = expectError(
      await post(alice, serverBody({ nics: [staticNic(dynamic)] })),
      400,
      'validation',
      'nics.0.ip_v4_conf.ip',
    );
    expect(error.error_message).toMatch(/dynamic/);
    await act(alice, dhcp.uuid, 'stop');
    await alice.delete(`/servers/${dhcp.uuid}/`);
  });

  it('shows the static IP in runtime while running; a clone gets DHCP and leaves the IP alone', async () => {
    const [, b] = ips as [string, string];
    const server = await createServer(alice, { nics: [staticNic(b)] });
    await act(alice, server.uuid, 'start');
    const running = await getObject(alice, `/servers/${server.uuid}/`);
    expect(running.nics[0].runtime).toMatchObject({
      interface_type: 'public',
      ip_v4: linkTo('ips', b),
    });
    expect(running.runtime.nics[0].ip_v4).toEqual(linkTo('ips', b));
    // A running server's NICs cannot change (ignored, 200): the IP stays with it.
    const put = await alice.put(`/servers/${server.uuid}/`, { nics: [] });
    expect(put.status).toBe(200);
    expect(await serverOf(b)).toBe(server.uuid);
    await act(alice, server.uuid, 'stop');
    const clone = await alice.post(`/servers/${server.uuid}/action/?do=clone`, {});
    expect(clone.status, clone.text).toBe(202);
    expect(clone.json.nics[0].ip_v4_conf).toEqual({ conf: 'dhcp', ip: null });
    expect(await serverOf(b)).toBe(server.uuid);
    for (const uuid of [server.uuid, clone.json.uuid]) await alice.delete(`/servers/${uuid}/`);
  });
});

describe('VLAN NICs', () => {
  it("joins the account's VLAN; the VLAN lists its servers in order; they leave on update and delete", async () => {
    const one = await createServer(alice, { nics: [{ vlan }] });
    const two = await createServer(alice, { nics: [{}, { vlan: { uuid: vlan } }] });
    expect(one.nics[0]).toMatchObject({ vlan: linkTo('vlans', vlan), ip_v4_conf: null });
    expect(await serversOf('vlans', vlan)).toEqual([one.uuid, two.uuid]);
    await alice.put(`/servers/${one.uuid}/`, { nics: [{}] });
    expect(await serversOf('vlans', vlan)).toEqual([two.uuid]);
    await alice.delete(`/servers/${two.uuid}/`);
    expect(await serversOf('vlans', vlan)).toEqual([]);
    await alice.delete(`/servers/${one.uuid}/`);
  });

  it("refuses another account's VLAN or a missing one, naming nics.N.vlan", async () => {
    for (const uuid of [bobVlan, '00000000-0000-4000-8000-000000000000']) {
      expectError(
        await post(alice, serverBody({ nics: [{}, { vlan: uuid }] })),
        400,
        'validation',
        'nics.1.vlan',
      );
    }
    // The combination table comes first (§4.1).
    expectError(
      await post(alice, serverBody({ nics: [{ vlan, ip_v4_conf: { conf: 'dhcp' } }] })),
      400,
      'validation',
      'nics.0',
    );
  });

  it('runs as a private interface without an address; a clone stays on the VLAN', async () => {
    const server = await createServer(alice, {
      nics: [{ vlan }, { ip_v4_conf: { conf: 'dhcp' } }],
    });
    await act(alice, server.uuid, 'start');
    const running = await getObject(alice, `/servers/${server.uuid}/`);
    expect(running.nics[0].runtime).toMatchObject({ interface_type: 'private', ip_v4: null });
    expect(running.nics[1].runtime).toMatchObject({ interface_type: 'public' });
    expect(running.nics[1].runtime.ip_v4).not.toBeNull();
    await act(alice, server.uuid, 'stop');
    const clone = await alice.post(`/servers/${server.uuid}/action/?do=clone`, {});
    expect(clone.json.nics[0].vlan).toEqual(linkTo('vlans', vlan));
    expect(await serversOf('vlans', vlan)).toEqual([server.uuid, clone.json.uuid]);
    for (const uuid of [server.uuid, clone.json.uuid]) await alice.delete(`/servers/${uuid}/`);
    expect(await serversOf('vlans', vlan)).toEqual([]);
  });
});

describe('firewall policies on NICs', () => {
  it("takes the account's policy; the policy lists the servers that use it", async () => {
    const server = await createServer(alice, {
      nics: [{ ip_v4_conf: { conf: 'dhcp' }, firewall_policy: policy }],
    });
    expect(server.nics[0].firewall_policy).toEqual(linkTo('fwpolicies', policy));
    expect(await serversOf('fwpolicies', policy)).toEqual([server.uuid]);
    await alice.put(`/servers/${server.uuid}/`, { nics: [{ ip_v4_conf: { conf: 'dhcp' } }] });
    expect(await serversOf('fwpolicies', policy)).toEqual([]);
    await alice.delete(`/servers/${server.uuid}/`);
  });

  it("refuses another account's policy or a missing one, naming nics.N.firewall_policy", async () => {
    const bobs = (await bob.post('/fwpolicies/', { objects: [{}] })).json.objects[0].uuid;
    for (const uuid of [bobs, '00000000-0000-4000-8000-000000000000']) {
      expectError(
        await post(alice, serverBody({ nics: [{ firewall_policy: uuid }] })),
        400,
        'validation',
        'nics.0.firewall_policy',
      );
    }
  });
});
