/**
 * The websocket notification stream through real sockets (api-reference.md §1.3 async_auth,
 * §5.11; docs/events.md): the cookie, authentication of the upgrade, frames for status changes
 * and deletions with the object's own resource_uri, and isolation between accounts.
 */

import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { issueToken, revokeToken } from '../../src/accounts/tokens.js';
import { createApp } from '../../src/app.js';
import { DEFAULTS } from '../../src/config.js';
import { Authenticator } from '../../src/http/auth.js';
import { PostgresStore } from '../../src/store/postgres/store.js';
import { waitStatus } from '../lifecycle/support.js';
import { createDrive, createServer, expectError, getObject, type Obj } from '../support/api.js';
import { ALICE, BOB, Client, driveBody, startTestApp, type TestApp } from '../support/app.js';
import { POSTGRES_URL } from '../support/postgres.js';
import { basicAuth } from '../support/raw.js';
import { TEST_STORE } from '../support/stores.js';

interface Frame {
  resource_type: string;
  resource_uri: string;
  object?: Obj;
}

/** A websocket client that keeps every frame and lets a test wait for the one it expects. */
class Stream {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  private readonly waiters = new Set<() => void>();

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = (data as Buffer).toString('utf8');
      this.raw.push(text);
      this.frames.push(JSON.parse(text) as Frame);
      for (const wake of this.waiters) wake();
    });
  }

  /** The first frame (at index `from` or later) that matches; fails after `timeoutMs`. */
  next(match: (frame: Frame) => boolean, from = 0, timeoutMs = 8000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const look = () => {
        const found = this.frames.slice(from).find(match);
        if (!found) return false;
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const wake = () => void look();
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`no matching frame; got ${JSON.stringify(this.frames)}`));
      }, timeoutMs);
      if (!look()) this.waiters.add(wake);
    });
  }

  /** The statuses frames about `uri` carried, in order (null for a deletion). */
  statuses(uri: string): (string | null)[] {
    return this.frames
      .filter((f) => f.resource_uri === uri)
      .map((f) => (f.object ? (f.object.status as string) : null));
  }

  close(): void {
    this.ws.close();
  }
}

let t: TestApp;
let wsOrigin: string;
const streams: Stream[] = [];

beforeAll(async () => {
  t = await startTestApp({ settle: false, transitions: 'fast' });
  wsOrigin = t.origin.replace(/^http/, 'ws');
});
afterAll(async () => {
  for (const s of streams) s.close();
  await t.close();
});

/** `do=authenticate_asynchronous`; returns the cookie pair (`async_auth=...`) and the header. */
async function asyncCookie(client: Client): Promise<{ pair: string; header: string }> {
  const res = await client.post('/accounts/action/?do=authenticate_asynchronous', {});
  expect(res.status).toBe(200);
  expect(res.json).toEqual({});
  const header = res.headers.get('set-cookie') ?? '';
  const pair = header.split(';')[0]!;
  expect(pair).toMatch(/^async_auth=[A-Za-z0-9_-]{40,}$/);
  return { pair, header };
}

/** Opens a stream, or rejects with the HTTP status and body of a refused upgrade. */
function open(path: string, headers: Record<string, string>): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsOrigin + path, { headers });
    ws.on('open', () => {
      const stream = new Stream(ws);
      streams.push(stream);
      resolve(stream);
    });
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () =>
        reject(
          Object.assign(new Error('refused'), {
            status: res.statusCode,
            body,
            headers: res.headers,
          }),
        ),
      );
    });
    ws.on('error', reject);
  });
}

async function refusal(path: string, headers: Record<string, string>) {
  try {
    await open(path, headers);
  } catch (e) {
    const err = e as { status?: number; body?: string; headers?: Record<string, string> };
    return {
      status: err.status,
      json: err.body ? JSON.parse(err.body) : undefined,
      headers: err.headers,
    };
  }
  throw new Error('the upgrade was accepted');
}

