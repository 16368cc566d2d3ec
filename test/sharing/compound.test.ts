/**
 * Operations that touch several shared objects at once (api-reference.md §5.10): cloning another
 * account's server needs CLONE on it and on its disks and ATTACH on its cdroms, and makes the
 * caller's own copies; attaching through a server shared with the caller checks what the server's
 * owner may use; a recursive delete needs DELETE on every drive it would take.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  attach,
  createDrive,
  createServer,
  expectError,
  linkTo,
  type Obj,
} from '../support/api.js';
import { serverBody, startTestApp, type TestApp } from '../support/app.js';

const server = (name: string) => serverBody({ name });

let t: TestApp;
let alice = '';
let bob = '';

beforeEach(async () => {
  t = await startTestApp();
  alice = (await t.alice.get('/profile/')).json.uuid;
  bob = (await t.bob.get('/profile/')).json.uuid;
});
afterEach(() => t.close());

async function tag(name: string, client = t.alice): Promise<string> {
  const res = await client.post('/tags/', { name });
  expect(res.status, res.text).toBe(201);
  return res.json.objects[0].uuid;
}

async function acl(tags: string[], permissions: string[], grantee = bob, client = t.alice) {
  const res = await client.post('/acls/', {
    grantees: [{ uuid: grantee }],
    rules: permissions.map((permission) => ({ permission })),
    tags,
  });
  expect(res.status, res.text).toBe(201);
  return res.json.objects[0].uuid as string;
}

describe('cloning another account’s server', () => {
  /** Alice's server with a disk and a cdrom, each under a tag of its own. */
  async function world() {
    const tags = {
      server: await tag('server'),
      disk: await tag('disk'),
      cdrom: await tag('cdrom'),
    };
    const disk = await createDrive(t.alice, { name: 'disk', tags: [tags.disk] });
    const cdrom = await createDrive(t.alice, { name: 'cdrom', media: 'cdrom', tags: [tags.cdrom] });
    const server = await createServer(t.alice, {
      name: 'source',
      tags: [tags.server],
      drives: [attach(disk.uuid, 'virtio', '0:0'), attach(cdrom.uuid, 'ide', '0:0')],
    });
    return { tags, disk, cdrom, server };
  }

  it('needs CLONE on the server and its disks and ATTACH on its cdroms', async () => {
    const w = await world();
    const clone = () => t.bob.post(`/servers/${w.server.uuid}/action/?do=clone`, {});
    await acl([w.tags.server], ['LIST', 'CLONE']);
    const before = await t.app.store.fingerprint();
    let error = expectError(await clone(), 403, 'permission', null);
    expect(error.error_message).toContain(`drive ${w.disk.uuid}`);
    expect(error.error_message).toContain('CLONE');
    await acl([w.tags.disk], ['CLONE']);
    await acl([w.tags.cdrom], ['CLONE']);
    error = expectError(await clone(), 403, 'permission', null);
    expect(error.error_message).toContain(`drive ${w.cdrom.uuid}`);
    expect(error.error_message).toContain('ATTACH');
    expect(await t.app.store.fingerprint()).not.toBe(before); // the ACLs only
    await acl([w.tags.cdrom], ['ATTACH']);
    const res = await clone();
    expect(res.status, res.text).toBe(202);
    const copy = res.json as Obj;
    // Bob's own server: his owner, none of alice's tags, grantees or keys; a copy of the disk
    // that is his, and alice's cdrom attached as it is.
    expect(copy.owner).toEqual(linkTo('user', bob));
    expect(copy.tags).toEqual([]);
    expect(copy.grantees).toEqual([]);
    expect(copy.permissions).toEqual([]);
    const [diskCopy, cdrom] = copy.drives as Obj[];
    expect(cdrom!.drive.uuid).toBe(w.cdrom.uuid);
    expect(diskCopy!.drive.uuid).not.toBe(w.disk.uuid);
    const copied = (await t.bob.get(`/drives/${diskCopy!.drive.uuid}/`)).json;
    expect(copied).toMatchObject({
      owner: linkTo('user', bob),
      tags: [],
      grantees: [],
      permissions: [],
    });
    expect((await t.bob.get(`/servers/${copy.uuid}/`)).json.status).toBe('stopped');
    expect((await t.alice.get(`/servers/${copy.uuid}/`)).status).toBe(404);
    expect((await t.alice.get(`/drives/${diskCopy!.drive.uuid}/`)).status).toBe(404);
    const jobs = (await t.bob.get('/jobs/?limit=0')).json.objects as Obj[];
    expect(jobs.map((j) => j.operation).sort()).toEqual(['drive_clone', 'server_clone']);
    expect((await t.alice.get('/jobs/?limit=0')).json.objects).toEqual([]);
    // Alice's cdrom now shows bob's server among its mounts.
    const cdromNow = (await t.alice.get(`/drives/${w.cdrom.uuid}/`)).json;
    expect(cdromNow.mounted_on).toContainEqual(linkTo('servers', copy.uuid));
  });

  it('clones a shared drive into one of the caller’s', async () => {
    const shared = await tag('d');
    const drive = await createDrive(t.alice, { name: 'alice-drive', tags: [shared] });
    await acl([shared], ['CLONE']);
    const res = await t.bob.post(`/drives/${drive.uuid}/action/?do=clone`, {});
    expect(res.status, res.text).toBe(202);
    const copy = res.json.objects[0] as Obj;
    expect(copy).toMatchObject({
      owner: linkTo('user', bob),
      tags: [],
      grantees: [],
      permissions: [],
    });
    expect((await t.bob.get('/drives/?limit=0')).json.objects.map((d: Obj) => d.uuid)).toEqual([
      copy.uuid,
    ]);
  });
});

