/**
 * Tenant isolation: bob walks every route the running app registers, with alice's uuids in the
 * path, the query and the body, and must not be able to tell her objects from ones that never
 * existed (api-reference.md: foreign objects answer 404 `notexist`, exactly as a missing uuid).
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  ALICE,
  driveBody,
  type Response,
  serverBody,
  startTestApp,
  type TestApp,
} from '../support/app.js';
import { expectApiError, listRoutes, type RouteEntry } from '../support/raw.js';

const ANY_UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const API = '/api/2.0';

let t: TestApp;
/** Alice's objects. */
const a = {
  account: '',
  servers: [] as string[],
  drives: [] as string[],
  macs: [] as string[],
};
/** Every identifying string of alice's that bob must never be shown. */
let secrets: string[] = [];
let bobServer = '';
let bobDrive = '';

async function created(res: Promise<Response>): Promise<Record<string, unknown>[]> {
  const r = await res;
  expect(r.status, r.text).toBe(201);
  return r.json.objects;
}

/** Everything alice can read, as text: compared before and after bob's attempts. */
async function aliceView(): Promise<string[]> {
  const paths = [
    '/servers/detail/?limit=0',
    '/drives/detail/?limit=0',
    '/servers/?limit=0',
    '/drives/?limit=0',
    '/profile/',
    ...a.servers.map((u) => `/servers/${u}/`),
    ...a.drives.map((u) => `/drives/${u}/`),
  ];
  const out: string[] = [];
  for (const path of paths) {
    const res = await t.alice.get(path);
    expect(res.status, path).toBe(200);
    out.push(`${path} ${res.text}`);
  }
  return out;
}

beforeAll(async () => {
  t = await startTestApp();
  a.account = (await t.alice.get('/profile/')).json.uuid;
  const drives = await created(
    t.alice.post('/drives/', {
      objects: [
        driveBody({ name: 'alice-disk' }),
        driveBody({ name: 'alice-shared', allow_multimount: true }),
        driveBody({ name: 'alice-cdrom', media: 'cdrom' }),
        driveBody({ name: 'alice-spare', meta: { secret: 'alice-meta' } }),
      ],
    }),
  );
  a.drives = drives.map((d) => d.uuid as string);
  const [disk, shared, cdrom] = a.drives;
  const servers = await created(
    t.alice.post('/servers/', {
      objects: [
        serverBody({
          name: 'alice-one',
          drives: [
            { drive: disk, device: 'virtio', dev_channel: '0:0' },
            { drive: cdrom, device: 'ide', dev_channel: '0:0' },
          ],
          nics: [{ model: 'virtio', ip_v4_conf: { conf: 'dhcp' } }],
        }),
        serverBody({
          name: 'alice-two',
          meta: { owner: 'alice' },
          drives: [{ drive: shared, device: 'virtio', dev_channel: '0:0' }],
        }),
      ],
    }),
  );
  a.servers = servers.map((s) => s.uuid as string);
  a.macs = (servers[0]!.nics as { mac: string }[]).map((n) => n.mac);
  expect(a.macs).toHaveLength(1);
  secrets = [a.account, ...a.servers, ...a.drives, ...a.macs, ALICE.email];

  bobServer = (await created(t.bob.post('/servers/', serverBody({ name: 'bob-one' }))))[0]!
    .uuid as string;
  bobDrive = (await created(t.bob.post('/drives/', driveBody({ name: 'bob-disk' }))))[0]!
    .uuid as string;
});
afterAll(() => t.close());

/** A response as bob sees it, with the probed uuid and every other uuid blanked out. */
function observed(res: Response, probe: string) {
  const normalize = (text: string) =>
    text
      .split(probe)
      .join('<probe>')
      .replace(ANY_UUID, '<uuid>')
      // A keypair create with a name only generates a pair: new keys every time, by nature.
      .replace(/"(fingerprint|private_key|public_key)":"[^"]*"/g, '"$1":"<key>"');
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    allow: res.headers.get('allow'),
    wwwAuthenticate: res.headers.get('www-authenticate'),
    location: normalize(res.headers.get('location') ?? ''),
    body: normalize(res.text),
  };
}

/** What bob shows of alice: nothing but the one uuid he sent himself, and only in an error. */
function expectNoLeak(res: Response, probe: string, label: string): void {
  for (const secret of secrets) {
    if (secret === probe && res.status >= 400) continue;
    expect(res.text, `${label} leaks ${secret}`).not.toContain(secret);
    expect(res.headers.get('location') ?? '', label).not.toContain(secret);
  }
}

