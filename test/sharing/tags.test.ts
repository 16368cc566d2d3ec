/**
 * Tags (api-reference.md §5.1): both sides of the relation agree whichever side is written, the
 * `tag` and `tag__name` list filters, deleting a tag, resources of mixed types, and what may not
 * be tagged.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDrive, createServer, expectError, linkTo, type Obj } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let aliceUuid = '';

// A fresh app per test: lists and filters see only what the test made.
beforeEach(async () => {
  t = await startTestApp();
  aliceUuid = (await t.alice.get('/profile/')).json.uuid;
});
afterEach(() => t.close());

async function createTag(body: Obj, client = t.alice): Promise<Obj> {
  const res = await client.post('/tags/', { objects: [body] });
  expect(res.status, res.text).toBe(201);
  expect(res.json.objects).toHaveLength(1);
  return res.json.objects[0] as Obj;
}

async function get(path: string, client = t.alice): Promise<Obj> {
  const res = await client.get(path);
  expect(res.status, `${path}: ${res.text}`).toBe(200);
  return res.json as Obj;
}

/** The tag's resources as `type:uuid`, in order. */
function resourcesOf(tag: Obj): string[] {
  return (tag.resources as Obj[]).map((r) => `${r.res_type}:${r.uuid}`);
}

function tagLinks(...uuids: string[]) {
  return uuids.map((uuid) => linkTo('tags', uuid));
}

