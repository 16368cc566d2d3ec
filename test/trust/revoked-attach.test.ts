/**
 * A grant taken back (issue 12 item 5c): after the owner deletes the ACL that let a grantee
 * attach a drive to the grantee's own server, that server does not start with it (403 naming the
 * drive, the server stays stopped), and the owner may delete the drive while its only mounts are
 * on stopped servers of accounts that lost the right (it is detached from them). A mount on a
 * running server still blocks the delete.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrive, createServer } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';

describe('revoked ATTACH', () => {
  let t: TestApp;
  let bobUuid: string;
  beforeAll(async () => {
    t = await startTestApp();
    bobUuid = (await t.bob.get('/profile/')).json.uuid;
  });
  afterAll(() => t.close());

  /** Alice shares a drive with bob (ATTACH); bob mounts it on a server of his own. */
  async function mountedOnBobs(name: string) {
    const drive = await createDrive(t.alice, { name });
    const acl = (
      await t.alice.post('/acls/', {
        grantees: [{ uuid: bobUuid }],
        rules: [{ permission: 'LIST' }, { permission: 'ATTACH' }],
      })
    ).json.objects[0];
    const tag = await t.alice.post('/tags/', { name: `share-${name}`, resources: [drive.uuid] });
    expect(tag.status, tag.text).toBe(201);
    const put = await t.alice.put(`/acls/${acl.uuid}/`, { tags: [tag.json.objects[0].uuid] });
    expect(put.status, put.text).toBe(200);
    const server = await createServer(t.bob, {
      drives: [{ boot_order: 1, dev_channel: '0:0', device: 'virtio', drive: drive.uuid }],
    });
    expect(server.drives).toHaveLength(1);
    return { drive, server, acl: acl.uuid as string };
  }

  it("refuses to start a grantee's server with a drive no longer shared, naming it", async () => {
    const { drive, server, acl } = await mountedOnBobs('revoked-start');
    expect((await t.alice.delete(`/acls/${acl}/`)).status).toBe(204);
    const start = await t.bob.post(`/servers/${server.uuid}/action/?do=start`);
    expect(start.status).toBe(403);
    expect(start.json).toEqual([
      {
        error_point: 'drives.0.drive',
        error_type: 'permission',
        error_message: expect.stringContaining(drive.uuid),
      },
    ]);
    expect((await t.bob.get(`/servers/${server.uuid}/`)).json.status).toBe('stopped');
  });

  it('lets the owner delete a drive whose only mounts are stopped servers that lost the right', async () => {
    const { drive, server, acl } = await mountedOnBobs('revoked-delete');
    expect((await t.alice.delete(`/acls/${acl}/`)).status).toBe(204);
    const del = await t.alice.delete(`/drives/${drive.uuid}/`);
    expect(del.status, del.text).toBe(204);
    expect((await t.alice.get(`/drives/${drive.uuid}/`)).status).toBe(404);
    const after = (await t.bob.get(`/servers/${server.uuid}/`)).json;
    expect(after.drives).toEqual([]);
    // And the server starts without it.
    expect((await t.bob.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
  });

  it('still refuses to delete a drive mounted on a running server', async () => {
    const { drive, server, acl } = await mountedOnBobs('running-mount');
    expect((await t.bob.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
    expect((await t.alice.delete(`/acls/${acl}/`)).status).toBe(204);
    const del = await t.alice.delete(`/drives/${drive.uuid}/`);
    expect(del.status).toBe(403);
    expect(del.json[0].error_message).toContain(server.uuid);
    expect((await t.alice.get(`/drives/${drive.uuid}/`)).status).toBe(200);
  });
});