interface Probe {
  method: string;
  path: string;
  raw?: string;
}

/** The requests bob sends to one route with `id` standing for a uuid of alice's (or a fresh one). */
function probes(route: RouteEntry, id: string): Probe[] {
  const path = `${route.path.replace(/:[A-Za-z_]+/g, id)}/`;
  const attach = [{ drive: id, device: 'virtio', dev_channel: '0:0' }];
  const flat = {
    ...serverBody({ name: 'bob-probe' }),
    ...driveBody({ name: 'bob-probe' }),
    uuid: id,
    resource_uri: `${API}/servers/${id}/`,
    drives: attach,
    email: ALICE.email,
    meta: { probe: 'bob' },
  };
  const bodies = [JSON.stringify(flat), JSON.stringify({ objects: [flat] })];
  const out: Probe[] = [];
  for (const method of route.methods) {
    if (method === 'GET') {
      out.push({ method, path });
      out.push({ method, path: `${path}?uuid=${id}&limit=0` });
      out.push({ method, path: `${path}?uuid=${id},${bobServer},${bobDrive}&fields=uuid,name` });
    } else if (method === 'HEAD' || method === 'OPTIONS') {
      out.push({ method, path });
    } else {
      for (const raw of bodies) out.push({ method, path, raw });
    }
  }
  return out;
}

function apiRoutes(): RouteEntry[] {
  return listRoutes(t.app.http).filter((r) => r.path.startsWith(`${API}/`));
}

/**
 * Bob's audit log (`/logs/`) echoes what bob himself sent, alice's uuids among it, so it differs
 * between her uuids and fresh ones by design; test/account/logs.test.ts checks it holds nothing
 * of hers.
 */
function probedRoutes(): RouteEntry[] {
  return apiRoutes().filter((r) => r.path !== `${API}/logs`);
}