async function streamFor(client: Client, path = '/websocket'): Promise<Stream> {
  const { pair } = await asyncCookie(client);
  return open(path, { cookie: pair });
}

describe('authenticate_asynchronous', () => {
  it('sets async_auth with Max-Age=120 for any authenticated account, 401 for strangers', async () => {
    const { header } = await asyncCookie(t.alice);
    expect(header).toMatch(/; Max-Age=120(;|$)/);
    expect(header).toMatch(/; Path=\/(;|$)/);
    const stranger = await t.anonymous.post('/accounts/action/?do=authenticate_asynchronous', {});
    expectError(stranger, 401, 'permission', null);
    expect(stranger.headers.get('set-cookie')).toBeNull();
  });

  it('works from a login session, which must send its CSRF token', async () => {
    const login = await t.anonymous.post('/accounts/action/?do=login', {
      username: ALICE.email,
      password: ALICE.password,
    });
    expect(login.status).toBe(200);
    const cookies = login.headers.getSetCookie().map((c) => c.split(';')[0]!);
    const csrf = cookies.find((c) => c.startsWith('csrftoken='))!.split('=')[1]!;
    const cookie = cookies.join('; ');
    const withoutCsrf = await t.anonymous.post(
      '/accounts/action/?do=authenticate_asynchronous',
      {},
      { headers: { cookie } },
    );
    expectError(withoutCsrf, 403, 'permission', null);
    const ok = await t.anonymous.post(
      '/accounts/action/?do=authenticate_asynchronous',
      {},
      { headers: { cookie, 'x-csrftoken': csrf } },
    );
    expect(ok.status).toBe(200);
    expect(ok.headers.get('set-cookie')).toMatch(/^async_auth=/);
  });

  it('is a websocket credential only: neither an API credential nor a session id', async () => {
    const { pair } = await asyncCookie(t.alice);
    const token = pair.slice('async_auth='.length);
    expectError(
      await t.anonymous.get('/profile/', { headers: { cookie: pair } }),
      401,
      'permission',
      null,
    );
    expectError(
      await t.anonymous.get('/profile/', { headers: { cookie: `sessionid=${token}` } }),
      401,
      'permission',
      null,
    );
  });

  it('expires after 120 seconds', async () => {
    const alice = await getObject(t.alice, '/profile/');
    const principal = { uuid: alice.uuid as string, email: ALICE.email, via: 'basic' as const };
    // Tokens issued in the past, through the app's own store: one 110 s old, one 121 s old.
    const issue = (ageMs: number) =>
      new Authenticator(t.app.store, {
        digest: false,
        now: () => Date.now() - ageMs,
      }).issueAsyncToken(principal);
    const young = await issue(110_000);
    const old = await issue(121_000);
    const stream = await open('/websocket', { cookie: `async_auth=${young.token}` });
    stream.close();
    const refused = await refusal('/websocket', { cookie: `async_auth=${old.token}` });
    expect(refused.status).toBe(401);
  });
});

