/**
 * Volumes in a directory pool on the real libvirtd: the pool made and reused, volumes created,
 * grown, copied (compat 1.1), linked to a base, removed, and images streamed in and out.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { VirshShell } from '../../src/drivers/compute/libvirt/virsh-shell.js';
import { ensurePool, removePool } from '../../src/drivers/storage/libvirt/pool.js';
import { LibvirtVolumes } from '../../src/drivers/storage/libvirt/volumes.js';
import {
  describeLibvirt,
  holdLibvirtd,
  LIBVIRT_URI,
  reachableTempDir,
  requireLibvirt,
  uniqueName,
  virsh,
} from '../support/libvirt.js';

const MiB = 1024 * 1024;

/** A writable that keeps what it is given. */
function collector(): { sink: Writable; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    sink: new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk);
        done();
      },
    }),
    bytes: () => Buffer.concat(chunks),
  };
}

function qemuImg(...args: string[]): Record<string, unknown> {
  return JSON.parse(execFileSync('qemu-img', [...args, '--output=json'], { encoding: 'utf8' }));
}

describeLibvirt('volumes in a libvirt directory pool', () => {
  const pool = uniqueName('sl-test-pool-');
  let dir: string;
  let shell: VirshShell;
  let volumes: LibvirtVolumes;

  let release: (() => void) | undefined;

  beforeAll(async () => {
    requireLibvirt();
    // libvirtd is not restarted (api.test.ts) while this file uses it.
    release = await holdLibvirtd();
    dir = reachableTempDir('sigmalite-storage-test-');
    shell = new VirshShell({ uri: LIBVIRT_URI });
    volumes = new LibvirtVolumes({ virsh: shell, uri: LIBVIRT_URI, pool });
  });

  afterAll(async () => {
    if (shell) {
      for (const line of virsh('vol-list', pool).split('\n')) {
        const name = line.trim().split(/\s+/)[0];
        if (name) await volumes.remove(name);
      }
      await removePool(shell, pool);
      await shell.close();
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
    release?.();
  });

  it('makes the pool once, 0711, and reuses it; a pool of that name elsewhere is an error', async () => {
    const path = join(dir, 'pool');
    await ensurePool(shell, { name: pool, path });
    expect(statSync(path).mode & 0o777).toBe(0o711);
    await ensurePool(shell, { name: pool, path });
    expect(virsh('pool-info', pool)).toMatch(/State:\s+running/);
    expect(virsh('pool-info', pool)).toMatch(/Autostart:\s+yes/);
    await expect(ensurePool(shell, { name: pool, path: join(dir, 'other') })).rejects.toThrow(
      /exists on .*pool, not .*other/,
    );
  });

  it('creates thin qcow2 volumes at compat 1.1, idempotently', async () => {
    const volume = await volumes.create('d1', 64 * MiB);
    expect(volume).toMatchObject({
      pool,
      name: 'd1',
      format: 'qcow2',
      capacity: 64 * MiB,
      backing: null,
    });
    expect(volume.path).toBe(join(dir, 'pool', 'd1'));
    expect(volume.allocation).toBeLessThan(MiB);
    expect(qemuImg('info', volume.path)).toMatchObject({
      format: 'qcow2',
      'virtual-size': 64 * MiB,
      'format-specific': { data: { compat: '1.1' } },
    });
    expect(await volumes.create('d1', 64 * MiB)).toEqual(volume);
    expect(await volumes.info('nothing-here')).toBeNull();
  });

  it('grows a volume, never shrinks it', async () => {
    expect((await volumes.resize('d1', 96 * MiB)).capacity).toBe(96 * MiB);
    expect((await volumes.resize('d1', 96 * MiB)).capacity).toBe(96 * MiB);
    await expect(volumes.resize('d1', 32 * MiB)).rejects.toThrow(/cannot shrink/);
    await expect(volumes.resize('absent', 32 * MiB)).rejects.toThrow(/no volume absent/);
  });

  it('uploads and downloads the same bytes, streamed, also at an offset', async () => {
    const data = randomBytes(3 * MiB + 123);
    await volumes.create('raw1', 4 * MiB, 'raw');
    await volumes.upload('raw1', Readable.from([data.subarray(0, MiB), data.subarray(MiB)]));
    const whole = collector();
    await volumes.download('raw1', whole.sink);
    expect(whole.bytes().length).toBe(4 * MiB);
    expect(whole.bytes().subarray(0, data.length).equals(data)).toBe(true);

    const patch = randomBytes(4096);
    await volumes.upload('raw1', Readable.from([patch]), { offset: MiB, length: patch.length });
    const part = collector();
    await volumes.download('raw1', part.sink, { offset: MiB, length: 8192 });
    expect(part.bytes().equals(Buffer.concat([patch, data.subarray(MiB + 4096, MiB + 8192)]))).toBe(
      true,
    );
  });

  it('fails an upload whose source fails, and one to a volume that does not exist', async () => {
    const source = new PassThrough();
    const upload = volumes.upload('raw1', source);
    source.write(randomBytes(4096));
    source.destroy(new Error('client went away'));
    await expect(upload).rejects.toThrow(/client went away/);
    await expect(volumes.upload('absent', Readable.from([Buffer.from('x')]))).rejects.toThrow(
      /absent/,
    );
    await expect(volumes.download('absent', collector().sink)).rejects.toThrow(/absent/);
  });

  it('copies a volume in its own format, grown on request, at compat 1.1', async () => {
    const copy = await volumes.clone('raw1', 'raw1-copy', 8 * MiB);
    expect(copy).toMatchObject({ format: 'raw', capacity: 8 * MiB });
    const original = collector();
    const copied = collector();
    await volumes.download('raw1', original.sink);
    await volumes.download('raw1-copy', copied.sink);
    expect(
      copied
        .bytes()
        .subarray(0, 4 * MiB)
        .equals(original.bytes()),
    ).toBe(true);

    // A qcow2 as libvirt's own vol-create-as writes it (compat 0.10), with data: the copy is 1.1.
    virsh('vol-create-as', pool, 'old', '16M', '--format', 'qcow2');
    const source = await volumes.info('old');
    expect(qemuImg('info', source!.path)).toMatchObject({
      'format-specific': { data: { compat: '0.10' } },
    });
    execFileSync('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 1M', source!.path], {
      stdio: 'pipe',
    });
    const clone = await volumes.clone('old', 'old-copy');
    expect(clone).toMatchObject({ format: 'qcow2', capacity: 16 * MiB, backing: null });
    expect(qemuImg('info', clone.path)).toMatchObject({
      'format-specific': { data: { compat: '1.1' } },
    });
    execFileSync('qemu-img', ['compare', source!.path, clone.path], { stdio: 'pipe' });
  });

  it('links a clone to a read-only base', async () => {
    const linked = await volumes.linkedClone('raw1', 'linked', 16 * MiB);
    expect(linked).toMatchObject({
      format: 'qcow2',
      capacity: 16 * MiB,
      backing: join(dir, 'pool', 'raw1'),
    });
    expect(qemuImg('info', linked.path)).toMatchObject({
      'backing-filename': join(dir, 'pool', 'raw1'),
      'backing-filename-format': 'raw',
    });
    const read = collector();
    await volumes.download('linked', read.sink);
    expect(read.bytes().length).toBeLessThan(MiB); // the qcow2 file: the data stays in the base
  });

  it('removes volumes, and removing one that is gone is no error', async () => {
    await volumes.remove('linked');
    await volumes.remove('linked');
    expect(await volumes.info('linked')).toBeNull();
  });
});
