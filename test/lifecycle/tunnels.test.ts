/**
 * VNC and console tunnels a client can really open (api-reference.md §2.3; servers-api.txt
 * "Open VNC Tunnel"; docs/console.md): `open_vnc` answers `vnc://HOST:PORT` where an RFB 3.8
 * server asks for VNC authentication with the server's `vnc_password`; `close_vnc` closes it; the
 * URL is new on every open. `open_console` answers `csconsole://HOST:PORT`, guarded by the same
 * password sent as the first line.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createServer, expectError } from '../support/api.js';
import { type Client, startTestApp, type TestApp } from '../support/app.js';
import { action, refused, TcpClient, tunnelAddress } from './support.js';

let t: TestApp;
let alice: Client;
const clients: TcpClient[] = [];

beforeAll(async () => {
  // Instant transitions, and the client waits for the engine: start means running.
  t = await startTestApp();
  alice = t.alice;
});
afterAll(() => t.close());
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});

function open(host: string, port: number): TcpClient {
  const client = new TcpClient(host, port);
  clients.push(client);
  return client;
}

async function runningServer(name: string, vncPassword: string): Promise<string> {
  const { uuid } = await createServer(alice, { name, vnc_password: vncPassword });
  expect((await alice.post(action(uuid, 'start'), {})).status).toBe(202);
  return uuid;
}

async function openVnc(uuid: string) {
  const res = await alice.post(action(uuid, 'open_vnc'), {});
  expect(res.status, res.text).toBe(202);
  expect(res.json).toMatchObject({ action: 'open_vnc', result: 'success', uuid });
  const address = tunnelAddress(res.json.vnc_url);
  expect(address.scheme).toBe('vnc');
  expect(address.host).toBe('127.0.0.1');
  return address;
}

describe('VNC', () => {
  it('authenticates with the vnc_password (RFB 3.8) and shows the server name', async () => {
    const uuid = await runningServer('desktop-01', 'secret12');
    const { host, port } = await openVnc(uuid);
    const client = open(host, port);
    expect(await client.vncAuthenticate('secret12')).toEqual({ result: 0 });
    const init = await client.vncInit();
    expect(init.name).toBe('desktop-01');
    expect(init.width).toBeGreaterThan(0);
    expect(init.height).toBeGreaterThan(0);
  });

  it('fails authentication with a wrong password', async () => {
    const uuid = await runningServer('locked', 'secret12');
    const { host, port } = await openVnc(uuid);
    const client = open(host, port);
    const answer = await client.vncAuthenticate('wrong-pw');
    expect(answer.result).toBe(1);
    expect(answer.reason).toBeTruthy();
    await client.closedByPeer();
  });

  it('uses only the first 8 characters of the password, as VNC does', async () => {
    const uuid = await runningServer('long', 'testserver');
    const { host, port } = await openVnc(uuid);
    expect((await open(host, port).vncAuthenticate('testserv')).result).toBe(0);
    expect((await open(host, port).vncAuthenticate('testserver-and-more')).result).toBe(0);
  });

  it('closes the tunnels of a running server whose vnc_password a PUT changes; a new open takes the new one', async () => {
    const uuid = await runningServer('steady', 'first-pw');
    const before = await openVnc(uuid);
    const put = await alice.put(`/servers/${uuid}/`, { vnc_password: 'second-pw' });
    expect(put.json.vnc_password).toBe('second-pw');
    expect(await refused(before.host, before.port)).toBe(true);
    const { host, port } = await openVnc(uuid);
    expect((await open(host, port).vncAuthenticate('second-pw')).result).toBe(0);
  });

  it('closes the listener on close_vnc (connection refused) and drops open connections', async () => {
    const uuid = await runningServer('closing', 'secret12');
    const { host, port } = await openVnc(uuid);
    const live = open(host, port);
    expect(await live.vncAuthenticate('secret12')).toEqual({ result: 0 });
    const res = await alice.post(action(uuid, 'close_vnc'), {});
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ action: 'close_vnc', result: 'success', uuid });
    expect(await refused(host, port)).toBe(true);
    await live.closedByPeer();
    // Closing again is no error.
    expect((await alice.post(action(uuid, 'close_vnc'))).status).toBe(202);
  });

  it('gives a new URL on every open; the previous one stops answering', async () => {
    const uuid = await runningServer('reopen', 'secret12');
    const ports = new Set<number>();
    let previous: { host: string; port: number } | undefined;
    for (let i = 0; i < 5; i++) {
      const address = await openVnc(uuid);
      ports.add(address.port);
      if (previous) expect(await refused(previous.host, previous.port)).toBe(true);
      expect((await open(address.host, address.port).vncAuthenticate('secret12')).result).toBe(0);
      previous = address;
    }
    expect(ports.size).toBe(5);
  });

  it('leaves exactly one tunnel listening after concurrent opens; close_vnc closes it', async () => {
    const uuid = await runningServer('racing', 'secret12');
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => alice.post(action(uuid, 'open_vnc'), {})),
    );
    const addresses = answers.map((res) => tunnelAddress(res.json.vnc_url));
    const listening = [];
    for (const { host, port } of addresses) if (!(await refused(host, port))) listening.push(port);
    expect(listening).toHaveLength(1);
    await alice.post(action(uuid, 'close_vnc'));
    for (const { host, port } of addresses) expect(await refused(host, port)).toBe(true);
    // The same race inside the driver, where HTTP timing cannot serialise it by chance.
    const ports = await Promise.all(
      Array.from({ length: 6 }, () => t.app.compute.openVnc(uuid, 'secret12', 'racing')),
    );
    await t.app.compute.closeVnc(uuid);
    for (const { port } of ports) expect(await refused('127.0.0.1', port)).toBe(true);
  });

  it('leaves exactly one console listening after concurrent opens', async () => {
    const uuid = await runningServer('racing-console', 'secret12');
    const ports = await Promise.all(
      Array.from({ length: 6 }, () => t.app.compute.openConsole(uuid, 'secret12', 'x')),
    );
    expect(new Set(ports.map((p) => p.port)).size).toBe(6);
    const listening = [];
    for (const { port } of ports) if (!(await refused('127.0.0.1', port))) listening.push(port);
    expect(listening).toHaveLength(1);
    await alice.post(action(uuid, 'close_console'));
    for (const { port } of ports) expect(await refused('127.0.0.1', port)).toBe(true);
  });

  it('closes the tunnel when the server stops, and refuses open_vnc then', async () => {
    const uuid = await runningServer('stopping', 'secret12');
    const { host, port } = await openVnc(uuid);
    expect((await alice.post(action(uuid, 'stop'))).status).toBe(202);
    expect(await refused(host, port)).toBe(true);
    const res = await alice.post(action(uuid, 'open_vnc'), {});
    expect(expectError(res, 403, 'permission', null).error_message).toBe(
      `Cannot open_vnc guest in state "stopped". Guest should be in state "['started', 'running_legacy']"`,
    );
  });

  it('closes the tunnel on restart', async () => {
    const uuid = await runningServer('rebooting', 'secret12');
    const { host, port } = await openVnc(uuid);
    expect((await alice.post(action(uuid, 'restart'))).status).toBe(202);
    expect((await alice.get(`/servers/${uuid}/`)).json.status).toBe('running');
    expect(await refused(host, port)).toBe(true);
  });
});

describe('console', () => {
  async function openConsole(uuid: string) {
    const res = await alice.post(action(uuid, 'open_console'), {});
    expect(res.status, res.text).toBe(202);
    expect(res.json).toMatchObject({ action: 'open_console', result: 'success', uuid });
    const address = tunnelAddress(res.json.console_url);
    expect(address.scheme).toBe('csconsole');
    return address;
  }

  it('takes the vnc_password as its first line, then echoes', async () => {
    const uuid = await runningServer('web-01', 'console-pw');
    const { host, port } = await openConsole(uuid);
    const client = open(host, port);
    client.write('console-pw\n');
    expect(await client.line()).toBe('OK\r\n');
    expect(await client.line()).toBe('sigmalite console for web-01\r\n');
    client.write('hello\n');
    expect(await client.line()).toBe('> hello\r\n');
    client.write('second line\r\n');
    expect(await client.line()).toBe('> second line\r\n');
  });

  it('refuses a wrong password and closes the connection', async () => {
    const uuid = await runningServer('guarded', 'console-pw');
    const { host, port } = await openConsole(uuid);
    const client = open(host, port);
    client.write('console-p\n');
    expect(await client.line()).toBe('ERROR authentication failed\r\n');
    await client.closedByPeer();
  });

  it('closes the listener on close_console; a new URL on every open', async () => {
    const uuid = await runningServer('consoles', 'console-pw');
    const first = await openConsole(uuid);
    const second = await openConsole(uuid);
    expect(second.port).not.toBe(first.port);
    expect(await refused(first.host, first.port)).toBe(true);
    const res = await alice.post(action(uuid, 'close_console'));
    expect(res.status).toBe(202);
    expect(res.json).toEqual({ action: 'close_console', result: 'success', uuid });
    expect(await refused(second.host, second.port)).toBe(true);
  });

  it('keeps the VNC tunnel when the console closes, and the reverse', async () => {
    const uuid = await runningServer('both', 'secret12');
    const vnc = await openVnc(uuid);
    const console = await openConsole(uuid);
    await alice.post(action(uuid, 'close_console'));
    expect((await open(vnc.host, vnc.port).vncAuthenticate('secret12')).result).toBe(0);
    const again = await openConsole(uuid);
    expect(await refused(console.host, console.port)).toBe(true);
    await alice.post(action(uuid, 'close_vnc'));
    const client = open(again.host, again.port);
    client.write('secret12\n');
    expect(await client.line()).toBe('OK\r\n');
  });
});
