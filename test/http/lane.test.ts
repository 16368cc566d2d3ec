/**
 * The lane (src/http/lane.ts) answers plain GETs and JSON POSTs before Fastify. Each request here
 * is sent twice: as is (the lane takes it) and with an `Accept` the lane leaves to Fastify but
 * that asks for the same thing. Status, headers in their order, body, log line (and for a POST,
 * the audit entry) must be the same.
 */
import { request } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, BOB, serverBody, startTestApp, type TestApp } from '../support/app.js';
import { basicAuth } from '../support/raw.js';

const FASTIFY_ACCEPT = 'application/json;q=1';

interface Wire {
  status: number;
  /** Name and value pairs in the order received, but for those that differ by nature. */
  headers: [string, string][];
  requestId: string;
  body: Buffer;
}

function get(origin: string, path: string, headers: Record<string, string>): Promise<Wire> {
  return send(origin, 'GET', path, headers);
}

function send(
  origin: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Wire> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, origin), { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const pairs: [string, string][] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          // A Digest challenge's nonce is new on every answer.
          const value = res.rawHeaders[i + 1]!.replace(/nonce="[^"]*"/, 'nonce="N"');
          pairs.push([res.rawHeaders[i]!.toLowerCase(), value]);
        }
        resolve({
          status: res.statusCode ?? 0,
          headers: pairs.filter(([name]) => name !== 'date' && name !== 'x-request-id'),
          requestId: String(res.headers['x-request-id']),
          body: Buffer.concat(chunks),
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const lines: Record<string, unknown>[] = [];
let t: TestApp;
let server: string;
beforeAll(async () => {
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  t = await startTestApp({ logger: pino({ level: 'info' }, sink) });
  const created = await t.alice.post('/servers/', serverBody({ name: 'lane' }));
  server = created.json.objects[0].uuid;
  for (let i = 0; i < 3; i++) await t.alice.post('/servers/', serverBody({ name: `more-${i}` }));
});
afterAll(() => t.close());

/** The request line of a request id, without what differs by nature (time, duration, id). */
function lineOf(id: string): Record<string, unknown> | undefined {
  const line = lines.find((l) => l.request_id === id);
  if (!line) return undefined;
  const { time: _time, ms: _ms, request_id: _id, ...rest } = line;
  return rest;
}

describe('lane', () => {
  const alice = basicAuth(ALICE.email, ALICE.password);
  const cases: [string, string, Record<string, string>][] = [
    ['a list', '/api/2.0/servers/', { authorization: alice }],
    ['a page of details', '/api/2.0/servers/detail/?limit=2&offset=1', { authorization: alice }],
    ['one object', '', { authorization: alice }],
    ['one object without its trailing slash', 'NOSLASH', { authorization: alice }],
    [
      'a list filtered, with a parameter nobody reads',
      '/api/2.0/servers/?name=lane&colour=red',
      {
        authorization: alice,
      },
    ],
    [
      'a gzipped body',
      '/api/2.0/servers/detail/',
      {
        authorization: alice,
        'accept-encoding': 'gzip',
      },
    ],
    [
      'a whole list (joined once, sent in chunks)',
      '/api/2.0/servers/detail/?limit=0',
      { authorization: alice },
    ],
    [
      'a whole list gzipped',
      '/api/2.0/servers/?limit=0',
      { authorization: alice, 'accept-encoding': 'gzip' },
    ],
    ['a schema', '/api/2.0/servers/schema/', { authorization: alice }],
    [
      'an unknown uuid',
      '/api/2.0/servers/00000000-0000-4000-8000-000000000000/',
      {
        authorization: alice,
      },
    ],
    ["another account's object", '', { authorization: basicAuth(BOB.email, BOB.password) }],
    ['wrong credentials', '/api/2.0/servers/', { authorization: basicAuth(ALICE.email, 'no') }],
    ['no credentials', '/api/2.0/drives/', {}],
  ];

  for (const [name, path, headers] of cases) {
    it(`answers ${name} as Fastify does`, async () => {
      const url =
        path === ''
          ? `/api/2.0/servers/${server}/`
          : path === 'NOSLASH'
            ? `/api/2.0/servers/${server}`
            : path;
      const before = t.app.http.lane.taken;
      const lane = await get(t.origin, url, headers);
      expect(t.app.http.lane.taken).toBe(before + 1);
      const fastify = await get(t.origin, url, { ...headers, accept: FASTIFY_ACCEPT });
      expect(t.app.http.lane.taken).toBe(before + 1);
      expect(lane.status).toBe(fastify.status);
      expect(lane.headers).toEqual(fastify.headers);
      expect(lane.body.equals(fastify.body)).toBe(true);
      expect(lane.requestId).toMatch(/^[0-9a-f]{32}$/);
      // Lines are written in batches: wait for both.
      await expect.poll(() => lineOf(lane.requestId), { timeout: 2000 }).toBeDefined();
      await expect.poll(() => lineOf(fastify.requestId), { timeout: 2000 }).toBeDefined();
      expect(lineOf(lane.requestId)).toEqual(lineOf(fastify.requestId));
    });
  }

  it('sends a whole list with the same objects as a page of them, again after a change', async () => {
    const auth = { authorization: alice };
    const objects = async (path: string) => {
      const wire = await get(t.origin, path, auth);
      const length = wire.headers.find(([name]) => name === 'content-length')?.[1];
      expect(Number(length)).toBe(wire.body.length);
      return (JSON.parse(wire.body.toString()) as { objects: unknown[] }).objects;
    };
    const whole = await objects('/api/2.0/servers/detail/?limit=0');
    expect(whole).toHaveLength(4);
    expect(whole).toEqual(await objects('/api/2.0/servers/detail/?limit=100'));
    await t.alice.put(`/servers/${server}/`, { ...serverBody({ name: 'renamed' }) });
    const after = await objects('/api/2.0/servers/detail/?limit=0');
    expect(after).toEqual(await objects('/api/2.0/servers/detail/?limit=100'));
    expect(after.map((o) => (o as { name: string }).name)).toContain('renamed');
  });

  it('leaves to Fastify what it does not serve: other methods, fields=, a GET on a route without one', async () => {
    const before = t.app.http.lane.taken;
    const auth = { authorization: alice };
    const projected = await get(t.origin, '/api/2.0/servers/?fields=name', auth);
    expect(projected.status).toBe(200);
    const action = await get(t.origin, `/api/2.0/servers/${server}/action/?do=start`, auth);
    expect(action.status).toBe(405);
    const unknown = await get(t.origin, '/api/2.0/nothing-here/', auth);
    expect(unknown.status).toBe(404);
    expect(t.app.http.lane.taken).toBe(before);
  });
});

describe('lane POSTs', () => {
  const alice = basicAuth(ALICE.email, ALICE.password);
  const json = (length: string) => ({
    authorization: alice,
    'content-type': 'application/json',
    'content-length': length,
  });
  /** Ids, MACs and times differ between two creates by nature. */
  const normal = (text: string) =>
    text
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'UUID')
      .replace(/22(:[0-9a-f]{2}){5}/g, 'MAC')
      .replace(/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+\+00:00/g, 'TIME');
  const newestLogs = async () => {
    const wire = await get(t.origin, '/api/2.0/logs/?limit=0', { authorization: alice });
    return (JSON.parse(wire.body.toString()) as { objects: unknown[] }).objects.slice(-2);
  };
  const cases: [string, string, string, number][] = [
    ['a create', '/api/2.0/servers/', JSON.stringify(serverBody({ name: 'posted' })), 201],
    [
      'a create with an unknown field',
      '/api/2.0/servers/',
      JSON.stringify({ ...serverBody({ name: 'coloured' }), colour: 'red' }),
      201,
    ],
    [
      'a create that fails validation',
      '/api/2.0/servers/',
      JSON.stringify({ ...serverBody({ name: 'bad' }), cpu: 'lots' }),
      400,
    ],
    ['a body that is not JSON', '/api/2.0/servers/', '{"name": ', 400],
    ['an action refused in this state', 'ACTION', '', 0],
  ];

  for (const [name, path, body, status] of cases) {
    it(`answers ${name} as Fastify does, audit entry included`, async () => {
      const url = path === 'ACTION' ? `/api/2.0/servers/${server}/action/?do=stop` : path;
      const payload = path === 'ACTION' ? '{}' : body;
      const headers = json(String(Buffer.byteLength(payload)));
      const before = t.app.http.lane.taken;
      const lane = await send(t.origin, 'POST', url, headers, payload);
      expect(t.app.http.lane.taken).toBe(before + 1);
      const laneLogs = await newestLogs();
      const fastify = await send(
        t.origin,
        'POST',
        url,
        { ...headers, accept: FASTIFY_ACCEPT },
        payload,
      );
      expect(t.app.http.lane.taken).toBe(before + 2);
      if (status > 0) expect(lane.status).toBe(status);
      expect(lane.status).toBe(fastify.status);
      expect(normal(JSON.stringify(lane.headers))).toBe(normal(JSON.stringify(fastify.headers)));
      expect(normal(lane.body.toString())).toBe(normal(fastify.body.toString()));
      expect(normal(JSON.stringify(await newestLogs()))).toBe(normal(JSON.stringify(laneLogs)));
      await expect.poll(() => lineOf(lane.requestId), { timeout: 2000 }).toBeDefined();
      await expect.poll(() => lineOf(fastify.requestId), { timeout: 2000 }).toBeDefined();
      expect(lineOf(lane.requestId)).toEqual(lineOf(fastify.requestId));
    });
  }

  it('closes the connection after a body it cannot read, as Fastify does', async () => {
    const wire = await send(t.origin, 'POST', '/api/2.0/servers/', json('9'), '{"name": ');
    expect(wire.headers).toContainEqual(['connection', 'close']);
  });

  it('takes application/json; charset=utf-8 too, and answers as Fastify does', async () => {
    const payload = JSON.stringify(serverBody({ name: 'charset' }));
    for (const type of ['application/json; charset=utf-8', 'application/json;charset=UTF-8']) {
      const headers = { ...json(String(Buffer.byteLength(payload))), 'content-type': type };
      const before = t.app.http.lane.taken;
      const lane = await send(t.origin, 'POST', '/api/2.0/servers/', headers, payload);
      expect(t.app.http.lane.taken).toBe(before + 1);
      const fastify = await send(
        t.origin,
        'POST',
        '/api/2.0/servers/',
        { ...headers, accept: FASTIFY_ACCEPT },
        payload,
      );
      expect(lane.status).toBe(201);
      expect(fastify.status).toBe(201);
      expect(normal(JSON.stringify(lane.headers))).toBe(normal(JSON.stringify(fastify.headers)));
      expect(normal(lane.body.toString())).toBe(normal(fastify.body.toString()));
    }
  });

  it('leaves other POSTs to Fastify: other content types, chunked bodies, public routes', async () => {
    const before = t.app.http.lane.taken;
    const body = JSON.stringify(serverBody({ name: 'other-type' }));
    const typed = await send(
      t.origin,
      'POST',
      '/api/2.0/servers/',
      { ...json(String(body.length)), 'content-type': 'application/vnd.api+json' },
      body,
    );
    expect(typed.status).toBe(201);
    const chunked = await send(
      t.origin,
      'POST',
      '/api/2.0/servers/',
      { authorization: alice, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
      body,
    );
    expect(chunked.status).toBe(201);
    const schema = await send(t.origin, 'POST', '/api/2.0/servers/schema/', json('2'), '{}');
    expect(schema.status).toBe(405);
    expect(t.app.http.lane.taken).toBe(before);
  });
});