describe('tenant isolation', () => {
  it('reads the route list from the running server', () => {
    const routes = apiRoutes();
    const paths = routes.map((r) => r.path);
    for (const expected of [
      `${API}/servers`,
      `${API}/servers/detail`,
      `${API}/servers/:uuid`,
      `${API}/drives`,
      `${API}/drives/:uuid`,
      `${API}/profile`,
      `${API}/balance`,
      `${API}/capabilities`,
      `${API}/locations`,
    ]) {
      expect(paths).toContain(expected);
    }
    for (const route of routes) expect(route.methods).toEqual(expect.arrayContaining(['GET']));
  });

  it('bob cannot tell alice’s objects from missing ones on any route, and changes nothing of hers', async () => {
    const before = await aliceView();
    // Her account (the profile's uuid), a server with a NIC and drives, a disk and a cdrom.
    const candidates = [a.account, a.servers[0]!, a.drives[0]!, a.drives[2]!];
    let requests = 0;
    for (const route of probedRoutes()) {
      for (const id of candidates) {
        const fresh = randomUUID();
        const theirs = probes(route, id);
        const missing = probes(route, fresh);
        for (const [i, probe] of theirs.entries()) {
          const label = `${probe.method} ${probe.path}${probe.raw ? ` ${probe.raw.slice(0, 40)}` : ''}`;
          const res = await t.bob.request(probe.method, probe.path, { raw: probe.raw });
          const control = await t.bob.request(missing[i]!.method, missing[i]!.path, {
            raw: missing[i]!.raw,
          });
          requests += 2;
          expect(res.status, `${label}: ${res.text}`).toBeLessThan(500);
          expect(observed(res, id), label).toEqual(observed(control, fresh));
          expectNoLeak(res, id, label);
        }
      }
    }
    expect(requests).toBeGreaterThan(500);
    expect(await aliceView()).toEqual(before);
  }, 180_000);

  it('answers GET, PUT and DELETE on alice’s objects with the exact 404 of a missing uuid', async () => {
    const before = await aliceView();
    for (const [kind, uuids] of [
      ['servers', a.servers],
      ['drives', a.drives],
    ] as const) {
      for (const uuid of [...uuids, a.account]) {
        const expected = [
          {
            error_point: null,
            error_type: 'notexist',
            error_message: `Object with uuid ${uuid} does not exist`,
          },
        ];
        for (const res of [
          await t.bob.get(`/${kind}/${uuid}/`),
          await t.bob.get(`/${kind}/${uuid}`),
          await t.bob.put(`/${kind}/${uuid}/`, { name: 'bob-was-here' }),
          await t.bob.delete(`/${kind}/${uuid}/`),
          await t.bob.put(`/${kind}/`, { objects: [{ uuid, name: 'bob-was-here' }] }),
          await t.bob.delete(`/${kind}/`, { objects: [{ uuid }] }),
        ]) {
          expectApiError(res, { status: 404, type: 'notexist', point: null });
          expect(JSON.parse(res.text)).toEqual(expected);
        }
      }
    }
    expect(await aliceView()).toEqual(before);
  });

  it('lists and filters show bob only his own objects', async () => {
    for (const kind of ['servers', 'drives'] as const) {
      const own = kind === 'servers' ? bobServer : bobDrive;
      const others = kind === 'servers' ? a.servers : a.drives;
      for (const query of [
        '?limit=0',
        'detail/?limit=0',
        `?uuid=${[...others, own].join(',')}`,
        'detail/?name__contains=alice&limit=0',
        '?name__contains=O&limit=0',
        '?order_by=-name&limit=0',
        '?fields=uuid,owner,mounted_on&limit=0',
      ]) {
        const res = await t.bob.get(`/${kind}/${query}`);
        expect(res.status, query).toBe(200);
        expectNoLeak(res, '', `${kind} ${query}`);
        const uuids = (res.json.objects as { uuid: string }[]).map((o) => o.uuid);
        for (const uuid of uuids) expect(uuid, query).not.toBeOneOf(others);
        expect(res.json.meta.total_count, query).toBe(uuids.length);
        if (!query.includes('alice')) expect(uuids, query).toContain(own);
        else expect(uuids, query).toEqual([]);
      }
      const alices = await t.alice.get(`/${kind}/?uuid=${[...others, own].join(',')}`);
      expect((alices.json.objects as { uuid: string }[]).map((o) => o.uuid).sort()).toEqual(
        [...others].sort(),
      );
    }
    const profile = await t.bob.get('/profile/');
    expect(profile.json.uuid).not.toBe(a.account);
    expectNoLeak(profile, '', 'profile');
  });

  it('bob cannot attach alice’s drives to his server, nor reuse her MAC', async () => {
    const before = await aliceView();
    const bobBefore = (await t.bob.get(`/servers/${bobServer}/`)).text;
    for (const drive of [...a.drives, randomUUID()]) {
      for (const ref of [
        drive,
        { uuid: drive },
        `${API}/drives/${drive}/`,
        { resource_uri: `${API}/drives/${drive}/` },
      ]) {
        const attach = [
          { drive: bobDrive, device: 'virtio', dev_channel: '0:0' },
          { drive: ref, device: 'virtio', dev_channel: '0:1' },
        ];
        const put = await t.bob.put(`/servers/${bobServer}/`, { drives: attach });
        expectApiError(put, { status: 400, type: 'validation', point: 'drives.1.drive' });
        expect(JSON.parse(put.text)).toEqual([
          {
            error_point: 'drives.1.drive',
            error_type: 'validation',
            error_message: `Object with uuid ${drive} does not exist`,
          },
        ]);
        const post = await t.bob.post('/servers/', serverBody({ drives: attach }));
        expectApiError(post, { status: 400, type: 'validation', point: 'drives.1.drive' });
        expect(post.text).toBe(put.text);
      }
    }
    const fresh = '22:00:00:00:00:01';
    for (const mac of [a.macs[0]!, a.macs[0]!.toUpperCase()]) {
      const res = await t.bob.put(`/servers/${bobServer}/`, { nics: [{ mac, model: 'virtio' }] });
      const control = await t.bob.put(`/servers/${bobServer}/`, {
        nics: [{ mac: fresh, model: 'virtio' }],
      });
      expectApiError(res, { status: 400, type: 'validation', point: 'nics.0.mac' });
      expect(res.text.split(mac).join('<mac>')).toBe(control.text.split(fresh).join('<mac>'));
    }
    // A bulk delete that names one of alice's servers deletes nothing, not even bob's own.
    const bulk = await t.bob.delete('/servers/', {
      objects: [{ uuid: bobServer }, { uuid: a.servers[0] }],
    });
    expectApiError(bulk, { status: 404, type: 'notexist', message: a.servers[0] });
    expect((await t.bob.get(`/servers/${bobServer}/`)).text).toBe(bobBefore);
    expect(await aliceView()).toEqual(before);
  });

  it('alice’s mounts are untouched: her drives still show her servers only', async () => {
    const [disk, shared, cdrom] = a.drives;
    for (const [drive, server] of [
      [disk, a.servers[0]],
      [cdrom, a.servers[0]],
      [shared, a.servers[1]],
    ] as const) {
      const res = await t.alice.get(`/drives/${drive}/`);
      expect(res.json.mounted_on).toEqual([
        { resource_uri: `${API}/servers/${server}/`, uuid: server },
      ]);
      expect(res.json.status).toBe('mounted');
    }
    const spare = await t.alice.get(`/drives/${a.drives[3]}/`);
    expect(spare.json.mounted_on).toEqual([]);
    expect(spare.json.meta).toEqual({ secret: 'alice-meta' });
    const one = await t.alice.get(`/servers/${a.servers[0]}/`);
    expect(one.json.name).toBe('alice-one');
    expect(one.json.nics.map((n: { mac: string }) => n.mac)).toEqual(a.macs);
  });
});

