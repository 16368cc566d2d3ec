/**
 * Clones (api-reference.md §2.7, §3.5, §5.7, §5.8): a server clone copies its disks into new
 * drives (`cloning_dst`, the sources `cloning_src`), shares its cdroms, resets NICs to DHCP with
 * fresh MACs, is `cloning` until the copies are done and then `stopped`, and is followed by a
 * `server_clone` job with `drive_clone` children; a drive clone takes body options and answers
 * `{"objects": [drive]}`. Names without a `name` come from the profile's `clone_naming`.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isoTime } from '../../src/resources/objects.js';
import { attach, createServer, expectError, linkTo, MAC, type Obj, UUID } from '../support/api.js';
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

let t: TestApp;
let alice: Client;

beforeAll(async () => {
  t = await startManualApp();
  alice = t.alice;
});
afterAll(() => closeApp(t));
afterEach(async () => {
  await drain(t.app);
  await setNaming('NONE');
});

async function setNaming(naming: string): Promise<void> {
  const res = await alice.put('/profile/', { clone_naming: naming });
  expect(res.status, res.text).toBe(200);
}

/** Creates drives and waits until they are made. */
async function drives(...overrides: Obj[]): Promise<Obj[]> {
  const res = await alice.post('/drives/', { objects: overrides.map((o) => driveBody(o)) });
  expect(res.status, res.text).toBe(201);
  await drain(t.app);
  return Promise.all(res.json.objects.map((d: Obj) => get(alice, `/drives/${d.uuid}/`)));
}

/** Keys a clone changes; everything else is copied. */
const CHANGED = [
  'uuid',
  'resource_uri',
  'name',
  'vnc_password',
  'status',
  'jobs',
  'drives',
  'nics',
];
const without = (obj: Obj, keys: string[]) =>
  Object.fromEntries(Object.entries(obj).filter(([k]) => !keys.includes(k)));