describe('attachments through sharing', () => {
  it('attaches what the server’s owner may use, whoever edits the server', async () => {
    const shared = await tag('s');
    const server = await createServer(t.alice, { name: 'alice-server', tags: [shared] });
    await acl([shared], ['LIST', 'EDIT', 'ATTACH']);
    const bobDrive = await createDrive(t.bob, { name: 'bob-drive' });
    const aliceDrive = await createDrive(t.alice, { name: 'alice-drive', tags: [shared] });
    // An alice drive not shared with bob: bob may not attach it, though alice could.
    const aliceSecret = await createDrive(t.alice, { name: 'alice-secret' });
    expectError(
      await t.bob.put(`/servers/${server.uuid}/`, {
        drives: [attach(aliceSecret.uuid, 'virtio', '0:0')],
      }),
      400,
      'validation',
      'drives.0.drive',
    );
    // Bob edits alice's server: his drive is not alice's to use.
    let res = await t.bob.put(`/servers/${server.uuid}/`, {
      drives: [attach(bobDrive.uuid, 'virtio', '0:0')],
    });
    expect(JSON.parse(res.text)).toEqual([
      {
        error_point: 'drives.0.drive',
        error_type: 'validation',
        error_message: `Object with uuid ${bobDrive.uuid} does not exist`,
      },
    ]);
    // Alice's own drive, shared with bob with ATTACH, is.
    res = await t.bob.put(`/servers/${server.uuid}/`, {
      drives: [attach(aliceDrive.uuid, 'virtio', '0:0')],
    });
    expect(res.status, res.text).toBe(200);
    // Once bob shares his drive with alice with ATTACH (LIST is not enough), it is too.
    const bobTag = await tag('b', t.bob);
    await t.bob.put(`/drives/${bobDrive.uuid}/`, { tags: [bobTag] });
    const bobAcl = await acl([bobTag], ['LIST'], alice, t.bob);
    res = await t.bob.put(`/servers/${server.uuid}/`, {
      drives: [attach(aliceDrive.uuid, 'virtio', '0:0'), attach(bobDrive.uuid, 'virtio', '0:1')],
    });
    expectError(res, 403, 'permission', 'drives.1.drive');
    await t.bob.put(`/acls/${bobAcl}/`, { rules: [{ permission: 'ATTACH' }] });
    res = await t.bob.put(`/servers/${server.uuid}/`, {
      drives: [attach(aliceDrive.uuid, 'virtio', '0:0'), attach(bobDrive.uuid, 'virtio', '0:1')],
    });
    expect(res.status, res.text).toBe(200);
    expect((await t.bob.get(`/drives/${bobDrive.uuid}/`)).json.mounted_on).toEqual([
      linkTo('servers', server.uuid),
    ]);
    // Alice can start her server with bob's drive; she cannot edit bob's drive.
    expect((await t.alice.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
    expect((await t.alice.get(`/servers/${server.uuid}/`)).json.status).toBe('running');
    expectError(
      await t.alice.put(`/drives/${bobDrive.uuid}/`, { name: 'x' }),
      403,
      'permission',
      null,
    );
  });
});

describe('networks through sharing', () => {
  /** Alice buys an IP and a VLAN and makes a firewall policy, all under one tag. */
  async function aliceNetworks() {
    const shared = await tag('net');
    const bought = async (resource: string) => {
      const res = await t.alice.post('/subscriptions/', {
        objects: [{ resource, amount: 1, period: '1 month' }],
      });
      expect(res.status, res.text).toBe(201);
      return res.json.objects[0].subscribed_object as string;
    };
    const ip = await bought('ip');
    const vlan = await bought('vlan');
    const policy = (await t.alice.post('/fwpolicies/', { name: 'p' })).json.objects[0].uuid;
    expect((await t.alice.put(`/ips/${ip}/`, { tags: [shared] })).status).toBe(200);
    expect((await t.alice.put(`/vlans/${vlan}/`, { tags: [shared] })).status).toBe(200);
    expect((await t.alice.put(`/fwpolicies/${policy}/`, { tags: [shared] })).status).toBe(200);
    return { shared, ip, vlan, policy };
  }

  const nics = (n: { ip: string; vlan: string; policy: string }) => [
    { ip_v4_conf: { conf: 'static', ip: n.ip }, model: 'virtio', firewall_policy: n.policy },
    { vlan: n.vlan, model: 'virtio' },
  ];

  it('puts IPs, VLANs and policies shared with ATTACH on the grantee’s NICs', async () => {
    const n = await aliceNetworks();
    const create = () => t.bob.post('/servers/', { ...server('bob-server'), nics: nics(n) });
    // Not shared: as missing ones.
    const one = (nic: Obj) => t.bob.post('/servers/', { ...server('one'), nics: [nic] });
    const staticIp = { ip_v4_conf: { conf: 'static', ip: n.ip }, model: 'virtio' };
    let before = await t.app.store.fingerprint();
    let error = expectError(await create(), 400, 'validation', 'nics.0.firewall_policy');
    expect(error.error_message).toBe(`Object with uuid ${n.policy} does not exist`);
    error = expectError(await one(staticIp), 400, 'validation', 'nics.0.ip_v4_conf.ip');
    expect(error.error_message).toBe(`Object with uuid ${n.ip} does not exist`);
    expectError(await one({ vlan: n.vlan }), 400, 'validation', 'nics.0.vlan');
    expect(await t.app.store.fingerprint()).toBe(before);
    // Shared without ATTACH (LIST is not enough): 403 naming the NIC's field, nothing changes.
    const shared = await acl([n.shared], ['LIST']);
    before = await t.app.store.fingerprint();
    error = expectError(await one(staticIp), 403, 'permission', 'nics.0.ip_v4_conf.ip');
    expect(error.error_message).toBe(
      `The IP ${n.ip} is not shared with the owner of the server with the ATTACH permission`,
    );
    expectError(await one({ vlan: n.vlan }), 403, 'permission', 'nics.0.vlan');
    expectError(await create(), 403, 'permission', 'nics.0.firewall_policy');
    expect(await t.app.store.fingerprint()).toBe(before);

    await t.alice.put(`/acls/${shared}/`, { rules: [{ permission: 'ATTACH' }] });
    const res = await create();
    expect(res.status, res.text).toBe(201);
    const bobServer = res.json.objects[0] as Obj;
    expect(bobServer.owner).toEqual(linkTo('user', bob));
    expect(bobServer.nics[0].ip_v4_conf.ip).toMatchObject({ uuid: n.ip });
    expect(bobServer.nics[0].firewall_policy).toMatchObject({ uuid: n.policy });
    expect(bobServer.nics[1].vlan).toMatchObject({ uuid: n.vlan });
    // The owner's objects follow the grantee's server.
    expect((await t.alice.get(`/ips/${n.ip}/`)).json.server).toEqual(
      linkTo('servers', bobServer.uuid),
    );
    expect((await t.alice.get(`/vlans/${n.vlan}/`)).json.servers).toEqual([
      linkTo('servers', bobServer.uuid),
    ]);
    expect((await t.alice.get(`/fwpolicies/${n.policy}/`)).json.servers).toEqual([
      linkTo('servers', bobServer.uuid),
    ]);
    // The server runs with the shared address; a second server cannot take it.
    expect((await t.bob.post(`/servers/${bobServer.uuid}/action/?do=start`)).status).toBe(202);
    const running = (await t.bob.get(`/servers/${bobServer.uuid}/`)).json;
    expect(running.status).toBe('running');
    expect(running.nics[0].runtime.ip_v4.uuid).toBe(n.ip);
    expectError(
      await t.bob.post('/servers/', {
        ...server('second'),
        nics: [{ ip_v4_conf: { conf: 'static', ip: n.ip }, model: 'virtio' }],
      }),
      400,
      'validation',
      'nics.0.ip_v4_conf.ip',
    );
    await t.bob.post(`/servers/${bobServer.uuid}/action/?do=stop`);
    // Taken off the NICs, the owner's objects forget the server.
    const off = await t.bob.put(`/servers/${bobServer.uuid}/`, { nics: [] });
    expect(off.status, off.text).toBe(200);
    expect((await t.alice.get(`/ips/${n.ip}/`)).json.server).toBeNull();
    expect((await t.alice.get(`/vlans/${n.vlan}/`)).json.servers).toEqual([]);
  });

  it('uses the server owner’s access when a grantee edits the owner’s server', async () => {
    const n = await aliceNetworks();
    const serverTag = await tag('srv');
    const aliceServer = await createServer(t.alice, { name: 'alice-server', tags: [serverTag] });
    await acl([serverTag], ['LIST', 'EDIT']);
    // Alice's own IP and VLAN go on her server, whoever edits it.
    const res = await t.bob.put(`/servers/${aliceServer.uuid}/`, { nics: nics(n) });
    expect(res.status, res.text).toBe(200);
    // Bob's VLAN is not alice's to use until he shares it with her with ATTACH.
    const bobVlan = (
      await t.bob.post('/subscriptions/', {
        objects: [{ resource: 'vlan', amount: 1, period: '1 month' }],
      })
    ).json.objects[0].subscribed_object as string;
    const withBobs = () =>
      t.bob.put(`/servers/${aliceServer.uuid}/`, {
        nics: [...nics(n), { vlan: bobVlan, model: 'virtio' }],
      });
    expectError(await withBobs(), 400, 'validation', 'nics.2.vlan');
    const bobTag = await tag('b', t.bob);
    await t.bob.put(`/vlans/${bobVlan}/`, { tags: [bobTag] });
    await acl([bobTag], ['ATTACH'], alice, t.bob);
    const ok = await withBobs();
    expect(ok.status, ok.text).toBe(200);
    expect((await t.bob.get(`/vlans/${bobVlan}/`)).json.servers).toEqual([
      linkTo('servers', aliceServer.uuid),
    ]);
  });
});

describe('deleting through sharing', () => {
  it('deletes recursively only the drives the caller may delete', async () => {
    const shared = await tag('s');
    const disk = await createDrive(t.alice, { name: 'disk' });
    const server = await createServer(t.alice, {
      tags: [shared],
      drives: [attach(disk.uuid, 'virtio', '0:0')],
    });
    await acl([shared], ['DELETE']);
    const before = await t.app.store.fingerprint();
    const error = expectError(
      await t.bob.delete(`/servers/${server.uuid}/?recurse=all_drives`),
      403,
      'permission',
      null,
    );
    expect(error.error_message).toContain(disk.uuid);
    expect(await t.app.store.fingerprint()).toBe(before);
    // Without recurse the server goes and alice's disk stays, unmounted.
    expect((await t.bob.delete(`/servers/${server.uuid}/`)).status).toBe(204);
    expect((await t.alice.get(`/servers/${server.uuid}/`)).status).toBe(404);
    expect((await t.alice.get(`/drives/${disk.uuid}/`)).json).toMatchObject({
      status: 'unmounted',
      mounted_on: [],
    });
  });
});
