/** Sharing rules under hostile tenants (issue 12 item 5). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrive, createServer } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';

describe('sharing rules', () => {
  let t: TestApp;
  let bobUuid: string;
  beforeAll(async () => {
    t = await startTestApp();
    bobUuid = (await t.bob.get('/profile/')).json.uuid;
  });
  afterAll(() => t.close());

  /** Alice shares `uuids` with bob through a fresh tag and ACL granting `rules`. */
  async function share(uuids: { kind: string; uuid: string }[], rules: string[]) {
    const acl = (
      await t.alice.post('/acls/', {
        grantees: [{ uuid: bobUuid }],
        rules: rules.map((permission) => ({ permission })),
      })
    ).json.objects[0];
    const tag = await t.alice.post('/tags/', {
      name: `share-${rules.join('-')}`,
      resources: uuids.map((u) => u.uuid),
    });
    expect(tag.status).toBe(201);
    const put = await t.alice.put(`/acls/${acl.uuid}/`, { tags: [tag.json.objects[0].uuid] });
    expect(put.status).toBe(200);
    return acl.uuid as string;
  }

  it('hides vnc_password from grantees holding neither OPEN_VNC nor EDIT', async () => {
    const listOnly = await createServer(t.alice, { vnc_password: 'owner-secret' });
    const vnc = await createServer(t.alice, { vnc_password: 'owner-secret' });
    await share([{ kind: 'servers', uuid: listOnly.uuid }], ['LIST']);
    await share([{ kind: 'servers', uuid: vnc.uuid }], ['LIST', 'OPEN_VNC']);
    expect((await t.bob.get(`/servers/${listOnly.uuid}/`)).json.vnc_password).toBeNull();
    const detail = (await t.bob.get('/servers/detail/?limit=0')).json.objects;
    expect(detail.find((s: { uuid: string }) => s.uuid === listOnly.uuid).vnc_password).toBeNull();
    expect(detail.find((s: { uuid: string }) => s.uuid === vnc.uuid).vnc_password).toBe(
      'owner-secret',
    );
    expect((await t.bob.get(`/servers/${vnc.uuid}/`)).json.vnc_password).toBe('owner-secret');
    expect((await t.alice.get(`/servers/${listOnly.uuid}/`)).json.vnc_password).toBe(
      'owner-secret',
    );
  });

  it("refuses a grantee with EDIT on a server attaching an owner's drive never shared with it", async () => {
    const server = await createServer(t.alice);
    const secret = await createDrive(t.alice, { name: 'not-shared' });
    await share([{ kind: 'servers', uuid: server.uuid }], ['LIST', 'EDIT']);
    const r = await t.bob.put(`/servers/${server.uuid}/`, {
      ...server,
      drives: [{ boot_order: 1, dev_channel: '0:0', device: 'virtio', drive: secret.uuid }],
    });
    expect(r.status).toBe(400);
    expect(r.json[0].error_message).toContain(secret.uuid);
    expect((await t.alice.get(`/servers/${server.uuid}/`)).json.drives).toEqual([]);
    // Shared with bob with ATTACH, it may be attached.
    const shared = await createDrive(t.alice, { name: 'shared' });
    await share([{ kind: 'drives', uuid: shared.uuid }], ['LIST', 'ATTACH']);
    const ok = await t.bob.put(`/servers/${server.uuid}/`, {
      ...server,
      drives: [{ boot_order: 1, dev_channel: '0:0', device: 'virtio', drive: shared.uuid }],
    });
    expect(ok.status, ok.text).toBe(200);
  });

  it('lets an account an ACL names take itself off it', async () => {
    const acl = (
      await t.alice.post('/acls/', {
        grantees: [{ uuid: bobUuid }],
        rules: [{ permission: 'LIST' }],
      })
    ).json.objects[0];
    const before = (await t.bob.get('/acls/')).json.objects.map((a: { uuid: string }) => a.uuid);
    expect(before).toContain(acl.uuid);
    expect((await t.bob.delete(`/acls/${acl.uuid}/`)).status).toBe(204);
    const after = (await t.bob.get('/acls/')).json.objects.map((a: { uuid: string }) => a.uuid);
    expect(after).not.toContain(acl.uuid);
    // The ACL itself stays the owner's, without bob.
    const owner = (await t.alice.get(`/acls/${acl.uuid}/`)).json;
    expect(owner.grantees).toEqual([]);
    // Someone not named still cannot delete it.
    expect((await t.bob.delete(`/acls/${acl.uuid}/`)).status).toBe(404);
  });
});
