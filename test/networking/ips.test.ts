/**
 * IPs and VLANs through HTTP (api-reference.md §4.2, §4.3): bought with subscriptions from the
 * configured pool and tag range, read-only but for `meta` and `tags`, private to their account,
 * and the dynamic addresses of running servers listed beside the subscribed ones.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, expectError, getObject, linkTo, type Obj } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';
import { act, buy, buyIps, buyVlan } from './support.js';

const POOL = { ipPool: '192.0.2.10-192.0.2.12/24', nameservers: '192.0.2.53, 192.0.2.54' };

let t: TestApp;
let alice: Client;
let bob: Client;
let aliceUuid: string;

beforeAll(async () => {
  t = await startTestApp({ ...POOL, vlanTags: '100-101' });
  alice = t.alice;
  bob = t.bob;
  aliceUuid = (await getObject(alice, '/profile/')).uuid;
});
afterAll(() => t.close());

const extra: TestApp[] = [];
afterEach(async () => {
  for (const app of extra.splice(0)) await app.close();
});

describe('/ips/', () => {
  let first: string;
  let second: string;

  it('an ip subscription of amount N makes N subscriptions and N IPs from --ip-pool', async () => {
    const bought = await buy(alice, { resource: 'ip', amount: 2 });
    expect(bought.objects).toHaveLength(2);
    [first, second] = bought.objects.map((s: Obj) => s.subscribed_object);
    expect([first, second]).toEqual(['192.0.2.10', '192.0.2.11']);
    for (const sub of bought.objects as Obj[]) {
      expect(sub).toMatchObject({ resource: 'ip', amount: '1', status: 'active' });
    }
    const ip = await getObject(alice, `/ips/${first}/`);
    expect(ip).toEqual({
      gateway: '192.0.2.1',
      grantees: [],
      meta: {},
      nameservers: ['192.0.2.53', '192.0.2.54'],
      netmask: 24,
      owner: linkTo('user', aliceUuid),
      permissions: [],
      resource_uri: `/api/2.0/ips/${first}/`,
      server: null,
      subscription: {
        id: Number(bought.objects[0].id),
        resource_uri: `/api/2.0/subscriptions/${bought.objects[0].id}/`,
      },
      tags: [],
      uuid: first,
    });
    const list = await getObject(alice, '/ips/');
    expect(list.meta.total_count).toBe(2);
    expect(Object.keys(list.objects[0]).sort()).toEqual([
      'owner',
      'resource_uri',
      'server',
      'uuid',
    ]);
    const detail = await getObject(alice, '/ips/detail/');
    expect(detail.objects.map((o: Obj) => o.uuid)).toEqual([first, second]);
    expect(detail.objects[0]).toEqual(ip);
  });

  it('a pool without enough free addresses answers 503 and buys nothing', async () => {
    const before = await getObject(alice, '/subscriptions/');
    const balance = (await getObject(alice, '/balance/')).balance;
    const res = await alice.post('/subscriptions/', {
      objects: [{ resource: 'ip', amount: 2, period: '1 month' }],
    });
    expectError(res, 503, 'backend', null);
    expect((await getObject(alice, '/subscriptions/')).meta.total_count).toBe(
      before.meta.total_count,
    );
    expect((await getObject(alice, '/ips/')).meta.total_count).toBe(2);
    expect((await getObject(alice, '/balance/')).balance).toBe(balance);
  });

  it('PUT changes meta and tags only; the rest of the body is ignored', async () => {
    const res = await alice.put(`/ips/${first}/`, {
      meta: { name: 'web', note: 'front' },
      gateway: '6.6.6.6',
      netmask: 8,
      server: 'f00b4r',
      subscription: null,
      uuid: '1.2.3.4',
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      meta: { name: 'web', note: 'front' },
      gateway: '192.0.2.1',
      netmask: 24,
      server: null,
      uuid: first,
    });
    expect(res.json.subscription).not.toBeNull();
    expect(await getObject(alice, `/ips/${first}/`)).toEqual(res.json);
    expectError(await alice.put(`/ips/${first}/`, { meta: { n: 1 } }), 400, 'validation', 'meta');
    expectError(
      await alice.put(`/ips/${first}/`, { tags: ['00000000-0000-4000-8000-000000000000'] }),
      400,
      'validation',
      'tags.0',
    );
  });

  it('carries tags from its side and the tag lists it; the tag filter finds it', async () => {
    const tag = (await alice.post('/tags/', { objects: [{ name: 'public' }] })).json.objects[0];
    const res = await alice.put(`/ips/${second}/`, { tags: [tag.uuid] });
    expect(res.status, res.text).toBe(200);
    expect(res.json.tags).toEqual([linkTo('tags', tag.uuid)]);
    expect(
      (await getObject(alice, `/ips/?tag=${tag.uuid}`)).objects.map((o: Obj) => o.uuid),
    ).toEqual([second]);
    const listed = await getObject(alice, `/tags/${tag.uuid}/`);
    expect(listed.resources.map((r: Obj) => [r.uuid, r.res_type])).toEqual([[second, 'ips']]);
    await alice.put(`/ips/${second}/`, { tags: [] });
    expect((await getObject(alice, `/tags/${tag.uuid}/`)).resources).toEqual([]);
  });

  it('filters by the name given in meta', async () => {
    const named = await getObject(alice, '/ips/?name=web');
    expect(named.objects.map((o: Obj) => o.uuid)).toEqual([first]);
    expect((await getObject(alice, `/ips/?uuid=${second}`)).objects).toHaveLength(1);
    expect((await getObject(alice, '/ips/?name=nothing')).meta.total_count).toBe(0);
  });

  it('has no POST and no DELETE: subscriptions make and take IPs (405)', async () => {
    for (const [method, path] of [
      ['POST', '/ips/'],
      ['PUT', '/ips/'],
      ['DELETE', '/ips/'],
      ['DELETE', `/ips/${first}/`],
      ['POST', `/ips/${first}/`],
    ] as const) {
      const res = await alice.request(method, path, { body: { objects: [{ uuid: first }] } });
      expect(res.status, `${method} ${path}`).toBe(405);
    }
    expect((await getObject(alice, `/ips/${first}/`)).uuid).toBe(first);
  });

  it("is private to its account: another account's IP answers 404", async () => {
    expectError(await bob.get(`/ips/${first}/`), 404, 'notexist', null);
    expectError(await bob.put(`/ips/${first}/`, { meta: {} }), 404, 'notexist', null);
    expect((await getObject(bob, '/ips/')).meta.total_count).toBe(0);
    expectError(await alice.get('/ips/203.0.113.1/'), 404, 'notexist', null);
  });

  it('lists the dynamic address of a running server with subscription null, until it stops', async () => {
    const server = await createServer(alice, { nics: [{ ip_v4_conf: { conf: 'dhcp' } }] });
    await act(alice, server.uuid, 'start');
    const running = await getObject(alice, `/servers/${server.uuid}/`);
    const address: string = running.nics[0].runtime.ip_v4.uuid;
    expect(address).toMatch(/^198\.1[89]\.\d+\.\d+$/);
    const ip = await getObject(alice, `/ips/${address}/`);
    expect(ip).toMatchObject({
      uuid: address,
      subscription: null,
      server: linkTo('servers', server.uuid),
      gateway: '198.18.0.1',
      netmask: 15,
      nameservers: ['192.0.2.53', '192.0.2.54'],
      owner: linkTo('user', aliceUuid),
    });
    const listed = await getObject(alice, '/ips/?limit=0');
    expect(listed.objects.map((o: Obj) => o.uuid)).toEqual([first, second, address]);
    expectError(await bob.get(`/ips/${address}/`), 404, 'notexist', null);
    // Subscribed IPs only are counted as the account's.
    expect((await getObject(alice, '/currentusage/')).usage.ip).toEqual({
      burst: 0,
      subscribed: 2,
      using: 2,
    });
    await act(alice, server.uuid, 'stop');
    expectError(await alice.get(`/ips/${address}/`), 404, 'notexist', null);
    expect((await getObject(alice, '/ips/')).meta.total_count).toBe(2);
  });

  it('renders the schema as recorded: list methods as the string "get"', async () => {
    const schema = await getObject(alice, '/ips/schema/');
    expect(schema.allowed_list_http_methods).toBe('get');
    expect(schema.allowed_detail_http_methods).toEqual(['get', 'put']);
    expect(schema.fields.server).toMatchObject({ readonly: true, type: 'related' });
    expect(schema.filtering).toEqual({
      name: 'exact',
      name__contains: 'exact',
      tag: 'exact',
      uuid: 'exact',
    });
  });
});

describe('/vlans/', () => {
  let vlan: string;

  it('a vlan subscription makes a VLAN of the account', async () => {
    const bought = await buy(alice, { resource: 'vlan' });
    vlan = bought.objects[0].subscribed_object;
    expect(await getObject(alice, `/vlans/${vlan}/`)).toEqual({
      bottom_vlan_tag: null,
      grantees: [],
      meta: {},
      owner: linkTo('user', aliceUuid),
      permissions: [],
      resource_uri: `/api/2.0/vlans/${vlan}/`,
      servers: [],
      subscription: {
        id: Number(bought.objects[0].id),
        resource_uri: `/api/2.0/subscriptions/${bought.objects[0].id}/`,
      },
      tags: [],
      uuid: vlan,
    });
    const list = await getObject(alice, '/vlans/');
    expect(list.objects).toEqual([
      { owner: linkTo('user', aliceUuid), resource_uri: `/api/2.0/vlans/${vlan}/`, uuid: vlan },
    ]);
  });

  it('PUT changes meta only', async () => {
    const res = await alice.put(`/vlans/${vlan}/`, {
      meta: { name: 'backnet' },
      servers: [{ uuid: vlan }],
      bottom_vlan_tag: 7,
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      meta: { name: 'backnet' },
      servers: [],
      bottom_vlan_tag: null,
    });
    expect((await getObject(alice, '/vlans/?name=backnet')).objects).toHaveLength(1);
  });

  it('has no POST and no DELETE (405), and is private (404)', async () => {
    expect((await alice.post('/vlans/', { objects: [{}] })).status).toBe(405);
    expect((await alice.delete(`/vlans/${vlan}/`)).status).toBe(405);
    expectError(await bob.get(`/vlans/${vlan}/`), 404, 'notexist', null);
    expect((await getObject(bob, '/vlans/')).objects).toEqual([]);
  });

  it('--vlan-tags bounds how many VLANs there are (503 beyond)', async () => {
    // 100-101: the VLAN above holds one tag; Bob gets the other, then none is left.
    await buyVlan(bob);
    expectError(
      await alice.post('/subscriptions/', { objects: [{ resource: 'vlan', period: '1 month' }] }),
      503,
      'backend',
      null,
    );
    expect((await getObject(alice, '/vlans/')).meta.total_count).toBe(1);
  });
});

describe('concurrent purchases', () => {
  it('get distinct addresses, VLAN tags and subscription ids', async () => {
    const app = await startTestApp({ ipPool: '203.0.113.0/24' });
    extra.push(app);
    const clients = [app.alice, app.bob];
    const answers = await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        clients[i % 2]!.post('/subscriptions/', {
          objects: [
            { resource: 'ip', amount: 2, period: '1 month' },
            { resource: 'vlan', period: '1 month' },
          ],
        }),
      ),
    );
    expect(answers.map((r) => r.status)).toEqual(answers.map(() => 201));
    const subs = answers.flatMap((r) => r.json.objects as Obj[]);
    expect(new Set(subs.map((s) => s.id)).size).toBe(36);
    const ips = subs.filter((s) => s.resource === 'ip').map((s) => s.subscribed_object);
    expect(new Set(ips).size).toBe(24);
    const listed = [
      ...(await getObject(app.alice, '/ips/?limit=0')).objects,
      ...(await getObject(app.bob, '/ips/?limit=0')).objects,
    ];
    expect(listed.map((o: Obj) => o.uuid).sort()).toEqual([...ips].sort());
    expect((await getObject(app.alice, '/vlans/')).meta.total_count).toBe(6);
  });
});

describe('configuration', () => {
  it('refuses an IP pool that overlaps the dynamic pool, or a bad range', async () => {
    await expect(startTestApp({ ipPool: '198.19.5.0/24' })).rejects.toThrow(/overlaps/);
    await expect(startTestApp({ ipPool: '192.0.2.0/33' })).rejects.toThrow(/bad IP pool/);
    await expect(startTestApp({ ipPool: '192.0.2.1-192.0.2.9/24' })).rejects.toThrow(/gateway/);
    await expect(startTestApp({ vlanTags: '0-10' })).rejects.toThrow(/VLAN tag range/);
  });

  it('hands out a CIDR pool from the address after the gateway', async () => {
    const app = await startTestApp({ ipPool: '203.0.113.0/29' });
    extra.push(app);
    // /29: .2 to .6 (.1 is the gateway, .7 the broadcast).
    const addresses = await buyIps(app.alice, 5);
    expect(addresses).toEqual([
      '203.0.113.2',
      '203.0.113.3',
      '203.0.113.4',
      '203.0.113.5',
      '203.0.113.6',
    ]);
    expect((await getObject(app.alice, `/ips/${addresses[0]}/`)).gateway).toBe('203.0.113.1');
    expectError(
      await app.bob.post('/subscriptions/', { objects: [{ resource: 'ip', period: '1 month' }] }),
      503,
      'backend',
      null,
    );
  });
});
