import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { claimAddress, claimLibvirtHost } from './host-claim.js';

const holder = { pid: process.pid, dataDir: '/srv/one' };

describe('the claim on a libvirt host', () => {
  it('is refused to a second claimant, naming the holder, and free again once released', async () => {
    const host = randomUUID();
    const claim = await claimLibvirtHost(host, 'qemu:///system', holder);
    await expect(
      claimLibvirtHost(host, 'qemu:///system', { pid: 1, dataDir: '/srv/two' }),
    ).rejects.toThrow(
      `libvirt host ${host} (qemu:///system) is already driven by another sigmalite process (pid ${process.pid}, --data /srv/one)`,
    );
    // Another host is another claim.
    const other = await claimLibvirtHost(randomUUID(), 'qemu:///system', holder);
    await other.release();
    await claim.release();
    const again = await claimLibvirtHost(host, 'qemu:///system', holder);
    await again.release();
  });

  it('dies with a killed holder: no stale lock is left', async () => {
    const host = randomUUID();
    // A process holding the claim's address, killed without a chance to clean up.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `require('node:net').createServer().listen(${JSON.stringify(claimAddress(host))}, () => console.log('held'))`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await expect(claimLibvirtHost(host, 'qemu:///system', holder)).rejects.toThrow(
      /already driven by another sigmalite process: two processes/,
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    process.kill(child.pid!, 'SIGKILL');
    await exited;
    const claim = await claimLibvirtHost(host, 'qemu:///system', holder);
    await claim.release();
  });
});
