/**
 * The done-when test of sharing (api-reference.md §5.10 and the decisions table): alice shares a
 * tagged server and drive with bob through one ACL, one permission at a time, and every operation
 * bob can attempt on them is allowed exactly when the permission it needs was granted. Otherwise
 * the answer is 403 `permission` when the object is shared with bob at all, and exactly the 404 of
 * a missing uuid when it is not; a refused operation changes nothing in the store.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDrive, createServer, type Obj } from '../support/api.js';
import type { Response, TestApp } from '../support/app.js';
import { startTestApp } from '../support/app.js';

const SERVER_PERMISSIONS = ['LIST', 'EDIT', 'CLONE', 'START', 'STOP', 'OPEN_VNC', 'DELETE'];
const DRIVE_PERMISSIONS = ['LIST', 'EDIT', 'CLONE', 'ATTACH', 'DELETE'];
const ALL = [...new Set([...SERVER_PERMISSIONS, ...DRIVE_PERMISSIONS])];

/** What one attempt came to. */
type Outcome = 'allowed' | 'forbidden' | 'hidden';

interface World {
  t: TestApp;
  server: string;
  drive: string;
  /** Bob's own server, to attach alice's drive to. */
  bobServer: string;
}

interface Operation {
  name: string;
  on: 'server' | 'drive';
  needs: string;
  /** The server's status the operation needs (alice, the owner, brings it there first). */
  status?: 'running' | 'stopped';
  attempt(w: World): Promise<Outcome>;
}

/** 2xx → allowed, 403 permission → forbidden, 404 notexist (as a missing uuid) → hidden. */
function outcome(res: Response, uuid: string): Outcome {
  if (res.status >= 200 && res.status < 300) return 'allowed';
  if (res.status === 403) {
    expect(res.json[0]).toMatchObject({ error_type: 'permission', error_point: null });
    expect(res.json[0].error_message).toMatch(/has not granted you the [A-Z_]+ permission/);
    return 'forbidden';
  }
  expect(res.status, res.text).toBe(404);
  expect(JSON.parse(res.text)).toEqual([
    {
      error_point: null,
      error_type: 'notexist',
      error_message: `Object with uuid ${uuid} does not exist`,
    },
  ]);
  return 'hidden';
}

const serverAction = (name: string, needs: string, status: 'running' | 'stopped'): Operation => ({
  name: `server ${name}`,
  on: 'server',
  needs,
  status,
  attempt: async ({ t, server }) =>
    outcome(await t.bob.post(`/servers/${server}/action/?do=${name}`, {}), server),
});

const OPERATIONS: Operation[] = [
  {
    name: 'server GET',
    on: 'server',
    needs: 'LIST',
    attempt: async ({ t, server }) => outcome(await t.bob.get(`/servers/${server}/`), server),
  },
  {
    name: 'server in lists',
    on: 'server',
    needs: 'LIST',
    attempt: async ({ t, server }) => {
      const listed = [];
      for (const path of ['/servers/', '/servers/detail/', `/servers/?uuid=${server}`]) {
        const res = await t.bob.get(path);
        expect(res.status).toBe(200);
        listed.push((res.json.objects as Obj[]).some((o) => o.uuid === server));
        expect(res.json.meta.total_count).toBe(res.json.objects.length);
      }
      expect(new Set(listed).size).toBe(1);
      // Not listed is all a list can say: hidden and forbidden look the same there.
      return listed[0] ? 'allowed' : 'hidden';
    },
  },
  {
    name: 'server PUT',
    on: 'server',
    needs: 'EDIT',
    attempt: async ({ t, server }) =>
      outcome(await t.bob.put(`/servers/${server}/`, { name: 'edited by bob' }), server),
  },
  {
    name: 'server bulk PUT',
    on: 'server',
    needs: 'EDIT',
    attempt: async ({ t, server }) =>
      outcome(
        await t.bob.put('/servers/', { objects: [{ uuid: server, meta: { by: 'bob' } }] }),
        server,
      ),
  },
  serverAction('start', 'START', 'stopped'),
  serverAction('stop', 'STOP', 'running'),
  serverAction('shutdown', 'STOP', 'running'),
  serverAction('restart', 'STOP', 'running'),
  serverAction('open_vnc', 'OPEN_VNC', 'running'),
  serverAction('close_vnc', 'OPEN_VNC', 'running'),
  serverAction('open_console', 'OPEN_VNC', 'running'),
  serverAction('close_console', 'OPEN_VNC', 'running'),
  serverAction('clone', 'CLONE', 'stopped'),
  {
    name: 'drive GET',
    on: 'drive',
    needs: 'LIST',
    attempt: async ({ t, drive }) => outcome(await t.bob.get(`/drives/${drive}/`), drive),
  },
  {
    name: 'drive in lists',
    on: 'drive',
    needs: 'LIST',
    attempt: async ({ t, drive }) => {
      const res = await t.bob.get('/drives/detail/?limit=0');
      return (res.json.objects as Obj[]).some((o) => o.uuid === drive) ? 'allowed' : 'hidden';
    },
  },
  {
    name: 'drive PUT',
    on: 'drive',
    needs: 'EDIT',
    attempt: async ({ t, drive }) =>
      outcome(await t.bob.put(`/drives/${drive}/`, { name: 'edited by bob' }), drive),
  },
  {
    name: 'drive resize',
    on: 'drive',
    needs: 'EDIT',
    attempt: async ({ t, drive }) => {
      const current = (await t.alice.get(`/drives/${drive}/`)).json.size as number;
      return outcome(
        await t.bob.post(`/drives/${drive}/action/?do=resize`, { size: current + 1073741824 }),
        drive,
      );
    },
  },
  {
    name: 'drive clone',
    on: 'drive',
    needs: 'CLONE',
    attempt: async ({ t, drive }) =>
      outcome(await t.bob.post(`/drives/${drive}/action/?do=clone`, { name: 'bob copy' }), drive),
  },
  {
    name: 'drive attach to bob’s server',
    on: 'drive',
    needs: 'ATTACH',
    attempt: async ({ t, drive, bobServer }) => {
      const res = await t.bob.put(`/servers/${bobServer}/`, {
        drives: [{ drive, device: 'virtio', dev_channel: '0:0' }],
      });
      if (res.status === 200) {
        // Detach again: the next operations find the drive as it was.
        expect((await t.bob.put(`/servers/${bobServer}/`, { drives: [] })).status).toBe(200);
        return 'allowed';
      }
      if (res.status === 403) {
        expect(res.json[0]).toMatchObject({
          error_type: 'permission',
          error_point: 'drives.0.drive',
        });
        return 'forbidden';
      }
      expect(JSON.parse(res.text)).toEqual([
        {
          error_point: 'drives.0.drive',
          error_type: 'validation',
          error_message: `Object with uuid ${drive} does not exist`,
        },
      ]);
      return 'hidden';
    },
  },
  // Deletes last: they end the object.
  {
    name: 'drive DELETE',
    on: 'drive',
    needs: 'DELETE',
    attempt: async ({ t, drive }) => outcome(await t.bob.delete(`/drives/${drive}/`), drive),
  },
  {
    name: 'server DELETE',
    on: 'server',
    needs: 'DELETE',
    status: 'stopped',
    attempt: async ({ t, server }) => outcome(await t.bob.delete(`/servers/${server}/`), server),
  },
];

