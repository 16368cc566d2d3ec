/**
 * `--public-url` through a real socket (docs/tls.md): the built server names the public host, not
 * the one the request used, in the `Location` of a create, in `/locations/` and in `vnc_url`; the
 * VNC port it names is really open. Without it, they follow the request's `Host`. A value that is
 * not a scheme-and-host URL stops the start.
 */
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { basic, killAll, runCli, type Server, startServer } from './process.js';

const USER = { email: 'public@example.com', password: 'public-secret' };
const env = { SIGMALITE_USERS: `${USER.email}:${USER.password}` };

afterEach(killAll, 30_000);

interface Answer {
  status: number;
  location: string | null;
  // biome-ignore lint/suspicious/noExplicitAny: API bodies are read freely.
  json: any;
}

async function api(server: Server, method: string, path: string, body?: unknown): Promise<Answer> {
  const res = await fetch(`${server.origin}/api/2.0${path}`, {
    method,
    headers: {
      authorization: basic(USER.email, USER.password),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return {
    status: res.status,
    location: res.headers.get('location'),
    json: text ? JSON.parse(text) : undefined,
  };
}

/** A GET with a Host header of our choosing (fetch sets its own). */
// biome-ignore lint/suspicious/noExplicitAny: API bodies are read freely.
function getWithHost(server: Server, path: string, host: string): Promise<any> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${server.origin}/api/2.0${path}`,
      { headers: { host, authorization: basic(USER.email, USER.password) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
        });
        res.on('end', () => resolve(JSON.parse(body)));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function createServer(server: Server): Promise<Answer> {
  const created = await api(server, 'POST', '/servers/', {
    objects: [{ name: 'web', cpu: 1000, mem: 536870912, vnc_password: 'secret12' }],
  });
  expect(created.status).toBe(201);
  return created;
}

/** Starts the server and waits until it is running. */
async function running(server: Server, uuid: string): Promise<void> {
  expect((await api(server, 'POST', `/servers/${uuid}/action/?do=start`)).status).toBe(202);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { json } = await api(server, 'GET', `/servers/${uuid}/?fields=status`);
    if (json.status === 'running') return;
    if (Date.now() > deadline) throw new Error(`server ${uuid} still ${json.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The first 12 bytes a VNC listener sends: its RFB version. */
function rfbBanner(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      got += chunk;
      if (got.length >= 12) {
        socket.destroy();
        resolve(got.slice(0, 12));
      }
    });
    socket.on('error', reject);
  });
}

describe('--public-url', () => {
  it('names the public host in Location, /locations/ and vnc_url', async () => {
    // Given as a client's api_endpoint: the path is dropped, the default port too.
    const server = await startServer(
      [
        ...['--port', '0', '--memory', '--transitions', 'instant'],
        ...['--public-url', 'https://ZRH.cloudsigma.com:443/api/2.0/'],
      ],
      { env },
    );
    const created = await createServer(server);
    const uuid = created.json.objects[0].uuid as string;
    expect(created.location).toBe(`https://zrh.cloudsigma.com/api/2.0/servers/${uuid}/`);

    const locations = await api(server, 'GET', '/locations/');
    expect(locations.json.objects).toEqual([
      expect.objectContaining({
        api_endpoint: 'https://zrh.cloudsigma.com/api/2.0/',
        upload_url: 'https://zrh.cloudsigma.com/api/2.0/',
        default_frontend_url: 'https://zrh.cloudsigma.com/ui/',
        websocket_url: 'wss://zrh.cloudsigma.com/websocket',
      }),
    ]);

    await running(server, uuid);
    const vnc = await api(server, 'POST', `/servers/${uuid}/action/?do=open_vnc`);
    expect(vnc.status).toBe(202);
    const match = /^vnc:\/\/zrh\.cloudsigma\.com:(\d+)$/.exec(vnc.json.vnc_url);
    expect(match, vnc.json.vnc_url).not.toBeNull();
    expect(await rfbBanner(Number(match![1]))).toBe('RFB 003.008\n');

    const console = await api(server, 'POST', `/servers/${uuid}/action/?do=open_console`);
    expect(console.json.console_url).toMatch(/^csconsole:\/\/zrh\.cloudsigma\.com:\d+$/);
    expect(await server.stop()).toBe(0);
  }, 60_000);

  it('without it, follows the Host of the request', async () => {
    const server = await startServer(['--port', '0', '--memory', '--transitions', 'instant'], {
      env,
    });
    const port = new URL(server.origin).port;
    const created = await createServer(server);
    const uuid = created.json.objects[0].uuid as string;
    expect(created.location).toBe(`http://127.0.0.1:${port}/api/2.0/servers/${uuid}/`);
    const locations = await getWithHost(server, '/locations/', `sigmalite.test:${port}`);
    expect(locations.objects[0]).toMatchObject({
      api_endpoint: `http://sigmalite.test:${port}/api/2.0/`,
      websocket_url: `ws://sigmalite.test:${port}/websocket`,
    });
    await running(server, uuid);
    const vnc = await api(server, 'POST', `/servers/${uuid}/action/?do=open_vnc`);
    expect(vnc.json.vnc_url).toMatch(/^vnc:\/\/127\.0\.0\.1:\d+$/);
    expect(await server.stop()).toBe(0);
  }, 60_000);

  it('refuses a value that is not a scheme and a host', async () => {
    for (const [value, message] of [
      ['zrh.cloudsigma.com', 'expected an http:// or https:// URL'],
      ['ftp://zrh.cloudsigma.com', 'expected an http:// or https:// URL'],
      ['https://zrh.cloudsigma.com/sigmalite/', 'give the scheme, host and port only'],
    ] as const) {
      const run = await runCli(['serve', '--memory', '--port', '0', '--public-url', value]);
      expect(run.code, run.stderr).toBe(2);
      expect(run.stderr).toContain(`--public-url: ${message}`);
      expect(run.stdout).toBe('');
    }
  }, 30_000);
});
