/**
 * Snapshots (api-reference.md §3.7): taken of a drive (`creating` -> `available`), listed on the
 * drive and by `?drive=`, edited, deleted (alone, in bulk, with their drive), cloned into a new
 * drive, and limited by capabilities `snapshots`.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CAPABILITIES } from '../../src/resources/capabilities/default.js';
import { parseDoc, toUpdate } from '../../src/resources/common.js';
import { type SnapshotDoc, snapshotKind } from '../../src/resources/snapshots/model.js';
import { refreshAllocatedSize } from '../../src/resources/snapshots/service.js';
import { advance, closeApp, startManualApp, T, waitStatus } from '../lifecycle/support.js';
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
import { type Client, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp | undefined;
afterEach(async () => {
  await closeApp(t);
  t = undefined;
});

async function snapshot(client: Client, body: Obj): Promise<Obj> {
  const res = await client.post('/snapshots/', body);
  if (res.status !== 201) throw new Error(`snapshot create: ${res.status} ${res.text}`);
  return res.json.objects[0] as Obj;
}

async function list(client: Client, path: string): Promise<Obj> {
  const res = await client.get(path);
  expect(res.status, res.text).toBe(200);
  return res.json as Obj;
}

const uuids = (page: Obj) => page.objects.map((o: Obj) => o.uuid);

function capabilitiesFile(snapshots: { max: number; max_per_drive: number }): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sigmalite-caps-')), 'capabilities.json');
  const drives = {
    ...DEFAULT_CAPABILITIES.drives,
    local_nvme: { size: { min: 536870912, max: 107374182400 } },
  };
  writeFileSync(
    file,
    JSON.stringify({ ...DEFAULT_CAPABILITIES, drives, snapshots: { current: 0, ...snapshots } }),
  );
  return file;
}

describe('snapshots: create, read, edit, delete', () => {
  it('takes a snapshot: creating with the recorded shapes, then available; the drive lists it', async () => {
    t = await startTestApp({ settle: false });
    const drive = await createDrive(t.alice);
    await t.app.engine.settled();
    const created = await snapshot(t.alice, {
      objects: [{ drive: drive.uuid, name: 'first_snapshot', meta: { key: 'val' } }],
    });
    expect(created).toEqual({
      allocated_size: null,
      drive: linkTo('drives', drive.uuid),
      grantees: [],
      meta: { key: 'val' },
      name: 'first_snapshot',
      owner: drive.owner,
      permissions: [],
      resource_uri: `/api/2.0/snapshots/${created.uuid}/`,
      status: 'creating',
      tags: [],
      timestamp: expect.stringMatching(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/),
      uuid: expect.stringMatching(UUID),
    });
    const stamp = new Date(created.timestamp.replace(' ', 'T'));
    expect(Math.abs(stamp.getTime() - t.app.clock.now())).toBeLessThan(5_000);
    await t.app.engine.settled();
    const available = await getObject(t.alice, `/snapshots/${created.uuid}/`);
    expect(available).toEqual({ ...created, status: 'available', allocated_size: 0 });
    const withOne = await getObject(t.alice, `/drives/${drive.uuid}/`);
    expect(withOne.snapshots).toEqual([linkTo('snapshots', created.uuid)]);
    expect(withOne.runtime.snapshots_allocated_size).toBe(0);
    expect(withOne.status).toBe('unmounted');
  });

  it('names a snapshot taken without a name after its drive and the time; newest first on the drive', async () => {
    t = await startTestApp();
    const drive = await createDrive(t.alice);
    const first = await snapshot(t.alice, { drive: drive.uuid });
    const second = await snapshot(t.alice, [{ drive: linkTo('drives', drive.uuid), name: null }]);
    const now = new Date(t.app.clock.now()).toISOString();
    expect(first.name).toMatch(
      new RegExp(`^${drive.uuid}__${now.slice(0, 10)}__\\d{2}_\\d{2}_\\d{2}$`),
    );
    expect(second.name).toMatch(new RegExp(`^${drive.uuid}__`));
    const again = await getObject(t.alice, `/drives/${drive.uuid}/`);
    expect(again.snapshots.map((s: Obj) => s.uuid)).toEqual([second.uuid, first.uuid]);
  });

  it('lists (list == detail), filters by drive, name and uuid, pages', async () => {
    t = await startTestApp();
    const [a, b, c] = [
      await createDrive(t.alice, { name: 'a' }),
      await createDrive(t.alice, { name: 'b' }),
      await createDrive(t.alice, { name: 'c' }),
    ];
    const snaps: Obj[] = [];
    for (const drive of [a, b, c, a, b]) {
      snaps.push(await snapshot(t.alice, { drive: drive!.uuid, name: `of ${drive!.name}` }));
    }
    const page = await list(t.alice, '/snapshots/?limit=0');
    expect(page.meta).toEqual({ limit: 0, offset: 0, total_count: 5 });
    expect(uuids(page)).toEqual(snaps.map((s) => s.uuid));
    expect(await list(t.alice, '/snapshots/detail/?limit=0')).toEqual(page);
    expect(page.objects[0]).toEqual(await getObject(t.alice, `/snapshots/${snaps[0]!.uuid}/`));

    const ofA = await list(t.alice, `/snapshots/detail/?limit=0&drive=${a!.uuid}`);
    expect(ofA.meta.total_count).toBe(2);
    expect(uuids(ofA)).toEqual([snaps[0]!.uuid, snaps[3]!.uuid]);
    const ofAC = await list(t.alice, `/snapshots/?drive=${a!.uuid},${c!.uuid}&limit=2&offset=1`);
    expect(ofAC.meta).toEqual({ limit: 2, offset: 1, total_count: 3 });
    expect(uuids(ofAC)).toEqual([snaps[2]!.uuid, snaps[3]!.uuid]);
    // Repeated parameters AND, as every filter does.
    expect(uuids(await list(t.alice, `/snapshots/?drive=${a!.uuid}&drive=${b!.uuid}`))).toEqual([]);
    expect(
      uuids(await list(t.alice, `/snapshots/?drive=${a!.uuid}&uuid=${snaps[3]!.uuid}`)),
    ).toEqual([snaps[3]!.uuid]);
    // A drive without snapshots, a missing one, one of another account: nothing.
    const empty = await createDrive(t.alice);
    for (const drive of [empty.uuid, '00000000-0000-4000-8000-000000000000']) {
      const none = await list(t.alice, `/snapshots/?drive=${drive}`);
      expect(none).toEqual({ meta: { limit: 20, offset: 0, total_count: 0 }, objects: [] });
    }
    expect((await list(t.bob, `/snapshots/?drive=${a!.uuid}`)).meta.total_count).toBe(0);
    expect((await list(t.bob, '/snapshots/')).meta.total_count).toBe(0);
    expectError(await t.bob.get(`/snapshots/${snaps[0]!.uuid}/`), 404, 'notexist', null);

    expect(uuids(await list(t.alice, `/snapshots/?name=of ${b!.name}`))).toHaveLength(2);
    expect(uuids(await list(t.alice, '/snapshots/?name__contains=OF'))).toHaveLength(5);
    expect(uuids(await list(t.alice, `/snapshots/?uuid=${snaps[4]!.uuid}`))).toEqual([
      snaps[4]!.uuid,
    ]);
    expect((await list(t.alice, '/snapshots/?fields=uuid,status&limit=1')).objects).toEqual([
      { status: 'available', uuid: snaps[0]!.uuid },
    ]);
  });

  it('edits name and meta (PUT merges); the drive stays the one it was taken of', async () => {
    t = await startTestApp();
    const drive = await createDrive(t.alice);
    const other = await createDrive(t.alice);
    const snap = await snapshot(t.alice, { drive: drive.uuid, name: 'a', meta: { k: 'v' } });
    // What a client read, sent back whole with a new name (pycloudsigma does so).
    const read = await getObject(t.alice, `/snapshots/${snap.uuid}/`);
    const res = await t.alice.put(`/snapshots/${snap.uuid}/`, { ...read, name: 'renamed' });
    expect(res.status, res.text).toBe(200);
    expect(res.json).toEqual({ ...read, name: 'renamed' });
    const meta = await t.alice.put(`/snapshots/${snap.uuid}/`, {
      drive: drive.uuid,
      meta: { key: 'val_changed', new_key: 'new_key_value' },
    });
    expect(meta.json).toMatchObject({
      name: 'renamed',
      meta: { key: 'val_changed', new_key: 'new_key_value' },
    });
    expectError(
      await t.alice.put(`/snapshots/${snap.uuid}/`, { drive: other.uuid }),
      400,
      'validation',
      'drive',
    );
    expectError(
      await t.alice.put(`/snapshots/${snap.uuid}/`, { meta: { ['k'.repeat(33)]: 'v' } }),
      400,
      'validation',
      'meta',
    );
    expect((await getObject(t.alice, `/snapshots/${snap.uuid}/`)).name).toBe('renamed');
  });

  it('deletes one, or several at once; each leaves its drive', async () => {
    t = await startTestApp();
    const drive = await createDrive(t.alice);
    const [s1, s2, s3] = [
      await snapshot(t.alice, { drive: drive.uuid }),
      await snapshot(t.alice, { drive: drive.uuid }),
      await snapshot(t.alice, { drive: drive.uuid }),
    ];
    const res = await t.alice.delete(`/snapshots/${s1!.uuid}/`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expectError(await t.alice.get(`/snapshots/${s1!.uuid}/`), 404, 'notexist', null);
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).snapshots).toEqual([
      linkTo('snapshots', s3!.uuid),
      linkTo('snapshots', s2!.uuid),
    ]);
    expect(
      (await t.alice.delete('/snapshots/', { objects: [{ uuid: s2!.uuid }, s3!.uuid] })).status,
    ).toBe(204);
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).snapshots).toEqual([]);
    expect((await list(t.alice, '/snapshots/')).meta.total_count).toBe(0);
    expectError(await t.bob.delete(`/snapshots/${s1!.uuid}/`), 404, 'notexist', null);
  });

  it('deleting a drive deletes its snapshots, and only its own', async () => {
    t = await startTestApp();
    const drive = await createDrive(t.alice);
    const keep = await createDrive(t.alice);
    const gone = [
      await snapshot(t.alice, { drive: drive.uuid }),
      await snapshot(t.alice, { drive: drive.uuid }),
    ];
    const kept = await snapshot(t.alice, { drive: keep.uuid });
    const removes = async () => {
      const text = await (await fetch(`${t!.origin}/metrics`)).text();
      const line =
        /sigmalite_driver_operations_total\{driver="storage",operation="remove",outcome="ok"\} (\d+)/.exec(
          text,
        );
      return Number(line?.[1] ?? 0);
    };
    const before = await removes();
    expect((await t.alice.delete(`/drives/${drive.uuid}/`)).status).toBe(204);
    await t.app.engine.settled();
    // The storage driver removes the drive's volume and its snapshots' (libvirt keeps each as one).
    expect(await removes()).toBe(before + 3);
    for (const s of gone) {
      expectError(await t.alice.get(`/snapshots/${s.uuid}/`), 404, 'notexist', null);
    }
    expect(uuids(await list(t.alice, '/snapshots/'))).toEqual([kept.uuid]);
    expect((await list(t.alice, `/snapshots/?drive=${drive.uuid}`)).meta.total_count).toBe(0);
    // And through a server's recursive delete.
    const server = await createServer(t.alice, { drives: [attach(keep.uuid, 'virtio', '0:0')] });
    expect((await t.alice.delete(`/servers/${server.uuid}/?recurse=all_drives`)).status).toBe(204);
    expect((await list(t.alice, '/snapshots/')).meta.total_count).toBe(0);
  });

  it('refuses what cannot be snapshotted, each with a clear error', async () => {
    t = await startTestApp({ capabilities: capabilitiesFile({ max: 700, max_per_drive: 90 }) });
    expectError(await t.alice.post('/snapshots/', { name: 'x' }), 400, 'validation', 'drive');
    const missing = await t.alice.post('/snapshots/', {
      drive: '00000000-0000-4000-8000-000000000000',
    });
    expectError(missing, 400, 'validation', 'drive');
    const bobs = await createDrive(t.bob);
    expectError(
      await t.alice.post('/snapshots/', { drive: bobs.uuid }),
      400,
      'validation',
      'drive',
    );
    expectError(
      await t.alice.post('/snapshots/', { drive: 'c0c2212a-3bbb-49e3-a42d-ab2f43244445' }),
      400,
      'validation',
      'drive',
    );
    const ephemeral = await createDrive(t.alice, { storage_type: 'local_nvme' });
    const error = expectError(
      await t.alice.post('/snapshots/', { drive: ephemeral.uuid }),
      403,
      'permission',
      'drive',
    );
    expect(error.error_message).toContain('ephemeral');
    expect((await getObject(t.alice, `/drives/${ephemeral.uuid}/`)).runtime.is_snapshotable).toBe(
      false,
    );
    // All or nothing: a bulk create with one bad item creates none.
    const drive = await createDrive(t.alice);
    const bulk = await t.alice.post('/snapshots/', [{ drive: drive.uuid }, { drive: bobs.uuid }]);
    expectError(bulk, 400, 'validation', 'drive');
    expect((await list(t.alice, '/snapshots/')).meta.total_count).toBe(0);
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).snapshots).toEqual([]);
  });

  it('serves /snapshots/schema/', async () => {
    t = await startTestApp();
    const schema = await getObject(t.alice, '/snapshots/schema/');
    expect(schema.filtering).toEqual({
      name: 'exact',
      name__contains: 'exact',
      tag: 'exact',
      uuid: 'exact',
    });
    expect(schema.fields.drive).toMatchObject({ type: 'related', required: true });
    expect(schema.fields.allocated_size).toMatchObject({ readonly: true, type: 'integer' });
  });
});

describe('snapshots: limits', () => {
  it('refuses a snapshot over max_per_drive or max with 403; capabilities show the count', async () => {
    t = await startTestApp({ capabilities: capabilitiesFile({ max: 3, max_per_drive: 2 }) });
    const a = await createDrive(t.alice);
    const b = await createDrive(t.alice);
    await snapshot(t.alice, { drive: a.uuid });
    await snapshot(t.alice, { drive: a.uuid });
    const perDrive = expectError(
      await t.alice.post('/snapshots/', { drive: a.uuid }),
      403,
      'permission',
      'drive',
    );
    expect(perDrive.error_message).toContain('max_per_drive 2');
    const caps = await getObject(t.alice, '/capabilities/');
    expect(caps.snapshots).toEqual({ current: 2, max: 3, max_per_drive: 2 });
    await snapshot(t.alice, { drive: b.uuid });
    const account = expectError(
      await t.alice.post('/snapshots/', { drive: b.uuid }),
      403,
      'permission',
      null,
    );
    expect(account.error_message).toContain('max 3');
    // Bulk creates count as they go.
    expect((await getObject(t.bob, '/capabilities/')).snapshots.current).toBe(0);
    const bobs = await createDrive(t.bob);
    const other = await createDrive(t.bob);
    const bulk = await t.bob.post('/snapshots/', [
      { drive: bobs.uuid },
      { drive: other.uuid },
      { drive: other.uuid },
      { drive: bobs.uuid },
    ]);
    expectError(bulk, 403, 'permission', null);
    expect((await getObject(t.bob, '/capabilities/')).snapshots.current).toBe(0);
    // Deleting one makes room.
    const first = (await list(t.alice, '/snapshots/')).objects[0];
    expect((await t.alice.delete(`/snapshots/${first.uuid}/`)).status).toBe(204);
    await snapshot(t.alice, { drive: b.uuid });
  });

  it('keeps the drive runtime.snapshots_allocated_size the sum of its snapshots', async () => {
    t = await startTestApp();
    const drive = await createDrive(t.alice);
    const [s1, s2] = [
      await snapshot(t.alice, { drive: drive.uuid }),
      await snapshot(t.alice, { drive: drive.uuid }),
    ];
    // The simulated storage holds nothing (0 bytes): give the snapshots sizes as real storage would.
    await t.app.store.write(async (tx) => {
      for (const [uuid, size] of [
        [s1!.uuid, 1000],
        [s2!.uuid, 234],
      ] as const) {
        const record = (await tx.get(uuid))!;
        const doc = parseDoc<SnapshotDoc>(record);
        doc.allocated_size = size;
        await tx.update(toUpdate(snapshotKind, record, doc));
      }
      await refreshAllocatedSize(tx, drive.uuid);
    });
    const runtime = async () => (await getObject(t!.alice, `/drives/${drive.uuid}/`)).runtime;
    expect((await runtime()).snapshots_allocated_size).toBe(1234);
    await t.alice.delete(`/snapshots/${s1!.uuid}/`);
    expect((await runtime()).snapshots_allocated_size).toBe(234);
    // A clone of the drive starts without snapshots.
    const clone = await t.alice.post(`/drives/${drive.uuid}/action/?do=clone`);
    const copy = await getObject(t.alice, `/drives/${clone.json.objects[0].uuid}/`);
    expect(copy.snapshots).toEqual([]);
    expect(copy.runtime.snapshots_allocated_size).toBe(0);
  });
});

describe('snapshots: clone', () => {
  it('clones a snapshot into a new drive: 202, the bare drive, named after the snapshot', async () => {
    t = await startTestApp();
    const drive = await createDrive(t.alice, { name: 'source', size: 2147483648, media: 'cdrom' });
    const snap = await snapshot(t.alice, { drive: drive.uuid });
    // The drive changes after the snapshot: the clone is what the snapshot holds.
    await t.alice.put(`/drives/${drive.uuid}/`, { size: 4294967296, media: 'disk' });
    const res = await t.alice.post(
      `/snapshots/${snap.uuid}/action/?do=clone&avoid=${drive.uuid}`,
      {},
    );
    expect(res.status, res.text).toBe(202);
    const clone = res.json;
    expect(clone.objects).toBeUndefined();
    expect(clone).toMatchObject({
      name: snap.name,
      media: 'cdrom',
      size: 2147483648,
      storage_type: 'dssd',
      status: 'cloning_dst',
      mounted_on: [],
      snapshots: [],
      resource_uri: `/api/2.0/drives/${clone.uuid}/`,
      runtime: { is_snapshotable: null },
    });
    expect(clone.jobs).toHaveLength(1);
    const done = await getObject(t.alice, `/drives/${clone.uuid}/`);
    expect(done.status).toBe('unmounted');
    const job = await getObject(t.alice, `/jobs/${clone.jobs[0].uuid}/`);
    expect(job).toMatchObject({ operation: 'drive_clone', state: 'success' });
    expect(job.resources).toEqual([snap.resource_uri, done.resource_uri]);
    // The snapshot and its drive did not move.
    expect(await getObject(t.alice, `/snapshots/${snap.uuid}/`)).toMatchObject({
      status: 'available',
    });
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).status).toBe('unmounted');

    const named = await t.alice.post(`/snapshots/${snap.uuid}/action/?do=clone`, {
      media: 'disk',
      name: 'test_drive_snapshot_clone_name',
      affinities: ['ssd'],
    });
    expect(named.json).toMatchObject({
      name: 'test_drive_snapshot_clone_name',
      media: 'disk',
      affinities: ['ssd'],
      size: 2147483648,
    });
    await t.alice.put('/profile/', { clone_naming: 'COUNTER' });
    await t.alice.put(`/snapshots/${snap.uuid}/`, { name: 'nightly' });
    const counted = await t.alice.post(`/snapshots/${snap.uuid}/action/?do=clone`);
    expect(counted.json.name).toBe('nightly_1');
    expectError(
      await t.bob.post(`/snapshots/${snap.uuid}/action/?do=clone`),
      404,
      'notexist',
      null,
    );
    expectError(
      await t.alice.post(`/snapshots/${snap.uuid}/action/?do=clone`, { media: 'tape' }),
      400,
      'validation',
      'media',
    );
  });
});

describe('snapshots: lifecycle on a stopped clock', () => {
  it('is creating for the snapshot time; a drive in a transition cannot be snapshotted', async () => {
    t = await startManualApp();
    const res = await t.alice.post('/drives/', { name: 'd', size: 1073741824, media: 'disk' });
    const drive = res.json.objects[0];
    const early = await t.alice.post('/snapshots/', { drive: drive.uuid });
    const error = expectError(early, 403, 'permission', 'drive');
    expect(error.error_message).toContain('"creating"');
    await advance(t.app, T.create);
    await waitStatus(t.alice, `/drives/${drive.uuid}/`, 'unmounted');

    const snap = await snapshot(t.alice, { drive: drive.uuid });
    await advance(t.app, T.snapshot - 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await getObject(t.alice, `/snapshots/${snap.uuid}/`)).status).toBe('creating');
    // A snapshot still being made cannot be cloned; it can be deleted (its task then ends).
    expectError(
      await t.alice.post(`/snapshots/${snap.uuid}/action/?do=clone`),
      403,
      'permission',
      null,
    );
    t.app.clock.advance(1);
    const available = await waitStatus(t.alice, `/snapshots/${snap.uuid}/`, 'available');
    expect(available.allocated_size).toBe(0);

    const doomed = await snapshot(t.alice, { drive: drive.uuid });
    expect((await t.alice.delete(`/snapshots/${doomed.uuid}/`)).status).toBe(204);
    await advance(t.app, T.snapshot);
    await t.app.engine.settled();
    expectError(await t.alice.get(`/snapshots/${doomed.uuid}/`), 404, 'notexist', null);
  });

  it('keeps a snapshot while a drive is copied from it: neither it nor its drive can go', async () => {
    t = await startManualApp();
    const res = await t.alice.post('/drives/', { name: 'd', size: 1073741824, media: 'disk' });
    const drive = res.json.objects[0];
    await advance(t.app, T.create);
    await waitStatus(t.alice, `/drives/${drive.uuid}/`, 'unmounted');
    const snap = await snapshot(t.alice, { drive: drive.uuid });
    await advance(t.app, T.snapshot);
    await waitStatus(t.alice, `/snapshots/${snap.uuid}/`, 'available');

    const clone = (await t.alice.post(`/snapshots/${snap.uuid}/action/?do=clone`)).json;
    expect(clone.status).toBe('cloning_dst');
    const busy = expectError(
      await t.alice.delete(`/snapshots/${snap.uuid}/`),
      403,
      'permission',
      null,
    );
    expect(busy.error_message).toContain(clone.uuid);
    expectError(await t.alice.delete(`/drives/${drive.uuid}/`), 403, 'permission', null);
    expectError(await t.alice.delete(`/drives/${clone.uuid}/`), 403, 'permission', null);

    await advance(t.app, T.clone);
    await waitStatus(t.alice, `/drives/${clone.uuid}/`, 'unmounted');
    await t.app.engine.settled();
    expect((await t.alice.delete(`/drives/${drive.uuid}/`)).status).toBe(204);
    expectError(await t.alice.get(`/snapshots/${snap.uuid}/`), 404, 'notexist', null);
    // The clone is a drive of its own: it stays.
    expect((await getObject(t.alice, `/drives/${clone.uuid}/`)).status).toBe('unmounted');
  });

  it('snapshots a drive mounted on a running server', async () => {
    t = await startTestApp();
    const drive = await createDrive(t.alice);
    const server = await createServer(t.alice, { drives: [attach(drive.uuid, 'virtio', '0:0')] });
    await t.alice.post(`/servers/${server.uuid}/action/?do=start`);
    expect((await getObject(t.alice, `/servers/${server.uuid}/`)).status).toBe('running');
    const snap = await snapshot(t.alice, { drive: drive.uuid });
    expect((await getObject(t.alice, `/snapshots/${snap.uuid}/`)).status).toBe('available');
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).status).toBe('mounted');
  });
});
