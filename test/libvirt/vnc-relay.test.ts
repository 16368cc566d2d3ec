/**
 * `open_vnc` of a libvirt machine (no libvirtd needed): the tunnel joins QEMU's VNC server where
 * the running domain's definition says it is: at its host's address and port (a host with
 * `vncListen`, on another machine), or on its unix socket (a host on this machine). The password
 * is set on that very screen. A fake QEMU greets like RFB does.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { DomainGraphics } from '../../src/drivers/compute/libvirt/domain-read.js';
import {
  LibvirtCompute,
  type LibvirtComputeOptions,
} from '../../src/drivers/compute/libvirt/driver.js';
import { DriverError } from '../../src/drivers/errors.js';

const UUID = '6a5b1c3e-2d4f-4a6b-8c9d-0e1f2a3b4c5d';
const GREETING = 'RFB 003.008\n';

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** A fake QEMU VNC server listening at `where` (a TCP port on 127.0.0.1, or a unix socket). */
async function fakeQemu(where: { port: 0 } | { path: string }): Promise<Server> {
  const server = createServer((socket) => socket.end(GREETING));
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', ...where }, resolve));
  cleanup.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return server;
}

function driver(graphics: DomainGraphics[]) {
  const host = {
    describe: vi.fn(async () => ({ name: UUID, uuid: UUID, type: 'qemu', graphics })),
    setVncPassword: vi.fn(async () => {}),
  };
  const options = {
    hostName: 'h1',
    host,
    tunnelHost: '127.0.0.1',
    // The address a machine started now would get: a running one keeps the one it has.
    vncListen: '192.0.2.99',
    onError: () => {},
  } as unknown as LibvirtComputeOptions;
  const compute = new LibvirtCompute(options);
  cleanup.push(() => compute.closeVnc('h1', UUID));
  return { compute, host };
}

/** What the tunnel at `port` answers first. */
function greeting(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString();
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}

describe('the VNC tunnel of a libvirt machine', () => {
  it("joins QEMU's TCP port at the host's address, read from the running domain", async () => {
    const qemu = await fakeQemu({ port: 0 });
    const port = (qemu.address() as { port: number }).port;
    const { compute, host } = driver([{ type: 'vnc', port, socket: null, address: '127.0.0.1' }]);
    const tunnel = await compute.openVnc('h1', UUID, 'secret12');
    expect(tunnel.port).not.toBe(port);
    expect(await greeting(tunnel.port)).toBe(GREETING);
    // The password goes to the screen where it is: the listen element kept.
    expect(host.setVncPassword).toHaveBeenCalledWith(UUID, { address: '127.0.0.1' }, 'secret12');
  });

  it('joins the unix socket of a machine whose screen is on one', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sigmalite-vnc-relay-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, `${UUID}.vnc`);
    await fakeQemu({ path });
    const { compute, host } = driver([{ type: 'vnc', port: null, socket: path, address: null }]);
    const tunnel = await compute.openVnc('h1', UUID, 'secret12');
    expect(await greeting(tunnel.port)).toBe(GREETING);
    expect(host.setVncPassword).toHaveBeenCalledWith(UUID, { socket: path }, 'secret12');
  });

  it('refuses a screen without a port (the domain does not run) or none at all', async () => {
    const stopped = driver([{ type: 'vnc', port: -1, socket: null, address: '10.0.0.2' }]);
    await expect(stopped.compute.openVnc('h1', UUID, 'pw')).rejects.toThrow(
      /is not running: its VNC server has no port/,
    );
    const none = driver([]);
    await expect(none.compute.openVnc('h1', UUID, 'pw')).rejects.toBeInstanceOf(DriverError);
    expect(none.host.setVncPassword).not.toHaveBeenCalled();
  });
});