describe('the web console’s tunnels (docs/web-console.md)', () => {
  /** A refused websocket upgrade's status and body, or the first text the socket sent. */
  function openTunnel(path: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(t.origin.replace(/^http/, 'ws') + path);
      ws.on('message', (data: Buffer) => {
        resolve({ status: 101, text: data.toString() });
        ws.close();
      });
      ws.on('unexpected-response', (_req, res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      ws.on('error', (e) => {
        if (!e.message.startsWith('Unexpected server response')) reject(e);
      });
    });
  }

  it('bob gets no token for alice’s servers, running or not: the 404 of a missing uuid', async () => {
    const running = (
      await created(t.alice.post('/servers/', serverBody({ name: 'alice-live' })))
    )[0]!.uuid as string;
    secrets.push(running);
    await t.alice.post(`/servers/${running}/action/?do=start`, {});
    expect((await t.alice.get(`/servers/${running}/`)).json.status).toBe('running');
    expect(
      (
        await t.alice.request('POST', '/console/tokens/', {
          body: { server: running, kind: 'serial' },
        })
      ).status,
    ).toBe(201);
    // Bob, with Basic and with a login session and its CSRF token.
    const login = await t.anonymous.post('/accounts/action/?do=login', {
      username: 'bob@example.com',
      password: 'bob-secret',
    });
    const cookies = login.headers.getSetCookie().map((c) => c.split(';')[0]!);
    const csrf = cookies.find((c) => c.startsWith('csrftoken='))!.split('=')[1]!;
    const session = {
      cookie: cookies.join('; '),
      'x-csrftoken': csrf,
      'x-requested-with': 'XMLHttpRequest',
    };
    for (const id of [running, a.servers[0]!]) {
      for (const kind of ['screen', 'serial']) {
        for (const headers of [undefined, session]) {
          const fresh = randomUUID();
          const ask = (server: string) =>
            t.bob.request('POST', '/console/tokens/', {
              body: { server, kind },
              ...(headers ? { headers, auth: null } : {}),
            });
          const res = await ask(id);
          const control = await ask(fresh);
          const label = `${kind} token for ${id}${headers ? ' (session)' : ''}`;
          expectApiError(res, { status: 404, type: 'notexist', point: null });
          expect(observed(res, id), label).toEqual(observed(control, fresh));
          expectNoLeak(res, id, label);
        }
      }
    }
  });

  it('bob’s own token opens only his own server’s tunnel', async () => {
    await t.bob.post(`/servers/${bobServer}/action/?do=start`, {});
    const aliceRunning = (await t.alice.get('/servers/detail/?limit=0')).json.objects.find(
      (s: { status: string }) => s.status === 'running',
    ).uuid as string;
    for (const kind of ['screen', 'serial'] as const) {
      const token = async () =>
        (await t.bob.request('POST', '/console/tokens/', { body: { server: bobServer, kind } }))
          .json.token as string;
      // His token with her server in the path: the refusal of a server that does not exist.
      const theirs = await openTunnel(
        `/console/ws/${kind}/${aliceRunning}/?token=${await token()}`,
      );
      const fresh = randomUUID();
      const missing = await openTunnel(`/console/ws/${kind}/${fresh}/?token=${await token()}`);
      expect(theirs.status).toBe(403);
      expect(theirs.text.split(aliceRunning).join('<probe>')).toBe(
        missing.text.split(fresh).join('<probe>'),
      );
      for (const secret of secrets) expect(theirs.text).not.toContain(secret);
    }
    const own = await openTunnel(
      `/console/ws/serial/${bobServer}/?token=${
        (
          await t.bob.request('POST', '/console/tokens/', {
            body: { server: bobServer, kind: 'serial' },
          })
        ).json.token
      }`,
    );
    expect(own).toEqual({ status: 101, text: 'sigmalite console for bob-one\r\n' });
  });
});
