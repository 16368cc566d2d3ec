/**
 * What an image is, from its content (an uploaded file's name and type say nothing reliable), and
 * whether a guest may be given it. Recognised: ISO 9660 and qcow2; anything else is a raw disk
 * image. A qcow2 that names another file (a backing file, or an external data file) is refused:
 * QEMU would open that file on the host for the guest.
 *
 * `sniffImage` is a pure function over the first bytes; `qemuImgInfo` is the second opinion of
 * `qemu-img info` on the stored image, and `checkImage` holds the two against each other.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/** Bytes `sniffImage` needs to decide (an ISO's signature is at byte 32769). */
export const SNIFF_BYTES = 32774;

export type ImageKind = 'iso' | 'qcow2' | 'raw';

export type SniffResult =
  | { kind: ImageKind; ok: true /** qcow2: the size the guest sees. */; virtualSize: number | null }
  | { kind: 'qcow2'; ok: false; reason: string };

const QCOW2_MAGIC = 0x514649fb; // "QFI\xfb"
/** qcow2 v3 incompatible feature bit 2: the data lives in an external file. */
const QCOW2_EXTERNAL_DATA = 1n << 2n;

/** Decides from the first bytes of an image (`SNIFF_BYTES` of them, or all of a shorter one). */
export function sniffImage(head: Buffer): SniffResult {
  if (head.length >= 4 && head.readUInt32BE(0) === QCOW2_MAGIC) {
    if (head.length < 72)
      return { kind: 'qcow2', ok: false, reason: 'the qcow2 header is cut short' };
    const version = head.readUInt32BE(4);
    if (version !== 2 && version !== 3) {
      return { kind: 'qcow2', ok: false, reason: `qcow2 version ${version} is not supported` };
    }
    if (head.readBigUInt64BE(8) !== 0n || head.readUInt32BE(16) !== 0) {
      return { kind: 'qcow2', ok: false, reason: 'the qcow2 image has a backing file' };
    }
    if (
      version === 3 &&
      head.length >= 80 &&
      (head.readBigUInt64BE(72) & QCOW2_EXTERNAL_DATA) !== 0n
    ) {
      return {
        kind: 'qcow2',
        ok: false,
        reason: 'the qcow2 image keeps its data in an external file',
      };
    }
    return { kind: 'qcow2', ok: true, virtualSize: Number(head.readBigUInt64BE(24)) };
  }
  // ISO 9660: a volume descriptor at sector 16 (byte 32768): a type byte, then "CD001".
  if (head.length >= SNIFF_BYTES && head.toString('latin1', 32769, 32774) === 'CD001') {
    return { kind: 'iso', ok: true, virtualSize: null };
  }
  return { kind: 'raw', ok: true, virtualSize: null };
}

export interface QemuImgInfo {
  format: string;
  virtualSize: number;
  backingFile: string | null;
  dataFile: string | null;
}

const run = promisify(execFile);

/**
 * `qemu-img info` of a stored image, letting qemu-img guess the format (`-U`: the image may be
 * open in a running guest).
 */
export async function qemuImgInfo(path: string, binary = 'qemu-img'): Promise<QemuImgInfo> {
  const { stdout } = await run(binary, ['info', '-U', '--output=json', path]);
  const info = JSON.parse(stdout) as {
    format: string;
    'virtual-size': number;
    'backing-filename'?: string;
    'format-specific'?: { data?: { 'data-file'?: string } };
  };
  return {
    format: info.format,
    virtualSize: info['virtual-size'],
    backingFile: info['backing-filename'] ?? null,
    dataFile: info['format-specific']?.data?.['data-file'] ?? null,
  };
}

/**
 * Holds a stored image's `qemu-img info` against what its first bytes said. A qcow2 must be one
 * to qemu-img too, naming no other file; anything else is stored and given to guests as raw
 * bytes, whatever qemu-img guesses it is (a VMDK, say), unless qemu-img reads it as qcow2.
 * Answers why the image is refused, or null.
 */
export function disagreement(sniffed: SniffResult, info: QemuImgInfo): string | null {
  if (!sniffed.ok) return sniffed.reason;
  if (sniffed.kind === 'qcow2') {
    if (info.format !== 'qcow2')
      return `the image looks like qcow2 but qemu-img reads it as ${info.format}`;
    if (info.backingFile !== null) return 'the qcow2 image has a backing file';
    if (info.dataFile !== null) return 'the qcow2 image keeps its data in an external file';
    return null;
  }
  return info.format === 'qcow2'
    ? `the image looks like ${sniffed.kind} but qemu-img reads it as qcow2`
    : null;
}
