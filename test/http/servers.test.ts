/**
 * The server definition through real HTTP: the Servers page's examples (servers-api.txt: create,
 * edit, attach a drive, list, recursive delete, schema) and the definition rules of
 * api-reference.md (§1.12-§1.15, §2.8, §2.9, §3.6, §4.1, §6).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  attach,
  createDrive,
  createServer,
  expectError,
  getObject,
  linkTo,
  MAC,
  type Obj,
  UUID,
} from '../support/api.js';
import { type Client, serverBody, startTestApp, type TestApp } from '../support/app.js';

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

/** A separate app, for tests that count what an account holds. */
async function freshApp(): Promise<TestApp> {
  const app = await startTestApp();
  extraApps.push(app);
  return app;
}

/** POSTs one server definition as given (no defaults merged in). */
function postServer(client: Client, definition: Obj) {
  return client.post('/servers/', { objects: [definition] });
}

/** PUTs a partial definition on a server. */
function putServer(client: Client, uuid: string, body: Obj) {
  return client.put(`/servers/${uuid}/`, body);
}

/** The fields of the Servers page's minimal create response, with our newer defaults. */
function expectedMinimal(uuid: string, overrides: Obj = {}): Obj {
  return {
    allocation_pool: null,
    auto_start: false,
    context: true,
    cpu: 1000,
    cpu_model: null,
    cpu_type: 'amd',
    cpus_instead_of_cores: false,
    drives: [],
    enable_numa: false,
    epcs: [],
    gpus: [],
    grantees: [],
    hv_relaxed: false,
    hv_tsc: false,
    hypervisor: 'kvm',
    is_grey: false,
    jobs: [],
    mem: 536870912,
    meta: {},
    name: 'testServerAcc',
    nics: [],
    owner: linkTo('user', aliceUuid),
    permissions: [],
    pubkeys: [],
    requirements: [],
    resource_uri: `/api/2.0/servers/${uuid}/`,
    runtime: null,
    smp: 1,
    status: 'stopped',
    tags: [],
    uuid,
    vnc_password: 'testserver',
    ...overrides,
  };
}

