/**
 * `--seed-file` (docs/seeding.md) through a real socket: the seeded account sees its objects with
 * the file's uuids and fields, its server (on the file's drives, library cdrom, IP and VLAN)
 * starts, another account sees none of it, a restart with the same file changes nothing, and a
 * bad file stops the start with a message naming the entry and the field, writing nothing.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config.js';
import type { Store } from '../../src/store/types.js';
import { ROOT } from '../cli/process.js';
import { getObject, linkTo, MAC, type Obj } from '../support/api.js';
import { ALICE, type User } from '../support/app.js';
import {
  type LastingStore,
  lastingStore,
  removeSeedFiles,
  type SeededApp,
  seedFile,
  startSeeded,
} from './support.js';

const GIB = 1024 ** 3;
const TEAM: User = { email: 'team@example.com', password: 'team-secret' };
const SOLO: User = { email: 'solo@example.com', password: 'solo-secret' };

const TOOLS_CD = '7d1c5a3e-8f59-4c1b-9e0e-2a1f4b6c8d01';
const VLAN = '3b7e2c1a-6d4f-4e8a-b9c0-1f2e3d4c5b6a';
const DISK = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
const SERVER = '1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9';
const STATIC_IP = '198.51.100.10';

/** A complete seed file: the same as docs/seeding.md's example, in spirit. */
function teamSeed(): Obj {
  return {
    library: [
      {
        uuid: TOOLS_CD,
        name: 'Team tools',
        media: 'cdrom',
        size: GIB,
        os: 'other',
        description: 'The tools every team server boots with',
      },
    ],
    accounts: [
      {
        email: TEAM.email,
        password: TEAM.password,
        ips: [{ address: STATIC_IP, meta: { name: 'web' } }, { count: 2 }],
        vlans: [{ uuid: VLAN, meta: { name: 'backend' } }, { meta: { name: 'spare' } }],
        drives: [
          { uuid: DISK, name: 'web-root', size: 2 * GIB, media: 'disk', meta: { role: 'root' } },
          { name: 'scratch', size: GIB, media: 'disk', storage_type: 'nvme' },
        ],
        servers: [
          {
            uuid: SERVER,
            name: 'web',
            cpu: 2000,
            mem: GIB,
            vnc_password: 'web-vnc',
            meta: { team: 'blue' },
            drives: [
              { drive: DISK, device: 'virtio', dev_channel: '0:0', boot_order: 1 },
              { drive: TOOLS_CD, device: 'ide', dev_channel: '0:0', boot_order: 2 },
            ],
            nics: [
              { model: 'virtio', ip_v4_conf: { conf: 'static', ip: STATIC_IP } },
              { model: 'virtio', vlan: VLAN },
            ],
          },
          {
            name: 'worker',
            cpu: 1000,
            mem: GIB / 2,
            vnc_password: 'worker-vnc',
            nics: [{ model: 'virtio', ip_v4_conf: { conf: 'dhcp' } }],
          },
        ],
      },
      {
        email: SOLO.email,
        password: SOLO.password,
        drives: [{ name: 'solo-disk', size: GIB, media: 'disk' }],
      },
    ],
  };
}

const stores: LastingStore[] = [];
let running: SeededApp | undefined;

function newStore(): LastingStore {
  const store = lastingStore();
  stores.push(store);
  return store;
}

afterEach(async () => {
  await running?.close();
  running = undefined;
});

afterAll(async () => {
  for (const store of stores.splice(0)) await store.dispose();
  removeSeedFiles();
});

async function start(store: LastingStore, file: string, extra: Obj = {}): Promise<SeededApp> {
  running = await startSeeded(await store.open(), { seedFile: file, ...extra });
  return running;
}

async function stop(): Promise<void> {
  await running?.close();
  running = undefined;
}

async function list(client: ReturnType<SeededApp['as']>, path: string): Promise<Obj[]> {
  const res = await client.get(path);
  expect(res.status, res.text).toBe(200);
  return res.json.objects as Obj[];
}

