/**
 * The drive lifecycle (api-reference.md §2.8, §3.1, §3.3-§3.4, §8.3, §8.20): `creating` then
 * `unmounted` (or `mounted` when attached meanwhile); resizing by PUT and by `?do=resize`, and
 * what each does for a drive on a running server; no shrinking; deleting drives of running
 * servers; recursive server delete, including a cdrom shared with another server.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { attach, createServer, expectError, linkTo, type Obj } from '../support/api.js';
import { type Client, driveBody, type TestApp } from '../support/app.js';
import {
  action,
  advance,
  closeApp,
  drain,
  get,
  realSleep,
  startManualApp,
  T,
  waitStatus,
} from './support.js';

const GIB = 1024 ** 3;

let t: TestApp;
let alice: Client;

beforeAll(async () => {
  t = await startManualApp();
  alice = t.alice;
});
afterAll(() => closeApp(t));
afterEach(() => drain(t.app));

/** POSTs drives; returns them as created (`creating`). */
async function post(...overrides: Obj[]): Promise<Obj[]> {
  const res = await alice.post('/drives/', { objects: overrides.map((o) => driveBody(o)) });
  expect(res.status, res.text).toBe(201);
  return res.json.objects as Obj[];
}

/** Made drives (`unmounted`). */
async function made(...overrides: Obj[]): Promise<Obj[]> {
  const drives = await post(...overrides);
  await drain(t.app);
  return Promise.all(drives.map((d) => get(alice, `/drives/${d.uuid}/`)));
}

async function running(overrides: Obj): Promise<Obj> {
  const server = await createServer(alice, overrides);
  expect((await alice.post(action(server.uuid, 'start'))).status).toBe(202);
  await drain(t.app);
  return get(alice, `/servers/${server.uuid}/`);
}

const grace = () => realSleep(30);

describe('creating', () => {
  it('is creating for exactly the create time, then unmounted', async () => {
    const [drive] = await post({ name: 'new' });
    const path = `/drives/${drive!.uuid}/`;
    expect(drive!.status).toBe('creating');
    expect(drive!.runtime.is_snapshotable).toBeNull();
    await advance(t.app, T.create - 1);
    await grace();
    expect((await get(alice, path)).status).toBe('creating');
    t.app.clock.advance(1);
    const done = await waitStatus(alice, path, 'unmounted');
    expect(done.runtime.is_snapshotable).toBe(true);
    expect(done.mounted_on).toEqual([]);
  });

  it('creates a bulk of drives together', async () => {
    const drives = await post({ name: 'a' }, { name: 'b' }, { name: 'c', media: 'cdrom' });
    await advance(t.app, T.create, 3);
    for (const d of drives) await waitStatus(alice, `/drives/${d.uuid}/`, 'unmounted');
  });

  it('may be attached while creating, and is then mounted once made', async () => {
    const [disk, cdrom] = await post({ name: 'early' }, { name: 'early-cd', media: 'cdrom' });
    const server = await createServer(alice, { drives: [attach(disk!.uuid, 'virtio', '0:0')] });
    const attached = await get(alice, `/drives/${disk!.uuid}/`);
    expect(attached.status).toBe('creating');
    expect(attached.mounted_on).toEqual([linkTo('servers', server.uuid)]);
    // Attaching by PUT on the stopped server works the same.
    const put = await alice.put(`/servers/${server.uuid}/`, {
      drives: [attach(disk!.uuid, 'virtio', '0:0'), attach(cdrom!.uuid, 'ide', '0:0')],
    });
    expect(put.status, put.text).toBe(200);
    expect((await get(alice, `/drives/${cdrom!.uuid}/`)).status).toBe('creating');
    await advance(t.app, T.create, 2);
    await waitStatus(alice, `/drives/${disk!.uuid}/`, 'mounted');
    await waitStatus(alice, `/drives/${cdrom!.uuid}/`, 'mounted');
  });

  it('may be deleted while creating', async () => {
    const [drive] = await post({});
    const res = await alice.delete(`/drives/${drive!.uuid}/`);
    expect(res.status).toBe(204);
    await drain(t.app);
    expectError(await alice.get(`/drives/${drive!.uuid}/`), 404, 'notexist', null);
  });
});