describe('creating (POST /servers/)', () => {
  it('creates the Servers page minimal server with every default', async () => {
    const res = await alice.post('/servers/', {
      objects: [{ cpu: 1000, mem: 536870912, name: 'testServerAcc', vnc_password: 'testserver' }],
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(Object.keys(res.json)).toEqual(['objects']);
    expect(res.json.objects).toHaveLength(1);
    const server = res.json.objects[0];
    expect(server.uuid).toMatch(UUID);
    expect(server).toEqual(expectedMinimal(server.uuid));
    expect(res.headers.get('location')).toBe(`${t.origin}/api/2.0/servers/${server.uuid}/`);
    // The create response is what GET answers (pycloudsigma compares them).
    expect(await getObject(alice, `/servers/${server.uuid}/`)).toEqual(server);
  });

  it('has every key of the Servers page example response', async () => {
    const server = await createServer(alice);
    const pageKeys = [
      'context',
      'cpu',
      'cpu_model',
      'cpus_instead_of_cores',
      'drives',
      'enable_numa',
      'hv_relaxed',
      'hv_tsc',
      'mem',
      'meta',
      'name',
      'nics',
      'owner',
      'requirements',
      'resource_uri',
      'runtime',
      'smp',
      'status',
      'tags',
      'uuid',
      'vnc_password',
    ];
    for (const key of pageKeys) expect(server).toHaveProperty(key);
  });

  it('accepts a bare object and a bare list, always answering {"objects": [...]}', async () => {
    const bare = await alice.post('/servers/', serverBody({ name: 'bare-object' }));
    expect(bare.status).toBe(201);
    expect(bare.json.objects.map((s: Obj) => s.name)).toEqual(['bare-object']);
    const list = await alice.post('/servers/', [serverBody({ name: 'bare-list' })]);
    expect(list.status).toBe(201);
    expect(list.json.objects.map((s: Obj) => s.name)).toEqual(['bare-list']);
  });

  it('creates the full definition of fixture server_create_full', async () => {
    const disk = await createDrive(alice, { name: 'full-disk' });
    const cdrom = await createDrive(alice, { name: 'full-cdrom', media: 'cdrom' });
    const res = await alice.post('/servers/', {
      objects: [
        {
          cpu: 1000,
          cpus_instead_of_cores: false,
          drives: [
            { boot_order: 1, dev_channel: '0:0', device: 'virtio', drive: disk.uuid },
            { dev_channel: '0:0', device: 'ide', drive: cdrom.uuid },
          ],
          enable_numa: false,
          hv_relaxed: false,
          hv_tsc: false,
          mem: 268435456,
          meta: { description: 'A full server with description' },
          name: 'test_acc_full_server',
          nics: [{ ip_v4_conf: { conf: 'dhcp' } }],
          requirements: [],
          smp: 1,
          tags: [],
          vnc_password: 'tester',
        },
      ],
    });
    expect(res.status).toBe(201);
    const server = res.json.objects[0];
    expect(server).toMatchObject({
      cpu: 1000,
      mem: 268435456,
      smp: 1,
      meta: { description: 'A full server with description' },
      name: 'test_acc_full_server',
      status: 'stopped',
      runtime: null,
      vnc_password: 'tester',
      tags: [],
    });
    // Request order is kept (the fixture's ide-first order is a quirk we do not copy).
    expect(server.drives).toEqual([
      {
        boot_order: 1,
        dev_channel: '0:0',
        device: 'virtio',
        drive: linkTo('drives', disk.uuid),
        runtime: null,
      },
      {
        boot_order: null,
        dev_channel: '0:0',
        device: 'ide',
        drive: linkTo('drives', cdrom.uuid),
        runtime: null,
      },
    ]);
    expect(server.nics).toHaveLength(1);
    expect(server.nics[0]).toEqual({
      boot_order: null,
      firewall_policy: null,
      ip_v4_conf: { conf: 'dhcp', ip: null },
      ip_v6_conf: null,
      mac: server.nics[0].mac,
      model: 'virtio',
      runtime: null,
      vlan: null,
    });
    expect(server.nics[0].mac).toMatch(MAC);
    for (const drive of [disk, cdrom]) {
      const after = await getObject(alice, `/drives/${drive.uuid}/`);
      expect(after.status).toBe('mounted');
      expect(after.mounted_on).toEqual([linkTo('servers', server.uuid)]);
    }
  });

  it('creates the five servers of fixture server_create_bulk in order', async () => {
    const app = await freshApp();
    const names = [0, 1, 2, 3, 4].map((i) => `test_server_${i}`);
    const res = await app.alice.post('/servers/', {
      objects: names.map((name) => ({
        cpu: 1000,
        mem: 536870912,
        name,
        vnc_password: 'testserver',
      })),
    });
    expect(res.status).toBe(201);
    expect(res.json.objects.map((s: Obj) => s.name)).toEqual(names);
    expect(new Set(res.json.objects.map((s: Obj) => s.uuid)).size).toBe(5);
    expect(res.headers.get('location')).toBeNull();
    for (const server of res.json.objects) {
      expect(server).toMatchObject({ cpu: 1000, smp: 1, status: 'stopped', runtime: null });
    }
    const list = await app.alice.get('/servers/?limit=0');
    expect(list.json.meta).toEqual({ limit: 0, offset: 0, total_count: 5 });
  });

  it('creates nothing when one object of a bulk create is invalid', async () => {
    const app = await freshApp();
    const res = await app.alice.post('/servers/', {
      objects: [serverBody({ name: 'ok' }), serverBody({ name: 'bad', cpu: 10 })],
    });
    expectError(res, 400, 'validation', 'cpu');
    const list = await app.alice.get('/servers/');
    expect(list.json.meta.total_count).toBe(0);
  });

  it('refuses, in one bulk create, a disk without allow_multimount on two new servers', async () => {
    const app = await freshApp();
    const disk = await createDrive(app.alice);
    const res = await app.alice.post('/servers/', {
      objects: [
        serverBody({ name: 'a', drives: [attach(disk.uuid, 'virtio', '0:0')] }),
        serverBody({ name: 'b', drives: [attach(disk.uuid, 'virtio', '0:0')] }),
      ],
    });
    expectError(res, 400, 'validation', 'drives');
    expect((await app.alice.get('/servers/')).json.meta.total_count).toBe(0);
    const after = await getObject(app.alice, `/drives/${disk.uuid}/`);
    expect(after.status).toBe('unmounted');
    expect(after.mounted_on).toEqual([]);
  });

  it('takes the cpu_type of servers created without one from --default-cpu-type', async () => {
    const app = await freshApp();
    const intelApp = await startTestApp({ defaultCpuType: 'intel' });
    extraApps.push(intelApp);
    const amd = await createServer(app.alice, { cpu: 3000 });
    expect(amd).toMatchObject({ cpu_type: 'amd', smp: 2 });
    // intel's cpu_per_smp.max is 3000: one core is enough.
    const intel = await createServer(intelApp.alice, { cpu: 3000 });
    expect(intel).toMatchObject({ cpu_type: 'intel', smp: 1 });
  });

  it('refuses an empty objects list', async () => {
    expectError(await alice.post('/servers/', { objects: [] }), 400, 'validation', 'objects');
  });

  it('requires cpu, mem, name and vnc_password', async () => {
    for (const field of ['cpu', 'mem', 'name', 'vnc_password']) {
      const definition = serverBody();
      delete definition[field];
      const error = expectError(await postServer(alice, definition), 400, 'validation', field);
      expect(error.error_message).toBe('This field is required');
    }
  });

  it('accepts an empty name', async () => {
    const server = await createServer(alice, { name: '' });
    expect(server.name).toBe('');
  });

  it('accepts names of up to 255 characters', async () => {
    const server = await createServer(alice, { name: 'é'.repeat(255) });
    expect(server.name).toBe('é'.repeat(255));
    expectError(
      await postServer(alice, serverBody({ name: 'n'.repeat(256) })),
      400,
      'validation',
      'name',
    );
  });

  it('ignores read-only keys given on create', async () => {
    const server = await createServer(alice, {
      status: 'running',
      runtime: { active_since: 'x' },
      uuid: '00000000-0000-4000-8000-000000000000',
      owner: '11111111-1111-4111-8111-111111111111',
    });
    expect(server.status).toBe('stopped');
    expect(server.runtime).toBeNull();
    expect(server.uuid).not.toBe('00000000-0000-4000-8000-000000000000');
    expect(server.owner).toEqual(linkTo('user', aliceUuid));
  });
});

describe('editing (PUT /servers/{uuid}/)', () => {
  it('answers the Servers page edit example', async () => {
    const created = await createServer(alice, { name: 'testServerAcc' });
    const res = await putServer(alice, created.uuid, {
      cpu: 2000,
      mem: 536870912,
      name: 'test_server_updated',
      vnc_password: 'updated_password',
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual(
      expectedMinimal(created.uuid, {
        cpu: 2000,
        name: 'test_server_updated',
        vnc_password: 'updated_password',
      }),
    );
    expect(await getObject(alice, `/servers/${created.uuid}/`)).toEqual(res.json);
  });

  it('keeps omitted fields and replaces meta whole', async () => {
    const created = await createServer(alice, {
      meta: { meta_key2: 'value2', meta_key3: 'value3' },
    });
    const renamed = await putServer(alice, created.uuid, { name: 'renamed' });
    expect(renamed.status).toBe(200);
    expect(renamed.json.meta).toEqual({ meta_key2: 'value2', meta_key3: 'value3' });
    expect(renamed.json.cpu).toBe(1000);
    expect(renamed.json.vnc_password).toBe('testserver');
    const replaced = await putServer(alice, created.uuid, { meta: { only: 'this' } });
    expect(replaced.json.meta).toEqual({ only: 'this' });
    expect(replaced.json.name).toBe('renamed');
  });

  it('ignores read-only keys when a client PUTs back what it got', async () => {
    const created = await createServer(alice);
    const body = {
      ...created,
      name: 'round-trip',
      uuid: '00000000-0000-4000-8000-000000000000',
      status: 'running',
      resource_uri: '/api/2.0/servers/elsewhere/',
    };
    const res = await putServer(alice, created.uuid, body);
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ ...created, name: 'round-trip' });
  });

  it('answers 404 for a missing or foreign server', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const error = expectError(
      await putServer(alice, missing, { name: 'x' }),
      404,
      'notexist',
      null,
    );
    expect(error.error_message).toBe(`Object with uuid ${missing} does not exist`);
    const bobs = await createServer(bob);
    expectError(await putServer(alice, bobs.uuid, { name: 'x' }), 404, 'notexist', null);
    expectError(await alice.get(`/servers/${bobs.uuid}/`), 404, 'notexist', null);
    expectError(await alice.delete(`/servers/${bobs.uuid}/`), 404, 'notexist', null);
    expect((await getObject(bob, `/servers/${bobs.uuid}/`)).name).toBe('test-server');
  });
});

describe('attaching a drive (PUT /servers/{uuid}/ with drives)', () => {
  it('answers the Servers page attach example and mounts the drive', async () => {
    const created = await createServer(alice, {
      name: 'testServerAcc',
      meta: { meta_key2: 'value2', meta_key3: 'value3' },
    });
    const drive = await createDrive(alice);
    const res = await putServer(alice, created.uuid, {
      cpu: 2000,
      drives: [{ boot_order: 1, dev_channel: '0:0', device: 'virtio', drive: drive.uuid }],
      mem: 536870912,
      name: 'test_server_updated',
      vnc_password: 'updated_password',
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual(
      expectedMinimal(created.uuid, {
        cpu: 2000,
        drives: [
          {
            boot_order: 1,
            dev_channel: '0:0',
            device: 'virtio',
            drive: linkTo('drives', drive.uuid),
            runtime: null,
          },
        ],
        meta: { meta_key2: 'value2', meta_key3: 'value3' },
        name: 'test_server_updated',
        vnc_password: 'updated_password',
      }),
    );
    const mounted = await getObject(alice, `/drives/${drive.uuid}/`);
    expect(mounted.status).toBe('mounted');
    expect(mounted.mounted_on).toEqual([linkTo('servers', created.uuid)]);

    const detached = await putServer(alice, created.uuid, { drives: [] });
    expect(detached.status).toBe(200);
    expect(detached.json.drives).toEqual([]);
    const unmounted = await getObject(alice, `/drives/${drive.uuid}/`);
    expect(unmounted.status).toBe('unmounted');
    expect(unmounted.mounted_on).toEqual([]);
  });

  it('accepts the drive as a link object or a resource URI', async () => {
    const server = await createServer(alice);
    const one = await createDrive(alice);
    const two = await createDrive(alice);
    const res = await putServer(alice, server.uuid, {
      drives: [
        { drive: linkTo('drives', one.uuid), device: 'virtio', dev_channel: '0:0' },
        { drive: `/api/2.0/drives/${two.uuid}/`, device: 'virtio', dev_channel: '0:1' },
      ],
    });
    expect(res.status).toBe(200);
    expect(res.json.drives.map((d: Obj) => d.drive.uuid)).toEqual([one.uuid, two.uuid]);
  });

  it('moves a drive between slots without remounting it elsewhere', async () => {
    const server = await createServer(alice);
    const drive = await createDrive(alice);
    await putServer(alice, server.uuid, { drives: [attach(drive.uuid, 'virtio', '0:0')] });
    const moved = await putServer(alice, server.uuid, {
      drives: [attach(drive.uuid, 'ide', '1:1', 2)],
    });
    expect(moved.status).toBe(200);
    expect(moved.json.drives).toEqual([
      {
        boot_order: 2,
        dev_channel: '1:1',
        device: 'ide',
        drive: linkTo('drives', drive.uuid),
        runtime: null,
      },
    ]);
    expect((await getObject(alice, `/drives/${drive.uuid}/`)).mounted_on).toEqual([
      linkTo('servers', server.uuid),
    ]);
  });

  it('refuses a missing drive, a foreign drive and the same drive twice (point drives.N.drive)', async () => {
    const server = await createServer(alice);
    const missing = '00000000-0000-4000-8000-000000000000';
    expectError(
      await putServer(alice, server.uuid, { drives: [attach(missing, 'virtio', '0:0')] }),
      400,
      'validation',
      'drives.0.drive',
    );
    const bobsDrive = await createDrive(bob);
    expectError(
      await putServer(alice, server.uuid, { drives: [attach(bobsDrive.uuid, 'virtio', '0:0')] }),
      400,
      'validation',
      'drives.0.drive',
    );
    expect((await getObject(bob, `/drives/${bobsDrive.uuid}/`)).mounted_on).toEqual([]);
    const mine = await createDrive(alice);
    expectError(
      await putServer(alice, server.uuid, {
        drives: [attach(mine.uuid, 'virtio', '0:0'), attach(mine.uuid, 'virtio', '0:1')],
      }),
      400,
      'validation',
      'drives.1.drive',
    );
    // The same on create.
    expectError(
      await postServer(alice, serverBody({ drives: [attach(missing, 'virtio', '0:0')] })),
      400,
      'validation',
      'drives.0.drive',
    );
    // Nothing changed.
    expect((await getObject(alice, `/servers/${server.uuid}/`)).drives).toEqual([]);
    expect((await getObject(alice, `/drives/${mine.uuid}/`)).status).toBe('unmounted');
  });

  it('refuses a disk without allow_multimount on a second server (400, point drives)', async () => {
    const first = await createServer(alice, { name: 'first' });
    const second = await createServer(alice, { name: 'second' });
    const disk = await createDrive(alice);
    expect(
      (await putServer(alice, first.uuid, { drives: [attach(disk.uuid, 'virtio', '0:0')] })).status,
    ).toBe(200);
    expectError(
      await putServer(alice, second.uuid, { drives: [attach(disk.uuid, 'virtio', '0:0')] }),
      400,
      'validation',
      'drives',
    );
    expectError(
      await postServer(alice, serverBody({ drives: [attach(disk.uuid, 'virtio', '0:0')] })),
      400,
      'validation',
      'drives',
    );
    expect((await getObject(alice, `/servers/${second.uuid}/`)).drives).toEqual([]);
    expect((await getObject(alice, `/drives/${disk.uuid}/`)).mounted_on).toEqual([
      linkTo('servers', first.uuid),
    ]);
    // Re-sending the first server's own drives is not a second mount.
    expect(
      (
        await putServer(alice, first.uuid, {
          name: 'first again',
          drives: [attach(disk.uuid, 'virtio', '0:1')],
        })
      ).status,
    ).toBe(200);
  });

  it('mounts a disk with allow_multimount on several servers', async () => {
    const disk = await createDrive(alice, { allow_multimount: true });
    const one = await createServer(alice, { drives: [attach(disk.uuid, 'virtio', '0:0')] });
    const two = await createServer(alice, { drives: [attach(disk.uuid, 'virtio', '0:0')] });
    const after = await getObject(alice, `/drives/${disk.uuid}/`);
    expect(after.status).toBe('mounted');
    expect(after.mounted_on).toEqual([linkTo('servers', one.uuid), linkTo('servers', two.uuid)]);
    await putServer(alice, one.uuid, { drives: [] });
    const still = await getObject(alice, `/drives/${disk.uuid}/`);
    expect(still.status).toBe('mounted');
    expect(still.mounted_on).toEqual([linkTo('servers', two.uuid)]);
  });

  it('mounts a cdrom on several servers without allow_multimount', async () => {
    const cdrom = await createDrive(alice, { media: 'cdrom' });
    expect(cdrom.allow_multimount).toBe(false);
    const one = await createServer(alice, { drives: [attach(cdrom.uuid, 'ide', '0:0')] });
    const two = await createServer(alice, { drives: [attach(cdrom.uuid, 'ide', '0:1')] });
    expect((await getObject(alice, `/drives/${cdrom.uuid}/`)).mounted_on).toEqual([
      linkTo('servers', one.uuid),
      linkTo('servers', two.uuid),
    ]);
  });
});

describe('device channels and boot order', () => {
  let drives: string[];
  let server: Obj;
  beforeAll(async () => {
    server = await createServer(alice, { name: 'channels' });
    drives = [];
    for (let i = 0; i < 6; i++) drives.push((await createDrive(alice, { name: `ch${i}` })).uuid);
  });
  const put = (entries: Obj[]) => putServer(alice, server.uuid, { drives: entries });

  it('accepts the four ide channels 0:0, 0:1, 1:0, 1:1', async () => {
    const res = await put(
      ['0:0', '0:1', '1:0', '1:1'].map((channel, i) => attach(drives[i]!, 'ide', channel)),
    );
    expect(res.status).toBe(200);
    expect(res.json.drives.map((d: Obj) => `${d.device} ${d.dev_channel}`)).toEqual([
      'ide 0:0',
      'ide 0:1',
      'ide 1:0',
      'ide 1:1',
    ]);
  });

  it('refuses ide channels beyond 1:1', async () => {
    for (const channel of ['2:0', '0:2', '1:2']) {
      expectError(
        await put([attach(drives[0]!, 'ide', channel)]),
        400,
        'validation',
        'drives.0.dev_channel',
      );
    }
  });

  it('accepts virtio units 0-5 and controllers 0-170', async () => {
    const res = await put([
      attach(drives[0]!, 'virtio', '0:0'),
      attach(drives[1]!, 'virtio', '0:5'),
      attach(drives[2]!, 'virtio', '1:0'),
      attach(drives[3]!, 'virtio', '170:5'),
    ]);
    expect(res.status).toBe(200);
    expect(res.json.drives.map((d: Obj) => d.dev_channel)).toEqual(['0:0', '0:5', '1:0', '170:5']);
  });

  it('refuses virtio unit 6 and controller 171', async () => {
    for (const channel of ['0:6', '171:0', '170:6']) {
      expectError(
        await put([attach(drives[0]!, 'virtio', '0:0'), attach(drives[1]!, 'virtio', channel)]),
        400,
        'validation',
        'drives.1.dev_channel',
      );
    }
  });

  it('refuses malformed channels', async () => {
    for (const channel of ['0', '0-0', 'a:b', '', ':0', '0:0:0']) {
      expectError(
        await put([attach(drives[0]!, 'virtio', channel)]),
        400,
        'validation',
        'drives.0.dev_channel',
      );
    }
  });

  it('refuses an unknown device and requires device and dev_channel', async () => {
    expectError(
      await put([attach(drives[0]!, 'floppy' as 'ide', '0:0')]),
      400,
      'validation',
      'drives.0.device',
    );
    expectError(
      await put([{ drive: drives[0], device: 'virtio' }]),
      400,
      'validation',
      'drives.0.dev_channel',
    );
    expectError(
      await put([{ drive: drives[0], dev_channel: '0:0' }]),
      400,
      'validation',
      'drives.0.device',
    );
    expectError(
      await put([{ device: 'virtio', dev_channel: '0:0' }]),
      400,
      'validation',
      'drives.0.drive',
    );
  });

  it('uses each (device, dev_channel) once, while virtio 0:0 and ide 0:0 coexist', async () => {
    expectError(
      await put([attach(drives[0]!, 'virtio', '0:0'), attach(drives[1]!, 'virtio', '0:0')]),
      400,
      'validation',
      'drives.1.dev_channel',
    );
    expectError(
      await put([
        attach(drives[0]!, 'ide', '1:0'),
        attach(drives[1]!, 'virtio', '1:0'),
        attach(drives[2]!, 'ide', '1:0'),
      ]),
      400,
      'validation',
      'drives.2.dev_channel',
    );
    const res = await put([attach(drives[0]!, 'virtio', '0:0'), attach(drives[1]!, 'ide', '0:0')]);
    expect(res.status).toBe(200);
  });

  it('takes boot_order as a positive integer or null, unique across drives and NICs', async () => {
    const ok = await put([
      attach(drives[0]!, 'virtio', '0:0', 2),
      attach(drives[1]!, 'virtio', '0:1', null),
      attach(drives[2]!, 'virtio', '0:2', 1),
    ]);
    expect(ok.status).toBe(200);
    expect(ok.json.drives.map((d: Obj) => d.boot_order)).toEqual([2, null, 1]);
    expectError(
      await put([attach(drives[0]!, 'virtio', '0:0', 0)]),
      400,
      'validation',
      'drives.0.boot_order',
    );
    expectError(
      await put([attach(drives[0]!, 'virtio', '0:0', 'first' as unknown as number)]),
      400,
      'validation',
      'drives.0.boot_order',
    );
    expectError(
      await put([attach(drives[0]!, 'virtio', '0:0', 1), attach(drives[1]!, 'virtio', '0:1', 1)]),
      400,
      'validation',
      'drives.1.boot_order',
    );
    expectError(
      await putServer(alice, server.uuid, {
        drives: [attach(drives[0]!, 'virtio', '0:0', 1)],
        nics: [{ boot_order: 1 }],
      }),
      400,
      'validation',
      'nics.0.boot_order',
    );
    expectError(
      await putServer(alice, server.uuid, { nics: [{ boot_order: 0 }] }),
      400,
      'validation',
      'nics.0.boot_order',
    );
  });
});

describe('capability bounds (cpu, mem, smp, cpu_type, hypervisor)', () => {
  const post = (overrides: Obj) => postServer(alice, serverBody(overrides));

  it('keeps cpu within 250..96000 MHz', async () => {
    expectError(await post({ cpu: 249 }), 400, 'validation', 'cpu');
    expectError(await post({ cpu: 96001, cpu_type: 'intel', smp: 32 }), 400, 'validation', 'cpu');
    expect((await post({ cpu: 250 })).status).toBe(201);
    const max = await post({ cpu: 96000, cpu_type: 'intel', smp: 32 });
    expect(max.status).toBe(201);
    expect(max.json.objects[0]).toMatchObject({ cpu: 96000, smp: 32, cpu_type: 'intel' });
  });

  it('keeps mem within 268435456..558345748480 bytes', async () => {
    expectError(await post({ mem: 268435455 }), 400, 'validation', 'mem');
    expectError(await post({ mem: 558345748481 }), 400, 'validation', 'mem');
    expect((await post({ mem: 268435456 })).status).toBe(201);
    expect((await post({ mem: 558345748480 })).status).toBe(201);
  });

  it('keeps smp within 1..32', async () => {
    expectError(await post({ smp: 0 }), 400, 'validation', 'smp');
    expectError(await post({ cpu: 33000, smp: 33 }), 400, 'validation', 'smp');
    expect((await post({ cpu: 32000, smp: 32 })).status).toBe(201);
  });

  it('checks cpu per smp only when smp > 1 (2000/2 ok, 8000/2 rejected)', async () => {
    const ok = await post({ cpu: 2000, smp: 2 });
    expect(ok.status).toBe(201);
    expect(ok.json.objects[0]).toMatchObject({ cpu: 2000, smp: 2 });
    expectError(await post({ cpu: 8000, smp: 2 }), 400, 'validation', 'cpu');
    expectError(await post({ cpu: 1000, smp: 2 }), 400, 'validation', 'cpu');
    // 5786 = 2 × 2893, the amd maximum per core; intel allows 3000 per core.
    expect((await post({ cpu: 5786, smp: 2 })).status).toBe(201);
    expectError(await post({ cpu: 6000, smp: 2 }), 400, 'validation', 'cpu');
    expect((await post({ cpu: 6000, smp: 2, cpu_type: 'intel' })).status).toBe(201);
    // smp 1 has no per-core rule: 250 MHz and 8000 MHz on one core are both fine.
    expect((await post({ cpu: 250, smp: 1 })).status).toBe(201);
    expect((await post({ cpu: 8000, smp: 1 })).status).toBe(201);
  });

  it('checks cpu per smp on PUT too', async () => {
    const server = await createServer(alice, { cpu: 2000, smp: 2 });
    expectError(await putServer(alice, server.uuid, { cpu: 8000 }), 400, 'validation', 'cpu');
    expect((await getObject(alice, `/servers/${server.uuid}/`)).cpu).toBe(2000);
    const res = await putServer(alice, server.uuid, { cpu: 8000, smp: 3 });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ cpu: 8000, smp: 3 });
  });

  it('defaults smp to ceil(cpu / cpu_per_smp.max)', async () => {
    const cases: [Obj, number][] = [
      [{ cpu: 1000 }, 1],
      [{ cpu: 2000 }, 1],
      [{ cpu: 2893 }, 1],
      [{ cpu: 2894 }, 2],
      [{ cpu: 8000 }, 3],
      [{ cpu: 92576 }, 32],
      [{ cpu: 3000, cpu_type: 'intel' }, 1],
      [{ cpu: 3001, cpu_type: 'intel' }, 2],
      [{ cpu: 96000, cpu_type: 'intel' }, 32],
    ];
    for (const [overrides, smp] of cases) {
      const res = await post(overrides);
      expect({ overrides, status: res.status }).toEqual({ overrides, status: 201 });
      expect({ overrides, smp: res.json.objects[0].smp }).toEqual({ overrides, smp });
    }
    // smp: null asks for the default too.
    const nullSmp = await post({ cpu: 8000, smp: null });
    expect(nullSmp.json.objects[0].smp).toBe(3);
    const server = await createServer(alice, { cpu: 2000, smp: 2 });
    const reset = await putServer(alice, server.uuid, { cpu: 8000, smp: null });
    expect(reset.status).toBe(200);
    expect(reset.json.smp).toBe(3);
  });

  it('takes cpu_type and hypervisor pairs from capabilities', async () => {
    const intel = await post({ cpu_type: 'intel' });
    expect(intel.status).toBe(201);
    expect(intel.json.objects[0]).toMatchObject({ cpu_type: 'intel', hypervisor: 'kvm' });
    const onlyHypervisor = await post({ hypervisor: 'kvm' });
    expect(onlyHypervisor.json.objects[0]).toMatchObject({ cpu_type: 'amd', hypervisor: 'kvm' });
    // Valid choices that no host here offers.
    expectError(await post({ cpu_type: 'sparc_t4' }), 400, 'validation', 'cpu_type');
    expectError(await post({ cpu_type: 'vmware' }), 400, 'validation', 'cpu_type');
    expectError(await post({ hypervisor: 'solaris-kz' }), 400, 'validation', 'hypervisor');
    expectError(
      await post({ hypervisor: 'solaris-kz', cpu_type: 'sparc_t5' }),
      400,
      'validation',
      'hypervisor',
    );
    // Not a choice at all.
    expectError(await post({ cpu_type: 'arm' }), 400, 'validation', 'cpu_type');
    expectError(await post({ hypervisor: 'xen' }), 400, 'validation', 'hypervisor');
    const server = await createServer(alice);
    expectError(
      await putServer(alice, server.uuid, { cpu_type: 'sparc_t4' }),
      400,
      'validation',
      'cpu_type',
    );
    const changed = await putServer(alice, server.uuid, { cpu_type: 'intel' });
    expect(changed.json.cpu_type).toBe('intel');
  });

  it('refuses values of the wrong type', async () => {
    expectError(await post({ cpu: 'fast' }), 400, 'validation', 'cpu');
    expectError(await post({ cpu: 1000.5 }), 400, 'validation', 'cpu');
    expectError(await post({ context: 'yes' }), 400, 'validation', 'context');
    expectError(await post({ name: 42 }), 400, 'validation', 'name');
    // Integers as numeric strings are accepted (CloudSigma coerces them).
    const coerced = await post({ cpu: '2000', mem: '536870912' });
    expect(coerced.status).toBe(201);
    expect(coerced.json.objects[0]).toMatchObject({ cpu: 2000, mem: 536870912 });
  });
});

describe('meta and vnc_password', () => {
  it('allows meta keys of up to 32 characters with string values', async () => {
    const key32 = 'k'.repeat(32);
    const server = await createServer(alice, { meta: { [key32]: 'v', ssh_public_key: 'ssh-rsa' } });
    expect(server.meta).toEqual({ [key32]: 'v', ssh_public_key: 'ssh-rsa' });
  });

  it('refuses meta keys over 32 characters and non-string values (point meta)', async () => {
    for (const meta of [
      { ['k'.repeat(33)]: 'v' },
      { n: 1 },
      { b: true },
      { o: { nested: 'x' } },
      { z: null },
      ['not', 'a', 'dict'],
    ]) {
      expectError(await postServer(alice, serverBody({ meta })), 400, 'validation', 'meta');
    }
    const server = await createServer(alice);
    expectError(
      await putServer(alice, server.uuid, { meta: { ['x'.repeat(33)]: 'v' } }),
      400,
      'validation',
      'meta',
    );
  });

  it('refuses an empty vnc_password, accepts short and long ones', async () => {
    expectError(
      await postServer(alice, serverBody({ vnc_password: '' })),
      400,
      'validation',
      'vnc_password',
    );
    expectError(
      await postServer(alice, serverBody({ vnc_password: null })),
      400,
      'validation',
      'vnc_password',
    );
    const server = await createServer(alice, { vnc_password: 'foo' });
    expect(server.vnc_password).toBe('foo');
    expectError(
      await putServer(alice, server.uuid, { vnc_password: '' }),
      400,
      'validation',
      'vnc_password',
    );
    const long = await putServer(alice, server.uuid, { vnc_password: 'a-much-longer-password' });
    expect(long.json.vnc_password).toBe('a-much-longer-password');
  });
});

describe('NICs', () => {
  const NIC_MODELS = [
    'ne2k_isa',
    'i82551',
    'i82557b',
    'i82559er',
    'ne2k_pci',
    'pcnet',
    'rtl8139',
    'e1000',
    'virtio',
  ];

  it('accepts the nine NIC models of the Servers page; the default is virtio', async () => {
    const server = await createServer(alice, {
      nics: [...NIC_MODELS.map((model) => ({ model })), {}, { model: null }],
    });
    expect(server.nics.map((n: Obj) => n.model)).toEqual([...NIC_MODELS, 'virtio', 'virtio']);
    expectError(
      await postServer(alice, serverBody({ nics: [{ model: 'virtio' }, { model: 'scsi' }] })),
      400,
      'validation',
      'nics.1.model',
    );
  });

  it('shows every NIC key, with null for what is not configured', async () => {
    const server = await createServer(alice, { nics: [{}] });
    expect(server.nics).toEqual([
      {
        boot_order: null,
        firewall_policy: null,
        ip_v4_conf: null,
        ip_v6_conf: null,
        mac: server.nics[0].mac,
        model: 'virtio',
        runtime: null,
        vlan: null,
      },
    ]);
  });

  it('allows the public combinations of the configuration table', async () => {
    const server = await createServer(alice, {
      nics: [
        { ip_v4_conf: { conf: 'dhcp' }, ip_v6_conf: { conf: 'dhcp' } },
        { ip_v4_conf: { conf: 'dhcp', ip: null } },
        { ip_v6_conf: { conf: 'manual' } },
        {},
        { ip_v4_conf: { conf: 'manual' } },
      ],
    });
    expect(server.nics.map((n: Obj) => [n.ip_v4_conf, n.ip_v6_conf, n.vlan])).toEqual([
      [{ conf: 'dhcp', ip: null }, { conf: 'dhcp', ip: null }, null],
      [{ conf: 'dhcp', ip: null }, null, null],
      [null, { conf: 'manual', ip: null }, null],
      [null, null, null],
      [{ conf: 'manual', ip: null }, null, null],
    ]);
  });

  it('applies the vlan/ip_v4_conf/ip_v6_conf combination table before resolving the VLAN', async () => {
    const vlan = 'fda95788-5fee-4555-8561-b69b943fca69';
    for (const [nic, message] of [
      [{ vlan, ip_v4_conf: { conf: 'dhcp' }, ip_v6_conf: { conf: 'dhcp' } }, /all configs/],
      [{ vlan, ip_v4_conf: { conf: 'dhcp' } }, /both Private and Public/],
      [{ vlan, ip_v6_conf: { conf: 'dhcp' } }, /both Private and Public/],
    ] as const) {
      const error = expectError(
        await postServer(alice, serverBody({ nics: [{}, nic] })),
        400,
        'validation',
        'nics.1',
      );
      expect(error.error_message).toMatch(message);
    }
  });

  it("answers 400 naming the vlan of a private NIC on a VLAN that is not the account's", async () => {
    // VLANs come from subscriptions (test/networking/nics.test.ts has the real ones).
    const vlan = 'fda95788-5fee-4555-8561-b69b943fca69';
    const error = expectError(
      await postServer(alice, serverBody({ nics: [{}, { vlan }] })),
      400,
      'validation',
      'nics.1.vlan',
    );
    expect(error.error_message).toBe(`Object with uuid ${vlan} does not exist`);
    const server = await createServer(alice);
    expectError(
      await putServer(alice, server.uuid, { nics: [{ vlan }] }),
      400,
      'validation',
      'nics.0.vlan',
    );
  });

  it("answers 400 naming the ip of a static configuration that is not the account's IP", async () => {
    for (const name of ['ip_v4_conf', 'ip_v6_conf']) {
      expectError(
        await postServer(
          alice,
          serverBody({ nics: [{ [name]: { conf: 'static', ip: '185.12.6.183' } }] }),
        ),
        400,
        'validation',
        `nics.0.${name}.ip`,
      );
      // static needs an ip at all
      expectError(
        await postServer(alice, serverBody({ nics: [{ [name]: { conf: 'static' } }] })),
        400,
        'validation',
        `nics.0.${name}.ip`,
      );
    }
  });

  it('refuses an ip with dhcp or manual', async () => {
    for (const conf of ['dhcp', 'manual']) {
      for (const name of ['ip_v4_conf', 'ip_v6_conf']) {
        expectError(
          await postServer(
            alice,
            serverBody({ nics: [{}, { [name]: { conf, ip: '185.12.6.183' } }] }),
          ),
          400,
          'validation',
          `nics.1.${name}.ip`,
        );
      }
    }
  });

  it("refuses an unknown conf and a firewall policy that is not the account's", async () => {
    expectError(
      await postServer(alice, serverBody({ nics: [{ ip_v4_conf: { conf: 'auto' } }] })),
      400,
      'validation',
      'nics.0.ip_v4_conf.conf',
    );
    expectError(
      await postServer(
        alice,
        serverBody({ nics: [{ firewall_policy: 'f9e4b1f0-0000-4000-8000-000000000000' }] }),
      ),
      400,
      'validation',
      'nics.0.firewall_policy',
    );
  });

  it('generates MACs 22: plus five lowercase bytes, unique across servers', async () => {
    const macs: string[] = [];
    for (let i = 0; i < 4; i++) {
      const server = await createServer(alice, { nics: [{}, {}, {}] });
      macs.push(...server.nics.map((n: Obj) => n.mac as string));
    }
    const bobs = await createServer(bob, { nics: [{}, {}] });
    macs.push(...bobs.nics.map((n: Obj) => n.mac as string));
    for (const mac of macs) expect(mac).toMatch(MAC);
    expect(new Set(macs).size).toBe(macs.length);
  });

  describe('update by MAC', () => {
    let server: Obj;
    let first: Obj;
    let second: Obj;
    beforeAll(async () => {
      server = await createServer(alice, {
        nics: [
          { model: 'e1000', ip_v4_conf: { conf: 'dhcp' }, boot_order: 3 },
          { ip_v6_conf: { conf: 'dhcp' } },
        ],
      });
      [first, second] = server.nics;
    });

    it('keeps the NICs when nics is omitted', async () => {
      const res = await putServer(alice, server.uuid, { name: 'nics-kept' });
      expect(res.json.nics).toEqual(server.nics);
    });

    it('reorders NICs by MAC', async () => {
      const res = await putServer(alice, server.uuid, {
        nics: [{ ...second }, { ...first }],
      });
      expect(res.status).toBe(200);
      expect(res.json.nics).toEqual([second, first]);
      const back = await putServer(alice, server.uuid, { nics: server.nics });
      expect(back.json.nics).toEqual(server.nics);
    });

    it('replaces a NIC sent with an existing MAC whole, keeping only the MAC; omitted NICs go', async () => {
      const res = await putServer(alice, server.uuid, {
        nics: [{ mac: first.mac, model: 'rtl8139' }],
      });
      expect(res.status).toBe(200);
      expect(res.json.nics).toEqual([
        {
          boot_order: null,
          firewall_policy: null,
          ip_v4_conf: null,
          ip_v6_conf: null,
          mac: first.mac,
          model: 'rtl8139',
          runtime: null,
          vlan: null,
        },
      ]);
      // The deleted NIC's MAC is not known any more.
      expectError(
        await putServer(alice, server.uuid, { nics: [{ mac: second.mac }] }),
        400,
        'validation',
        'nics.0.mac',
      );
    });

    it('adds a NIC sent without a MAC, with a new MAC', async () => {
      const res = await putServer(alice, server.uuid, {
        nics: [{ mac: first.mac.toUpperCase(), ip_v4_conf: { conf: 'dhcp' } }, { model: 'e1000' }],
      });
      expect(res.status).toBe(200);
      const [kept, added] = res.json.nics;
      expect(kept).toMatchObject({ mac: first.mac, ip_v4_conf: { conf: 'dhcp', ip: null } });
      expect(added.mac).toMatch(MAC);
      expect(added.mac).not.toBe(first.mac);
      expect(added.model).toBe('e1000');
    });

    it('refuses an unknown MAC, a MAC of another server and a MAC given twice', async () => {
      const before = await getObject(alice, `/servers/${server.uuid}/`);
      expectError(
        await putServer(alice, server.uuid, { nics: [{ mac: '22:00:00:00:00:01' }] }),
        400,
        'validation',
        'nics.0.mac',
      );
      const other = await createServer(alice, { nics: [{}] });
      expectError(
        await putServer(alice, server.uuid, { nics: [{}, { mac: other.nics[0].mac }] }),
        400,
        'validation',
        'nics.1.mac',
      );
      expectError(
        await putServer(alice, server.uuid, { nics: [{ mac: first.mac }, { mac: first.mac }] }),
        400,
        'validation',
        'nics.1.mac',
      );
      expectError(
        await postServer(alice, serverBody({ nics: [{ mac: first.mac }] })),
        400,
        'validation',
        'nics.0.mac',
      );
      expect(await getObject(alice, `/servers/${server.uuid}/`)).toEqual(before);
    });

    it('deletes every NIC with nics: []', async () => {
      const res = await putServer(alice, server.uuid, { nics: [] });
      expect(res.status).toBe(200);
      expect(res.json.nics).toEqual([]);
    });
  });
});

describe('listing', () => {
  it('lists servers with the list keys, and details with every key', async () => {
    const app = await freshApp();
    const created: Obj[] = [];
    for (const name of ['test_server_0', 'test_server_1', 'test_server_2']) {
      const res = await app.alice.post('/servers/', { objects: [serverBody({ name })] });
      created.push(res.json.objects[0]);
    }
    await app.bob.post('/servers/', { objects: [serverBody({ name: 'bobs' })] });

    const list = await app.alice.get('/servers/?limit=0');
    expect(list.status).toBe(200);
    expect(list.json.meta).toEqual({ limit: 0, offset: 0, total_count: 3 });
    expect(list.json.objects).toEqual(
      created.map((s) => ({
        name: s.name,
        owner: s.owner,
        resource_uri: s.resource_uri,
        runtime: null,
        status: 'stopped',
        uuid: s.uuid,
      })),
    );

    const detail = await app.alice.get('/servers/detail/?limit=0');
    expect(detail.status).toBe(200);
    expect(detail.json.meta).toEqual({ limit: 0, offset: 0, total_count: 3 });
    expect(detail.json.objects).toEqual(created);

    const paged = await app.alice.get('/servers/?limit=2&offset=1');
    expect(paged.json.meta).toEqual({ limit: 2, offset: 1, total_count: 3 });
    expect(paged.json.objects.map((s: Obj) => s.name)).toEqual(['test_server_1', 'test_server_2']);

    const defaultLimit = await app.alice.get('/servers/');
    expect(defaultLimit.json.meta).toEqual({ limit: 20, offset: 0, total_count: 3 });
  });
});

describe('deleting', () => {
  /** A server with a disk and a cdrom attached (the Servers page's recursive delete setup). */
  async function serverWithDrives(client: Client) {
    const disk = await createDrive(client, { name: 'test_drive_1' });
    const cdrom = await createDrive(client, { name: 'test_drive_2', media: 'cdrom' });
    const bystander = await createDrive(client, { name: 'atom-qnez' });
    const server = await createServer(client, {
      name: 'test_acc_full_server',
      drives: [attach(disk.uuid, 'virtio', '0:0', 1), attach(cdrom.uuid, 'ide', '0:0')],
      nics: [{ ip_v4_conf: { conf: 'dhcp' } }],
    });
    return { server, disk, cdrom, bystander };
  }

  async function driveUuids(client: Client): Promise<string[]> {
    const list = await client.get('/drives/?limit=0');
    return list.json.objects.map((d: Obj) => d.uuid as string).sort();
  }

  it('deletes a single server: 204, empty body, then 404', async () => {
    const server = await createServer(alice);
    const res = await alice.delete(`/servers/${server.uuid}/`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expectError(await alice.get(`/servers/${server.uuid}/`), 404, 'notexist', null);
    expectError(await alice.delete(`/servers/${server.uuid}/`), 404, 'notexist', null);
  });

  it('answers 404 for the uuid of an object of another kind', async () => {
    const drive = await createDrive(alice);
    expectError(await alice.get(`/servers/${drive.uuid}/`), 404, 'notexist', null);
    expectError(await alice.delete(`/servers/${drive.uuid}/`), 404, 'notexist', null);
    expect((await getObject(alice, `/drives/${drive.uuid}/`)).uuid).toBe(drive.uuid);
  });

  it('keeps the drives of a server deleted without recurse, unmounted', async () => {
    const app = await freshApp();
    const { server, disk, cdrom, bystander } = await serverWithDrives(app.alice);
    expect((await app.alice.delete(`/servers/${server.uuid}/`)).status).toBe(204);
    expect(await driveUuids(app.alice)).toEqual([disk.uuid, cdrom.uuid, bystander.uuid].sort());
    for (const drive of [disk, cdrom]) {
      const after = await getObject(app.alice, `/drives/${drive.uuid}/`);
      expect(after.status).toBe('unmounted');
      expect(after.mounted_on).toEqual([]);
    }
  });

  it('recurse=all_drives deletes every attached drive', async () => {
    const app = await freshApp();
    const { server, bystander } = await serverWithDrives(app.alice);
    const res = await app.alice.delete(`/servers/${server.uuid}/?recurse=all_drives`);
    expect(res.status).toBe(204);
    expectError(await app.alice.get(`/servers/${server.uuid}/`), 404, 'notexist', null);
    expect(await driveUuids(app.alice)).toEqual([bystander.uuid]);
    const list = await app.alice.get('/drives/?limit=0');
    expect(list.json.objects[0].status).toBe('unmounted');
  });

  it('recurse=disks deletes the disks and leaves the cdroms, unmounted', async () => {
    const app = await freshApp();
    const { server, cdrom, bystander } = await serverWithDrives(app.alice);
    expect((await app.alice.delete(`/servers/${server.uuid}/?recurse=disks`)).status).toBe(204);
    expect(await driveUuids(app.alice)).toEqual([cdrom.uuid, bystander.uuid].sort());
    const after = await getObject(app.alice, `/drives/${cdrom.uuid}/`);
    expect(after.status).toBe('unmounted');
    expect(after.mounted_on).toEqual([]);
  });

  it('recurse=cdroms deletes the cdroms and leaves the disks, unmounted', async () => {
    const app = await freshApp();
    const { server, disk, bystander } = await serverWithDrives(app.alice);
    expect((await app.alice.delete(`/servers/${server.uuid}/?recurse=cdroms`)).status).toBe(204);
    expect(await driveUuids(app.alice)).toEqual([disk.uuid, bystander.uuid].sort());
    const after = await getObject(app.alice, `/drives/${disk.uuid}/`);
    expect(after.status).toBe('unmounted');
    expect(after.mounted_on).toEqual([]);
  });

  it('recurse=all_drives deletes a cdrom also attached to another stopped server and detaches it there', async () => {
    const app = await freshApp();
    const { server, disk, cdrom, bystander } = await serverWithDrives(app.alice);
    const other = await createServer(app.alice, {
      name: 'other',
      drives: [attach(bystander.uuid, 'virtio', '0:0'), attach(cdrom.uuid, 'ide', '1:1')],
    });
    expect((await getObject(app.alice, `/drives/${cdrom.uuid}/`)).mounted_on).toEqual([
      linkTo('servers', server.uuid),
      linkTo('servers', other.uuid),
    ]);
    expect((await app.alice.delete(`/servers/${server.uuid}/?recurse=all_drives`)).status).toBe(
      204,
    );
    expectError(await app.alice.get(`/drives/${cdrom.uuid}/`), 404, 'notexist', null);
    expectError(await app.alice.get(`/drives/${disk.uuid}/`), 404, 'notexist', null);
    const otherAfter = await getObject(app.alice, `/servers/${other.uuid}/`);
    expect(otherAfter.drives.map((d: Obj) => d.drive.uuid)).toEqual([bystander.uuid]);
    expect((await getObject(app.alice, `/drives/${bystander.uuid}/`)).mounted_on).toEqual([
      linkTo('servers', other.uuid),
    ]);
  });

  it('recurse=cdroms also deletes a shared cdrom and detaches it from the other server', async () => {
    const app = await freshApp();
    const { server, disk, cdrom } = await serverWithDrives(app.alice);
    const other = await createServer(app.alice, { drives: [attach(cdrom.uuid, 'ide', '0:0')] });
    expect((await app.alice.delete(`/servers/${server.uuid}/?recurse=cdroms`)).status).toBe(204);
    expectError(await app.alice.get(`/drives/${cdrom.uuid}/`), 404, 'notexist', null);
    expect((await getObject(app.alice, `/servers/${other.uuid}/`)).drives).toEqual([]);
    expect((await getObject(app.alice, `/drives/${disk.uuid}/`)).status).toBe('unmounted');
  });

  it('answers 400 for an unknown recurse value and deletes nothing', async () => {
    const app = await freshApp();
    const { server, disk, cdrom, bystander } = await serverWithDrives(app.alice);
    for (const recurse of ['everything', 'ALL_DRIVES', 'disk']) {
      expectError(
        await app.alice.delete(`/servers/${server.uuid}/?recurse=${recurse}`),
        400,
        'validation',
        'recurse',
      );
    }
    expect((await getObject(app.alice, `/servers/${server.uuid}/`)).drives).toHaveLength(2);
    expect(await driveUuids(app.alice)).toEqual([disk.uuid, cdrom.uuid, bystander.uuid].sort());
  });

  it('deletes several servers with DELETE /servers/ and {"objects": [...]}', async () => {
    const app = await freshApp();
    const drive = await createDrive(app.alice);
    const one = await createServer(app.alice, {
      name: 'one',
      drives: [attach(drive.uuid, 'virtio', '0:0')],
    });
    const two = await createServer(app.alice, { name: 'two' });
    const three = await createServer(app.alice, { name: 'three' });
    const res = await app.alice.delete('/servers/', {
      objects: [{ uuid: one.uuid }, { uuid: two.uuid }],
    });
    expect(res.status).toBe(204);
    expect(res.text).toBe('');
    const list = await app.alice.get('/servers/');
    expect(list.json.objects.map((s: Obj) => s.uuid)).toEqual([three.uuid]);
    expect((await getObject(app.alice, `/drives/${drive.uuid}/`)).status).toBe('unmounted');
  });

  it('deletes several servers recursively, with a cdrom they share', async () => {
    const app = await freshApp();
    const { server, disk, cdrom, bystander } = await serverWithDrives(app.alice);
    const other = await createServer(app.alice, {
      drives: [attach(cdrom.uuid, 'ide', '0:0'), attach(bystander.uuid, 'virtio', '0:0')],
    });
    const res = await app.alice.delete('/servers/?recurse=cdroms', {
      objects: [{ uuid: server.uuid }, { uuid: other.uuid }],
    });
    expect(res.status).toBe(204);
    expect((await app.alice.get('/servers/')).json.meta.total_count).toBe(0);
    expect(await driveUuids(app.alice)).toEqual([disk.uuid, bystander.uuid].sort());
    for (const drive of [disk, bystander]) {
      const after = await getObject(app.alice, `/drives/${drive.uuid}/`);
      expect(after.status).toBe('unmounted');
      expect(after.mounted_on).toEqual([]);
    }
  });

  it('deletes nothing when a bulk delete names a missing or foreign server', async () => {
    const app = await freshApp();
    const one = await createServer(app.alice, { name: 'one' });
    const bobs = await createServer(app.bob, { name: 'bobs' });
    for (const uuid of ['00000000-0000-4000-8000-000000000000', bobs.uuid]) {
      expectError(
        await app.alice.delete('/servers/', { objects: [{ uuid: one.uuid }, { uuid }] }),
        404,
        'notexist',
        null,
      );
    }
    expect((await app.alice.get('/servers/')).json.meta.total_count).toBe(1);
    expect((await app.bob.get('/servers/')).json.meta.total_count).toBe(1);
    expectError(
      await app.alice.delete('/servers/', { objects: [{ name: 'no uuid' }] }),
      400,
      'validation',
      'objects.0.uuid',
    );
  });
});

describe('schema (GET /servers/schema/)', () => {
  it('answers the Servers page schema', async () => {
    const res = await alice.get('/servers/schema/');
    expect(res.status).toBe(200);
    const schema = res.json;
    expect(schema).toMatchObject({
      allowed_detail_http_methods: ['get', 'put', 'delete'],
      allowed_list_http_methods: ['get', 'put', 'delete', 'post'],
      default_format: 'application/json',
      default_limit: 20,
    });
    const f = schema.fields;
    expect(f.cpu).toMatchObject({ type: 'integer', required: true, readonly: false });
    expect(f.mem).toMatchObject({ type: 'integer', required: true, readonly: false });
    expect(f.name).toMatchObject({ type: 'string', required: true, readonly: false });
    expect(f.vnc_password).toMatchObject({ type: 'string', required: true, default: null });
    expect(f.smp).toMatchObject({ type: 'integer', required: false, default: null });
    expect(f.context).toMatchObject({ type: 'boolean', default: true });
    expect(f.uuid).toMatchObject({ type: 'string', readonly: true, required: true });
    expect(f.status).toMatchObject({ type: 'string', readonly: true, required: false });
    expect(f.runtime).toMatchObject({ type: 'related', readonly: true });
    expect(f.tags).toMatchObject({ type: 'related', default: [] });
    expect(f.requirements).toMatchObject({ type: 'list', default: [] });
    expect(f.cpu_type).toMatchObject({ default: 'amd' });
    expect(f.cpu_type.choices).toEqual(['amd', 'intel', 'sparc_t4', 'sparc_t5', 'vmware']);
    expect(f.hypervisor).toMatchObject({ default: 'kvm', choices: ['kvm', 'solaris-kz'] });
    expect(f.drives.fields.device.choices).toEqual(['ide', 'virtio']);
    expect(f.drives.fields.dev_channel).toMatchObject({ type: 'string', required: true });
    expect(f.drives.fields.drive).toMatchObject({ type: 'related', required: true });
    expect(f.nics.fields.model.choices).toEqual([
      'ne2k_isa',
      'i82551',
      'i82557b',
      'i82559er',
      'ne2k_pci',
      'pcnet',
      'rtl8139',
      'e1000',
      'virtio',
    ]);
    expect(f.nics.fields.firewall_policy).toMatchObject({ type: 'related', default: null });
    expect(f.nics.fields.ip_v4_conf.fields.conf.choices).toEqual(['dhcp', 'static', 'manual']);
    expect(f.nics.fields.ip_v4_conf.fields.conf.required).toBe(false);
    expect(f.nics.fields.vlan).toMatchObject({ type: 'related', default: null });
    expect(Object.keys(f.runtime.fields).sort()).toEqual(['active_since', 'nics']);
  });
});
