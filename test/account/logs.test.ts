/**
 * The audit log (`/logs/`, api-reference.md §5): one entry per API action and change, with its
 * outcome, plus the engine's `boot` and `stop`; newest first, with the list conventions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrive, createServer, expectError, getObject, type Obj } from '../support/api.js';
import { type Client, serverBody, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let alice: Client;
let aliceUuid: string;

beforeAll(async () => {
  t = await startTestApp();
  alice = t.alice;
  aliceUuid = (await getObject(alice, '/profile/')).uuid;
});
afterAll(() => t.close());

/** The newest `n` entries. */
async function latest(client: Client, n: number, query = ''): Promise<Obj[]> {
  const res = await client.get(`/logs/?limit=${n}${query}`);
  expect(res.status).toBe(200);
  return res.json.objects as Obj[];
}

const actions = (entries: Obj[]) => entries.map((e) => e.action);

describe('a server from create to delete', () => {
  it('logs create, start_send, boot, stop_send, stop, delete: newest first', async () => {
    const server = await createServer(alice, { name: 'test_server' });
    expect((await alice.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
    expect((await alice.post(`/servers/${server.uuid}/action/?do=stop`)).status).toBe(202);
    expect((await alice.delete(`/servers/${server.uuid}/`)).status).toBe(204);
    const entries = await latest(alice, 6, `&uuid=${server.uuid}`);
    expect(actions(entries)).toEqual([
      'delete',
      'stop',
      'stop_send',
      'boot',
      'start_send',
      'create',
    ]);
    for (const entry of entries) {
      expect(entry).toEqual({
        action: entry.action,
        actor: { resource_uri: `/api/2.0/user/${aliceUuid}/`, uuid: aliceUuid },
        category: 'Servers',
        details: entry.details,
        error_message: '',
        error_point: null,
        error_type: null,
        success: true,
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}\+00:00$/),
        uuid: server.uuid,
      });
    }
    const created = entries.at(-1)!;
    // Everything sent but the secret (vnc_password).
    const { vnc_password: _secret, ...sent } = serverBody({ name: 'test_server' });
    expect(JSON.parse(created.details)).toEqual(sent);
    // Newest first by time too.
    const times = entries.map((e) => e.timestamp);
    expect([...times].sort().reverse()).toEqual(times);
  });

  it('logs an ACPI shutdown as shutdown_ACPI_send, then stop', async () => {
    const server = await createServer(alice);
    await alice.post(`/servers/${server.uuid}/action/?do=start`);
    await alice.post(`/servers/${server.uuid}/action/?do=shutdown`);
    expect(actions(await latest(alice, 2, `&uuid=${server.uuid}`))).toEqual([
      'stop',
      'shutdown_ACPI_send',
    ]);
  });

  it('logs a clone on the source and on the copy', async () => {
    const server = await createServer(alice);
    const res = await alice.post(`/servers/${server.uuid}/action/?do=clone`, {});
    expect(res.status).toBe(202);
    const [dst, src] = await latest(alice, 2);
    expect(src).toMatchObject({ action: 'clone_src', uuid: server.uuid, success: true });
    expect(dst).toMatchObject({ action: 'clone_dst', uuid: res.json.uuid, success: true });
  });
});

describe('failures', () => {
  it('logs a refused action with its error', async () => {
    const server = await createServer(alice);
    const res = await alice.post(`/servers/${server.uuid}/action/?do=stop`);
    const error = expectError(res, 403, 'permission', null);
    const [entry] = await latest(alice, 1);
    expect(entry).toMatchObject({
      action: 'stop_send',
      uuid: server.uuid,
      success: false,
      error_type: 'permission',
      error_point: null,
      error_message: error.error_message,
    });
  });

  it('logs a refused create with the field at fault and no target', async () => {
    const definition = { name: 'x', cpu: 1000, vnc_password: 'x' };
    expectError(await alice.post('/servers/', { objects: [definition] }), 400, 'validation', 'mem');
    const [entry] = await latest(alice, 1);
    expect(entry).toMatchObject({
      action: 'create',
      category: 'Servers',
      uuid: '',
      success: false,
      error_type: 'validation',
      error_point: 'mem',
      details: '{"name": "x", "cpu": 1000}',
    });
  });

  it('logs a request on a missing (or foreign) object with no target', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const foreign = await createDrive(t.bob);
    for (const uuid of [missing, foreign.uuid]) {
      expectError(await alice.put(`/drives/${uuid}/`, { name: 'x' }), 404, 'notexist', null);
      expect((await latest(alice, 1))[0]).toMatchObject({
        action: 'update',
        category: 'Drives',
        uuid: '',
        success: false,
        error_type: 'notexist',
        error_message: `Object with uuid ${uuid} does not exist`,
      });
    }
    // Nothing of it reaches the other account's log.
    const bobs = (await t.bob.get('/logs/?limit=0')).json.objects as Obj[];
    expect(bobs.map((e) => e.action)).toEqual(['create']);
  });

  it('a rejected request changes no state, yet is logged', async () => {
    const server = await createServer(alice);
    const before = await t.app.store.fingerprint();
    const count = (await alice.get('/logs/?limit=1')).json.meta.total_count;
    expectError(
      await alice.post(`/servers/${server.uuid}/action/?do=stop`),
      403,
      'permission',
      null,
    );
    expect(await t.app.store.fingerprint()).toBe(before);
    expect((await alice.get('/logs/?limit=1')).json.meta.total_count).toBe(count + 1);
  });
});