async function bringTo(t: TestApp, server: string, status: 'running' | 'stopped'): Promise<void> {
  const current = (await t.alice.get(`/servers/${server}/`)).json.status as string;
  if (current === status) return;
  const res = await t.alice.post(
    `/servers/${server}/action/?do=${status === 'running' ? 'start' : 'stop'}`,
  );
  expect(res.status, res.text).toBe(202);
  expect((await t.alice.get(`/servers/${server}/`)).json.status).toBe(status);
}

/** One grant of `rules` (none: no ACL at all) on a fresh app; every operation is attempted. */
function grantCase(rules: string[] | null): void {
  const label = rules === null ? 'not shared' : rules.join('+');
  describe(`bob granted ${label}`, () => {
    let w: World;
    beforeAll(async () => {
      const t = await startTestApp();
      const bob = (await t.bob.get('/profile/')).json.uuid as string;
      const tag = (await t.alice.post('/tags/', { name: 'shared' })).json.objects[0].uuid as string;
      const server = await createServer(t.alice, { name: 'alice-server', tags: [tag] });
      const drive = await createDrive(t.alice, { name: 'alice-drive', tags: [tag] });
      if (rules !== null) {
        const acl = await t.alice.post('/acls/', {
          grantees: [{ uuid: bob }],
          rules: rules.map((permission) => ({ permission })),
          tags: [tag],
        });
        expect(acl.status, acl.text).toBe(201);
      }
      const bobServer = await createServer(t.bob, { name: 'bob-server' });
      w = { t, server: server.uuid, drive: drive.uuid, bobServer: bobServer.uuid };
    });
    afterAll(() => w.t.close());

    for (const op of OPERATIONS) {
      const granted = rules ?? [];
      const applicable = op.on === 'server' ? SERVER_PERMISSIONS : DRIVE_PERMISSIONS;
      const shared = granted.some((p) => applicable.includes(p));
      const expected: Outcome = granted.includes(op.needs)
        ? 'allowed'
        : shared
          ? 'forbidden'
          : 'hidden';
      it(`${op.name} (needs ${op.needs}): ${expected}`, async () => {
        if (op.status) await bringTo(w.t, w.server, op.status);
        const before = await w.t.app.store.fingerprint();
        const result = await op.attempt(w);
        expect(result).toBe(
          expected === 'forbidden' && op.name.endsWith('in lists') ? 'hidden' : expected,
        );
        if (result !== 'allowed') expect(await w.t.app.store.fingerprint()).toBe(before);
      });
    }
  });
}

describe('each permission allows exactly what it names', () => {
  grantCase(null);
  for (const permission of ALL) grantCase([permission]);
  grantCase(ALL);
});
