/**
 * Firewall policies (`/fwpolicies/`, api-reference.md §4.4, the legacy API the Servers page's
 * NICs reference): CRUD, rule validation with error points, the legacy address and port syntax
 * (`!`, `a:b`, partial addresses), `servers` following NICs, and deletion refused while a server
 * that uses the policy runs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, expectError, getObject, linkTo, type Obj } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';
import { act } from './support.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let aliceUuid: string;

beforeAll(async () => {
  t = await startTestApp();
  alice = t.alice;
  bob = t.bob;
  aliceUuid = (await getObject(alice, '/profile/')).uuid;
});
afterAll(() => t.close());

async function create(client: Client, ...objects: Obj[]): Promise<Obj[]> {
  const res = await client.post('/fwpolicies/', { objects });
  expect(res.status, res.text).toBe(201);
  return res.json.objects;
}

const rule = (fields: Obj): Obj => ({
  action: 'accept',
  comment: null,
  direction: 'in',
  dst_ip: null,
  dst_port: null,
  ip_proto: null,
  src_ip: null,
  src_port: null,
  ...fields,
});

describe('/fwpolicies/', () => {
  it('creates a policy with defaults: no name, no rules, no servers', async () => {
    const [policy] = (await create(alice, {})) as [Obj];
    expect(policy).toEqual({
      grantees: [],
      meta: {},
      name: null,
      owner: linkTo('user', aliceUuid),
      permissions: [],
      resource_uri: `/api/2.0/fwpolicies/${policy.uuid}/`,
      rules: [],
      servers: [],
      tags: [],
      uuid: policy.uuid,
    });
    const list = await getObject(alice, `/fwpolicies/?uuid=${policy.uuid}`);
    expect(Object.keys(list.objects[0]).sort()).toEqual([
      'meta',
      'name',
      'owner',
      'resource_uri',
      'uuid',
    ]);
  });

  it('normalises addresses and ports as the legacy API answered them', async () => {
    const [policy] = (await create(alice, {
      name: 'web',
      rules: [
        { action: 'drop', direction: 'out', dst_ip: '23' },
        {
          action: 'accept',
          direction: 'in',
          ip_proto: 'tcp',
          src_ip: '172.66.32.0/24',
          dst_port: '22',
        },
        { action: 'drop', direction: 'in', ip_proto: 'udp', src_ip: '!172.66.32.55' },
        {
          action: 'drop',
          direction: 'both',
          ip_proto: 'tcp',
          dst_port: '!1:1024',
          src_port: ' 80 ',
        },
        { action: 'accept', direction: 'in', src_ip: '10.1', dst_ip: '2001:DB8::1', comment: 'x' },
        { action: 'accept', direction: 'in', src_ip: '', dst_port: null },
      ],
    })) as [Obj];
    expect(policy.rules).toEqual([
      rule({ action: 'drop', direction: 'out', dst_ip: '23.0.0.0/32' }),
      rule({ ip_proto: 'tcp', src_ip: '172.66.32.0/24', dst_port: '22' }),
      rule({ action: 'drop', ip_proto: 'udp', src_ip: '!172.66.32.55/32' }),
      rule({
        action: 'drop',
        direction: 'both',
        ip_proto: 'tcp',
        dst_port: '!1:1024',
        src_port: '80',
      }),
      rule({ src_ip: '10.1.0.0/32', dst_ip: '2001:db8::1/128', comment: 'x' }),
      rule({}),
    ]);
  });

  it('answers 400 naming the rule field for every malformed rule', async () => {
    const cases: [Obj, string][] = [
      [{ direction: 'in' }, 'rules.0.action'],
      [{ action: 'accept' }, 'rules.0.direction'],
      [{ action: 'reject', direction: 'in' }, 'rules.0.action'],
      [{ action: 'drop', direction: 'sideways' }, 'rules.0.direction'],
      [{ action: 'drop', direction: 'in', ip_proto: 'icmp' }, 'rules.0.ip_proto'],
      [{ action: 'drop', direction: 'in', src_ip: '300.1.1.1' }, 'rules.0.src_ip'],
      [{ action: 'drop', direction: 'in', dst_ip: '10.0.0.0/33' }, 'rules.0.dst_ip'],
      [{ action: 'drop', direction: 'in', dst_ip: 'example.com' }, 'rules.0.dst_ip'],
      [{ action: 'drop', direction: 'in', ip_proto: 'tcp', dst_port: '0' }, 'rules.0.dst_port'],
      [{ action: 'drop', direction: 'in', ip_proto: 'tcp', dst_port: '70000' }, 'rules.0.dst_port'],
      [{ action: 'drop', direction: 'in', ip_proto: 'tcp', src_port: '90:80' }, 'rules.0.src_port'],
      [{ action: 'drop', direction: 'in', dst_port: '22' }, 'rules.0.dst_port'],
      [{ action: 'drop', direction: 'in', comment: 5 }, 'rules.0.comment'],
    ];
    for (const [bad, point] of cases) {
      const res = await alice.post('/fwpolicies/', { objects: [{ rules: [bad] }] });
      expectError(res, 400, 'validation', point);
    }
    // A later rule names its own index; nothing is created.
    const before = (await getObject(alice, '/fwpolicies/')).meta.total_count;
    const res = await alice.post('/fwpolicies/', {
      objects: [{ rules: [{ action: 'drop', direction: 'in' }, { action: 'drop' }] }],
    });
    expectError(res, 400, 'validation', 'rules.1.direction');
    expectError(
      await alice.post('/fwpolicies/', { objects: [{ rules: {} }] }),
      400,
      'validation',
      'rules',
    );
    expect((await getObject(alice, '/fwpolicies/')).meta.total_count).toBe(before);
  });

  it('PUT replaces name, meta and rules; servers is read-only', async () => {
    const [policy] = (await create(alice, {
      name: 'a',
      meta: { k: 'v' },
      rules: [{ action: 'drop', direction: 'in' }],
    })) as [Obj];
    const res = await alice.put(`/fwpolicies/${policy.uuid}/`, {
      name: 'b',
      rules: [{ action: 'accept', direction: 'out', ip_proto: 'udp', dst_port: '53' }],
      servers: [{ uuid: '00000000-0000-4000-8000-000000000000' }],
    });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      name: 'b',
      meta: { k: 'v' },
      rules: [rule({ direction: 'out', ip_proto: 'udp', dst_port: '53' })],
      servers: [],
    });
    expectError(
      await alice.put(`/fwpolicies/${policy.uuid}/`, { rules: [{ action: 'x', direction: 'in' }] }),
      400,
      'validation',
      'rules.0.action',
    );
    expect((await getObject(alice, `/fwpolicies/${policy.uuid}/`)).name).toBe('b');
  });

  it("is private: another account's policy answers 404", async () => {
    const [policy] = (await create(alice, { name: 'mine' })) as [Obj];
    expectError(await bob.get(`/fwpolicies/${policy.uuid}/`), 404, 'notexist', null);
    expectError(await bob.delete(`/fwpolicies/${policy.uuid}/`), 404, 'notexist', null);
    expect((await getObject(bob, '/fwpolicies/')).objects).toEqual([]);
  });

  it('cannot be deleted while a server using it runs (403); stopped servers lose it', async () => {
    const [policy] = (await create(alice, { name: 'guard' })) as [Obj];
    const path = `/fwpolicies/${policy.uuid}/`;
    const running = await createServer(alice, {
      nics: [{ ip_v4_conf: { conf: 'dhcp' }, firewall_policy: policy.uuid }],
    });
    const stopped = await createServer(alice, {
      nics: [{ firewall_policy: policy.uuid }, { firewall_policy: policy.uuid }],
    });
    expect((await getObject(alice, path)).servers).toEqual([
      linkTo('servers', running.uuid),
      linkTo('servers', stopped.uuid),
    ]);
    await act(alice, running.uuid, 'start');
    const error = expectError(await alice.delete(path), 403, 'permission', null);
    expect(error.error_message).toContain(running.uuid);
    expectError(
      await alice.delete('/fwpolicies/', { objects: [{ uuid: policy.uuid }] }),
      403,
      'permission',
      null,
    );
    expect((await getObject(alice, path)).uuid).toBe(policy.uuid);
    await act(alice, running.uuid, 'stop');
    expect((await alice.delete(path)).status).toBe(204);
    expectError(await alice.get(path), 404, 'notexist', null);
    for (const uuid of [running.uuid, stopped.uuid]) {
      const server = await getObject(alice, `/servers/${uuid}/`);
      expect(server.nics.map((n: Obj) => n.firewall_policy)).toEqual(server.nics.map(() => null));
    }
  });

  it('has the legacy schema: rules with choices, servers read-only', async () => {
    const schema = await getObject(alice, '/fwpolicies/schema/');
    expect(schema.fields.rules.fields.action.choices).toEqual(['drop', 'accept']);
    expect(schema.fields.rules.fields.direction.choices).toEqual(['in', 'out', 'both']);
    expect(schema.fields.rules.fields.ip_proto.choices).toEqual(['tcp', 'udp']);
    expect(schema.fields.servers).toMatchObject({ readonly: true, default: [] });
    expect(schema.allowed_list_http_methods).toEqual(['get', 'put', 'delete', 'post']);
  });
});