describe('resizing', () => {
  it('by PUT: resizing with the new size at once, then back to unmounted', async () => {
    const [drive] = await made({ name: 'grow', size: 2 * GIB });
    const path = `/drives/${drive!.uuid}/`;
    const res = await alice.put(path, { ...drive, size: 5 * GIB });
    expect(res.status, res.text).toBe(200);
    expect(res.json.status).toBe('resizing');
    expect(res.json.size).toBe(5 * GIB);
    await advance(t.app, T.resize - 1);
    await grace();
    expect((await get(alice, path)).status).toBe('resizing');
    t.app.clock.advance(1);
    const done = await waitStatus(alice, path, 'unmounted');
    expect(done.size).toBe(5 * GIB);
    // An odd size is kept exactly (pycloudsigma allows 64 KiB of rounding; we round nothing).
    const odd = 6 * GIB + 7 * 1024 ** 2 + 3 * 1024;
    expect((await alice.put(path, { size: String(odd) })).json.status).toBe('resizing');
    await drain(t.app);
    expect((await get(alice, path)).size).toBe(odd);
  });

  it('by PUT on a drive of a stopped server: resizing, then back to mounted', async () => {
    const [drive] = await made({});
    const server = await createServer(alice, { drives: [attach(drive!.uuid, 'virtio', '0:0')] });
    const res = await alice.put(`/drives/${drive!.uuid}/`, { size: 3 * GIB });
    expect(res.json.status).toBe('resizing');
    expect(res.json.mounted_on).toEqual([linkTo('servers', server.uuid)]);
    await drain(t.app);
    expect(await get(alice, `/drives/${drive!.uuid}/`)).toMatchObject({
      status: 'mounted',
      size: 3 * GIB,
    });
  });

  it('by ?do=resize: 202 {"objects": [drive]} resizing, then back', async () => {
    const [drive] = await made({ name: 'action', size: 2 * GIB });
    const path = `/drives/${drive!.uuid}/`;
    // pycloudsigma sends back the whole drive with the size doubled.
    const res = await alice.post(`${path}action/?do=resize`, { ...drive, size: 4 * GIB });
    expect(res.status, res.text).toBe(202);
    expect(Object.keys(res.json)).toEqual(['objects']);
    expect(res.json.objects).toHaveLength(1);
    expect(res.json.objects[0]).toMatchObject({
      uuid: drive!.uuid,
      status: 'resizing',
      size: 4 * GIB,
    });
    await advance(t.app, T.resize);
    expect((await waitStatus(alice, path, 'unmounted')).size).toBe(4 * GIB);
    // Only name, size and media, as some clients send.
    const small = await alice.post(`${path}action/?do=resize`, {
      name: 'action',
      size: 5 * GIB,
      media: 'disk',
    });
    expect(small.status).toBe(202);
    expect(small.json.objects[0].status).toBe('resizing');
  });

  it('refuses to shrink, by PUT and by ?do=resize (400, point size)', async () => {
    const [drive] = await made({ size: 2 * GIB });
    const path = `/drives/${drive!.uuid}/`;
    expectError(await alice.put(path, { size: GIB }), 400, 'validation', 'size');
    expectError(
      await alice.post(`${path}action/?do=resize`, { size: GIB }),
      400,
      'validation',
      'size',
    );
    expect(await get(alice, path)).toMatchObject({ size: 2 * GIB, status: 'unmounted' });
  });

  it('refuses ?do=resize without a JSON object body', async () => {
    const [drive] = await made({});
    const path = `/drives/${drive!.uuid}/action/?do=resize`;
    expectError(await alice.post(path), 400, 'validation', null);
    expectError(await alice.post(path, [1]), 400, 'validation', null);
  });

  it('refuses a resize while the drive is creating or already resizing (403)', async () => {
    const [creating] = await post({});
    expectError(
      await alice.put(`/drives/${creating!.uuid}/`, { size: 3 * GIB }),
      403,
      'permission',
      null,
    );
    await drain(t.app);
    const path = `/drives/${creating!.uuid}/`;
    expect((await alice.put(path, { size: 3 * GIB })).json.status).toBe('resizing');
    expectError(await alice.put(path, { size: 4 * GIB }), 403, 'permission', null);
    expectError(
      await alice.post(`${path}action/?do=resize`, { size: 4 * GIB }),
      403,
      'permission',
      null,
    );
    await drain(t.app);
    expect(await get(alice, path)).toMatchObject({ size: 3 * GIB, status: 'unmounted' });
  });

  it('on a drive of a running server: PUT ignores the size silently, ?do=resize is 403', async () => {
    const [drive] = await made({ name: 'live', size: 2 * GIB });
    const path = `/drives/${drive!.uuid}/`;
    const server = await running({ drives: [attach(drive!.uuid, 'virtio', '0:0')] });
    expect(server.status).toBe('running');

    const put = await alice.put(path, { name: 'renamed', size: 4 * GIB, meta: { a: 'b' } });
    expect(put.status, put.text).toBe(200);
    expect(put.json).toMatchObject({
      name: 'renamed',
      meta: { a: 'b' },
      size: 2 * GIB,
      status: 'mounted',
    });
    const resize = await alice.post(`${path}action/?do=resize`, { size: 4 * GIB });
    expectError(resize, 403, 'permission', null);
    await drain(t.app);
    expect(await get(alice, path)).toMatchObject({ size: 2 * GIB, status: 'mounted' });

    // Once the server is stopped the same resize works.
    await alice.post(action(server.uuid, 'stop'));
    await drain(t.app);
    const later = await alice.post(`${path}action/?do=resize`, { size: 4 * GIB });
    expect(later.status, later.text).toBe(202);
    await drain(t.app);
    expect(await get(alice, path)).toMatchObject({ size: 4 * GIB, status: 'mounted' });
  });

  it('treats a starting server like a running one', async () => {
    const [drive] = await made({ size: 2 * GIB });
    const server = await createServer(alice, { drives: [attach(drive!.uuid, 'virtio', '0:0')] });
    await alice.post(action(server.uuid, 'start'));
    const path = `/drives/${drive!.uuid}/`;
    expect((await alice.put(path, { size: 4 * GIB })).json.size).toBe(2 * GIB);
    expectError(
      await alice.post(`${path}action/?do=resize`, { size: 4 * GIB }),
      403,
      'permission',
      null,
    );
    await drain(t.app);
    await alice.post(action(server.uuid, 'stop'));
  });
});