describe('tags', () => {
  it('creates a tag as the dumps show it, readable in the list, the detail list and alone', async () => {
    const tag = await createTag({ name: 'MyGroupOfThings' });
    expect(tag).toEqual({
      meta: {},
      name: 'MyGroupOfThings',
      owner: linkTo('user', aliceUuid),
      resource_uri: `/api/2.0/tags/${tag.uuid}/`,
      resources: [],
      uuid: tag.uuid,
    });
    expect(await get(`/tags/${tag.uuid}/`)).toEqual(tag);
    const list = await get('/tags/?limit=0');
    expect(list.objects).toContainEqual(tag);
    expect((await get('/tags/detail/?limit=0')).objects).toEqual(list.objects);
    expectError(await t.alice.post('/tags/', { objects: [{}] }), 400, 'validation', 'name');
  });

  it('tags resources of mixed types from the tag side; each resource shows the tag', async () => {
    const server = await createServer(t.alice, { name: 'tagged-server' });
    const drive = await createDrive(t.alice, { name: 'tagged-drive' });
    const tag = await createTag({
      name: 'mixed',
      resources: [server.uuid, `/api/2.0/drives/${drive.uuid}/`, { uuid: server.uuid }],
    });
    expect(resourcesOf(tag)).toEqual([`servers:${server.uuid}`, `drives:${drive.uuid}`]);
    expect(tag.resources[0]).toEqual({
      owner: linkTo('user', aliceUuid),
      res_type: 'servers',
      resource_uri: `/api/2.0/servers/${server.uuid}/`,
      uuid: server.uuid,
    });
    expect((await get(`/servers/${server.uuid}/`)).tags).toEqual(tagLinks(tag.uuid));
    expect((await get(`/drives/${drive.uuid}/`)).tags).toEqual(tagLinks(tag.uuid));
    // PUT replaces the set: the server leaves, the drive stays.
    const res = await t.alice.put(`/tags/${tag.uuid}/`, {
      name: 'renamed',
      resources: [drive.uuid],
    });
    expect(res.status, res.text).toBe(200);
    expect(resourcesOf(res.json)).toEqual([`drives:${drive.uuid}`]);
    expect(res.json.name).toBe('renamed');
    expect((await get(`/servers/${server.uuid}/`)).tags).toEqual([]);
    expect((await get(`/drives/${drive.uuid}/`)).tags).toEqual(tagLinks(tag.uuid));
    // A PUT without resources keeps them.
    const meta = await t.alice.put(`/tags/${tag.uuid}/`, { meta: { a: 'b' } });
    expect(resourcesOf(meta.json)).toEqual([`drives:${drive.uuid}`]);
    expect(meta.json.meta).toEqual({ a: 'b' });
  });

  it('tags from the resource side; the tag lists the resource, in both directions of change', async () => {
    const one = await createTag({ name: 'one' });
    const two = await createTag({ name: 'two' });
    const created = await t.alice.post('/servers/', {
      objects: [{ name: 's', cpu: 1000, mem: 536870912, vnc_password: 'pass', tags: [one.uuid] }],
    });
    expect(created.status, created.text).toBe(201);
    const server = created.json.objects[0] as Obj;
    expect(server.tags).toEqual(tagLinks(one.uuid));
    expect(resourcesOf(await get(`/tags/${one.uuid}/`))).toEqual([`servers:${server.uuid}`]);
    const put = await t.alice.put(`/servers/${server.uuid}/`, {
      tags: [{ uuid: two.uuid }, `/api/2.0/tags/${one.uuid}/`],
    });
    expect(put.status, put.text).toBe(200);
    expect(put.json.tags).toEqual(tagLinks(two.uuid, one.uuid));
    expect(resourcesOf(await get(`/tags/${two.uuid}/`))).toEqual([`servers:${server.uuid}`]);
    await t.alice.put(`/servers/${server.uuid}/`, { tags: [two.uuid] });
    expect(resourcesOf(await get(`/tags/${one.uuid}/`))).toEqual([]);
    expect(resourcesOf(await get(`/tags/${two.uuid}/`))).toEqual([`servers:${server.uuid}`]);
    // A drive edited from its side, then deleted: the tag forgets it.
    const drive = await createDrive(t.alice, {});
    await t.alice.put(`/drives/${drive.uuid}/`, { tags: [two.uuid] });
    expect(resourcesOf(await get(`/tags/${two.uuid}/`))).toEqual([
      `servers:${server.uuid}`,
      `drives:${drive.uuid}`,
    ]);
    expect((await t.alice.delete(`/drives/${drive.uuid}/`)).status).toBe(204);
    expect(resourcesOf(await get(`/tags/${two.uuid}/`))).toEqual([`servers:${server.uuid}`]);
  });

  it('lists the tagged resources of one type in their plain list representation', async () => {
    const servers = [
      await createServer(t.alice, { name: 'a' }),
      await createServer(t.alice, { name: 'b' }),
    ];
    const drive = await createDrive(t.alice, {});
    const untagged = await createServer(t.alice, { name: 'c' });
    const tag = await createTag({
      name: 'x',
      resources: [...servers.map((s) => s.uuid), drive.uuid],
    });
    const list = await get(`/tags/${tag.uuid}/servers/`);
    expect(list.meta).toEqual({ limit: 20, offset: 0, total_count: 2 });
    expect(list.objects).toEqual(
      servers.map((s) => ({
        name: s.name,
        owner: linkTo('user', aliceUuid),
        resource_uri: `/api/2.0/servers/${s.uuid}/`,
        runtime: null,
        status: 'stopped',
        uuid: s.uuid,
      })),
    );
    expect(list.objects.map((o: Obj) => o.uuid)).not.toContain(untagged.uuid);
    const drives = await get(`/tags/${tag.uuid}/drives/?limit=1`);
    expect(drives.meta).toEqual({ limit: 1, offset: 0, total_count: 1 });
    expect(drives.objects).toEqual([
      {
        owner: linkTo('user', aliceUuid),
        resource_uri: `/api/2.0/drives/${drive.uuid}/`,
        status: 'unmounted',
        uuid: drive.uuid,
      },
    ]);
    expect((await get(`/tags/${tag.uuid}/ips/`)).objects).toEqual([]);
    expect((await get(`/tags/${tag.uuid}/vlans/`)).objects).toEqual([]);
  });

  it('lists the tagged resources of each type in their detail representation under detail/', async () => {
    const servers = [
      await createServer(t.alice, { name: 'a' }),
      await createServer(t.alice, { name: 'b' }),
    ];
    const drive = await createDrive(t.alice, {});
    await createServer(t.alice, { name: 'untagged' });
    const tag = await createTag({
      name: 'x',
      resources: [...servers.map((s) => s.uuid), drive.uuid],
    });
    const list = await get(`/tags/${tag.uuid}/servers/detail/`);
    expect(list.meta).toEqual({ limit: 20, offset: 0, total_count: 2 });
    expect(list.objects).toEqual([
      await get(`/servers/${servers[0]!.uuid}/`),
      await get(`/servers/${servers[1]!.uuid}/`),
    ]);
    // Paged like the plain list, and without the trailing slash too.
    const second = await get(`/tags/${tag.uuid}/servers/detail?limit=1&offset=1`);
    expect(second.meta).toEqual({ limit: 1, offset: 1, total_count: 2 });
    expect(second.objects).toEqual([await get(`/servers/${servers[1]!.uuid}/`)]);
    expect((await get(`/tags/${tag.uuid}/drives/detail/`)).objects).toEqual([
      await get(`/drives/${drive.uuid}/`),
    ]);
    for (const kind of ['ips', 'vlans', 'snapshots']) {
      expect((await get(`/tags/${tag.uuid}/${kind}/detail/`)).objects).toEqual([]);
    }
    expectError(await t.bob.get(`/tags/${tag.uuid}/servers/detail/`), 404, 'notexist', null);
  });

  it('filters lists by tag uuid and by tag name: commas OR, repeated parameters AND', async () => {
    const red = await createTag({ name: 'red' });
    const blue = await createTag({ name: 'blue' });
    const both = await createServer(t.alice, { name: 'both', tags: [red.uuid, blue.uuid] });
    const onlyRed = await createServer(t.alice, { name: 'only-red', tags: [red.uuid] });
    const onlyBlue = await createServer(t.alice, { name: 'only-blue', tags: [blue.uuid] });
    await createServer(t.alice, { name: 'none' });
    const redDrive = await createDrive(t.alice, { tags: [red.uuid] });
    const names = async (query: string) =>
      ((await get(`/servers/?limit=0&${query}`)).objects as Obj[]).map((o) => o.name);
    expect(await names(`tag=${red.uuid}`)).toEqual(['both', 'only-red']);
    expect(await names(`tag=${red.uuid},${blue.uuid}`)).toEqual(['both', 'only-red', 'only-blue']);
    expect(await names(`tag=${red.uuid}&tag=${blue.uuid}`)).toEqual(['both']);
    expect(await names('tag__name=blue')).toEqual(['both', 'only-blue']);
    expect(await names('tag__name=red,blue')).toEqual(['both', 'only-red', 'only-blue']);
    expect(await names('tag__name=red&tag__name=blue')).toEqual(['both']);
    expect(await names(`tag__name=red&tag=${blue.uuid}&name__contains=only`)).toEqual([]);
    expect(await names('tag__name=nope')).toEqual([]);
    expect(await names('tag=00000000-0000-4000-8000-000000000000')).toEqual([]);
    const detail = await get(`/servers/detail/?tag__name=red&limit=0`);
    expect(detail.meta.total_count).toBe(2);
    expect((detail.objects as Obj[]).map((o) => o.uuid)).toEqual([both.uuid, onlyRed.uuid]);
    const drives = await get(`/drives/?tag=${red.uuid}`);
    expect((drives.objects as Obj[]).map((o) => o.uuid)).toEqual([redDrive.uuid]);
    expect(onlyBlue.tags).toEqual(tagLinks(blue.uuid));
    // Another account's tag of the same name or uuid matches nothing of bob's.
    const bobs = await createServer(t.bob, { name: 'bobs' });
    const bobTag = await createTag({ name: 'red', resources: [bobs.uuid] }, t.bob);
    expect(await names(`tag=${bobTag.uuid}`)).toEqual([]);
    const bobRed = await t.bob.get(`/servers/?tag__name=red&tag=${red.uuid},${bobTag.uuid}`);
    expect((bobRed.json.objects as Obj[]).map((o) => o.uuid)).toEqual([bobs.uuid]);
  });

  it('deletes a tag everywhere: its resources and ACLs lose it', async () => {
    const keep = await createTag({ name: 'keep' });
    const gone = await createTag({ name: 'gone' });
    const server = await createServer(t.alice, { tags: [gone.uuid, keep.uuid] });
    const drive = await createDrive(t.alice, { tags: [gone.uuid] });
    const acl = await t.alice.post('/acls/', { name: 'a', tags: [gone.uuid, keep.uuid] });
    expect(acl.status, acl.text).toBe(201);
    const res = await t.alice.delete(`/tags/${gone.uuid}/`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expectError(await t.alice.get(`/tags/${gone.uuid}/`), 404, 'notexist', null);
    expect((await get(`/servers/${server.uuid}/`)).tags).toEqual(tagLinks(keep.uuid));
    expect((await get(`/drives/${drive.uuid}/`)).tags).toEqual([]);
    expect((await get(`/acls/${acl.json.objects[0].uuid}/`)).tags).toEqual(tagLinks(keep.uuid));
    expect((await get(`/servers/?tag=${gone.uuid}`)).objects).toEqual([]);
    // The list has no bulk DELETE or PUT (the schema's list methods are get and post).
    expect((await t.alice.delete('/tags/', { objects: [keep.uuid] })).status).toBe(405);
    expect((await t.alice.put('/tags/', { objects: [] })).status).toBe(405);
  });

  it('refuses foreign, missing and untaggable resources and tags, changing nothing', async () => {
    const tag = await createTag({ name: 't' });
    const bobServer = await createServer(t.bob, {});
    const bobTag = await createTag({ name: 'bobs' }, t.bob);
    const server = await createServer(t.alice, {});
    for (const resources of [
      [server.uuid, bobServer.uuid],
      [server.uuid, '00000000-0000-4000-8000-000000000000'],
    ]) {
      const res = await t.alice.put(`/tags/${tag.uuid}/`, { resources });
      const error = expectError(res, 400, 'validation', 'resources.1');
      expect(error.error_message).toBe(`Object with uuid ${resources[1]} does not exist`);
    }
    expectError(
      await t.alice.post('/tags/', { name: 'x', resources: [tag.uuid] }),
      400,
      'validation',
      'resources.0',
    );
    expect((await get(`/servers/${server.uuid}/`)).tags).toEqual([]);
    expect((await get(`/tags/${tag.uuid}/`)).resources).toEqual([]);
    for (const tags of [[tag.uuid, bobTag.uuid], [server.uuid]]) {
      const res = await t.alice.put(`/servers/${server.uuid}/`, { tags });
      const error = expectError(res, 400, 'validation', `tags.${tags.length - 1}`);
      expect(error.error_message).toBe(`Object with uuid ${tags[tags.length - 1]} does not exist`);
      expectError(
        await t.alice.post('/drives/', { name: 'd', size: 1073741824, media: 'disk', tags }),
        400,
        'validation',
        `tags.${tags.length - 1}`,
      );
    }
    // Bob sees none of alice's tags.
    expectError(await t.bob.get(`/tags/${tag.uuid}/`), 404, 'notexist', null);
    expectError(await t.bob.get(`/tags/${tag.uuid}/servers/`), 404, 'notexist', null);
    expect((await get('/tags/?limit=0', t.bob)).objects.map((o: Obj) => o.uuid)).toEqual([
      bobTag.uuid,
    ]);
  });

  it('answers the tags schema of the dumps', async () => {
    const schema = await get('/tags/schema/');
    expect(schema.allowed_list_http_methods).toEqual(['get', 'post']);
    expect(schema.allowed_detail_http_methods).toEqual(['get', 'put', 'delete']);
    expect(Object.keys(schema.fields).sort()).toEqual([
      'meta',
      'name',
      'owner',
      'resource_uri',
      'resources',
      'uuid',
    ]);
  });
});