describe('server clone', () => {
  it('copies disks, shares cdroms, resets NICs, and follows the copy with jobs', async () => {
    const [disk, cdrom] = await drives({ name: 'system' }, { name: 'installer', media: 'cdrom' });
    const source = await createServer(alice, {
      name: 'web',
      cpu: 2000,
      mem: 1073741824,
      meta: { role: 'frontend' },
      drives: [attach(disk!.uuid, 'virtio', '0:0', 1), attach(cdrom!.uuid, 'ide', '0:1', 2)],
      nics: [
        { ip_v4_conf: { conf: 'dhcp' }, model: 'virtio' },
        { ip_v4_conf: { conf: 'manual' }, model: 'e1000', boot_order: 3 },
        { model: 'rtl8139' },
      ],
    });
    const res = await alice.post(action(source.uuid, 'clone'), {
      name: 'web copy',
      random_vnc_password: true,
    });
    expect(res.status, res.text).toBe(202);
    const clone = res.json as Obj;
    const clonePath = `/servers/${clone.uuid}/`;

    // A bare server object (not wrapped in objects).
    expect(clone.uuid).toMatch(UUID);
    expect(clone.uuid).not.toBe(source.uuid);
    expect(clone.resource_uri).toBe(`/api/2.0${clonePath}`);
    expect(clone.name).toBe('web copy');
    expect(clone.vnc_password).toMatch(/^[A-Za-z0-9]{8}$/);
    expect(clone.vnc_password).not.toBe(source.vnc_password);
    expect(clone.status).toBe('cloning');
    expect(clone.runtime).toBeNull();
    expect(without(clone, CHANGED)).toEqual(without(source, CHANGED));
    expect(await get(alice, clonePath)).toEqual(clone);

    // Disks are copies (new uuid), cdroms the same drive; order and devices are kept.
    const [copied, shared] = clone.drives as Obj[];
    expect(copied!.drive.uuid).not.toBe(disk!.uuid);
    expect(shared!.drive.uuid).toBe(cdrom!.uuid);
    expect(clone.drives.map((d: Obj) => without(d, ['drive']))).toEqual(
      source.drives.map((d: Obj) => without(d, ['drive'])),
    );

    // NICs: fresh MACs, DHCP instead of any address configuration, the rest kept.
    expect(clone.nics).toHaveLength(3);
    const sourceMacs = source.nics.map((n: Obj) => n.mac);
    clone.nics.forEach((nic: Obj, i: number) => {
      expect(nic.mac).toMatch(MAC);
      expect(sourceMacs).not.toContain(nic.mac);
      expect(nic.model).toBe(source.nics[i].model);
      expect(nic.boot_order).toBe(source.nics[i].boot_order);
      expect(nic.runtime).toBeNull();
    });
    expect(clone.nics[0].ip_v4_conf).toEqual({ conf: 'dhcp', ip: null });
    expect(clone.nics[1].ip_v4_conf).toEqual({ conf: 'dhcp', ip: null });
    expect(clone.nics[2].ip_v4_conf).toBeNull();
    expect(new Set(clone.nics.map((n: Obj) => n.mac)).size).toBe(3);

    // While the copy runs.
    const copy = await get(alice, `/drives/${copied!.drive.uuid}/`);
    expect(copy.status).toBe('cloning_dst');
    expect(copy.name).toBe('system');
    expect(copy.size).toBe(disk!.size);
    expect(copy.mounted_on).toEqual([linkTo('servers', clone.uuid)]);
    expect(copy.jobs).toHaveLength(1);
    expect((await get(alice, `/drives/${disk!.uuid}/`)).status).toBe('cloning_src');
    const sharedNow = await get(alice, `/drives/${cdrom!.uuid}/`);
    expect(sharedNow.status).toBe('mounted');
    expect(sharedNow.mounted_on).toEqual([
      linkTo('servers', source.uuid),
      linkTo('servers', clone.uuid),
    ]);

    expect(clone.jobs).toHaveLength(1);
    const jobPath = `/jobs/${clone.jobs[0].uuid}/`;
    expect(clone.jobs[0]).toEqual(linkTo('jobs', clone.jobs[0].uuid));
    const started = await get(alice, jobPath);
    expect(started).toMatchObject({
      operation: 'server_clone',
      state: 'started',
      data: { progress: 0 },
      resources: [`/api/2.0/servers/${source.uuid}/`, `/api/2.0/servers/${clone.uuid}/`],
      resource_uri: `/api/2.0${jobPath}`,
      uuid: clone.jobs[0].uuid,
    });

    await advance(t.app, T.clone - 1);
    await realSleep(30);
    expect((await get(alice, clonePath)).status).toBe('cloning');
    t.app.clock.advance(1);
    const done = await waitStatus(alice, clonePath, 'stopped');
    expect(done.runtime).toBeNull();
    const copyDone = await get(alice, `/drives/${copied!.drive.uuid}/`);
    expect(copyDone.status).toBe('mounted');
    expect((await get(alice, `/drives/${disk!.uuid}/`)).status).toBe('mounted');

    const job = await get(alice, jobPath);
    expect(job).toMatchObject({ state: 'success', data: { progress: 100 } });
    expect(Date.parse(job.last_modified)).toBeGreaterThanOrEqual(Date.parse(job.created));
    expect(job.children).toHaveLength(1);
    const child = job.children[0] as Obj;
    expect(child).toMatchObject({
      operation: 'drive_clone',
      state: 'success',
      data: { progress: 100 },
      children: [],
      resources: [`/api/2.0/drives/${disk!.uuid}/`, `/api/2.0/drives/${copied!.drive.uuid}/`],
    });
    expect(copyDone.jobs).toEqual([linkTo('jobs', child.uuid)]);
    expect(await get(alice, `/jobs/${child.uuid}/`)).toEqual(child);
    const list = await get(alice, '/jobs/?limit=0');
    const uuids = (list.objects as Obj[]).map((j) => j.uuid);
    expect(uuids).toContain(job.uuid);
    expect(uuids).toContain(child.uuid);
    const succeeded = await get(alice, '/jobs/?state=success&limit=0');
    expect((succeeded.objects as Obj[]).every((j) => j.state === 'success')).toBe(true);

    // The clone is a server like any other: it starts with its own disk.
    expect((await alice.post(action(clone.uuid, 'start'))).status).toBe(202);
    await drain(t.app);
    const running = await get(alice, clonePath);
    expect(running.status).toBe('running');
    expect(running.nics[0].runtime.ip_v4).not.toBeNull();
    await alice.post(action(clone.uuid, 'stop'));
  });

  it('copies several disks one after another; the job progress follows', async () => {
    const [a, b] = await drives({ name: 'a' }, { name: 'b' });
    const source = await createServer(alice, {
      drives: [attach(a!.uuid, 'virtio', '0:0'), attach(b!.uuid, 'virtio', '0:1')],
    });
    const clone = (await alice.post(action(source.uuid, 'clone'))).json as Obj;
    expect(clone.status).toBe('cloning');
    const jobPath = `/jobs/${clone.jobs[0].uuid}/`;
    await advance(t.app, T.clone);
    await waitFor50(jobPath);
    expect((await get(alice, `/servers/${clone.uuid}/`)).status).toBe('cloning');
    const [first, second] = clone.drives.map((d: Obj) => d.drive.uuid as string);
    expect((await get(alice, `/drives/${first}/`)).status).toBe('mounted');
    expect((await get(alice, `/drives/${second}/`)).status).toBe('cloning_dst');
    await advance(t.app, T.clone);
    await waitStatus(alice, `/servers/${clone.uuid}/`, 'stopped');
    const job = await get(alice, jobPath);
    expect(job.data.progress).toBe(100);
    expect(job.children.map((c: Obj) => c.state)).toEqual(['success', 'success']);
  });

  async function waitFor50(jobPath: string) {
    for (let i = 0; i < 500; i++) {
      if ((await get(alice, jobPath)).data.progress === 50) return;
      await realSleep(3);
    }
    throw new Error('the job never reached 50%');
  }

  it('keeps the name and password without a body; clones a running server, which keeps running', async () => {
    const [disk] = await drives({ name: 'root' });
    const source = await createServer(alice, {
      name: 'db',
      drives: [attach(disk!.uuid, 'virtio', '0:0')],
      nics: [{ ip_v4_conf: { conf: 'dhcp' } }],
    });
    await alice.post(action(source.uuid, 'start'));
    await drain(t.app);
    const res = await alice.post(action(source.uuid, 'clone'));
    expect(res.status).toBe(202);
    expect(res.json.name).toBe('db');
    expect(res.json.vnc_password).toBe(source.vnc_password);
    expect(res.json.status).toBe('cloning');
    expect(res.json.runtime).toBeNull();
    expect(res.json.drives[0].runtime).toBeNull();
    expect(res.json.nics[0].runtime).toBeNull();
    expect((await get(alice, `/servers/${source.uuid}/`)).status).toBe('running');
    await drain(t.app);
    expect((await get(alice, `/servers/${res.json.uuid}/`)).status).toBe('stopped');
    expect((await get(alice, `/servers/${source.uuid}/`)).status).toBe('running');
    expect((await get(alice, `/drives/${disk!.uuid}/`)).status).toBe('mounted');
    await alice.post(action(source.uuid, 'stop'));
  });

  it('is stopped at once, with a finished job, when there is no disk to copy', async () => {
    const [cdrom] = await drives({ media: 'cdrom' });
    const source = await createServer(alice, { drives: [attach(cdrom!.uuid, 'ide', '0:0')] });
    const res = await alice.post(action(source.uuid, 'clone'), { name: 'nodisk' });
    expect(res.json.status).toBe('stopped');
    expect(res.json.drives[0].drive.uuid).toBe(cdrom!.uuid);
    const job = await get(alice, `/jobs/${res.json.jobs[0].uuid}/`);
    expect(job).toMatchObject({ state: 'success', data: { progress: 100 }, children: [] });
  });

  it('refuses a body that is not an object or has wrong types, and creates nothing', async () => {
    const source = await createServer(alice);
    const before = (await get(alice, '/servers/?limit=0')).meta.total_count;
    expectError(await alice.post(action(source.uuid, 'clone'), [1]), 400, 'validation', null);
    expectError(
      await alice.post(action(source.uuid, 'clone'), { name: 5 }),
      400,
      'validation',
      'name',
    );
    expectError(
      await alice.post(action(source.uuid, 'clone'), { random_vnc_password: 'yes' }),
      400,
      'validation',
      'random_vnc_password',
    );
    expect((await get(alice, '/servers/?limit=0')).meta.total_count).toBe(before);
  });

  it.each([
    ['NONE', (name: string) => name, (drive: string) => drive],
    ['COUNTER', () => 'srv_1', () => 'disk-8'],
    ['DATE', (_: string, day: string) => `srv-${day}`, (_: string, day: string) => `disk-7-${day}`],
    [
      'TIMESTAMP',
      (_: string, __: string, time: string) => `srv-${time}`,
      (_: string, __: string, time: string) => `disk-7-${time}`,
    ],
  ] as const)(
    'names a server clone and its disks by clone_naming %s',
    async (naming, server, drive) => {
      await setNaming(naming);
      const [disk] = await drives({ name: 'disk-7' });
      const source = await createServer(alice, {
        name: 'srv',
        drives: [attach(disk!.uuid, 'virtio', '0:0')],
      });
      const now = isoTime(t.app.clock.now());
      const day = now.slice(0, 10);
      const time = now.slice(0, 19).replace('T', ' ');
      const res = await alice.post(action(source.uuid, 'clone'), {});
      expect(res.json.name).toBe(server('srv', day, time));
      const copy = await get(alice, `/drives/${res.json.drives[0].drive.uuid}/`);
      expect(copy.name).toBe(drive('disk-7', day, time));
      // A name in the body wins over the naming.
      await drain(t.app);
      const named = await alice.post(action(source.uuid, 'clone'), { name: 'chosen' });
      expect(named.status).toBe(202);
      expect(named.json.name).toBe('chosen');
    },
  );
});