describe('the websocket upgrade', () => {
  it('is refused with the API 401 without valid credentials', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { cookie: 'async_auth=not-a-token' },
      { authorization: basicAuth(ALICE.email, 'wrong') },
    ];
    for (const headers of attempts) {
      const res = await refusal('/websocket', headers);
      expect(res.status).toBe(401);
      expect(res.json).toEqual([
        { error_point: null, error_type: 'permission', error_message: expect.any(String) },
      ]);
      expect(res.headers?.['www-authenticate']).toContain('Basic realm="users"');
    }
  });

  it('is served on /websocket, /2.0/websocket and /api/2.0/websocket, also with Basic, an API token or a session', async () => {
    for (const path of ['/websocket', '/2.0/websocket', '/api/2.0/websocket', '/websocket/']) {
      const stream = await streamFor(t.alice, path);
      stream.close();
    }
    const basic = await open('/2.0/websocket', {
      authorization: basicAuth(BOB.email, BOB.password),
    });
    basic.close();
    const { id, token } = await issueToken(t.app.store, BOB.email);
    const viaToken = await open('/websocket', { authorization: `Bearer ${token}` });
    viaToken.close();
    await revokeToken(t.app.store, BOB.email, id);
    expect((await refusal('/websocket', { authorization: `Bearer ${token}` })).status).toBe(401);
    const login = await t.anonymous.post('/accounts/action/?do=login', {
      username: BOB.email,
      password: BOB.password,
    });
    const session = login.headers.getSetCookie().find((c) => c.startsWith('sessionid='))!;
    const viaSession = await open('/websocket', { cookie: session.split(';')[0]! });
    viaSession.close();
  });

  it('answers a plain GET of the stream with 426', async () => {
    const res = await t.alice.get('/websocket');
    expectError(res, 426, 'validation', null);
    expect(res.headers.get('upgrade')).toBe('websocket');
    expectError(await t.anonymous.get('/2.0/websocket'), 401, 'permission', null);
  });

  it('leaves other URLs plain HTTP when a client asks for another protocol (h2c)', async () => {
    const port = Number(new URL(t.origin).port);
    const exchange = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1', () => socket.write(text));
        let out = '';
        socket.on('data', (chunk) => {
          out += chunk.toString();
        });
        socket.on('close', () => resolve(out));
        socket.on('error', reject);
      });
    const head = `Host: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nAuthorization: ${basicAuth(ALICE.email, ALICE.password)}\r\n`;
    const get = await exchange(`GET /api/2.0/profile/ HTTP/1.1\r\n${head}\r\n`);
    expect(get).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(get).toContain('"email":"alice@example.com"');
    const body = JSON.stringify({ objects: [driveBody()] });
    const post = await exchange(
      `POST /api/2.0/drives/ HTTP/1.1\r\n${head}Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    );
    expect(post).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(post).toContain('"error_type":"validation"');
  });
});

describe('frames', () => {
  it('follow a drive from creating to unmounted, then its deletion without object', async () => {
    const stream = await streamFor(t.alice);
    const res = await t.alice.post('/drives/', { objects: [driveBody({ name: '' })] });
    expect(res.status).toBe(201);
    const drive = res.json.objects[0] as Obj;
    const uri = drive.resource_uri as string;
    expect(uri).toBe(`/api/2.0/drives/${drive.uuid}/`);
    const unmounted = await stream.next(
      (f) => f.resource_uri === uri && f.object?.status === 'unmounted',
    );
    expect(unmounted.resource_type).toBe('drives');
    expect(unmounted.object).toEqual(await getObject(t.alice, uri));
    expect(stream.statuses(uri)).toEqual(['creating', 'unmounted']);
    // Byte for byte, as clients compare it.
    expect(stream.raw.find((text) => text.includes(drive.uuid))).toContain(
      `"resource_uri":"${uri}"`,
    );

    const from = stream.frames.length;
    expect((await t.alice.delete(uri)).status).toBe(204);
    const gone = await stream.next((f) => f.resource_uri === uri, from);
    expect(gone).toEqual({ resource_type: 'drives', resource_uri: uri });
    expect((await t.alice.get(uri)).status).toBe(404);
    stream.close();
  });

  it('follow a server through stopped, starting, running, stopping, stopped and deletion', async () => {
    const stream = await streamFor(t.alice, '/2.0/websocket');
    const server = await createServer(t.alice, { name: '' });
    const uri = server.resource_uri as string;
    await stream.next((f) => f.resource_uri === uri && f.object?.status === 'stopped');

    expect((await t.alice.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
    const running = await stream.next(
      (f) => f.resource_uri === uri && f.object?.status === 'running',
    );
    expect(running.resource_type).toBe('servers');
    expect(running.object?.uuid).toBe(server.uuid);
    expect((await getObject(t.alice, uri)).status).toBe('running');

    expect((await t.alice.post(`/servers/${server.uuid}/action/?do=stop`)).status).toBe(202);
    const from = stream.frames.length;
    await stream.next((f) => f.resource_uri === uri && f.object?.status === 'stopped', from);
    expect((await t.alice.delete(uri)).status).toBe(204);
    await stream.next((f) => f.resource_uri === uri && f.object === undefined);

    const seen = stream.statuses(uri);
    expect(seen.slice(0, 3)).toEqual(['stopped', 'starting', 'running']);
    expect(seen.slice(-3)).toEqual(['stopping', 'stopped', null]);
    for (const frame of stream.frames) {
      expect(frame.resource_uri).toBe(frame.object?.resource_uri ?? frame.resource_uri);
    }
    stream.close();
  });

  it('announce profile changes at /api/2.0/profile/ and jobs at their own URI', async () => {
    const stream = await streamFor(t.alice);
    expect((await t.alice.put('/profile/', { company: 'Events Ltd' })).status).toBe(200);
    const profile = await stream.next((f) => f.resource_type === 'profile');
    expect(profile.resource_uri).toBe('/api/2.0/profile/');
    expect(profile.object?.company).toBe('Events Ltd');

    const drive = await createDrive(t.alice);
    await stream.next(
      (f) => f.resource_uri === drive.resource_uri && f.object?.status === 'unmounted',
    );
    const clone = await t.alice.post(`/drives/${drive.uuid}/action/?do=clone`, { name: 'copy' });
    expect(clone.status).toBe(202);
    const job = await stream.next((f) => f.resource_type === 'jobs');
    expect(job.resource_uri).toBe(job.object?.resource_uri);
    expect(job.resource_uri).toMatch(/^\/api\/2\.0\/jobs\/[0-9a-f-]{36}\/$/);
    stream.close();
  });

  it("never reach another account's socket", async () => {
    const aliceStream = await streamFor(t.alice);
    const bobStream = await open('/api/2.0/websocket', {
      authorization: basicAuth(BOB.email, BOB.password),
    });
    const server = await createServer(t.alice);
    expect((await t.alice.post(`/servers/${server.uuid}/action/?do=start`)).status).toBe(202);
    await aliceStream.next(
      (f) => f.resource_uri === server.resource_uri && f.object?.status === 'running',
    );
    const drive = await createDrive(t.alice);
    await t.alice.delete(`/drives/${drive.uuid}/`);
    await t.alice.put('/profile/', { company: 'Secret' });
    await aliceStream.next((f) => f.resource_type === 'profile');

    // Bob's own change is the barrier: every frame of Alice's came before it.
    const bobDrive = await t.bob.post('/drives/', { objects: [driveBody()] });
    const bobUri = bobDrive.json.objects[0].resource_uri as string;
    await bobStream.next((f) => f.resource_uri === bobUri);
    expect(bobStream.frames.length).toBeGreaterThan(0);
    for (const frame of bobStream.frames) expect(frame.resource_uri).toBe(bobUri);
    expect(aliceStream.frames.some((f) => f.resource_uri === bobUri)).toBe(false);
    aliceStream.close();
    bobStream.close();
  });
});

describe('frames of shared objects', () => {
  it('reach the accounts granted LIST, each with the object as it sees it, until unshared', async () => {
    const bobStream = await open('/websocket', {
      authorization: basicAuth(BOB.email, BOB.password),
    });
    const bobUuid = (await getObject(t.bob, '/profile/')).uuid as string;
    /** Bob's own change: every frame about alice's objects before it has arrived. */
    const barrier = async () => {
      const res = await t.bob.put('/profile/', { company: randomBytes(4).toString('hex') });
      expect(res.status).toBe(200);
      const company = res.json.company as string;
      await bobStream.next((f) => f.resource_type === 'profile' && f.object?.company === company);
    };
    const tag = (await t.alice.post('/tags/', { name: 'shared' })).json.objects[0].uuid as string;
    const seen = await createDrive(t.alice, { name: 'seen', tags: [tag] });
    // Created (`fast` transitions, no settling): shared while still `creating`, bob's first frame
    // would show it creating, and the GET it is compared with, later, not (flaky under load).
    await waitStatus(t.alice, seen.resource_uri, 'unmounted', 15_000);
    const from = bobStream.frames.length;
    const acl = await t.alice.post('/acls/', {
      grantees: [{ uuid: bobUuid }],
      rules: [{ permission: 'LIST' }, { permission: 'EDIT' }],
      tags: [tag],
    });
    expect(acl.status, acl.text).toBe(201);
    const aclUri = acl.json.objects[0].resource_uri as string;
    // Shared now: bob hears of the drive, as he sees it, and of the ACL that names him.
    const shared = await bobStream.next((f) => f.resource_uri === seen.resource_uri, from);
    expect(shared.object).toEqual(await getObject(t.bob, seen.resource_uri));
    expect(shared.object).toMatchObject({ permissions: ['EDIT', 'LIST'], grantees: [], tags: [] });
    const aclFrame = await bobStream.next((f) => f.resource_uri === aclUri, from);
    expect(aclFrame.object).toEqual(await getObject(t.bob, aclUri));

    // A change by the owner (and one by bob, through EDIT) reaches him.
    await t.alice.put(seen.resource_uri, { name: 'renamed' });
    await bobStream.next(
      (f) => f.resource_uri === seen.resource_uri && f.object?.name === 'renamed',
    );
    await t.bob.put(seen.resource_uri, { name: 'by-bob' });
    await bobStream.next(
      (f) => f.resource_uri === seen.resource_uri && f.object?.name === 'by-bob',
    );
    expect((await getObject(t.alice, seen.resource_uri)).name).toBe('by-bob');

    // Granted something other than LIST: no frames with the object.
    const attachTag = (await t.alice.post('/tags/', { name: 'attach' })).json.objects[0].uuid;
    const hidden = await createDrive(t.alice, { name: 'hidden', tags: [attachTag] });
    await t.alice.post('/acls/', {
      grantees: [{ uuid: bobUuid }],
      rules: [{ permission: 'ATTACH' }],
      tags: [attachTag],
    });
    await t.alice.put(hidden.resource_uri, { name: 'hidden-renamed' });

    // Deleted: bob hears of it, without the object.
    const before = bobStream.frames.length;
    expect((await t.alice.delete(seen.resource_uri)).status).toBe(204);
    const gone = await bobStream.next(
      (f) => f.resource_uri === seen.resource_uri && f.object === undefined,
      before,
    );
    expect(gone).toEqual({ resource_type: 'drives', resource_uri: seen.resource_uri });

    // Unshared (the ACL deleted): later changes are alice's alone.
    const later = await createDrive(t.alice, { name: 'later', tags: [tag] });
    expect((await t.alice.delete(aclUri)).status).toBe(204);
    await t.alice.put(later.resource_uri, { name: 'later-renamed' });
    await barrier();
    const aboutHidden = bobStream.frames.filter((f) => f.resource_uri === hidden.resource_uri);
    expect(aboutHidden.every((f) => f.object === undefined)).toBe(true);
    expect(
      bobStream.frames.some(
        (f) => f.resource_uri === later.resource_uri && f.object?.name === 'later-renamed',
      ),
    ).toBe(false);
    // Nothing bob received shows alice's grantees or tags.
    for (const frame of bobStream.frames) {
      if (frame.object && frame.resource_type === 'drives') {
        expect(frame.object.grantees).toEqual([]);
        expect(frame.object.tags).toEqual([]);
      }
    }
    bobStream.close();
  });
});

describe.runIf(TEST_STORE === 'postgres')('several processes on one PostgreSQL', () => {
  it("carry the other process's changes, objects read back, in order", async () => {
    const schema = `t_${randomBytes(6).toString('hex')}`;
    const config = {
      ...DEFAULTS,
      port: 0,
      transitions: 'fast',
      users: [ALICE, BOB].map((u) => `${u.email}:${u.password}`).join(','),
    };
    const logger = pino({ level: 'silent' });
    const writer = await createApp(config, {
      logger,
      store: await PostgresStore.open({ url: POSTGRES_URL, schema, dropSchemaOnClose: true }),
    });
    const watcher = await createApp(config, {
      logger,
      store: await PostgresStore.open({ url: POSTGRES_URL, schema }),
    });
    try {
      const ws = new WebSocket(`${new URL(watcher.url).origin.replace(/^http/, 'ws')}/websocket`, {
        headers: { authorization: basicAuth(ALICE.email, ALICE.password) },
      });
      const stream = new Stream(ws);
      await new Promise((resolve, reject) => {
        ws.on('open', resolve);
        ws.on('error', reject);
      });
      const writerOrigin = new URL(writer.url).origin;
      const aliceOnWriter = new Client(writerOrigin, ALICE);
      const res = await aliceOnWriter.post('/drives/', { objects: [driveBody()] });
      expect(res.status).toBe(201);
      const uri = res.json.objects[0].resource_uri as string;
      await stream.next((f) => f.resource_uri === uri && f.object?.status === 'unmounted');
      expect((await aliceOnWriter.delete(uri)).status).toBe(204);
      await stream.next((f) => f.resource_uri === uri && f.object === undefined);
      const seen = stream.statuses(uri);
      // A change read back after a later one committed shows the later state: never older.
      expect(seen.at(-1)).toBeNull();
      expect(seen.slice(0, -1).every((s) => s === 'creating' || s === 'unmounted')).toBe(true);
      expect(seen.indexOf('unmounted')).toBeGreaterThanOrEqual(seen.lastIndexOf('creating'));
      ws.close();

      // Shared with bob on the writer: bob's stream on the watcher hears of it, then of its end.
      const bobWs = new WebSocket(
        `${new URL(watcher.url).origin.replace(/^http/, 'ws')}/websocket`,
        { headers: { authorization: basicAuth(BOB.email, BOB.password) } },
      );
      const bobStream = new Stream(bobWs);
      await new Promise((resolve, reject) => {
        bobWs.on('open', resolve);
        bobWs.on('error', reject);
      });
      const bobUuid = (await getObject(new Client(writerOrigin, BOB), '/profile/')).uuid;
      const tag = (await aliceOnWriter.post('/tags/', { name: 't' })).json.objects[0].uuid;
      const drive = await createDrive(aliceOnWriter, { tags: [tag] });
      await aliceOnWriter.post('/acls/', {
        grantees: [{ uuid: bobUuid }],
        rules: [{ permission: 'LIST' }],
        tags: [tag],
      });
      const shared = await bobStream.next(
        (f) => f.resource_uri === drive.resource_uri && f.object !== undefined,
      );
      expect(shared.object).toMatchObject({ permissions: ['LIST'], grantees: [], tags: [] });
      expect((await aliceOnWriter.delete(drive.resource_uri)).status).toBe(204);
      await bobStream.next((f) => f.resource_uri === drive.resource_uri && f.object === undefined);
      bobWs.close();
    } finally {
      await watcher.close();
      await writer.close();
    }
  });
});

describe('closing the app', () => {
  it('closes open streams with 1001', async () => {
    const other = await startTestApp({ settle: false, transitions: 'instant' });
    const { pair } = await asyncCookie(other.alice);
    const ws = new WebSocket(`${other.origin.replace(/^http/, 'ws')}/websocket`, {
      headers: { cookie: pair },
    });
    await new Promise((resolve, reject) => {
      ws.on('open', resolve);
      ws.on('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.on('close', (code) => resolve(code)));
    await other.close();
    expect(await closed).toBe(1001);
  });
});
