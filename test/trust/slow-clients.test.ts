/**
 * Slow and greedy clients (issue 12 item 4): a trickled body is cut, headers must come in time,
 * and connections are capped per client address and in total.
 */
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALICE, startTestApp, type TestApp } from '../support/app.js';

/** A raw connection; resolves with everything the server sent once it closes. */
function open(origin: string): Promise<{ socket: Socket; closed: Promise<string> }> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<string>((done) => {
      socket.on('close', () => done(Buffer.concat(chunks).toString()));
    });
    socket.once('connect', () => resolve({ socket, closed }));
    socket.once('error', reject);
  });
}

const basic = `Basic ${Buffer.from(`${ALICE.email}:${ALICE.password}`).toString('base64')}`;

describe('slow clients', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ headerTimeout: 3 });
  });
  afterAll(() => t.close());

  it('cuts a body trickled at one byte every 5 s (unauthenticated) with 408 well within 60 s', async () => {
    const { socket, closed } = await open(t.origin);
    const start = Date.now();
    socket.write(
      'POST /api/2.0/servers/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{',
    );
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, 5000);
    const text = await closed;
    clearInterval(trickle);
    const seconds = (Date.now() - start) / 1000;
    expect(seconds).toBeLessThan(30);
    // Unauthenticated: the 401 may come first; either way the connection is closed.
    expect(text).toMatch(/^HTTP\/1\.1 (401|408) /);
  }, 60_000);

  it('cuts an authenticated body that arrives too slowly with a 408 naming the limit', async () => {
    const { socket, closed } = await open(t.origin);
    socket.write(
      `POST /api/2.0/tags/ HTTP/1.1\r\nHost: x\r\nAuthorization: ${basic}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{`,
    );
    const trickle = setInterval(() => {
      if (!socket.destroyed) socket.write(' ');
    }, 2000);
    const text = await closed;
    clearInterval(trickle);
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(text).toContain('"error_type":"validation"');
    expect(text).toMatch(/at least 1024 bytes a second/);
    // Others were served meanwhile.
    expect((await t.alice.get('/tags/')).status).toBe(200);
  }, 60_000);

  it('closes a connection whose headers do not arrive in time', async () => {
    const { socket, closed } = await open(t.origin);
    const start = Date.now();
    socket.write('GET /api/2.0/tags/ HTTP/1.1\r\nHost: x\r\n');
    const text = await closed;
    expect((Date.now() - start) / 1000).toBeLessThan(10);
    expect(text).toMatch(/^(HTTP\/1\.1 408 |)/);
  }, 30_000);
});

describe('connection caps', () => {
  it('refuses connections over the per-address cap with 429 and over the total with 503', async () => {
    const t = await startTestApp({ maxConnectionsPerAddress: 4, maxConnections: 1000 });
    const sockets: Socket[] = [];
    try {
      for (let i = 0; i < 4; i++) sockets.push((await open(t.origin)).socket);
      const extra = await open(t.origin);
      const text = await extra.closed;
      expect(text).toMatch(/^HTTP\/1\.1 429 /);
      expect(text).toContain('(limit: 4)');
      for (const s of sockets.splice(0)) s.destroy();
      await new Promise((r) => setTimeout(r, 100));
      expect((await t.alice.get('/tags/')).status).toBe(200);
    } finally {
      for (const s of sockets) s.destroy();
      await t.close();
    }
    const t2 = await startTestApp({ maxConnectionsPerAddress: 100, maxConnections: 3 });
    try {
      for (let i = 0; i < 3; i++) sockets.push((await open(t2.origin)).socket);
      const text = await (await open(t2.origin)).closed;
      expect(text).toMatch(/^HTTP\/1\.1 503 /);
      expect(text).toContain('"error_type":"backend"');
    } finally {
      for (const s of sockets) s.destroy();
      await t2.close();
    }
  });
});