describe('drive clone', () => {
  it('answers {"objects": [drive]} in cloning_dst; the source is cloning_src until done', async () => {
    const [source] = await drives({ name: 'golden', meta: { os: 'linux' } });
    const res = await alice.post(`/drives/${source!.uuid}/action/?do=clone`, {});
    expect(res.status, res.text).toBe(202);
    expect(Object.keys(res.json)).toEqual(['objects']);
    expect(res.json.objects).toHaveLength(1);
    const copy = res.json.objects[0] as Obj;
    expect(copy.uuid).toMatch(UUID);
    expect(copy.uuid).not.toBe(source!.uuid);
    expect(copy).toMatchObject({
      name: 'golden',
      size: source!.size,
      media: 'disk',
      storage_type: source!.storage_type,
      meta: { os: 'linux' },
      status: 'cloning_dst',
      mounted_on: [],
      snapshots: [],
    });
    expect(copy.jobs).toHaveLength(1);
    const jobUuid = copy.jobs[0].uuid as string;
    const during = await get(alice, `/drives/${source!.uuid}/`);
    expect(during.status).toBe('cloning_src');
    expect(during.jobs).toEqual([linkTo('jobs', jobUuid)]);
    expect(await get(alice, `/jobs/${jobUuid}/`)).toMatchObject({
      operation: 'drive_clone',
      state: 'started',
      data: { progress: 0 },
      resources: [`/api/2.0/drives/${source!.uuid}/`, `/api/2.0/drives/${copy.uuid}/`],
    });

    await advance(t.app, T.clone);
    const made = await waitStatus(alice, `/drives/${copy.uuid}/`, 'unmounted');
    expect(made.size).toBe(source!.size);
    expect((await get(alice, `/drives/${source!.uuid}/`)).status).toBe('unmounted');
    expect(await get(alice, `/jobs/${jobUuid}/`)).toMatchObject({
      state: 'success',
      data: { progress: 100 },
      children: [],
    });
  });

  it('takes name, a larger size, storage_type and media from the body', async () => {
    const [source] = await drives({ name: 'base' });
    const res = await alice.post(`/drives/${source!.uuid}/action/?do=clone`, {
      name: 'bigger',
      size: source!.size * 2,
      storage_type: 'zadara',
      media: 'cdrom',
      affinities: ['ssd'],
    });
    expect(res.status, res.text).toBe(202);
    expect(res.json.objects[0]).toMatchObject({
      name: 'bigger',
      size: source!.size * 2,
      storage_type: 'zadara',
      media: 'cdrom',
      affinities: ['ssd'],
      status: 'cloning_dst',
    });
    await drain(t.app);
    expect(await get(alice, `/drives/${res.json.objects[0].uuid}/`)).toMatchObject({
      size: source!.size * 2,
      storage_type: 'zadara',
      status: 'unmounted',
    });
  });

  it('clones with no body at all (avoid is a hint), and with an equal size', async () => {
    const [source] = await drives({});
    const bare = await alice.post(`/drives/${source!.uuid}/action/?do=clone&avoid=${source!.uuid}`);
    expect(bare.status).toBe(202);
    await drain(t.app);
    const equal = await alice.post(`/drives/${source!.uuid}/action/?do=clone`, {
      size: source!.size,
    });
    expect(equal.status).toBe(202);
  });

  it('refuses a smaller size, a bad storage type or an unknown action, and creates nothing', async () => {
    const [source] = await drives({ name: 'small' });
    const count = async () => (await get(alice, '/drives/?limit=0')).meta.total_count as number;
    const before = await count();
    const path = `/drives/${source!.uuid}/action/`;
    expectError(
      await alice.post(`${path}?do=clone`, { size: source!.size - 1 }),
      400,
      'validation',
      'size',
    );
    expectError(
      await alice.post(`${path}?do=clone`, { storage_type: 'tape' }),
      400,
      'validation',
      'storage_type',
    );
    expectError(await alice.post(`${path}?do=copy`, {}), 400, 'validation', 'do');
    expectError(
      await alice.post('/drives/472835d5-2bbb-4d87-9d08-7364bc373692/action/?do=clone', {}),
      404,
      'notexist',
      null,
    );
    expect(await count()).toBe(before);
    expect((await get(alice, `/drives/${source!.uuid}/`)).status).toBe('unmounted');
  });

  it('clones a drive mounted on a running server; the source goes back to mounted', async () => {
    const [disk] = await drives({});
    const server = await createServer(alice, { drives: [attach(disk!.uuid, 'virtio', '0:0')] });
    await alice.post(action(server.uuid, 'start'));
    await drain(t.app);
    const res = await alice.post(`/drives/${disk!.uuid}/action/?do=clone`, { name: 'snapshot' });
    expect(res.status, res.text).toBe(202);
    expect((await get(alice, `/drives/${disk!.uuid}/`)).status).toBe('cloning_src');
    await drain(t.app);
    expect((await get(alice, `/drives/${disk!.uuid}/`)).status).toBe('mounted');
    expect((await get(alice, `/drives/${res.json.objects[0].uuid}/`)).status).toBe('unmounted');
    expect((await get(alice, `/servers/${server.uuid}/`)).status).toBe('running');
    await alice.post(action(server.uuid, 'stop'));
  });

  it('refuses to clone a drive that is still being created (403)', async () => {
    const res = await alice.post('/drives/', { objects: [driveBody()] });
    const uuid = res.json.objects[0].uuid as string;
    expect((await get(alice, `/drives/${uuid}/`)).status).toBe('creating');
    const clone = await alice.post(`/drives/${uuid}/action/?do=clone`, {});
    expectError(clone, 403, 'permission', null);
  });

  it('clones one drive many times at once (pycloudsigma clones an image 20 times without waiting)', async () => {
    const [source] = await drives({ name: 'image' });
    const path = `/drives/${source!.uuid}/`;
    const copies: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await alice.post(`${path}action/?do=clone`, { name: `copy_${i}` });
      expect(res.status, res.text).toBe(202);
      copies.push(res.json.objects[0].uuid);
    }
    expect((await get(alice, path)).jobs).toHaveLength(20);
    await drain(t.app);
    for (const uuid of copies)
      expect((await get(alice, `/drives/${uuid}/`)).status).toBe('unmounted');
    expect((await get(alice, path)).status).toBe('unmounted');
  });

  it('keeps the source cloning_src until its last copy is done', async () => {
    const [source] = await drives({ name: 'staggered' });
    const path = `/drives/${source!.uuid}/`;
    const first = await alice.post(`${path}action/?do=clone`, {});
    await advance(t.app, 1000);
    const second = await alice.post(`${path}action/?do=clone`, {});
    expect(second.status, second.text).toBe(202);
    await advance(t.app, T.clone - 1000, 2);
    await waitStatus(alice, `/drives/${first.json.objects[0].uuid}/`, 'unmounted');
    expect((await get(alice, `/drives/${second.json.objects[0].uuid}/`)).status).toBe(
      'cloning_dst',
    );
    expect((await get(alice, path)).status).toBe('cloning_src');
    t.app.clock.advance(1000);
    await waitStatus(alice, `/drives/${second.json.objects[0].uuid}/`, 'unmounted');
    expect((await get(alice, path)).status).toBe('unmounted');
  });

  it('clones one server twice at once; its disk is cloning_src until both copies are done', async () => {
    const [disk] = await drives({ name: 'shared-source' });
    const source = await createServer(alice, { drives: [attach(disk!.uuid, 'virtio', '0:0')] });
    const a = await alice.post(action(source.uuid, 'clone'), {});
    await advance(t.app, 1000);
    const b = await alice.post(action(source.uuid, 'clone'), {});
    expect([a.status, b.status]).toEqual([202, 202]);
    await advance(t.app, T.clone - 1000, 2);
    await waitStatus(alice, `/servers/${a.json.uuid}/`, 'stopped');
    expect((await get(alice, `/servers/${b.json.uuid}/`)).status).toBe('cloning');
    expect((await get(alice, `/drives/${disk!.uuid}/`)).status).toBe('cloning_src');
    t.app.clock.advance(1000);
    await waitStatus(alice, `/servers/${b.json.uuid}/`, 'stopped');
    expect((await get(alice, `/drives/${disk!.uuid}/`)).status).toBe('mounted');
  });

  it.each([
    ['NONE', 'test_drive_x'],
    ['COUNTER', 'test_drive_x_1'],
  ])('names a drive clone by clone_naming %s', async (naming, expected) => {
    await setNaming(naming);
    const [source] = await drives({ name: 'test_drive_x' });
    const res = await alice.post(`/drives/${source!.uuid}/action/?do=clone`, {});
    expect(res.json.objects[0].name).toBe(expected);
  });
});

