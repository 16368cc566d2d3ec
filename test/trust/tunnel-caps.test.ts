/**
 * Tunnels and console websockets under one greedy account (issue 12 items 3 and 7): caps per
 * account and per process, idle tunnels closed, and the console's websockets refused to pages of
 * another origin.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createServer } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';

async function runningServer(client: Client) {
  const server = await createServer(client);
  const start = await client.post(`/servers/${server.uuid}/action/?do=start`);
  expect(start.status, start.text).toBe(202);
  return server;
}

const portOf = (url: string) => Number(/:(\d+)$/.exec(url)![1]);

/** Whether something listens on the port (a tunnel that closed refuses connections). */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('tunnel caps', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ maxTunnelsPerAccount: 3, maxTunnels: 5 });
  });
  afterAll(() => t.close());

  it('caps one account (429 naming the limit) and the process (503 backend)', async () => {
    const mine = [];
    for (let i = 0; i < 3; i++) mine.push(await runningServer(t.alice));
    const [a, b, c] = mine as [(typeof mine)[0], (typeof mine)[0], (typeof mine)[0]];
    for (const [server, action] of [
      [a, 'open_vnc'],
      [a, 'open_console'],
      [b, 'open_vnc'],
    ] as const) {
      const r = await t.alice.post(`/servers/${server.uuid}/action/?do=${action}`);
      expect(r.status, r.text).toBe(202);
    }
    const refused = await t.alice.post(`/servers/${c.uuid}/action/?do=open_vnc`);
    expect(refused.status).toBe(429);
    expect(refused.json).toEqual([
      {
        error_point: null,
        error_type: 'permission',
        error_message: expect.stringContaining('limit: 3'),
      },
    ]);
    // Reopening replaces a tunnel: no new one.
    const again = await t.alice.post(`/servers/${a.uuid}/action/?do=open_vnc`);
    expect(again.status, again.text).toBe(202);
    // Another account is not held by alice's cap, but the process's cap (5) holds everyone.
    const theirs = [await runningServer(t.bob), await runningServer(t.bob)];
    for (const server of theirs) {
      const r = await t.bob.post(`/servers/${server.uuid}/action/?do=open_vnc`);
      expect(r.status, r.text).toBe(202);
    }
    const third = await runningServer(t.bob);
    const full = await t.bob.post(`/servers/${third.uuid}/action/?do=open_console`);
    expect(full.status).toBe(503);
    expect(full.json).toEqual([
      {
        error_point: null,
        error_type: 'backend',
        error_message: expect.stringContaining('limit: 5'),
      },
    ]);
    expect(full.headers.get('retry-after')).toBe('60');
    // Closing one, or stopping a server (its tunnels go), gives room back.
    expect((await t.alice.post(`/servers/${a.uuid}/action/?do=close_console`)).status).toBe(202);
    expect((await t.alice.post(`/servers/${b.uuid}/action/?do=stop`)).status).toBe(202);
    await t.app.engine.settled();
    const room = await t.alice.post(`/servers/${c.uuid}/action/?do=open_vnc`);
    expect(room.status, room.text).toBe(202);
    const more = await t.bob.post(`/servers/${third.uuid}/action/?do=open_console`);
    expect(more.status, more.text).toBe(202);
  });
});

describe('idle tunnels', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp({ tunnelIdleTimeout: 1 });
  });
  afterAll(() => t.close());

  it('closes a tunnel no client uses, as close_vnc would; one in use stays', async () => {
    const idle = await runningServer(t.alice);
    const used = await runningServer(t.alice);
    const vnc = await t.alice.post(`/servers/${idle.uuid}/action/?do=open_vnc`);
    const console = await t.alice.post(`/servers/${used.uuid}/action/?do=open_console`);
    const idlePort = portOf(vnc.json.vnc_url);
    const usedPort = portOf(console.json.console_url);
    const client = connect(usedPort, '127.0.0.1');
    client.on('error', () => {});
    await new Promise((resolve) => client.once('connect', resolve));
    // Watched through the driver: a probe of the port would be a client, and keep it in use.
    const open = () => t.app.compute.tunnels().some((x) => x.uuid === idle.uuid);
    expect(open()).toBe(true);
    const until = Date.now() + 5_000;
    while (open() && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(await listening(idlePort)).toBe(false);
    expect(await listening(usedPort)).toBe(true);
    expect(t.app.engine.tunnelLedger.count((await t.alice.get('/profile/')).json.uuid)).toBe(1);
    client.destroy();
    // A new open after the idle close works as after a close_vnc.
    const reopened = await t.alice.post(`/servers/${idle.uuid}/action/?do=open_vnc`);
    expect(reopened.status, reopened.text).toBe(202);
    expect(await listening(portOf(reopened.json.vnc_url))).toBe(true);
  });
});

describe('console websockets', () => {
  let t: TestApp;
  let wsOrigin: string;
  beforeAll(async () => {
    t = await startTestApp({ maxTunnelsPerAccount: 2 });
    wsOrigin = t.origin.replace(/^http/, 'ws');
  });
  afterAll(() => t.close());

  async function socketPath(server: string): Promise<string> {
    const r = await t.alice.request('POST', '/console/tokens/', {
      body: { server, kind: 'serial' },
    });
    expect(r.status, r.text).toBe(201);
    return r.json.websocket;
  }

  function open(
    path: string,
    headers: Record<string, string> = {},
  ): Promise<{ ws?: WebSocket; status?: number; body?: string }> {
    return new Promise((resolve) => {
      const ws = new WebSocket(wsOrigin + path, { headers });
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

  it('refuses an upgrade from a foreign Origin; the own origin is fine', async () => {
    const server = await runningServer(t.alice);
    const foreign = await open(await socketPath(server.uuid), { origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body!)[0]).toEqual({
      error_point: null,
      error_type: 'permission',
      error_message: expect.stringContaining('https://evil.example may not open a console'),
    });
    const own = await open(await socketPath(server.uuid), { origin: t.origin });
    expect(own.ws).toBeDefined();
    own.ws!.close();
  });

  it('caps the websockets of one account (429 naming the limit)', async () => {
    const servers = [];
    for (let i = 0; i < 3; i++) servers.push(await runningServer(t.alice));
    const held = [];
    for (const server of servers.slice(0, 2)) {
      const s = await open(await socketPath(server.uuid));
      expect(s.ws).toBeDefined();
      held.push(s.ws!);
    }
    const refused = await open(await socketPath(servers[2]!.uuid));
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body!)[0]).toEqual({
      error_point: null,
      error_type: 'permission',
      error_message: expect.stringContaining('limit: 2'),
    });
    const gone = held.map((ws) => new Promise((resolve) => ws.once('close', resolve)));
    for (const ws of held) ws.close();
    await Promise.all(gone);
    // Given back once closed.
    let s: Awaited<ReturnType<typeof open>> = {};
    for (let i = 0; i < 20 && !s.ws; i++) {
      s = await open(await socketPath(servers[2]!.uuid));
      if (!s.ws) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(s.ws).toBeDefined();
    s.ws!.close();
  });
});
