/**
 * Drive definitions through real HTTP: create (minimal, bulk), defaults, size bounds per storage
 * type from capabilities, edits, list vs detail, delete (api-reference.md §1.8, §1.12, §3.1-§3.6).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attach,
  createDrive,
  createServer,
  expectError,
  getObject,
  linkTo,
  type Obj,
  UUID,
} from '../support/api.js';
import { type Client, driveBody, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let alice: Client;
let bob: Client;
let aliceUuid: string;
const extraApps: TestApp[] = [];

beforeAll(async () => {
  t = await startTestApp();
  alice = t.alice;
  bob = t.bob;
  aliceUuid = (await getObject(alice, '/profile/')).uuid;
});
afterAll(async () => {
  for (const app of extraApps) await app.close();
  await t.close();
});

async function freshApp(): Promise<TestApp> {
  const app = await startTestApp();
  extraApps.push(app);
  return app;
}

function postDrive(client: Client, definition: Obj) {
  return client.post('/drives/', { objects: [definition] });
}

function putDrive(client: Client, uuid: string, body: Obj) {
  return client.put(`/drives/${uuid}/`, body);
}

/** Right after create a drive is `creating` (CloudSigma) or already `unmounted` (no lifecycle yet). */
function expectFreshStatus(drive: Obj) {
  expect(['creating', 'unmounted']).toContain(drive.status);
  expect(drive.runtime.is_snapshotable).toBe(drive.status === 'creating' ? null : true);
}

const GiB = 1073741824;

describe('creating (POST /drives/)', () => {
  it('creates the minimal drive of fixture drive_create_minimal with every default', async () => {
    const res = await alice.post('/drives/', {
      objects: [{ media: 'disk', name: 'test_drive_1', size: GiB }],
    });
    expect(res.status).toBe(201);
    expect(Object.keys(res.json)).toEqual(['objects']);
    const drive = res.json.objects[0];
    expect(drive.uuid).toMatch(UUID);
    expectFreshStatus(drive);
    expect(drive).toEqual({
      affinities: [],
      allow_multimount: false,
      backup_scheduler: null,
      grantees: [],
      iops: null,
      jobs: [],
      licenses: [],
      media: 'disk',
      meta: {},
      mounted_on: [],
      name: 'test_drive_1',
      owner: linkTo('user', aliceUuid),
      permissions: [],
      remote_snapshots: [],
      resource_uri: `/api/2.0/drives/${drive.uuid}/`,
      runtime: {
        is_downloadable: true,
        is_ephemeral: false,
        is_snapshotable: drive.runtime.is_snapshotable,
        snapshots_allocated_size: 0,
        storage_type: 'dssd',
      },
      size: GiB,
      snapshots: [],
      status: drive.status,
      storage_type: 'dssd',
      tags: [],
      uuid: drive.uuid,
    });
    expect(res.headers.get('location')).toBe(`${t.origin}/api/2.0/drives/${drive.uuid}/`);
    const got = await getObject(alice, `/drives/${drive.uuid}/`);
    expect(got.uuid).toBe(drive.uuid);
    expect(got.name).toBe('test_drive_1');
    expect(got.size).toBe(GiB);
  });

  it('creates the five drives of fixture drive_create_bulk in order', async () => {
    const app = await freshApp();
    const names = [0, 1, 2, 3, 4].map((i) => `test_drive_${i}`);
    const res = await app.alice.post('/drives/', {
      objects: names.map((name) => ({ media: 'disk', name, size: GiB })),
    });
    expect(res.status).toBe(201);
    expect(res.json.objects.map((d: Obj) => d.name)).toEqual(names);
    expect(new Set(res.json.objects.map((d: Obj) => d.uuid)).size).toBe(5);
    for (const drive of res.json.objects) {
      expect(drive).toMatchObject({ size: GiB, media: 'disk', storage_type: 'dssd' });
    }
    expect((await app.alice.get('/drives/?limit=0')).json.meta.total_count).toBe(5);
  });

  it('creates nothing when one drive of a bulk create is invalid', async () => {
    const app = await freshApp();
    const res = await app.alice.post('/drives/', {
      objects: [driveBody({ name: 'ok' }), driveBody({ name: 'bad', size: 1 })],
    });
    expectError(res, 400, 'validation', 'size');
    expect((await app.alice.get('/drives/')).json.meta.total_count).toBe(0);
  });

  it('requires name, size and media; accepts an empty name', async () => {
    for (const field of ['name', 'size', 'media']) {
      const definition = driveBody();
      delete definition[field];
      const error = expectError(await postDrive(alice, definition), 400, 'validation', field);
      expect(error.error_message).toBe('This field is required');
    }
    const unnamed = await createDrive(alice, { name: '' });
    expect(unnamed.name).toBe('');
  });

  it('takes media disk or cdrom only', async () => {
    const cdrom = await createDrive(alice, { media: 'cdrom' });
    expect(cdrom.media).toBe('cdrom');
    expectError(await postDrive(alice, driveBody({ media: 'floppy' })), 400, 'validation', 'media');
  });

  it('keeps the given allow_multimount, meta and affinities', async () => {
    const drive = await createDrive(alice, {
      allow_multimount: true,
      meta: { description: 'd', install_notes: '' },
      affinities: ['ssd'],
    });
    expect(drive).toMatchObject({
      allow_multimount: true,
      meta: { description: 'd', install_notes: '' },
      affinities: ['ssd'],
    });
    expectError(
      await postDrive(alice, driveBody({ affinities: ['hdd'] })),
      400,
      'validation',
      'affinities',
    );
    expectError(
      await postDrive(alice, driveBody({ meta: { ['k'.repeat(33)]: 'v' } })),
      400,
      'validation',
      'meta',
    );
    expectError(
      await postDrive(alice, driveBody({ meta: { count: 3 } })),
      400,
      'validation',
      'meta',
    );
  });

  it('accepts the size as a numeric string', async () => {
    const drive = await createDrive(alice, { size: '1073741824' });
    expect(drive.size).toBe(GiB);
    expectError(await postDrive(alice, driveBody({ size: '1GB' })), 400, 'validation', 'size');
    expectError(await postDrive(alice, driveBody({ size: GiB + 0.5 })), 400, 'validation', 'size');
  });
});