describe('deleting', () => {
  it('refuses to delete a drive of a running server (403); deletes it once stopped', async () => {
    const [drive] = await made({});
    const path = `/drives/${drive!.uuid}/`;
    const server = await running({ drives: [attach(drive!.uuid, 'virtio', '0:0')] });
    expectError(await alice.delete(path), 403, 'permission', null);
    expectError(
      await alice.delete('/drives/', { objects: [{ uuid: drive!.uuid }] }),
      403,
      'permission',
      null,
    );
    expect((await get(alice, path)).status).toBe('mounted');
    expect((await get(alice, `/servers/${server.uuid}/`)).drives).toHaveLength(1);

    await alice.post(action(server.uuid, 'stop'));
    await drain(t.app);
    expect((await alice.delete(path)).status).toBe(204);
    expectError(await alice.get(path), 404, 'notexist', null);
    expect((await get(alice, `/servers/${server.uuid}/`)).drives).toEqual([]);
  });

  it('refuses to delete a drive while it resizes or is copied', async () => {
    const [drive] = await made({});
    const path = `/drives/${drive!.uuid}/`;
    await alice.put(path, { size: 2 * GIB });
    expectError(await alice.delete(path), 403, 'permission', null);
    await drain(t.app);
    const clone = await alice.post(`${path}action/?do=clone`, {});
    expectError(await alice.delete(path), 403, 'permission', null);
    expectError(
      await alice.delete(`/drives/${clone.json.objects[0].uuid}/`),
      403,
      'permission',
      null,
    );
    await drain(t.app);
    expect((await alice.delete(path)).status).toBe(204);
  });
});