describe('jobs', () => {
  it('are listed newest change first (-last_modified), paged and filtered in that order', async () => {
    const [a, b] = await drives({ name: 'job-a' }, { name: 'job-b' });
    const cloneOf = async (drive: Obj): Promise<string> => {
      const res = await alice.post(`/drives/${drive.uuid}/action/?do=clone`, {});
      expect(res.status, res.text).toBe(202);
      return res.json.objects[0].jobs[0].uuid as string;
    };
    const uuids = async (query = '') =>
      ((await get(alice, `/jobs/?limit=0${query}`)).objects as Obj[]).map((j) => j.uuid);
    const before = await uuids();
    const first = await cloneOf(a!);
    t.app.clock.advance(100);
    const second = await cloneOf(b!);
    // The second is the newer: it comes first.
    expect((await uuids()).slice(0, 2)).toEqual([second, first]);
    expect((await get(alice, '/jobs/?limit=1')).objects.map((j: Obj) => j.uuid)).toEqual([second]);
    expect((await get(alice, '/jobs/?limit=1&offset=1')).objects.map((j: Obj) => j.uuid)).toEqual([
      first,
    ]);
    // Both finish; the one that changed last is first, before every older job.
    await drain(t.app);
    const done = [await get(alice, `/jobs/${first}/`), await get(alice, `/jobs/${second}/`)];
    const newestFirst = [...done]
      .sort((x, y) => Date.parse(y.last_modified) - Date.parse(x.last_modified))
      .map((j) => j.uuid);
    const all = await uuids();
    expect(all.slice(0, 2)).toEqual(newestFirst);
    expect(all.slice(2)).toEqual(before.filter((u) => u !== first && u !== second));
    const stamps = ((await get(alice, '/jobs/?limit=0')).objects as Obj[]).map((j) =>
      Date.parse(j.last_modified),
    );
    expect(stamps).toEqual([...stamps].sort((x, y) => y - x));
    expect((await uuids('&state=success')).slice(0, 2)).toEqual(newestFirst);
  });
});