describe('storage types and size bounds (capabilities)', () => {
  it('bounds dssd sizes to 536870912..15492389427364', async () => {
    expectError(await postDrive(alice, driveBody({ size: 536870911 })), 400, 'validation', 'size');
    const min = await createDrive(alice, { size: 536870912 });
    expect(min).toMatchObject({ size: 536870912, storage_type: 'dssd' });
    const max = await createDrive(alice, { size: 15492389427364, storage_type: 'dssd' });
    expect(max.size).toBe(15492389427364);
    expectError(
      await postDrive(alice, driveBody({ size: 15492389427365 })),
      400,
      'validation',
      'size',
    );
  });

  it('bounds zadara sizes to 1073741824..14180205493621', async () => {
    expectError(
      await postDrive(alice, driveBody({ size: 1073741823, storage_type: 'zadara' })),
      400,
      'validation',
      'size',
    );
    const min = await createDrive(alice, { size: 1073741824, storage_type: 'zadara' });
    expect(min).toMatchObject({ size: 1073741824, storage_type: 'zadara' });
    expect(min.runtime.storage_type).toBe('zadara');
    expectError(
      await postDrive(alice, driveBody({ size: 14180205493622, storage_type: 'zadara' })),
      400,
      'validation',
      'size',
    );
  });

  it('bounds nvme sizes to 536870912..12074020121525 (fixture drive_storage_type)', async () => {
    const nvme = await createDrive(alice, { name: 'test_nvme_drive', storage_type: 'nvme' });
    expect(nvme).toMatchObject({ storage_type: 'nvme', size: GiB });
    expectError(
      await postDrive(alice, driveBody({ size: 12074020121526, storage_type: 'nvme' })),
      400,
      'validation',
      'size',
    );
  });

  it('refuses storage types without bounds in capabilities (point storage_type)', async () => {
    for (const storageType of ['magnetic', 'ssd', 'local_nvme']) {
      const error = expectError(
        await postDrive(alice, driveBody({ storage_type: storageType })),
        400,
        'validation',
        'storage_type',
      );
      expect(error.error_message).toContain(storageType);
    }
    // Not a choice at all.
    expectError(
      await postDrive(alice, driveBody({ storage_type: 'tape' })),
      400,
      'validation',
      'storage_type',
    );
  });

  it('checks iops against the storage type', async () => {
    const drive = await createDrive(alice, { iops: 60000 });
    expect(drive.iops).toBe(60000);
    expectError(await postDrive(alice, driveBody({ iops: 60001 })), 400, 'validation', 'iops');
    expectError(
      await postDrive(alice, driveBody({ iops: 8001, storage_type: 'zadara' })),
      400,
      'validation',
      'iops',
    );
  });
});

