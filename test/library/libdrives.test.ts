/**
 * Library drives (api-reference.md §3.1, §3.5, §3.6, §3.8): the catalog loaded at start, the
 * `/libdrives/` reads and filters, a library drive through `/drives/{uuid}/`, clones through both
 * action routes, and attaching: a cdrom directly, a disk never.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '../../src/config.js';
import {
  installLibrary,
  loadCatalog,
  loadLibrary,
  parseLibrary,
} from '../../src/resources/libdrives/catalog.js';
import { DEFAULT_LIBRARY } from '../../src/resources/libdrives/default.js';
import {
  attach,
  createDrive,
  createServer,
  expectError,
  getObject,
  linkTo,
  type Obj,
} from '../support/api.js';
import { serverBody, startTestApp, type TestApp } from '../support/app.js';

const UBUNTU = 'c0c2212a-3bbb-49e3-a42d-ab2f43244445';
const DEBIAN = 'c040c3cc-8726-48b1-9f1a-bf82fd02a3cb';
const UBUNTU_CD = '5587dc36-272e-4b5b-8ee7-3251347bdd3f';
const VIRTIO_CD = 'ebbe906c-f31c-40ef-8d76-f47a9a184460';
const DEFAULT_ORDER = [UBUNTU, DEBIAN, UBUNTU_CD, VIRTIO_CD];

let t: TestApp | undefined;
afterEach(async () => {
  await t?.close();
  t = undefined;
});

function catalogFile(entries: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'sigmalite-library-')), 'library.json');
  writeFileSync(file, JSON.stringify(entries));
  return file;
}

async function list(path: string): Promise<Obj> {
  const res = await t!.alice.get(path);
  expect(res.status, res.text).toBe(200);
  return res.json as Obj;
}

const uuids = (page: Obj) => page.objects.map((o: Obj) => o.uuid);

describe('the library: reads', () => {
  it('lists the built-in catalog, list == detail, owner null, in catalog order', async () => {
    t = await startTestApp();
    const page = await list('/libdrives/');
    expect(page.meta).toEqual({ limit: 20, offset: 0, total_count: 4 });
    expect(uuids(page)).toEqual(DEFAULT_ORDER);
    expect(await list('/libdrives/detail/')).toEqual(page);
    const ubuntu = page.objects[0];
    expect(ubuntu).toEqual({
      affinities: [],
      allow_multimount: false,
      arch: '64',
      category: ['general', 'webserver', 'dbserver'],
      description: expect.any(String),
      distribution: 'Ubuntu',
      favourite: true,
      image_type: 'preinst',
      install_notes: expect.any(String),
      jobs: [],
      licenses: [],
      media: 'disk',
      meta: {},
      mounted_on: [],
      name: 'Ubuntu 24.04 LTS Server',
      os: 'linux',
      owner: null,
      paid: false,
      resource_uri: `/api/2.0/libdrives/${UBUNTU}/`,
      size: 10737418240,
      status: 'unmounted',
      storage_type: null,
      tags: [],
      url: 'https://ubuntu.com/',
      uuid: UBUNTU,
      version: '24.04',
    });
    expect(page.objects.filter((d: Obj) => d.media === 'cdrom')).toHaveLength(2);
    expect(await getObject(t.alice, `/libdrives/${UBUNTU}/`)).toEqual(ubuntu);
    // Every account sees the same library.
    expect((await t.bob.get('/libdrives/')).json).toEqual(page);
  });

  it('pages, projects fields and answers 404 for what is no library drive', async () => {
    t = await startTestApp();
    const page = await list('/libdrives/?limit=2&offset=1');
    expect(page.meta).toEqual({ limit: 2, offset: 1, total_count: 4 });
    expect(uuids(page)).toEqual([DEBIAN, UBUNTU_CD]);
    expect((await list('/libdrives/?fields=uuid,media&limit=1')).objects).toEqual([
      { media: 'disk', uuid: UBUNTU },
    ]);
    const drive = await createDrive(t.alice);
    expectError(await t.alice.get(`/libdrives/${drive.uuid}/`), 404, 'notexist', null);
    expectError(
      await t.alice.get('/libdrives/00000000-0000-4000-8000-000000000000/'),
      404,
      'notexist',
      null,
    );
  });

  it('filters: name, name__icontains, uuid, and the catalog fields, category by item', async () => {
    t = await startTestApp();
    const ids = async (query: string) => uuids(await list(`/libdrives/?${query}`));
    expect(await ids('name=Debian 12 (bookworm)')).toEqual([DEBIAN]);
    expect(await ids('name__icontains=UBUNTU')).toEqual([UBUNTU, UBUNTU_CD]);
    expect(await ids(`uuid=${VIRTIO_CD},${DEBIAN}`)).toEqual([DEBIAN, VIRTIO_CD]);
    expect(await ids('os=windows')).toEqual([VIRTIO_CD]);
    expect(await ids('os=linux&image_type=install')).toEqual([UBUNTU_CD]);
    expect(await ids('distribution=Ubuntu,Debian')).toEqual([UBUNTU, DEBIAN, UBUNTU_CD]);
    expect(await ids('version=24.04')).toEqual([UBUNTU, UBUNTU_CD]);
    expect(await ids('arch=32')).toEqual([]);
    expect(await ids('category=webserver')).toEqual([UBUNTU]);
    expect(await ids('category=other,dbserver')).toEqual([UBUNTU, VIRTIO_CD]);
    // Exact, case and all: `os=Linux` is not `linux`.
    expect(await ids('os=Linux')).toEqual([]);
    // With a field filter the catalog is filtered, then paged; total_count counts the matches.
    const page = await list('/libdrives/?category=general&limit=1&offset=1');
    expect(page.meta).toEqual({ limit: 1, offset: 1, total_count: 3 });
    expect(uuids(page)).toEqual([DEBIAN]);
    // Unknown parameters are ignored, as everywhere.
    expect(await ids('colour=blue')).toEqual(DEFAULT_ORDER);
  });

  it('is read-only: other methods answer 405', async () => {
    t = await startTestApp();
    const res = await t.alice.post('/libdrives/', { name: 'x', size: 1073741824, media: 'disk' });
    expect(res.status).toBe(405);
    expect((await t.alice.delete(`/libdrives/${UBUNTU}/`)).status).toBe(405);
    expect((await t.alice.put(`/libdrives/${UBUNTU}/`, { name: 'mine' })).status).toBe(405);
    expect((await getObject(t.alice, `/libdrives/${UBUNTU}/`)).name).toBe(
      'Ubuntu 24.04 LTS Server',
    );
  });

  it('shows a library drive through /drives/{uuid}/ (owner null), never in the drive lists', async () => {
    t = await startTestApp();
    const drive = await getObject(t.alice, `/drives/${DEBIAN}/`);
    expect(drive).toMatchObject({
      uuid: DEBIAN,
      name: 'Debian 12 (bookworm)',
      owner: null,
      media: 'disk',
      size: 10737418240,
      status: 'unmounted',
      storage_type: 'dssd',
      mounted_on: [],
      snapshots: [],
      grantees: [],
      permissions: [],
      resource_uri: `/api/2.0/drives/${DEBIAN}/`,
      runtime: { is_snapshotable: true, snapshots_allocated_size: 0, storage_type: 'dssd' },
    });
    await createDrive(t.alice);
    for (const path of ['/drives/', '/drives/detail/']) {
      const page = await list(path);
      expect(page.meta.total_count).toBe(1);
      expect(uuids(page)).not.toContain(DEBIAN);
    }
    // It is not the caller's: it cannot be changed or deleted as a drive.
    expectError(await t.alice.put(`/drives/${DEBIAN}/`, { name: 'x' }), 404, 'notexist', null);
    expectError(await t.alice.delete(`/drives/${DEBIAN}/`), 404, 'notexist', null);
    expect((await getObject(t.alice, `/drives/${DEBIAN}/`)).name).toBe('Debian 12 (bookworm)');
  });

  it('serves /libdrives/schema/', async () => {
    t = await startTestApp();
    const schema = await getObject(t.alice, '/libdrives/schema/');
    expect(schema.allowed_list_http_methods).toEqual(['get']);
    expect(schema.allowed_detail_http_methods).toEqual(['get']);
    expect(Object.keys(schema.filtering).sort()).toEqual([
      'arch',
      'category',
      'distribution',
      'image_type',
      'name',
      'name__icontains',
      'os',
      'uuid',
      'version',
    ]);
    expect(schema.fields.category).toMatchObject({ type: 'list', default: [] });
  });
});

describe('the library: clones', () => {
  for (const route of ['libdrives', 'drives'] as const) {
    it(`clones a library disk through /${route}/{uuid}/action/?do=clone into a drive of the caller`, async () => {
      t = await startTestApp({ settle: false });
      const res = await t.alice.post(`/${route}/${UBUNTU}/action/?do=clone`, {
        name: 'web-1',
        size: 20 * 1024 ** 3,
      });
      expect(res.status, res.text).toBe(202);
      const clone = res.json.objects[0];
      expect(clone).toMatchObject({
        name: 'web-1',
        media: 'disk',
        size: 20 * 1024 ** 3,
        storage_type: 'dssd',
        status: 'cloning_dst',
        licenses: [],
        mounted_on: [],
        snapshots: [],
        resource_uri: `/api/2.0/drives/${clone.uuid}/`,
      });
      expect(clone.owner.uuid).not.toBeNull();
      expect(clone.uuid).not.toBe(UBUNTU);
      // The library metadata, copied into meta (meta.rst's key names), all strings.
      expect(clone.meta).toEqual({
        os: 'linux',
        arch: '64',
        distribution: 'Ubuntu',
        version: '24.04',
        default_user: 'cloudsigma',
        'install notes': expect.stringContaining('Clone the image'),
        url: 'https://ubuntu.com/',
        description: expect.stringContaining('Ubuntu 24.04'),
        image_type: 'preinst',
        category: 'general,webserver,dbserver',
        paid: 'false',
        favorite: 'true',
      });
      await t.app.engine.settled();
      const done = await getObject(t.alice, `/drives/${clone.uuid}/`);
      expect(done.status).toBe('unmounted');
      const job = await getObject(t.alice, `/jobs/${done.jobs[0].uuid}/`);
      expect(job).toMatchObject({ operation: 'drive_clone', state: 'success' });
      expect(job.resources).toEqual([`/api/2.0/libdrives/${UBUNTU}/`, done.resource_uri]);
      // The library drive did not move: no job, no status, nothing mounted.
      const library = await getObject(t.alice, `/libdrives/${UBUNTU}/`);
      expect(library).toMatchObject({ status: 'unmounted', jobs: [], mounted_on: [] });
      expect((await list('/drives/')).meta.total_count).toBe(1);
      expect((await t.bob.get('/drives/')).json.meta.total_count).toBe(0);
    });
  }

  it('names a clone by the profile clone naming, keeps media and size, refuses to shrink', async () => {
    t = await startTestApp();
    const plain = await t.alice.post(`/libdrives/${UBUNTU_CD}/action/?do=clone`);
    expect(plain.status, plain.text).toBe(202);
    expect(plain.json.objects[0]).toMatchObject({
      name: 'Ubuntu 24.04 LTS Server Install CD',
      media: 'cdrom',
      size: 2_754_981_888,
    });
    await t.alice.put('/profile/', { clone_naming: 'COUNTER' });
    const counted = await t.alice.post(`/drives/${UBUNTU_CD}/action/?do=clone`, {
      media: 'disk',
    });
    expect(counted.json.objects[0]).toMatchObject({
      name: 'Ubuntu 24.04 LTS Server Install CD_1',
      media: 'disk',
    });
    expectError(
      await t.alice.post(`/libdrives/${UBUNTU}/action/?do=clone`, { size: 1024 ** 3 }),
      400,
      'validation',
      'size',
    );
    expectError(
      await t.alice.post(`/libdrives/${UBUNTU}/action/?do=clone`, { storage_type: 'tape' }),
      400,
      'validation',
      'storage_type',
    );
    const drive = await createDrive(t.alice);
    expectError(
      await t.alice.post(`/libdrives/${drive.uuid}/action/?do=clone`),
      404,
      'notexist',
      null,
    );
    expectError(
      await t.alice.post(`/libdrives/${UBUNTU}/action/?do=resize`),
      400,
      'validation',
      'do',
    );
  });

  it('carries the licenses and storage type a catalog gives', async () => {
    const license = {
      amount: 1,
      license: { name: 'msft_p73_04837_core', resource_uri: '/api/2.0/licenses/12/' },
      user: null,
    };
    const file = catalogFile([
      {
        uuid: '11111111-2222-4333-8444-555555555555',
        name: 'Windows Server',
        media: 'disk',
        size: 32 * 1024 ** 3,
        storage_type: 'zadara',
        os: 'windows',
        paid: true,
        licenses: [license],
        meta: { origin: 'catalog' },
      },
    ]);
    t = await startTestApp({ library: file });
    const library = await getObject(t.alice, '/libdrives/11111111-2222-4333-8444-555555555555/');
    expect(library).toMatchObject({ storage_type: 'zadara', licenses: [license], paid: true });
    expect(library.category).toEqual([]);
    const res = await t.alice.post('/drives/11111111-2222-4333-8444-555555555555/action/?do=clone');
    expect(res.json.objects[0]).toMatchObject({
      storage_type: 'zadara',
      licenses: [license],
      meta: { origin: 'catalog', os: 'windows', paid: 'true', favorite: 'false' },
    });
  });
});

describe('the library: attaching', () => {
  it('attaches a library cdrom by its uuid, as a link or URI, to several servers and accounts', async () => {
    t = await startTestApp();
    const a = await createServer(t.alice, { drives: [attach(VIRTIO_CD, 'ide', '0:0')] });
    expect(a.drives[0].drive).toEqual(linkTo('drives', VIRTIO_CD));
    const b = await createServer(t.alice, {
      drives: [attach(`/api/2.0/libdrives/${VIRTIO_CD}/`, 'ide', '0:0')],
    });
    expect(b.drives[0].drive).toEqual(linkTo('drives', VIRTIO_CD));
    await createServer(t.bob, { drives: [attach(VIRTIO_CD, 'ide', '0:0')] });
    // Mounts of library drives are not recorded on them (every account's servers would show).
    expect(await getObject(t.alice, `/libdrives/${VIRTIO_CD}/`)).toMatchObject({
      mounted_on: [],
      status: 'unmounted',
    });
    // The server starts with it, as a cdrom.
    const start = vi.spyOn(t.app.compute, 'start');
    expect((await t.alice.post(`/servers/${a.uuid}/action/?do=start`)).status).toBe(202);
    expect((await getObject(t.alice, `/servers/${a.uuid}/`)).status).toBe('running');
    expect(start.mock.calls[0]![0].drives).toEqual([
      expect.objectContaining({ uuid: VIRTIO_CD, media: 'cdrom', device: 'ide' }),
    ]);
    // Detaching is a PUT like any other.
    const put = await t.alice.put(`/servers/${b.uuid}/`, { ...serverBody(), drives: [] });
    expect(put.status, put.text).toBe(200);
  });

  it('refuses a library disk with 403: it must be cloned first', async () => {
    t = await startTestApp();
    const res = await t.alice.post('/servers/', {
      objects: [serverBody({ drives: [attach(UBUNTU, 'virtio', '0:0')] })],
    });
    const error = expectError(res, 403, 'permission', 'drives.0.drive');
    expect(error.error_message).toContain('clone');
    const server = await createServer(t.alice);
    expectError(
      await t.alice.put(`/servers/${server.uuid}/`, {
        ...serverBody(),
        drives: [attach(UBUNTU, 'virtio', '0:0')],
      }),
      403,
      'permission',
      'drives.0.drive',
    );
    expect((await list('/servers/')).meta.total_count).toBe(1);
  });

  it('a server clone shares the library cdrom; a recursive delete leaves the library alone', async () => {
    t = await startTestApp();
    const disk = await createDrive(t.alice);
    const server = await createServer(t.alice, {
      drives: [attach(disk.uuid, 'virtio', '0:0'), attach(VIRTIO_CD, 'ide', '0:1')],
    });
    const res = await t.alice.post(`/servers/${server.uuid}/action/?do=clone`);
    expect(res.status, res.text).toBe(202);
    const clone = await getObject(t.alice, `/servers/${res.json.uuid}/`);
    expect(clone.drives.map((d: Obj) => d.drive.uuid)).toEqual([
      expect.not.stringMatching(disk.uuid),
      VIRTIO_CD,
    ]);
    for (const uuid of [server.uuid, clone.uuid]) {
      expect((await t.alice.delete(`/servers/${uuid}/?recurse=all_drives`)).status).toBe(204);
    }
    expect((await list('/drives/')).meta.total_count).toBe(0);
    expect((await list('/libdrives/')).meta.total_count).toBe(4);
    expect((await getObject(t.alice, `/drives/${VIRTIO_CD}/`)).owner).toBeNull();
  });
});

describe('the catalog', () => {
  it('reads the built-in catalog: four entries, two disks and two cdroms', () => {
    const docs = loadLibrary(undefined);
    expect(docs.map((d) => d.uuid)).toEqual(DEFAULT_ORDER);
    expect(docs.map((d) => d.media)).toEqual(['disk', 'disk', 'cdrom', 'cdrom']);
    expect(DEFAULT_LIBRARY).toHaveLength(4);
  });

  it('accepts a saved /libdrives/ answer, its read-only keys ignored', async () => {
    t = await startTestApp();
    const saved = await list('/libdrives/?limit=0');
    const docs = parseLibrary(saved, 'saved');
    expect(docs).toEqual(loadLibrary(undefined).map((d) => ({ ...d, default_user: null })));
  });

  it('refuses a bad catalog with a message naming the entry and the key', () => {
    const ok = { uuid: '11111111-2222-4333-8444-555555555555', name: 'x', media: 'disk', size: 1 };
    const bad: [unknown, RegExp][] = [
      [{ objects: 'none' }, /expected a list/],
      [[7], /entry 0: expected an object/],
      [[{ ...ok, uuid: 'nope' }], /entry 0 \(x\): "uuid" must be a uuid/],
      [[{ ...ok, media: 'floppy' }], /"media" must be "disk" or "cdrom"/],
      [[{ ...ok, size: -1 }], /"size" must be a positive integer/],
      [[{ ...ok, size: '10' }], /"size"/],
      [[{ ...ok, paid: 'yes' }], /"paid" must be true or false/],
      [[{ ...ok, category: 'web' }], /"category" must be a list of strings/],
      [[{ ...ok, os: 7 }], /"os" must be a string or null/],
      [[{ ...ok, meta: { k: 1 } }], /"meta" is not valid meta/],
      [[{ ...ok, colour: 'blue' }], /"colour" is not a library drive key/],
      [[ok, { ...ok, name: 'y' }], /appears twice/],
    ];
    for (const [json, message] of bad) {
      expect(() => parseLibrary(json, 'test'), JSON.stringify(json)).toThrow(ConfigError);
      expect(() => parseLibrary(json, 'test'), JSON.stringify(json)).toThrow(message);
    }
    expect(() => loadLibrary('/nonexistent/library.json')).toThrow(ConfigError);
    expect(() => loadLibrary(catalogFile('x'))).toThrow(/expected a list/);
    const notJson = join(mkdtempSync(join(tmpdir(), 'sigmalite-library-')), 'bad.json');
    writeFileSync(notJson, '[{');
    expect(() => loadLibrary(notJson)).toThrow(/not JSON/);
  });

  it("takes an entry's image path (absolute), kept apart from the drive; the simulator ignores it", async () => {
    const ok = { uuid: '11111111-2222-4333-8444-555555555555', name: 'x', media: 'disk', size: 1 };
    const file = catalogFile([
      { ...ok, image: '/srv/images/x.qcow2' },
      { ...ok, uuid: DEFAULT_ORDER[0], name: 'y' },
    ]);
    const { drives, images } = loadCatalog(file);
    expect(images).toEqual([{ uuid: ok.uuid, path: '/srv/images/x.qcow2' }]);
    expect(drives[0]).not.toHaveProperty('image');
    expect(() => loadCatalog(catalogFile([{ ...ok, image: 'x.qcow2' }]))).toThrow(
      /"image" must be an absolute path/,
    );
    t = await startTestApp({ library: file });
    expect((await t.alice.get(`/libdrives/${ok.uuid}/`)).json).not.toHaveProperty('image');
  });

  it('an app does not start with a bad catalog', async () => {
    await expect(startTestApp({ library: catalogFile([{ name: 'x' }]) })).rejects.toThrow(
      ConfigError,
    );
  });

  it('is installed idempotently: added, changed and removed entries, nothing twice', async () => {
    t = await startTestApp();
    const store = t.app.store;
    const docs = loadLibrary(undefined);
    expect(await installLibrary(store, docs)).toEqual({ added: 0, changed: 0, removed: 0 });
    const before = await store.fingerprint();
    expect(await installLibrary(store, docs)).toEqual({ added: 0, changed: 0, removed: 0 });
    expect(await store.fingerprint()).toBe(before);
    const renamed = { ...docs[1]!, name: 'Debian 12.5' };
    const extra = { ...docs[0]!, uuid: '11111111-2222-4333-8444-555555555555', name: 'Extra' };
    expect(await installLibrary(store, [renamed, docs[2]!, extra])).toEqual({
      added: 1,
      changed: 1,
      removed: 2,
    });
    const page = await list('/libdrives/');
    expect(page.objects.map((d: Obj) => d.name)).toEqual([
      'Debian 12.5',
      'Ubuntu 24.04 LTS Server Install CD',
      'Extra',
    ]);
    expectError(await t.alice.get(`/drives/${UBUNTU}/`), 404, 'notexist', null);
  });

  it('refuses a catalog uuid that an account object already has', async () => {
    t = await startTestApp();
    const drive = await createDrive(t.alice);
    const clash = { ...loadLibrary(undefined)[0]!, uuid: drive.uuid };
    await expect(installLibrary(t.app.store, [clash])).rejects.toThrow(/taken by an object/);
    expect((await getObject(t.alice, `/drives/${drive.uuid}/`)).owner).not.toBeNull();
  });
});