describe('a seed file', () => {
  it('is the example of docs/seeding.md', () => {
    const doc = readFileSync(join(ROOT, 'docs', 'seeding.md'), 'utf8');
    const example = /```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
    expect(JSON.parse(example ?? 'null')).toEqual(teamSeed());
  });

  it("gives the account its objects with the file's uuids and fields", async () => {
    const t = await start(newStore(), seedFile(teamSeed()));
    const team = t.as(TEAM);
    expect((await getObject(team, '/profile/')).email).toBe(TEAM.email);

    const drives = await list(team, '/drives/detail/');
    expect(drives).toHaveLength(2);
    const disk = await getObject(team, `/drives/${DISK}/`);
    expect(disk).toMatchObject({
      uuid: DISK,
      name: 'web-root',
      size: 2 * GIB,
      media: 'disk',
      meta: { role: 'root' },
      status: 'mounted',
      mounted_on: [linkTo('servers', SERVER)],
    });
    const scratch = drives.find((d) => d.name === 'scratch')!;
    expect(scratch).toMatchObject({ size: GIB, storage_type: 'nvme', status: 'unmounted' });

    const servers = await list(team, '/servers/detail/');
    expect(servers.map((s) => s.name).sort()).toEqual(['web', 'worker']);
    const web = await getObject(team, `/servers/${SERVER}/`);
    expect(web).toMatchObject({
      uuid: SERVER,
      name: 'web',
      cpu: 2000,
      mem: GIB,
      vnc_password: 'web-vnc',
      meta: { team: 'blue' },
      status: 'stopped',
      drives: [
        { drive: linkTo('drives', DISK), device: 'virtio', dev_channel: '0:0', boot_order: 1 },
        { drive: linkTo('drives', TOOLS_CD), device: 'ide', dev_channel: '0:0', boot_order: 2 },
      ],
    });
    expect(web.nics[0].mac).toMatch(MAC);
    expect(web.nics[0].ip_v4_conf).toEqual({ conf: 'static', ip: linkTo('ips', STATIC_IP) });
    expect(web.nics[1].vlan).toEqual(linkTo('vlans', VLAN));

    // The addressed IP and two more: three subscribed IPs, the first used by the server.
    const ips = await list(team, '/ips/detail/');
    expect(ips).toHaveLength(3);
    expect(await getObject(team, `/ips/${STATIC_IP}/`)).toMatchObject({
      meta: { name: 'web' },
      server: linkTo('servers', SERVER),
    });
    for (const ip of ips) expect(ip.subscription).not.toBeNull();
    const subscriptions = await list(team, '/subscriptions/');
    expect(subscriptions.filter((s) => s.resource === 'ip')).toHaveLength(3);
    expect(subscriptions.filter((s) => s.resource === 'vlan')).toHaveLength(2);

    const vlans = await list(team, '/vlans/detail/');
    expect(vlans.map((v) => v.meta.name).sort()).toEqual(['backend', 'spare']);
    expect(await getObject(team, `/vlans/${VLAN}/`)).toMatchObject({
      meta: { name: 'backend' },
      servers: [linkTo('servers', SERVER)],
    });

    // The file's library drive joins the catalog's, for every account.
    const library = await list(t.as(SOLO), '/libdrives/?limit=0');
    expect(library.map((d) => d.uuid)).toContain(TOOLS_CD);
    expect(library).toHaveLength(5);
    expect(await getObject(team, `/libdrives/${TOOLS_CD}/`)).toMatchObject({
      name: 'Team tools',
      owner: null,
      description: 'The tools every team server boots with',
    });

    // The second account has its own.
    expect((await list(t.as(SOLO), '/drives/')).length).toBe(1);
    // No admin is generated: the file brought accounts.
    expect(t.app.generatedUsers).toEqual([]);
  });

  it("starts a server on the file's drives, library cdrom, static IP and VLAN", async () => {
    const t = await start(newStore(), seedFile(teamSeed()));
    const team = t.as(TEAM);
    const res = await team.post(`/servers/${SERVER}/action/?do=start`);
    expect(res.status, res.text).toBe(202);
    const web = await getObject(team, `/servers/${SERVER}/`);
    expect(web.status).toBe('running');
    expect(web.runtime.nics[0].ip_v4).toEqual(linkTo('ips', STATIC_IP));
    expect(web.nics[1].runtime).toMatchObject({ interface_type: 'private' });
    const worker = (await list(team, '/servers/detail/')).find((s) => s.name === 'worker')!;
    expect((await team.post(`/servers/${worker.uuid}/action/?do=start`)).status).toBe(202);
    expect((await getObject(team, `/servers/${worker.uuid}/`)).status).toBe('running');
  });

  it('is not visible to another account', async () => {
    const t = await start(newStore(), seedFile(teamSeed()), {
      users: `${ALICE.email}:${ALICE.password}`,
    });
    for (const other of [t.as(ALICE), t.as(SOLO)]) {
      for (const path of [`/drives/${DISK}/`, `/servers/${SERVER}/`, `/vlans/${VLAN}/`]) {
        expect((await other.get(path)).status, path).toBe(404);
      }
      expect((await other.get(`/ips/${STATIC_IP}/`)).status).toBe(404);
      expect(await list(other, '/servers/')).toEqual([]);
      expect(await list(other, '/ips/')).toEqual([]);
      expect(await list(other, '/vlans/')).toEqual([]);
    }
    expect(await list(t.as(ALICE), '/drives/')).toEqual([]);
    // Nor can it use them: a server of its own on the team's drive is refused.
    const res = await t.as(ALICE).post('/servers/', {
      name: 'thief',
      cpu: 1000,
      mem: GIB,
      vnc_password: 'thief',
      drives: [{ drive: DISK, device: 'virtio', dev_channel: '0:0' }],
    });
    expect(res.status).toBe(400);
    expect(res.json[0].error_point).toBe('drives.0.drive');
  });
});

describe('starting again with the same file', () => {
  it('creates and changes nothing, and leaves what the account changed as it is', async () => {
    const store = newStore();
    const file = seedFile(teamSeed());
    let t = await start(store, file);
    const first = await t.app.store.fingerprint();
    await stop();

    t = await start(store, file);
    expect(await t.app.store.fingerprint()).toBe(first);
    const team = t.as(TEAM);
    expect(await list(team, '/drives/')).toHaveLength(2);
    expect(await list(team, '/servers/')).toHaveLength(2);
    expect(await list(team, '/ips/')).toHaveLength(3);
    expect(await list(team, '/vlans/')).toHaveLength(2);

    // The account renames the seeded disk and changes the server: the file does not undo it.
    expect((await team.put(`/drives/${DISK}/`, { name: 'renamed' })).status).toBe(200);
    const web = await getObject(team, `/servers/${SERVER}/`);
    const edited = await team.put(`/servers/${SERVER}/`, { ...web, cpu: 3000, nics: [] });
    expect(edited.status, edited.text).toBe(200);
    const changed = await t.app.store.fingerprint();
    await stop();

    t = await start(store, file);
    expect(await t.app.store.fingerprint()).toBe(changed);
    expect((await getObject(t.as(TEAM), `/drives/${DISK}/`)).name).toBe('renamed');
    expect((await getObject(t.as(TEAM), `/servers/${SERVER}/`)).cpu).toBe(3000);
  });

  it('makes again what the file names and is gone, by uuid or by name', async () => {
    const store = newStore();
    const file = seedFile(teamSeed());
    let t = await start(store, file);
    const solo = t.as(SOLO);
    const [soloDisk] = await list(solo, '/drives/');
    expect((await solo.delete(`/drives/${soloDisk!.uuid}/`)).status).toBe(204);
    const team = t.as(TEAM);
    expect((await team.delete(`/servers/${SERVER}/`)).status).toBe(204);
    await stop();

    t = await start(store, file);
    const again = await list(t.as(SOLO), '/drives/detail/');
    expect(again.map((d) => d.name)).toEqual(['solo-disk']);
    expect(again[0]!.uuid).not.toBe(soloDisk!.uuid);
    expect((await getObject(t.as(TEAM), `/servers/${SERVER}/`)).name).toBe('web');
    const first = await t.app.store.fingerprint();
    await stop();
    t = await start(store, file);
    expect(await t.app.store.fingerprint()).toBe(first);
  });
});

describe('a bad seed file', () => {
  /**
   * Starts with `seed` on a store that has never been used: the start must fail with a
   * ConfigError whose message has every one of `parts`, and the store must be as it was.
   */
  async function refused(seed: unknown, parts: string[], extra: Obj = {}): Promise<string> {
    const lasting = newStore();
    let store: Store = await lasting.open();
    const before = await store.fingerprint();
    await store.close();
    const file = seedFile(seed);
    const error = await start(lasting, file, extra).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message.startsWith(`--seed-file ${file}: `), message).toBe(true);
    for (const part of parts) expect(message, message).toContain(part);
    store = await lasting.open();
    try {
      expect(await store.accounts.count()).toBe(0);
      expect(await store.fingerprint()).toBe(before);
    } finally {
      await store.close();
    }
    return message;
  }

  function withTeam(change: (team: Obj) => void): Obj {
    const seed = teamSeed();
    change(seed.accounts[0]);
    return seed;
  }

  it('adds nothing of a file loaded before when one new entry is bad (one transaction)', async () => {
    const lasting = newStore();
    await start(lasting, seedFile(teamSeed()));
    await stop();
    let store = await lasting.open();
    const before = await store.fingerprint();
    await store.close();
    const grown = withTeam((team) => {
      team.ips.push({ address: '198.51.100.20' });
      team.vlans.push({ meta: { name: 'third' } });
      team.drives.push({ name: 'more', size: GIB, media: 'disk' });
      team.servers.push({ name: 'broken', cpu: 1000, mem: GIB, vnc_password: 'x', smp: 'many' });
    });
    grown.library.push({
      uuid: 'aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee',
      name: 'New',
      media: 'cdrom',
      size: GIB,
    });
    const error = await start(lasting, seedFile(grown)).catch((e: unknown) => e);
    expect(String(error)).toContain('accounts.0.servers.2 ("broken"): "smp": ');
    store = await lasting.open();
    try {
      expect(await store.fingerprint()).toBe(before);
    } finally {
      await store.close();
    }
  });

  it('names the entry and the field of a value the API refuses', async () => {
    await refused(
      withTeam((team) => {
        team.drives[1].size = 10;
      }),
      [
        'accounts.0.drives.1 ("scratch"): "size": Drive size must be between 536870912 and 12074020121525 bytes for storage type nvme',
      ],
    );
  });

  it('names the entry and the field of a reference that does not hold, after the rest went in', async () => {
    await refused(
      withTeam((team) => {
        team.servers[0].drives[0].drive = 'ffffffff-ffff-4fff-8fff-ffffffffffff';
      }),
      ['accounts.0.servers.0 ("web"): "drives.0.drive": ', 'does not exist'],
    );
    await refused(
      withTeam((team) => {
        team.servers[0].nics[1].vlan = 'eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee';
      }),
      ['accounts.0.servers.0 ("web"): "nics.1.vlan": '],
    );
  });

  it('names an address outside the IP pool', async () => {
    await refused(
      withTeam((team) => {
        team.ips[0].address = '10.1.2.3';
      }),
      ['accounts.0.ips.0 (10.1.2.3): "address": 10.1.2.3 is not an address of the IP pool'],
    );
  });

  it('names unknown keys, missing identities and repeats', async () => {
    await refused(
      withTeam((team) => {
        team.drives[0].colour = 'blue';
      }),
      ['accounts.0.drives.0 ("web-root"): "colour": is not a field'],
    );
    await refused(
      withTeam((team) => {
        delete team.drives[1].name;
      }),
      ['accounts.0.drives.1: "name": is required'],
    );
    await refused(
      withTeam((team) => {
        team.servers[1].name = 'web';
        team.servers[0].name = 'other';
        team.servers.push({ ...team.servers[1], nics: [] });
      }),
      ['accounts.0.servers.1 ("web"): "name": web is also the name of accounts.0.servers.2'],
    );
    // One with a uuid would be taken for it at the next start.
    await refused(
      withTeam((team) => {
        team.vlans[0].meta.name = 'spare';
      }),
      ['accounts.0.vlans.1 ("spare"): "meta.name": spare is also the name of accounts.0.vlans.0'],
    );
    await refused(
      withTeam((team) => {
        team.drives[0].uuid = VLAN;
      }),
      [`accounts.0.drives.0 ("web-root"): "uuid": ${VLAN} is also given at accounts.0.vlans.0`],
    );
    await refused(
      withTeam((team) => {
        team.password = '';
      }),
      [`accounts.0 (${TEAM.email}): "password": is required`],
    );
  });

  it('names a library drive the catalog already has, and a bad one', async () => {
    const seed = teamSeed();
    seed.library.push({ ...seed.library[0], uuid: 'c0c2212a-3bbb-49e3-a42d-ab2f43244445' });
    await refused(seed, [
      'library.1 ("Team tools"): "uuid": ',
      'is already in the library catalog',
    ]);
    const bad = teamSeed();
    bad.library[0].size = -1;
    await refused(bad, ['library: entry 0 (Team tools): "size"']);
  });

  it('names a file that is not JSON', async () => {
    await refused('{"accounts": [', ['not JSON']);
  });
});
