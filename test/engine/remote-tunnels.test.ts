/**
 * VNC and console tunnels of a server on a host another process serves (issue 16): the process
 * asked has no hypervisor connection to that host, so it asks the host's process (a task of the
 * host), which opens the tunnel where the server runs; the URL names that process's public host.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { PLACEMENT_STATE } from '../../src/engine/placement.js';
import { action, TcpClient, tunnelAddress, waitStatus } from '../lifecycle/support.js';
import { createServer } from '../support/api.js';
import type { TestApp } from '../support/app.js';
import { type TwoProcesses, twoProcesses } from '../support/processes.js';
import { rfbAuthenticate } from '../support/rfb-client.js';

let processes: TwoProcesses | undefined;
let one: TestApp;
let two: TestApp;

beforeAll(async () => {
  // The first process's public host is `localhost`, the second's 127.0.0.1: the URL tells.
  processes = await twoProcesses(
    { settle: false, reconcileInterval: 0, transitions: 'fast' },
    { publicUrl: 'http://localhost:8080' },
  );
  ({ one, two } = processes);
});
afterAll(() => processes?.close());

/** A running server placed on the first process's host, started through the second. */
async function serverOnFirstHost(password: string): Promise<string> {
  for (let i = 0; i < 40; i++) {
    const uuid = (await createServer(two.alice, { name: `vm${i}`, vnc_password: password }))
      .uuid as string;
    expect((await two.alice.post(action(uuid, 'start'))).status).toBe(202);
    const host = await one.app.store.read((tx) => tx.getState(PLACEMENT_STATE, uuid));
    if (host === 'h1') {
      await waitStatus(two.alice, `/servers/${uuid}/`, 'running', 15_000);
      return uuid;
    }
  }
  throw new Error('no server placed on h1');
}

describe('tunnels asked of a process that does not serve the host', () => {
  it('open in the process serving it, at the URL it names', async () => {
    const uuid = await serverOnFirstHost('tunnel-pw');
    const vnc = await two.alice.post(action(uuid, 'open_vnc'), {});
    expect(vnc.status, vnc.text).toBe(202);
    const screen = tunnelAddress(vnc.json.vnc_url);
    expect(screen.host).toBe('localhost');
    const outcome = await rfbAuthenticate({ host: screen.host, port: screen.port }, 'tunnel-pw');
    expect(outcome.securityResult).toBe(0);
    expect(outcome.desktopName).toMatch(/^vm\d+$/);

    const consoleRes = await two.alice.post(action(uuid, 'open_console'), {});
    expect(consoleRes.status, consoleRes.text).toBe(202);
    const address = tunnelAddress(consoleRes.json.console_url);
    expect(address.host).toBe('localhost');
    const client = new TcpClient(address.host, address.port);
    await client.connected;
    client.socket.write('tunnel-pw\n');
    expect(await client.line()).toBe('OK\r\n');
    client.socket.destroy();

    // Asked of the process serving the host, the tunnel is its own, at the API's host.
    const own = await one.alice.post(action(uuid, 'open_vnc'), {});
    expect(tunnelAddress(own.json.vnc_url).host).toBe('localhost');
  });

  it('count against the caps of the process serving the host, whose refusal is the answer', async () => {
    const uuid = await serverOnFirstHost('tunnel-pw');
    const limits = one.app.engine.tunnelLedger.limits;
    const saved = limits.perAccount;
    limits.perAccount = 0;
    try {
      const res = await two.alice.post(action(uuid, 'open_console'), {});
      // The host's process refused it as the API would: no retries, no 500, no 10 s wait.
      expect(res.status, res.text).toBe(429);
      expect(res.json[0].error_type).toBe('permission');
      expect(res.json[0].error_message).toMatch(/limit: 0/);
    } finally {
      limits.perAccount = saved;
    }
    const res = await two.alice.post(action(uuid, 'open_console'), {});
    expect(res.status, res.text).toBe(202);
    const alice = (await two.alice.get('/profile/')).json.uuid as string;
    expect(one.app.engine.tunnelLedger.count(alice)).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('close on the process serving the host when another is asked to close them', async () => {
    const uuid = await serverOnFirstHost('tunnel-pw');
    const open = () => one.app.engine.ctx.compute.tunnels('h1').filter((t) => t.uuid === uuid);
    const alice = (await two.alice.get('/profile/')).json.uuid as string;
    const counted = () => one.app.engine.tunnelLedger.count(alice);
    const before = counted();
    expect((await two.alice.post(action(uuid, 'open_vnc'), {})).status).toBe(202);
    expect((await two.alice.post(action(uuid, 'open_console'), {})).status).toBe(202);
    expect(
      open()
        .map((t) => t.kind)
        .sort(),
    ).toEqual(['console', 'vnc']);

    expect((await two.alice.post(action(uuid, 'close_vnc'), {})).status).toBe(202);
    await expect.poll(() => open().map((t) => t.kind), { timeout: 10_000 }).toEqual(['console']);
    // A new password (a PUT through the other process) closes the rest there too.
    const server = (await two.alice.get(`/servers/${uuid}/`)).json;
    const put = await two.alice.put(`/servers/${uuid}/`, { ...server, vnc_password: 'new-pw' });
    expect(put.status, put.text).toBe(200);
    await expect.poll(() => open(), { timeout: 10_000 }).toEqual([]);
    // Its process counts them no more against the account's cap.
    expect(counted()).toBe(before);
  }, 30_000);

  it('answer 503 when no process serves the host', async () => {
    const uuid = await serverOnFirstHost('tunnel-pw');
    await one.app.engine.stop();
    try {
      const res = await two.alice.post(action(uuid, 'open_vnc'), {});
      expect(res.status).toBe(503);
      expect(res.json[0].error_message).toMatch(/host h1 .* within 10 seconds/);
      // The request it left is gone: nobody opens the tunnel later.
      const left = await two.app.store.read((tx) => tx.listState('tunnel-replies'));
      expect(left).toEqual([]);
    } finally {
      await one.app.engine.start();
    }
  }, 30_000);

  it('leave no reply behind when the host answers after the asker gave up', async () => {
    const uuid = await serverOnFirstHost('tunnel-pw');
    const compute = one.app.engine.ctx.compute;
    const open = compute.openVnc.bind(compute);
    let opened: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      opened = resolve;
    });
    // The host's process takes longer than the asker waits (10 s).
    const spy = vi.spyOn(compute, 'openVnc').mockImplementation(async (...args) => {
      await new Promise((resolve) => setTimeout(resolve, 11_000));
      try {
        return await open(...args);
      } finally {
        opened();
      }
    });
    try {
      const res = await two.alice.post(action(uuid, 'open_vnc'), {});
      expect(res.status).toBe(503);
      await done;
      await one.app.engine.settled();
      const left = await two.app.store.read((tx) => tx.listState('tunnel-replies'));
      expect(left).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  }, 30_000);
});
