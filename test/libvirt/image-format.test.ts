/**
 * What an image is from its first bytes, and qemu-img's second opinion on real images (made here
 * with qemu-img and xorriso; those tests skip where the tools are missing, except when libvirt is
 * required).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  disagreement,
  type QemuImgInfo,
  qemuImgInfo,
  SNIFF_BYTES,
  sniffImage,
} from '../../src/drivers/storage/libvirt/image-format.js';

/** A qcow2 header: magic, version, backing file offset and size, cluster bits, size, ... */
function qcow2Header(
  options: { version?: number; backing?: boolean; size?: bigint; features?: bigint } = {},
) {
  const head = Buffer.alloc(104);
  head.writeUInt32BE(0x514649fb, 0);
  head.writeUInt32BE(options.version ?? 3, 4);
  if (options.backing) {
    head.writeBigUInt64BE(0x200n, 8);
    head.writeUInt32BE(12, 16);
  }
  head.writeUInt32BE(16, 20);
  head.writeBigUInt64BE(options.size ?? 1n << 30n, 24);
  head.writeBigUInt64BE(options.features ?? 0n, 72);
  return head;
}

describe('sniffing an image from its first bytes', () => {
  it('recognises qcow2 and its size', () => {
    expect(sniffImage(qcow2Header())).toEqual({ kind: 'qcow2', ok: true, virtualSize: 1 << 30 });
    expect(sniffImage(qcow2Header({ version: 2 }))).toMatchObject({ kind: 'qcow2', ok: true });
  });

  it('refuses a qcow2 that names another file, or that it cannot read', () => {
    expect(sniffImage(qcow2Header({ backing: true }))).toEqual({
      kind: 'qcow2',
      ok: false,
      reason: 'the qcow2 image has a backing file',
    });
    expect(sniffImage(qcow2Header({ features: 4n }))).toMatchObject({
      ok: false,
      reason: /external file/,
    });
    expect(sniffImage(qcow2Header({ version: 4 }))).toMatchObject({
      ok: false,
      reason: /version 4/,
    });
    expect(sniffImage(qcow2Header().subarray(0, 40))).toMatchObject({
      ok: false,
      reason: /cut short/,
    });
  });

  it('recognises ISO 9660 by its volume descriptor', () => {
    const iso = Buffer.alloc(SNIFF_BYTES);
    iso.write('\x01CD001', 32768, 'latin1');
    expect(sniffImage(iso)).toEqual({ kind: 'iso', ok: true, virtualSize: null });
    expect(sniffImage(iso.subarray(0, SNIFF_BYTES - 1))).toMatchObject({ kind: 'raw' });
  });

  it('takes anything else as a raw image', () => {
    expect(sniffImage(Buffer.from('KDMV a vmdk header'))).toEqual({
      kind: 'raw',
      ok: true,
      virtualSize: null,
    });
    expect(sniffImage(Buffer.alloc(0))).toMatchObject({ kind: 'raw', ok: true });
  });

  it('holds qemu-img against the first bytes', () => {
    const info = (format: string, extra: Partial<QemuImgInfo> = {}): QemuImgInfo => ({
      format,
      virtualSize: 1,
      backingFile: null,
      dataFile: null,
      ...extra,
    });
    const qcow2 = sniffImage(qcow2Header());
    expect(disagreement(qcow2, info('qcow2'))).toBeNull();
    expect(disagreement(qcow2, info('raw'))).toMatch(/qemu-img reads it as raw/);
    expect(disagreement(qcow2, info('qcow2', { backingFile: '/etc/shadow' }))).toMatch(
      /backing file/,
    );
    expect(disagreement(qcow2, info('qcow2', { dataFile: '/dev/sda' }))).toMatch(/external file/);
    expect(disagreement(sniffImage(qcow2Header({ backing: true })), info('qcow2'))).toMatch(
      /backing/,
    );
    const raw = sniffImage(Buffer.from('plain'));
    expect(disagreement(raw, info('raw'))).toBeNull();
    expect(disagreement(raw, info('vmdk'))).toBeNull(); // stored and given as raw bytes anyway
    expect(disagreement(raw, info('qcow2'))).toMatch(
      /looks like raw but qemu-img reads it as qcow2/,
    );
  });
});

const tools = ['qemu-img', 'xorriso'].every((tool) => spawnSync(tool, ['--version']).status === 0);
const required = process.env.SIGMALITE_REQUIRE_LIBVIRT === '1';

(tools || required ? describe : describe.skip)('real images through qemu-img', () => {
  let dir: string;
  const head = (path: string) => readFileSync(path).subarray(0, SNIFF_BYTES);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sigmalite-images-'));
    const qemuImg = (...args: string[]) =>
      execFileSync('qemu-img', args, { cwd: dir, stdio: 'pipe' });
    qemuImg('create', '-f', 'qcow2', 'base.qcow2', '16M');
    qemuImg('create', '-f', 'qcow2', '-b', 'base.qcow2', '-F', 'qcow2', 'overlay.qcow2');
    qemuImg('create', '-f', 'qcow2', '-o', 'data_file=data.raw', 'external.qcow2', '16M');
    writeFileSync(
      join(dir, 'random.img'),
      Buffer.from(Array.from({ length: 65536 }, (_, i) => (i * 7919) % 251)),
    );
    writeFileSync(join(dir, 'file.txt'), 'hello');
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-o', 'disc.iso', 'file.txt'], {
      cwd: dir,
      stdio: 'pipe',
    });
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('agrees on a qcow2, a raw image and an ISO', async () => {
    for (const [file, kind] of [
      ['base.qcow2', 'qcow2'],
      ['random.img', 'raw'],
      ['disc.iso', 'iso'],
    ] as const) {
      const sniffed = sniffImage(head(join(dir, file)));
      expect(sniffed).toMatchObject({ kind, ok: true });
      expect(disagreement(sniffed, await qemuImgInfo(join(dir, file)))).toBeNull();
    }
    expect(sniffImage(head(join(dir, 'base.qcow2')))).toMatchObject({
      virtualSize: 16 * 1024 * 1024,
    });
  });

  it('refuses a qcow2 with a backing file or an external data file, both ways', async () => {
    const overlay = join(dir, 'overlay.qcow2');
    expect(sniffImage(head(overlay))).toMatchObject({ ok: false, reason: /backing file/ });
    expect(await qemuImgInfo(overlay)).toMatchObject({
      format: 'qcow2',
      backingFile: 'base.qcow2',
    });
    const external = join(dir, 'external.qcow2');
    expect(sniffImage(head(external))).toMatchObject({ ok: false, reason: /external file/ });
    expect(await qemuImgInfo(external)).toMatchObject({ dataFile: 'data.raw' });
  });
});
