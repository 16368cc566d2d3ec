/**
 * The web console's tunnels without a browser: tokens (single use, bound to a server, a kind and
 * an account, with `open_vnc`'s permission), and the screen and serial bridges spoken to through
 * real websockets (RFB with security type None towards the browser; the console protocol's bytes
 * both ways).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { CLOSE_TUNNEL_FAILED } from '../../src/webconsole/bridges.js';
import { createServer, expectError, type Obj } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';

let t: TestApp;
let wsOrigin: string;
let running: Obj;
let stopped: Obj;

beforeAll(async () => {
  t = await startTestApp();
  wsOrigin = t.origin.replace(/^http/, 'ws');
  running = await createServer(t.alice, { name: 'web-01', vnc_password: 'sesame-long-password' });
  stopped = await createServer(t.alice, { name: 'idle' });
  await t.alice.post(`/servers/${running.uuid}/action/?do=start`, {});
});
afterAll(() => t.close());

async function token(client: Client, server: string, kind: string) {
  return client.request('POST', '/console/tokens/', {
    body: { server, kind },
  });
}

/** Collects a websocket's binary messages and reads them as a byte stream. */
class WsBytes {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed: { code: number; reason: string } | undefined;
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, data]);
      this.wake?.();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.wake?.();
    });
  }
  async read(n: number, timeoutMs = 8000): Promise<Buffer> {
    const until = Date.now() + timeoutMs;
    while (this.buffer.length < n) {
      if (this.closed) throw new Error(`closed: ${JSON.stringify(this.closed)}`);
      if (Date.now() > until) throw new Error(`timeout waiting for ${n} bytes`);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }
  /** Everything received until `text` appears. */
  async until(text: string, timeoutMs = 8000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (!this.buffer.toString().includes(text)) {
      if (this.closed || Date.now() > until) {
        throw new Error(
          `no "${text}" in "${this.buffer.toString()}" ${JSON.stringify(this.closed)}`,
        );
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return this.buffer.toString();
  }
  async close(): Promise<{ code: number; reason: string }> {
    while (!this.closed) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.closed;
  }
}

/** Opens a websocket; resolves with its bytes, or rejects with the refused upgrade's answer. */
function openWs(path: string): Promise<WsBytes> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsOrigin + path);
    const bytes = new WsBytes(ws);
    ws.on('open', () => resolve(bytes));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () =>
        reject(Object.assign(new Error('refused'), { status: res.statusCode, body })),
      );
    });
    ws.on('error', reject);
  });
}

async function refused(path: string): Promise<{ status: number; json: Obj }> {
  try {
    const opened = await openWs(path);
    opened.ws.close();
  } catch (e) {
    const err = e as { status: number; body: string };
    return { status: err.status, json: JSON.parse(err.body) as Obj };
  }
  throw new Error(`${path} opened`);
}

describe('tokens', () => {
  it('are issued for a running server the caller may open, in a websocket path', async () => {
    const res = await token(t.alice, running.uuid, 'screen');
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.json.expires_in).toBe(30);
    expect(res.json.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(res.json.websocket).toBe(`/console/ws/screen/${running.uuid}/?token=${res.json.token}`);
  });

  it('are refused as the API refuses open_vnc: unknown or foreign server 404, stopped 403', async () => {
    expectError(await token(t.bob, running.uuid, 'screen'), 404, 'notexist', null);
    expectError(
      await token(t.alice, '00000000-0000-4000-8000-000000000000', 'serial'),
      404,
      'notexist',
      null,
    );
    const err = expectError(await token(t.alice, stopped.uuid, 'serial'), 403, 'permission', null);
    expect(err.error_message).toBe(
      `Cannot open_console guest in state "stopped". Guest should be in state "['started', 'running_legacy']"`,
    );
    expectError(await token(t.anonymous, running.uuid, 'screen'), 401, 'permission', null);
  });

  it('refuse a malformed request with the field at fault', async () => {
    expectError(await token(t.alice, running.uuid, 'keyboard'), 400, 'validation', 'kind');
    expectError(await token(t.alice, 'not-a-uuid', 'screen'), 400, 'validation', 'server');
    const missing = await t.alice.request('POST', '/console/tokens/', { body: { kind: 'screen' } });
    expectError(missing, 400, 'validation', 'server');
    const list = await t.alice.request('POST', '/console/tokens/', { body: [1] });
    expectError(list, 400, 'validation', null);
  });

  it('open one websocket once, for their server and kind only', async () => {
    const serial = (await token(t.alice, running.uuid, 'serial')).json;
    // Another kind or another server with this token: refused, and the token stays unused.
    const asScreen = await refused(`/console/ws/screen/${running.uuid}/?token=${serial.token}`);
    expect(asScreen.status).toBe(403);
    expect(asScreen.json[0].error_type).toBe('permission');
    expect(
      (await refused(`/console/ws/serial/${stopped.uuid}/?token=${serial.token}`)).status,
    ).toBe(403);
    const first = await openWs(serial.websocket);
    await first.until('sigmalite console for web-01');
    const again = await refused(serial.websocket);
    expect(again.status).toBe(403);
    expect(again.json[0].error_message).toContain('unknown, used or expired');
    first.ws.close();
    expect((await refused(`/console/ws/serial/${running.uuid}/`)).status).toBe(403);
    expect((await refused('/console/ws/keyboard/x/?token=y')).status).toBe(404);
  });
});