describe('what is logged', () => {
  it('one entry per object of a bulk create, update or delete', async () => {
    const res = await alice.post('/drives/', [
      { name: 'a', size: 1073741824, media: 'disk' },
      { name: 'b', size: 1073741824, media: 'cdrom' },
    ]);
    expect(res.status).toBe(201);
    const uuids = res.json.objects.map((d: Obj) => d.uuid);
    let entries = await latest(alice, 2);
    expect(entries.map((e) => [e.action, e.category, e.uuid])).toEqual([
      ['create', 'Drives', uuids[1]],
      ['create', 'Drives', uuids[0]],
    ]);
    expect(JSON.parse(entries[1]!.details)).toEqual({ name: 'a', size: 1073741824, media: 'disk' });
    await alice.put('/drives/', { objects: uuids.map((uuid: string) => ({ uuid, name: 'c' })) });
    entries = await latest(alice, 2);
    expect(entries.map((e) => [e.action, e.uuid])).toEqual([
      ['update', uuids[1]],
      ['update', uuids[0]],
    ]);
    await alice.delete('/drives/', { objects: uuids });
    expect((await latest(alice, 2)).map((e) => [e.action, e.uuid])).toEqual([
      ['delete', uuids[1]],
      ['delete', uuids[0]],
    ]);
  });

  it('an update with what was sent; a keypair without its private key', async () => {
    const drive = await createDrive(alice);
    await alice.put(`/drives/${drive.uuid}/`, { meta: { a: 'b' } });
    expect((await latest(alice, 1))[0]).toMatchObject({
      action: 'update',
      uuid: drive.uuid,
      details: '{"meta": {"a": "b"}}',
    });
    const keypair = await alice.post('/keypairs/', { name: 'k', algorithm_type: 'ed25519' });
    const [entry] = await latest(alice, 1);
    expect(entry).toMatchObject({
      action: 'create',
      category: 'Keypairs',
      uuid: keypair.json.objects[0].uuid,
      details: '{"name": "k", "algorithm_type": "ed25519"}',
    });
    await alice.put(`/keypairs/${keypair.json.objects[0].uuid}/`, {
      private_key: keypair.json.objects[0].private_key,
    });
    expect((await latest(alice, 1))[0]!.details).toBe('{}');
  });

  it('the global context and the profile as updates', async () => {
    await alice.post('/global_context/', { k: 'v' });
    expect((await latest(alice, 1))[0]).toMatchObject({
      action: 'update',
      category: 'Global context',
      uuid: '',
      details: '{"k": "v"}',
    });
    await alice.put('/profile/', { first_name: 'Alice' });
    expect((await latest(alice, 1))[0]).toMatchObject({ action: 'update', category: 'Profile' });
  });

  it('nothing for reads, logins or the log itself', async () => {
    const count = (await alice.get('/logs/?limit=1')).json.meta.total_count;
    await alice.get('/servers/');
    await alice.get('/drives/detail/');
    await alice.post('/accounts/action/?do=login', {
      username: 'alice@example.com',
      password: 'alice-secret',
    });
    expect((await alice.request('POST', '/logs/', { body: {} })).status).toBe(405);
    expect((await alice.get('/logs/?limit=1')).json.meta.total_count).toBe(count);
  });
});

describe('the list', () => {
  it('pages newest first with limit and offset, and filters by target', async () => {
    const app = await startTestApp();
    try {
      const drives: string[] = [];
      for (const name of ['d0', 'd1', 'd2', 'd3', 'd4']) {
        drives.push((await createDrive(app.alice, { name })).uuid);
      }
      const all = (await app.alice.get('/logs/?limit=0')).json;
      expect(all.meta).toEqual({ limit: 0, offset: 0, total_count: 5 });
      expect(all.objects.map((e: Obj) => e.uuid)).toEqual([...drives].reverse());
      const page = (await app.alice.get('/logs/?limit=2&offset=1')).json;
      expect(page.meta).toEqual({ limit: 2, offset: 1, total_count: 5 });
      expect(page.objects.map((e: Obj) => e.uuid)).toEqual([drives[3], drives[2]]);
      const tail = (await app.alice.get('/logs/?limit=3&offset=4')).json;
      expect(tail.objects.map((e: Obj) => e.uuid)).toEqual([drives[0]]);
      expect((await app.alice.get('/logs/?offset=9')).json.objects).toEqual([]);
      expect((await app.alice.get('/logs/')).json.meta.limit).toBe(20);
      const one = (await app.alice.get(`/logs/?uuid=${drives[1]},${drives[3]}`)).json;
      expect(one.meta.total_count).toBe(2);
      expect(one.objects.map((e: Obj) => e.uuid)).toEqual([drives[3], drives[1]]);
      expect((await app.alice.get('/logs/?fields=action,uuid&limit=1')).json.objects).toEqual([
        { action: 'create', uuid: drives[4] },
      ]);
      // Another account's log is its own.
      expect((await app.bob.get('/logs/')).json.meta.total_count).toBe(0);
    } finally {
      await app.close();
    }
  });

  it('serves the recorded schema', async () => {
    const schema = await getObject(alice, '/logs/schema/');
    expect(schema.allowed_list_http_methods).toEqual(['get']);
    expect(schema.allowed_detail_http_methods).toEqual([]);
    expect(Object.keys(schema.fields).sort()).toEqual([
      'action',
      'actor',
      'category',
      'details',
      'error_message',
      'error_point',
      'error_type',
      'success',
      'timestamp',
      'uuid',
    ]);
  });
});
