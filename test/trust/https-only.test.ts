/**
 * The profile's `api_https_only` (issue 12 item 8): an account that sets it is refused over
 * plain HTTP (403 `permission` naming https), but for `/profile/` itself, where it can still be
 * read and turned off; over HTTPS it works as before; other accounts are not concerned.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initTls } from '../../src/cli/tls.js';
import { ALICE, startTestApp, type TestApp } from '../support/app.js';

const basic = `Basic ${Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64')}`;

describe('api_https_only over plain HTTP', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('is off by default: plain HTTP works', async () => {
    expect((await t.alice.get('/profile/')).json.api_https_only).toBe(false);
    expect((await t.alice.get('/servers/')).status).toBe(200);
  });

  it('refuses every request of the account but /profile/, until it is turned off', async () => {
    const on = await t.alice.put('/profile/', { api_https_only: true });
    expect(on.status, on.text).toBe(200);
    for (const [method, path] of [
      ['GET', '/servers/'],
      ['GET', '/servers/detail/'],
      ['POST', '/drives/'],
      ['GET', '/currentusage/'],
    ] as const) {
      const r = await t.alice.request(method, path, method === 'POST' ? { body: {} } : {});
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.json).toEqual([
        {
          error_point: null,
          error_type: 'permission',
          error_message: expect.stringContaining('HTTPS only'),
        },
      ]);
    }
    // Bob's profile does not say so.
    expect((await t.bob.get('/servers/')).status).toBe(200);
    expect((await t.alice.get('/profile/')).json.api_https_only).toBe(true);
    const off = await t.alice.put('/profile/', { api_https_only: false });
    expect(off.status, off.text).toBe(200);
    expect((await t.alice.get('/servers/')).status).toBe(200);
  });
});

describe('api_https_only over HTTPS', () => {
  let t: TestApp;
  let dir: string;
  let ca: Buffer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sigmalite-https-only-'));
    const files = initTls(dir, ['127.0.0.1']);
    ca = readFileSync(files.caCert);
    t = await startTestApp({ tlsCert: files.cert, tlsKey: files.key });
  });
  afterAll(async () => {
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function call(method: string, path: string, body?: unknown): Promise<{ status: number }> {
    return new Promise((resolve, reject) => {
      const text = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        `${t.origin}/api/2.0${path}`,
        {
          method,
          ca,
          headers: {
            authorization: basic,
            ...(text ? { 'content-type': 'application/json' } : {}),
          },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
        },
      );
      req.on('error', reject);
      req.end(text);
    });
  }

  it('serves the account as before', async () => {
    expect(t.origin).toMatch(/^https:/);
    expect((await call('PUT', '/profile/', { api_https_only: true })).status).toBe(200);
    expect((await call('GET', '/servers/')).status).toBe(200);
    expect((await call('GET', '/drives/detail/')).status).toBe(200);
  });
});
