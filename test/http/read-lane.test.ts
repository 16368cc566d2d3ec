/**
 * The read lane (src/http/read-lane.ts) answers plain GETs before Fastify. Each request here is
 * sent twice: as is (the lane takes it) and with an `Accept` the lane leaves to Fastify but that
 * asks for the same thing. Status, headers in their order, body and log line must be the same.
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
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, origin), { headers, agent: false }, (res) => {
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
    req.end();
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

describe('read lane', () => {
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
      const before = t.app.http.readLane.taken;
      const lane = await get(t.origin, url, headers);
      expect(t.app.http.readLane.taken).toBe(before + 1);
      const fastify = await get(t.origin, url, { ...headers, accept: FASTIFY_ACCEPT });
      expect(t.app.http.readLane.taken).toBe(before + 1);
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
    const before = t.app.http.readLane.taken;
    const auth = { authorization: alice };
    const projected = await get(t.origin, '/api/2.0/servers/?fields=name', auth);
    expect(projected.status).toBe(200);
    const action = await get(t.origin, `/api/2.0/servers/${server}/action/?do=start`, auth);
    expect(action.status).toBe(405);
    const unknown = await get(t.origin, '/api/2.0/nothing-here/', auth);
    expect(unknown.status).toBe(404);
    expect(t.app.http.readLane.taken).toBe(before);
  });
});