describe('editing (PUT /drives/{uuid}/)', () => {
  it('answers fixture drive_edit and keeps omitted fields', async () => {
    const drive = await createDrive(alice, { name: 'test_drive_x', meta: { a: 'b' } });
    const res = await putDrive(alice, drive.uuid, {
      media: 'cdrom',
      name: 'test_drive_y',
      size: GiB,
    });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      uuid: drive.uuid,
      media: 'cdrom',
      name: 'test_drive_y',
      size: GiB,
      meta: { a: 'b' },
      storage_type: 'dssd',
    });
    expect((await getObject(alice, `/drives/${drive.uuid}/`)).name).toBe('test_drive_y');
  });

  it('cannot change storage_type, but may repeat it', async () => {
    const drive = await createDrive(alice);
    expectError(
      await putDrive(alice, drive.uuid, { storage_type: 'zadara' }),
      400,
      'validation',
      'storage_type',
    );
    const same = await putDrive(alice, drive.uuid, { storage_type: 'dssd', name: 'same type' });
    expect(same.status).toBe(200);
    expect(same.json).toMatchObject({ storage_type: 'dssd', name: 'same type' });
    expect((await getObject(alice, `/drives/${drive.uuid}/`)).storage_type).toBe('dssd');
  });

  it('grows a drive (size as a numeric string too) and refuses to shrink it', async () => {
    const drive = await createDrive(alice, { size: 2 * GiB });
    const grown = await putDrive(alice, drive.uuid, { size: String(3 * GiB) });
    expect(grown.status).toBe(200);
    expect(grown.json.size).toBe(3 * GiB);
    expectError(await putDrive(alice, drive.uuid, { size: 2 * GiB }), 400, 'validation', 'size');
    expect((await getObject(alice, `/drives/${drive.uuid}/`)).size).toBe(3 * GiB);
    expectError(
      await putDrive(alice, drive.uuid, { size: 15492389427365 }),
      400,
      'validation',
      'size',
    );
  });

  it('ignores read-only keys when a client PUTs back what it got', async () => {
    const drive = await createDrive(alice);
    const res = await putDrive(alice, drive.uuid, {
      ...drive,
      name: 'round-trip',
      status: 'mounted',
      mounted_on: [linkTo('servers', '00000000-0000-4000-8000-000000000000')],
      uuid: '00000000-0000-4000-8000-000000000000',
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ...drive, name: 'round-trip' });
  });

  it('refuses to turn allow_multimount off while a disk is on two servers', async () => {
    const disk = await createDrive(alice, { allow_multimount: true });
    await createServer(alice, { drives: [attach(disk.uuid, 'virtio', '0:0')] });
    await createServer(alice, { drives: [attach(disk.uuid, 'virtio', '0:0')] });
    expectError(
      await putDrive(alice, disk.uuid, { allow_multimount: false }),
      400,
      'validation',
      'allow_multimount',
    );
    expect((await getObject(alice, `/drives/${disk.uuid}/`)).allow_multimount).toBe(true);
  });

  it('answers 404 for a missing or foreign drive', async () => {
    const bobs = await createDrive(bob);
    expectError(await putDrive(alice, bobs.uuid, { name: 'x' }), 404, 'notexist', null);
    expectError(await alice.get(`/drives/${bobs.uuid}/`), 404, 'notexist', null);
    expectError(await alice.delete(`/drives/${bobs.uuid}/`), 404, 'notexist', null);
    expect((await getObject(bob, `/drives/${bobs.uuid}/`)).name).toBe('test-drive');
  });
});

describe('listing', () => {
  it('lists owner, resource_uri, status and uuid; details every key', async () => {
    const app = await freshApp();
    const created: Obj[] = [];
    for (const name of ['d0', 'd1', 'd2']) created.push(await createDrive(app.alice, { name }));
    await createDrive(app.bob, { name: 'bobs' });
    const list = await app.alice.get('/drives/?limit=0');
    expect(list.status).toBe(200);
    expect(list.json.meta).toEqual({ limit: 0, offset: 0, total_count: 3 });
    expect(list.json.objects).toEqual(
      created.map((d) => ({
        owner: d.owner,
        resource_uri: d.resource_uri,
        status: d.status,
        uuid: d.uuid,
      })),
    );
    const detail = await app.alice.get('/drives/detail/?limit=0');
    expect(detail.json.meta).toEqual({ limit: 0, offset: 0, total_count: 3 });
    expect(detail.json.objects.map((d: Obj) => d.uuid)).toEqual(created.map((d) => d.uuid));
    for (const [i, drive] of detail.json.objects.entries()) {
      expect(drive).toEqual(await getObject(app.alice, `/drives/${created[i]!.uuid}/`));
      expect(drive.name).toBe(`d${i}`);
    }
    // fields= projection (fixture drive_list_just_uuid_and_status).
    const projected = await app.alice.get('/drives/?fields=uuid,status&limit=0');
    expect(projected.json.objects).toEqual(
      created.map((d) => ({ status: d.status, uuid: d.uuid })),
    );
  });
});