describe('the serial bridge', () => {
  it('joins the browser to the console: keys in, answers out', async () => {
    const { websocket } = (await token(t.alice, running.uuid, 'serial')).json;
    const serial = await openWs(websocket);
    await serial.until('sigmalite console for web-01\r\n');
    serial.ws.send(Buffer.from('hello there\r'));
    expect(await serial.until('> hello there\r\n')).toContain('> hello there');
    serial.ws.close();
    expect((await serial.close()).code).toBe(1005);
  });

  it('closes the websocket when the server stops', async () => {
    const server = await createServer(t.alice, { name: 'short-lived' });
    await t.alice.post(`/servers/${server.uuid}/action/?do=start`, {});
    const serial = await openWs((await token(t.alice, server.uuid, 'serial')).json.websocket);
    await serial.until('short-lived');
    await t.alice.post(`/servers/${server.uuid}/action/?do=stop`, {});
    expect((await serial.close()).code).toBe(1000);
  });
});

describe('the screen bridge', () => {
  it('speaks RFB with security type None to the browser and shows the server screen', async () => {
    const { websocket } = (await token(t.alice, running.uuid, 'screen')).json;
    const screen = await openWs(websocket);
    expect((await screen.read(12)).toString()).toBe('RFB 003.008\n');
    screen.ws.send(Buffer.from('RFB 003.008\n'));
    expect([...(await screen.read(2))]).toEqual([1, 1]);
    screen.ws.send(Buffer.from([1]));
    expect((await screen.read(4)).readUInt32BE(0)).toBe(0);
    screen.ws.send(Buffer.from([1])); // ClientInit, shared
    const init = await screen.read(24);
    const width = init.readUInt16BE(0);
    const height = init.readUInt16BE(2);
    const name = (await screen.read(init.readUInt32BE(20))).toString();
    expect({ width, height, name }).toEqual({ width: 1024, height: 768, name: 'web-01' });
    // FramebufferUpdateRequest for the top-left 8x1 pixels, in the server's 32-bit format.
    const request = Buffer.alloc(10);
    request.writeUInt8(3, 0);
    request.writeUInt16BE(8, 6);
    request.writeUInt16BE(1, 8);
    screen.ws.send(request);
    const update = await screen.read(4 + 12);
    expect(update[0]).toBe(0);
    const pixels = await screen.read(8 * 4);
    expect(pixels.some((byte) => byte !== 0)).toBe(true);
    screen.ws.close();
  });

  it('tells the viewer why when the tunnel refuses the password', async () => {
    const server = await createServer(t.alice, { name: 'pw', vnc_password: 'right-one' });
    await t.alice.post(`/servers/${server.uuid}/action/?do=start`, {});
    // The tunnel checks the password the tunnel was opened with; the bridge then authenticates
    // with what the store says. A different stored password is refused.
    const real = t.app.engine.openVnc.bind(t.app.engine);
    t.app.engine.openVnc = (uuid, _password, name, account) =>
      real(uuid, 'other-pw', name, account);
    try {
      const screen = await openWs((await token(t.alice, server.uuid, 'screen')).json.websocket);
      await screen.read(12);
      screen.ws.send(Buffer.from('RFB 003.008\n'));
      expect((await screen.read(1))[0]).toBe(0);
      const reason = await screen.read((await screen.read(4)).readUInt32BE(0));
      expect(reason.toString()).toContain('refused the password');
      const closed = await screen.close();
      expect(closed.code).toBe(CLOSE_TUNNEL_FAILED);
    } finally {
      t.app.engine.openVnc = real;
    }
  });
});