describe('recursive server delete (§2.8)', () => {
  async function pair() {
    const [disk, cdrom] = await made({ name: 'disk' }, { name: 'cd', media: 'cdrom' });
    const server = await createServer(alice, {
      drives: [attach(disk!.uuid, 'virtio', '0:0'), attach(cdrom!.uuid, 'ide', '0:0')],
    });
    return { server: server.uuid, disk: disk!.uuid, cdrom: cdrom!.uuid };
  }

  it('all_drives: deletes a cdrom shared with another stopped server, detaching it there', async () => {
    const { server, disk, cdrom } = await pair();
    const [otherDisk] = await made({ name: 'other' });
    const other = await createServer(alice, {
      drives: [attach(otherDisk!.uuid, 'virtio', '0:0'), attach(cdrom, 'ide', '0:1')],
    });
    expect((await get(alice, `/drives/${cdrom}/`)).mounted_on).toHaveLength(2);

    const res = await alice.delete(`/servers/${server}/?recurse=all_drives`);
    expect(res.status, res.text).toBe(204);
    for (const gone of [`/servers/${server}/`, `/drives/${disk}/`, `/drives/${cdrom}/`]) {
      expectError(await alice.get(gone), 404, 'notexist', null);
    }
    const left = await get(alice, `/servers/${other.uuid}/`);
    expect(left.drives.map((d: Obj) => d.drive.uuid)).toEqual([otherDisk!.uuid]);
    expect((await get(alice, `/drives/${otherDisk!.uuid}/`)).status).toBe('mounted');
  });

  it("the deleted drives' volumes are removed by the storage driver (/metrics counts the calls)", async () => {
    const removes = async () => {
      const text = await (await fetch(`${t.origin}/metrics`)).text();
      const line =
        /sigmalite_driver_operations_total\{driver="storage",operation="remove",outcome="ok"\} (\d+)/.exec(
          text,
        );
      return Number(line?.[1] ?? 0);
    };
    const before = await removes();
    const { server } = await pair();
    const [alone] = await made({ name: 'alone' });
    expect((await alice.delete(`/servers/${server}/?recurse=all_drives`)).status).toBe(204);
    expect((await alice.delete(`/drives/${alone!.uuid}/`)).status).toBe(204);
    await drain(t.app);
    expect(await removes()).toBe(before + 3);
  });

  it('disks: deletes the disks and leaves the cdroms unmounted', async () => {
    const { server, disk, cdrom } = await pair();
    expect((await alice.delete(`/servers/${server}/?recurse=disks`)).status).toBe(204);
    expectError(await alice.get(`/drives/${disk}/`), 404, 'notexist', null);
    expect(await get(alice, `/drives/${cdrom}/`)).toMatchObject({
      status: 'unmounted',
      mounted_on: [],
    });
  });

  it('cdroms: deletes the cdroms and leaves the disks unmounted', async () => {
    const { server, disk, cdrom } = await pair();
    expect((await alice.delete(`/servers/${server}/?recurse=cdroms`)).status).toBe(204);
    expectError(await alice.get(`/drives/${cdrom}/`), 404, 'notexist', null);
    expect(await get(alice, `/drives/${disk}/`)).toMatchObject({
      status: 'unmounted',
      mounted_on: [],
    });
  });

  it('refuses, deleting nothing, when the server runs or a shared cdrom is on a running server', async () => {
    const { server, disk, cdrom } = await pair();
    const live = await running({ drives: [attach(cdrom, 'ide', '0:0')] });
    const res = await alice.delete(`/servers/${server}/?recurse=all_drives`);
    expectError(res, 403, 'permission', null);
    expect((await get(alice, `/servers/${server}/`)).drives).toHaveLength(2);
    expect((await get(alice, `/drives/${disk}/`)).status).toBe('mounted');
    expect((await get(alice, `/drives/${cdrom}/`)).mounted_on).toHaveLength(2);

    expect((await alice.post(action(server, 'start'))).status).toBe(202);
    const refused = await alice.delete(`/servers/${server}/?recurse=disks`);
    expect(expectError(refused, 403, 'permission', null).error_message).toBe(
      'Cannot delete guest in state "starting". Guest should be in state "stopped"',
    );
    await drain(t.app);
    for (const uuid of [server, live.uuid]) await alice.post(action(uuid, 'stop'));
    await drain(t.app);
    expect((await alice.delete(`/servers/${server}/?recurse=all_drives`)).status).toBe(204);
    expect((await get(alice, `/servers/${live.uuid}/`)).drives).toEqual([]);
  });

  it('refuses an unknown recurse value (400, point recurse)', async () => {
    const { server } = await pair();
    expectError(
      await alice.delete(`/servers/${server}/?recurse=everything`),
      400,
      'validation',
      'recurse',
    );
    expect((await get(alice, `/servers/${server}/`)).status).toBe('stopped');
  });
});
