/**
 * ACLs (api-reference.md §5.10): CRUD, grantees by uuid or email, what the owner and the grantee
 * see of a shared object, how ACLs combine, and that grants follow every change of an ACL, a tag's
 * resources or an object's tags.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDrive, createServer, expectError, linkTo, type Obj } from '../support/api.js';
import { BOB, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let alice = '';
let bob = '';

beforeEach(async () => {
  t = await startTestApp();
  alice = (await t.alice.get('/profile/')).json.uuid;
  bob = (await t.bob.get('/profile/')).json.uuid;
});
afterEach(() => t.close());

async function created(path: string, body: Obj, client = t.alice): Promise<Obj> {
  const res = await client.post(path, { objects: [body] });
  expect(res.status, res.text).toBe(201);
  return res.json.objects[0] as Obj;
}

async function get(path: string, client = t.alice): Promise<Obj> {
  const res = await client.get(path);
  expect(res.status, `${path}: ${res.text}`).toBe(200);
  return res.json as Obj;
}

const rules = (...permissions: string[]) => permissions.map((permission) => ({ permission }));
const bobAsGrantee = () => ({
  permissions: expect.any(Array),
  user: { email: BOB.email, resource_uri: `/api/2.0/user/${bob}/`, uuid: bob },
});

describe('ACL CRUD', () => {
  it('creates, reads, lists, updates and deletes ACLs in the dumps’ shapes', async () => {
    const empty = await created('/acls/', { grantees: [], name: 'test_acl', rules: [], tags: [] });
    expect(empty).toEqual({
      grantees: [],
      meta: {},
      name: 'test_acl',
      owner: linkTo('user', alice),
      resource_uri: `/api/2.0/acls/${empty.uuid}/`,
      rules: [],
      tags: [],
      uuid: empty.uuid,
    });
    expect((await created('/acls/', {})).name).toBe('');
    const tag = await created('/tags/', { name: 'test_TagOne' });
    const full = await created('/acls/', {
      grantees: [{ email: BOB.email, uuid: bob }],
      name: 'test_with_grantees',
      rules: rules('LIST', 'EDIT'),
      tags: [{ uuid: tag.uuid }],
    });
    expect(full.grantees).toEqual([
      { email: BOB.email, resource_uri: linkTo('user', bob), uuid: bob },
    ]);
    expect(full.rules).toEqual(rules('LIST', 'EDIT'));
    expect(full.tags).toEqual([linkTo('tags', tag.uuid)]);
    expect(await get(`/acls/${full.uuid}/`)).toEqual(full);
    const list = await get('/acls/?limit=0');
    expect(list.meta.total_count).toBe(3);
    expect(list.objects).toContainEqual(full);
    // A PUT echoing the object back, by email this time.
    const put = await t.alice.put(`/acls/${empty.uuid}/`, {
      ...empty,
      grantees: [{ email: BOB.email }],
      rules: rules('LIST'),
      meta: { why: 'test' },
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toMatchObject({
      grantees: [{ email: BOB.email, uuid: bob }],
      rules: rules('LIST'),
      meta: { why: 'test' },
      name: 'test_acl',
    });
    expect((await t.alice.delete(`/acls/${empty.uuid}/`)).status).toBe(204);
    expectError(await t.alice.get(`/acls/${empty.uuid}/`), 404, 'notexist', null);
    const bulk = await t.alice.delete('/acls/', { objects: [{ uuid: full.uuid }] });
    expect(bulk.status).toBe(204);
    expect((await get('/acls/')).meta.total_count).toBe(1);
  });

  it('refuses unknown grantees, permissions and tags, and foreign tags', async () => {
    const bobTag = await created('/tags/', { name: 'bobs' }, t.bob);
    for (const [body, point] of [
      [{ grantees: [{ email: 'nobody@example.com' }] }, 'grantees.0'],
      [
        { grantees: [{ uuid: bob }, { uuid: '00000000-0000-4000-8000-000000000000' }] },
        'grantees.1',
      ],
      [{ grantees: [{ name: 'x' }] }, 'grantees.0'],
      [{ rules: [{ permission: 'LIST' }, { permission: 'READ' }] }, 'rules.1.permission'],
      [{ tags: [bobTag.uuid] }, 'tags.0'],
      [{ tags: ['00000000-0000-4000-8000-000000000000'] }, 'tags.0'],
      [{ grantees: 'bob' }, 'grantees'],
    ] as const) {
      expectError(await t.alice.post('/acls/', body), 400, 'validation', point);
    }
    expect((await get('/acls/')).objects).toEqual([]);
  });

  it('shows an ACL, read-only, to the accounts it names and to no one else', async () => {
    const acl = await created('/acls/', {
      name: 'shared_acl',
      grantees: [{ uuid: bob }],
      rules: rules('LIST'),
    });
    const bobs = await get('/acls/?limit=0', t.bob);
    expect(bobs.objects).toEqual([acl]);
    expect(await get(`/acls/${acl.uuid}/`, t.bob)).toEqual(acl);
    const error = expectError(
      await t.bob.put(`/acls/${acl.uuid}/`, { name: 'mine' }),
      403,
      'permission',
      null,
    );
    expect(error.error_message).toContain('EDIT');
    // Dropped from the grantees, bob no longer sees it at all.
    await t.alice.put(`/acls/${acl.uuid}/`, { grantees: [] });
    expect((await get('/acls/', t.bob)).objects).toEqual([]);
    expectError(await t.bob.get(`/acls/${acl.uuid}/`), 404, 'notexist', null);
    // Bob's DELETE takes him off an ACL that names him (the ACL stays alice's).
    await t.alice.put(`/acls/${acl.uuid}/`, { grantees: [{ uuid: bob }] });
    expect((await t.bob.delete(`/acls/${acl.uuid}/`)).status).toBe(204);
    expect((await get('/acls/', t.bob)).objects).toEqual([]);
    expect((await get(`/acls/${acl.uuid}/`)).grantees).toEqual([]);
  });
});

describe('isolation of tags and ACLs', () => {
  it('answers another account’s tags and ACLs exactly as missing ones, changing nothing', async () => {
    const server = await createServer(t.alice, {});
    const tag = await created('/tags/', { name: 'alice-tag', resources: [server.uuid] });
    const acl = await created('/acls/', {
      name: 'alice-acl',
      tags: [tag.uuid],
      rules: rules('LIST'),
    });
    const fresh = '00000000-0000-4000-8000-000000000001';
    const before = await t.app.store.fingerprint();
    for (const [uuid, paths] of [
      [tag.uuid, ['/tags/{}/', '/tags/{}/servers/', '/tags/{}/drives/']],
      [acl.uuid, ['/acls/{}/']],
    ] as const) {
      for (const path of paths) {
        for (const method of ['GET', 'PUT', 'DELETE'] as const) {
          if (method !== 'GET' && path.split('/').length > 4) continue;
          const body = method === 'PUT' ? { name: 'bob', resources: [], tags: [] } : undefined;
          const theirs = await t.bob.request(method, path.replace('{}', uuid), { body });
          const missing = await t.bob.request(method, path.replace('{}', fresh), { body });
          expect(theirs.status, `${method} ${path}`).toBe(404);
          expect(theirs.text.replaceAll(uuid, '<id>')).toBe(missing.text.replaceAll(fresh, '<id>'));
        }
      }
      const bulk = await t.bob.put('/acls/', { objects: [{ uuid, name: 'bob' }] });
      expectError(bulk, 404, 'notexist', null);
    }
    expect(await t.app.store.fingerprint()).toBe(before);
    for (const path of [
      '/tags/',
      '/acls/',
      `/servers/?tag=${tag.uuid}`,
      '/servers/?tag__name=alice-tag',
    ]) {
      expect((await get(path, t.bob)).objects, path).toEqual([]);
    }
  });
});

describe('sharing through ACLs', () => {
  /** Alice's tag, a server and a drive carrying it, and an ACL for bob on it. */
  async function shared(permissions: string[]) {
    const tag = await created('/tags/', { name: 'shared' });
    const server = await createServer(t.alice, { name: 'alice-server', tags: [tag.uuid] });
    const drive = await createDrive(t.alice, { name: 'alice-drive', tags: [tag.uuid] });
    const acl = await created('/acls/', {
      name: 'for bob',
      grantees: [{ uuid: bob }],
      rules: rules(...permissions),
      tags: [tag.uuid],
    });
    return { tag, server, drive, acl };
  }

  it('shows the owner its grantees and the grantee its permissions, with the real owner', async () => {
    const { server, drive } = await shared(['LIST', 'EDIT', 'START']);
    const own = await get(`/servers/${server.uuid}/`);
    expect(own.grantees).toEqual([
      {
        permissions: ['EDIT', 'LIST', 'START'],
        user: { email: BOB.email, resource_uri: `/api/2.0/user/${bob}/`, uuid: bob },
      },
    ]);
    expect(own.permissions).toEqual([]);
    // START means nothing for a drive.
    expect((await get(`/drives/${drive.uuid}/`)).grantees).toEqual([
      { ...bobAsGrantee(), permissions: ['EDIT', 'LIST'] },
    ]);
    const theirs = await get(`/servers/${server.uuid}/`, t.bob);
    expect(theirs).toEqual({
      ...own,
      grantees: [],
      permissions: ['EDIT', 'LIST', 'START'],
      tags: [],
    });
    expect(theirs.owner).toEqual(linkTo('user', alice));
    const drives = await get('/drives/detail/?limit=0', t.bob);
    expect(drives.objects).toEqual([
      expect.objectContaining({
        uuid: drive.uuid,
        permissions: ['EDIT', 'LIST'],
        grantees: [],
        tags: [],
      }),
    ]);
    const plain = await get('/servers/', t.bob);
    expect(plain.objects).toEqual([
      {
        name: 'alice-server',
        owner: linkTo('user', alice),
        resource_uri: `/api/2.0/servers/${server.uuid}/`,
        runtime: null,
        status: 'stopped',
        uuid: server.uuid,
      },
    ]);
    // Bob's own objects stay beside the shared ones, in creation order.
    const mine = await createServer(t.bob, { name: 'bob-server' });
    const both = await get('/servers/detail/?limit=0', t.bob);
    expect(both.objects.map((o: Obj) => [o.uuid, o.permissions])).toEqual([
      [server.uuid, ['EDIT', 'LIST', 'START']],
      [mine.uuid, []],
    ]);
    expect((await get('/servers/?name__contains=alice', t.bob)).meta.total_count).toBe(1);
    // Alice's list is hers only.
    expect((await get('/servers/?limit=0')).objects.map((o: Obj) => o.uuid)).toEqual([server.uuid]);
  });

  it('combines several ACLs, keeps grants to the owner’s own objects, and is not transitive', async () => {
    const { tag, server, acl } = await shared(['LIST']);
    const other = await created('/tags/', { name: 'other' });
    await t.alice.put(`/servers/${server.uuid}/`, { tags: [tag.uuid, other.uuid] });
    await created('/acls/', {
      grantees: [{ uuid: bob }],
      rules: rules('START', 'STOP'),
      tags: [other.uuid],
    });
    expect((await get(`/servers/${server.uuid}/`, t.bob)).permissions).toEqual([
      'LIST',
      'START',
      'STOP',
    ]);
    // Bob cannot pass alice's server on: his tags and ACLs reach his own objects only.
    const bobTag = await created('/tags/', { name: 'b' }, t.bob);
    expectError(
      await t.bob.put(`/tags/${bobTag.uuid}/`, { resources: [server.uuid] }),
      400,
      'validation',
      'resources.0',
    );
    await created(
      '/acls/',
      { grantees: [{ uuid: alice }], rules: rules('LIST'), tags: [bobTag.uuid] },
      t.bob,
    );
    expect((await get(`/servers/${server.uuid}/`)).permissions).toEqual([]);
    // Deleting an ACL takes its grants away, and only its own.
    expect((await t.alice.delete(`/acls/${acl.uuid}/`)).status).toBe(204);
    expect((await get(`/servers/${server.uuid}/`)).grantees).toEqual([
      { ...bobAsGrantee(), permissions: ['START', 'STOP'] },
    ]);
    expectError(await t.bob.get(`/servers/${server.uuid}/`), 403, 'permission', null);
    expect((await get('/servers/', t.bob)).objects).toEqual([]);
  });

  it('follows every change: rules, grantees, tags of the ACL, the tag’s resources, the object’s tags', async () => {
    const { tag, server, drive, acl } = await shared(['LIST']);
    const visible = async () =>
      ((await get('/servers/detail/?limit=0', t.bob)).objects as Obj[]).map((o) => o.uuid);
    expect(await visible()).toEqual([server.uuid]);
    await t.alice.put(`/acls/${acl.uuid}/`, { rules: rules('EDIT') });
    // Shared without LIST: not listed, and a GET is 403.
    expect(await visible()).toEqual([]);
    expectError(await t.bob.get(`/servers/${server.uuid}/`), 403, 'permission', null);
    await t.alice.put(`/acls/${acl.uuid}/`, { rules: rules('LIST'), grantees: [] });
    expect(await visible()).toEqual([]);
    expectError(await t.bob.get(`/servers/${server.uuid}/`), 404, 'notexist', null);
    expect((await get(`/servers/${server.uuid}/`)).grantees).toEqual([]);
    await t.alice.put(`/acls/${acl.uuid}/`, { grantees: [{ uuid: bob }], tags: [] });
    expect(await visible()).toEqual([]);
    await t.alice.put(`/acls/${acl.uuid}/`, { tags: [tag.uuid] });
    expect(await visible()).toEqual([server.uuid]);
    // From the tag's side.
    await t.alice.put(`/tags/${tag.uuid}/`, { resources: [drive.uuid] });
    expect(await visible()).toEqual([]);
    expect((await get(`/servers/${server.uuid}/`)).grantees).toEqual([]);
    await t.alice.put(`/tags/${tag.uuid}/`, { resources: [drive.uuid, server.uuid] });
    expect(await visible()).toEqual([server.uuid]);
    // From the object's side.
    await t.alice.put(`/servers/${server.uuid}/`, { tags: [] });
    expect(await visible()).toEqual([]);
    await t.alice.put(`/servers/${server.uuid}/`, { tags: [tag.uuid] });
    expect(await visible()).toEqual([server.uuid]);
    // Deleting the tag ends the sharing.
    await t.alice.delete(`/tags/${tag.uuid}/`);
    expect(await visible()).toEqual([]);
    expect((await get(`/drives/${drive.uuid}/`)).grantees).toEqual([]);
  });

  it('keeps grantees across the owner’s other writes and answers creates with them', async () => {
    const tag = await created('/tags/', { name: 'shared' });
    await created('/acls/', {
      grantees: [{ uuid: bob }],
      rules: rules('LIST', 'EDIT'),
      tags: [tag.uuid],
    });
    const server = await createServer(t.alice, { tags: [tag.uuid] });
    expect(server.grantees).toEqual([{ ...bobAsGrantee(), permissions: ['EDIT', 'LIST'] }]);
    const renamed = await t.alice.put(`/servers/${server.uuid}/`, { name: 'renamed' });
    expect(renamed.json.grantees).toEqual(server.grantees);
    const start = await t.alice.post(`/servers/${server.uuid}/action/?do=start`);
    expect(start.status).toBe(202);
    const running = await get(`/servers/${server.uuid}/`);
    expect(running.status).toBe('running');
    expect(running.grantees).toEqual(server.grantees);
    // A clone by the owner keeps the tag, so it is shared too.
    await t.alice.post(`/servers/${server.uuid}/action/?do=stop`);
    const clone = await t.alice.post(`/servers/${server.uuid}/action/?do=clone`);
    expect(clone.status, clone.text).toBe(202);
    expect(clone.json.grantees).toEqual(server.grantees);
    expect(clone.json.tags).toEqual([linkTo('tags', tag.uuid)]);
  });

  it('lets a grantee with EDIT change the object but not its owner’s tags', async () => {
    const { tag, server } = await shared(['LIST', 'EDIT']);
    const before = await get(`/servers/${server.uuid}/`, t.bob);
    const res = await t.bob.put(`/servers/${server.uuid}/`, { ...before, name: 'bob renamed it' });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toMatchObject({
      name: 'bob renamed it',
      tags: [],
      grantees: [],
      permissions: ['EDIT', 'LIST'],
    });
    const own = await get(`/servers/${server.uuid}/`);
    expect(own.name).toBe('bob renamed it');
    expect(own.tags).toEqual([linkTo('tags', tag.uuid)]);
    expect(own.owner).toEqual(linkTo('user', alice));
    const bulk = await t.bob.put('/servers/', {
      objects: [{ uuid: server.uuid, name: 'bulk', tags: [] }],
    });
    expect(bulk.status, bulk.text).toBe(200);
    expect(bulk.json.objects[0]).toMatchObject({ name: 'bulk', permissions: ['EDIT', 'LIST'] });
    expect((await get(`/servers/${server.uuid}/`)).tags).toEqual([linkTo('tags', tag.uuid)]);
  });
});
