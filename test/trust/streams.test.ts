/** Event streams under hostile tenants (issue 12 item 7). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { setPassword } from '../../src/accounts/service.js';
import { ALICE, BOB, startTestApp, type TestApp } from '../support/app.js';

const basic = (u: { email: string; password: string }) =>
  `Basic ${Buffer.from(`${u.email}:${u.password}`).toString('base64')}`;

/** Opens a stream; resolves with the socket once open, or with the refusal's status. */
function open(
  url: string,
  headers: Record<string, string>,
): Promise<{ ws?: WebSocket; status?: number; body?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    ws.once('error', () => resolve({}));
  });
}

function closed(
  ws: WebSocket,
  timeoutMs: number,
): Promise<{ code: number; reason: string } | null> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), timeoutMs);
    ws.once('close', (code, reason) => {
      clearTimeout(timer);
      resolve({ code, reason: reason.toString() });
    });
  });
}

describe('event streams', () => {
  let t: TestApp;
  let url: string;
  beforeAll(async () => {
    t = await startTestApp({ maxStreamsPerAccount: 3 });
    url = `${t.origin.replace(/^http/, 'ws')}/websocket`;
  });
  afterAll(() => t.close());

  it('caps the streams of one account (429 naming the limit); other accounts are not affected', async () => {
    const mine = [];
    for (let i = 0; i < 3; i++) {
      const s = await open(url, { authorization: basic(BOB) });
      expect(s.ws).toBeDefined();
      mine.push(s.ws!);
    }
    const refused = await open(url, { authorization: basic(BOB) });
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body!)[0]).toEqual({
      error_point: null,
      error_type: 'permission',
      error_message: expect.stringContaining('limit: 3'),
    });
    const other = await open(url, { authorization: basic(ALICE) });
    expect(other.ws).toBeDefined();
    other.ws!.close();
    for (const ws of mine) ws.close();
  });

  it('refuses an upgrade from a foreign Origin; the own origin is fine', async () => {
    const foreign = await open(url, {
      authorization: basic(ALICE),
      origin: 'https://evil.example',
    });
    expect(foreign.status).toBe(403);
    const own = await open(url, { authorization: basic(ALICE), origin: t.origin });
    expect(own.ws).toBeDefined();
    own.ws!.close();
  });

  it("closes an account's streams once its password changes", async () => {
    const s = await open(url, { authorization: basic(ALICE) });
    expect(s.ws).toBeDefined();
    const done = closed(s.ws!, 15_000);
    await setPassword(
      t.app.store,
      { email: ALICE.email, password: 'a-new-password' },
      { digest: false },
    );
    const result = await done;
    expect(result).toEqual({ code: 1008, reason: 'credentials changed' });
  }, 20_000);
});
