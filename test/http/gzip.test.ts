/**
 * gzip answers (src/http/gzip.ts): a gzip client's answer decodes to exactly the bytes an identity
 * client gets, for whole lists, pages and single objects, through the lane and through Fastify,
 * before and after a change to the list; and (on SQLite, whose read cache keeps a list's join and
 * an object's bytes) the compressed form of a list version is made once and reused.
 */
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deflatedPieces } from '../../src/http/gzip.js';
import { ALICE, serverBody, startTestApp, type TestApp } from '../support/app.js';
import { basicAuth } from '../support/raw.js';
import { TEST_STORE } from '../support/stores.js';

interface Answer {
  status: number;
  encoding: string | undefined;
  vary: string | undefined;
  length: number;
  body: Buffer;
}

/** A GET whose body is kept as sent (no decoding). */
function get(path: string, headers: Record<string, string> = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, t.origin),
      { headers: { authorization: basicAuth(ALICE.email, ALICE.password), ...headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            encoding: res.headers['content-encoding'],
            vary: res.headers.vary,
            length: Number(res.headers['content-length']),
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** The identity answer, and the gzip answer decoded: they must be the same bytes. */
async function both(path: string, extra: Record<string, string> = {}) {
  const identity = await get(path, extra);
  const zipped = await get(path, { ...extra, 'accept-encoding': 'gzip, deflate, br' });
  expect(identity.status).toBe(200);
  expect(identity.encoding).toBeUndefined();
  expect(identity.length).toBe(identity.body.length);
  expect(zipped.status).toBe(200);
  expect(zipped.encoding).toBe('gzip');
  expect(zipped.vary).toBe('accept-encoding');
  expect(zipped.length).toBe(zipped.body.length);
  expect(zipped.body.length).toBeLessThan(identity.body.length);
  expect(gunzipSync(zipped.body).equals(identity.body)).toBe(true);
  return { identity: identity.body, zipped: zipped.body };
}

/** What Fastify answers (an Accept the lane leaves to it), for the same request. */
const VIA_FASTIFY = { accept: 'application/json;q=1' };

let t: TestApp;
let first = '';
beforeAll(async () => {
  t = await startTestApp();
  // Servers large enough to be worth compressing (1 KiB) one by one.
  const meta = { notes: 'n'.repeat(600) };
  const objects = Array.from({ length: 30 }, (_, i) => serverBody({ name: `gz-${i}`, meta }));
  const created = await t.alice.post('/servers/', { objects });
  expect(created.status).toBe(201);
  first = created.json.objects[0].uuid;
});
afterAll(() => t.close());

describe('gzip answers', () => {
  const paths = () => [
    '/api/2.0/servers/detail/?limit=0',
    '/api/2.0/servers/?limit=0',
    '/api/2.0/servers/detail/?limit=5&offset=3',
    `/api/2.0/servers/${first}/`,
  ];

  it('decode to the identity bytes, through the lane and Fastify, before and after a change', async () => {
    for (const path of paths()) {
      const lane = await both(path);
      const fastify = await both(path, VIA_FASTIFY);
      expect(fastify.identity.equals(lane.identity)).toBe(true);
      expect(fastify.zipped.equals(lane.zipped)).toBe(true);
    }
    const before = await both('/api/2.0/servers/detail/?limit=0');
    // A change to an object in the list, and a new object: new bytes, decoded alike.
    const renamed = await t.alice.put(
      `/servers/${first}/`,
      serverBody({ name: 'gz-renamed', meta: { notes: 'r'.repeat(600) } }),
    );
    expect(renamed.status).toBe(200);
    expect((await t.alice.post('/servers/', serverBody({ name: 'gz-new' }))).status).toBe(201);
    for (const path of paths()) {
      const lane = await both(path);
      const fastify = await both(path, VIA_FASTIFY);
      expect(fastify.zipped.equals(lane.zipped)).toBe(true);
    }
    const after = await both('/api/2.0/servers/detail/?limit=0');
    expect(after.zipped.equals(before.zipped)).toBe(false);
    const names = JSON.parse(after.identity.toString()).objects.map(
      (o: { name: string }) => o.name,
    );
    expect(names).toContain('gz-renamed');
    expect(names).toContain('gz-new');
    expect(names).not.toContain('gz-0');
    expect((await both(`/api/2.0/servers/${first}/`)).identity.toString()).toContain('gz-renamed');
  });

  it('leaves small answers and clients that do not ask uncompressed', async () => {
    const small = await get('/api/2.0/servers/?limit=1', { 'accept-encoding': 'gzip' });
    expect(small.encoding).toBeUndefined();
    const refused = await get('/api/2.0/servers/?limit=0', { 'accept-encoding': 'gzip;q=0' });
    expect(refused.encoding).toBeUndefined();
  });

  it.runIf(TEST_STORE === 'sqlite')(
    'compresses a list version once: again after it changes, not per request',
    async () => {
      const path = '/api/2.0/servers/detail/?limit=0';
      await both(path);
      const start = deflatedPieces();
      const once = await both(path);
      const again = await both(path);
      expect(deflatedPieces()).toBe(start);
      expect(again.zipped.equals(once.zipped)).toBe(true);
      // So is a single object the read cache keeps.
      await both(`/api/2.0/servers/${first}/`);
      const objectStart = deflatedPieces();
      await both(`/api/2.0/servers/${first}/`);
      expect(deflatedPieces()).toBe(objectStart);
      expect((await t.alice.post('/servers/', serverBody({ name: 'gz-later' }))).status).toBe(201);
      const changed = await both(path);
      expect(deflatedPieces()).toBe(objectStart + 1);
      expect(gunzipSync(changed.zipped).toString()).toContain('gz-later');
    },
  );
});