describe('deleting', () => {
  it('deletes a drive: 204, then 404', async () => {
    const drive = await createDrive(alice);
    const res = await alice.delete(`/drives/${drive.uuid}/`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expectError(await alice.get(`/drives/${drive.uuid}/`), 404, 'notexist', null);
  });

  it('detaches a deleted drive from the stopped servers it is mounted on', async () => {
    const disk = await createDrive(alice, { allow_multimount: true });
    const other = await createDrive(alice);
    const one = await createServer(alice, {
      drives: [attach(other.uuid, 'virtio', '0:0'), attach(disk.uuid, 'virtio', '0:1', 1)],
    });
    const two = await createServer(alice, { drives: [attach(disk.uuid, 'ide', '0:0')] });
    expect((await alice.delete(`/drives/${disk.uuid}/`)).status).toBe(204);
    const oneAfter = await getObject(alice, `/servers/${one.uuid}/`);
    expect(oneAfter.drives).toEqual([
      {
        boot_order: null,
        dev_channel: '0:0',
        device: 'virtio',
        drive: linkTo('drives', other.uuid),
        runtime: null,
      },
    ]);
    expect((await getObject(alice, `/servers/${two.uuid}/`)).drives).toEqual([]);
    expect((await getObject(alice, `/drives/${other.uuid}/`)).mounted_on).toEqual([
      linkTo('servers', one.uuid),
    ]);
    // The freed slot can be used again.
    const reuse = await createDrive(alice);
    const res = await alice.put(`/servers/${one.uuid}/`, {
      drives: [...oneAfter.drives, attach(reuse.uuid, 'virtio', '0:1', 1)],
    });
    expect(res.status).toBe(200);
  });

  it('deletes several drives with DELETE /drives/ and {"objects": [...]}', async () => {
    const app = await freshApp();
    const [one, two, three] = [
      await createDrive(app.alice, { name: 'one' }),
      await createDrive(app.alice, { name: 'two' }),
      await createDrive(app.alice, { name: 'three' }),
    ];
    const server = await createServer(app.alice, {
      drives: [attach(one!.uuid, 'virtio', '0:0'), attach(three!.uuid, 'virtio', '0:1')],
    });
    const res = await app.alice.delete('/drives/', {
      objects: [{ uuid: one!.uuid }, { uuid: two!.uuid }],
    });
    expect(res.status).toBe(204);
    const list = await app.alice.get('/drives/');
    expect(list.json.objects.map((d: Obj) => d.uuid)).toEqual([three!.uuid]);
    expect(
      (await getObject(app.alice, `/servers/${server.uuid}/`)).drives.map((d: Obj) => d.drive.uuid),
    ).toEqual([three!.uuid]);
  });

  it('deletes nothing when a bulk delete names a missing drive', async () => {
    const app = await freshApp();
    const drive = await createDrive(app.alice);
    expectError(
      await app.alice.delete('/drives/', {
        objects: [{ uuid: drive.uuid }, { uuid: '00000000-0000-4000-8000-000000000000' }],
      }),
      404,
      'notexist',
      null,
    );
    expect((await app.alice.get('/drives/')).json.meta.total_count).toBe(1);
  });
});

describe('schema (GET /drives/schema/)', () => {
  it('declares the drive fields', async () => {
    const res = await alice.get('/drives/schema/');
    expect(res.status).toBe(200);
    const f = res.json.fields;
    expect(f.media).toMatchObject({ type: 'string', required: true, choices: ['cdrom', 'disk'] });
    expect(f.size).toMatchObject({ type: 'integer', required: true });
    expect(f.name).toMatchObject({ type: 'string', required: true });
    expect(f.allow_multimount).toMatchObject({ type: 'boolean', default: false });
    expect(f.storage_type.choices).toEqual([
      'magnetic',
      'ssd',
      'dssd',
      'zadara',
      'nvme',
      'local_nvme',
    ]);
    expect(f.mounted_on).toMatchObject({ type: 'related', readonly: true });
    expect(f.status).toMatchObject({ readonly: true });
  });
});
