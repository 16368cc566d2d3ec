/**
 * The console's page as sigmalite serves it (`/console/`, from the build in dist/console/): its
 * headers (a CSP that keeps it to its own origin, no framing), caching by hash and ETag, gzip,
 * and the API's errors for anything that is not a file of the build.
 */
import { gunzipSync } from 'node:zlib';
import Fastify from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Authenticator } from '../../src/http/auth.js';
import { installConsole } from '../../src/webconsole/install.js';
import { send } from '../robustness/wire.js';
import { expectError } from '../support/api.js';
import { startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

describe('the console page', () => {
  it('is served at /console/ with headers that keep it to its own origin', async () => {
    const res = await fetch(`${t.origin}/console/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    const html = await res.text();
    expect(html).toContain('<div id="app"></div>');
    // Everything it loads comes from /console/assets/ of this server.
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(sources.length).toBeGreaterThanOrEqual(2);
    for (const source of sources) expect(source).toMatch(/^(\/console\/assets\/|data:)/);
    for (const source of sources.filter((s) => s.startsWith('/'))) {
      const asset = await fetch(t.origin + source);
      expect(asset.status, source).toBe(200);
      expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      // Read to the end: an unread 600 KB answer holds its connection open.
      expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }
  });

  it('redirects /console to /console/ and answers index.html too', async () => {
    const res = await fetch(`${t.origin}/console`, { redirect: 'manual' });
    expect(res.status).toBe(301);
    expect(res.headers.get('location')).toBe('/console/');
    const index = await fetch(`${t.origin}/console/index.html`);
    expect(index.status).toBe(200);
    await index.arrayBuffer();
  });

  it('revalidates with an ETag and gzips what is worth it', async () => {
    const html = await fetch(`${t.origin}/console/`);
    const etag = html.headers.get('etag')!;
    expect(etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    const again = await fetch(`${t.origin}/console/`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
    const script = /src="([^"]+\.js)"/.exec(await html.text())![1]!;
    const zipped = await send(t.origin, {
      method: 'GET',
      path: script,
      headers: { 'accept-encoding': 'gzip' },
    });
    expect(zipped.headers['content-encoding']).toBe('gzip');
    expect(zipped.headers.vary).toBe('accept-encoding');
    const plain = await send(t.origin, { method: 'GET', path: script, headers: {} });
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(gunzipSync(zipped.body).equals(plain.body)).toBe(true);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
  });

  it('answers anything else below /console/ with the API errors', async () => {
    for (const path of [
      '/console/nothing.js',
      '/console/assets/',
      '/console/../package.json',
      '/console/assets/%2e%2e/%2e%2e/package.json',
      '/console/.vite/manifest.json',
    ]) {
      const res = await send(t.origin, { method: 'GET', path, headers: {} });
      expect(res.status, path).toBe(404);
      expect(JSON.parse(res.body.toString())[0].error_type, path).toBe('notexist');
    }
    const put = await t.anonymous.request('PUT', '/console/', { body: {} });
    expectError(put, 405, 'validation', null);
    expect(put.headers.get('allow')).toBe('GET');
  });

  it('says how to build it when the build is missing', async () => {
    const http = Fastify();
    const handle = installConsole(http, {
      authenticator: new Authenticator(t.app.store, { digest: false }),
      sessions: t.app.store.sessions,
      accounts: t.app.store.accounts,
      tunnels: t.app.engine,
      tunnelHost: '127.0.0.1',
      target: () => Promise.reject(new Error('not asked')),
      logger: pino({ level: 'silent' }),
      dir: '/nonexistent/console',
    });
    try {
      const res = await http.inject({ method: 'GET', url: '/console/' });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.body).toContain('run <code>npm run build</code>');
    } finally {
      await handle.close();
      await http.close();
    }
  });
});
