/**
 * Copies (or moves) a volume from one libvirt host's pool to another's through libvirt's own
 * streams: `virsh -c A vol-download` piped into `virsh -c B vol-upload`, through this process,
 * never through a file of its own. What travels is the volume's file as it is (a qcow2's file,
 * not its guest-visible bytes), so the copy has the same format, capacity and content.
 *
 * The target is made as an empty raw volume of 0 bytes that the upload grows: libvirt then reads
 * the format from what arrived (as for any upload), and the target's file size tells how far a
 * copy got. A target of the source's file size and format is complete (a copy repeated after a
 * crash does nothing more); any other target is partial, removed, and the copy done again. On
 * failure the target is removed: no half copy stays behind.
 *
 * Without `--sparse`: libvirt 9 refuses it on a pipe at the first hole ("Illegal seek"), so holes
 * travel as zeros and are written as zeros. A qcow2 (every drive sigmalite makes) keeps its
 * sparseness inside its file, so little is lost; a raw image (an uploaded ISO or raw disk) arrives
 * fully allocated.
 *
 * The source must not change meanwhile: no guest may use it (a running guest's drive is copied by
 * the domain, not here).
 */
import { basename } from 'node:path';
import { Transform } from 'node:stream';
import { VirshError, VirshTimeoutError } from '../../compute/libvirt/virsh-command.js';
import { DriverError } from '../../errors.js';
import type { LibvirtVolumes, VolumeHandle } from './volumes.js';

/** One end of a copy: a host's name (for messages) and its pool's volumes. */
export interface CopyEnd {
  host: string;
  volumes: LibvirtVolumes;
}

/** How long a copy may take: `baseMs` plus the time for its bytes at `bytesPerSecond`. */
export interface CopyTimeout {
  baseMs: number;
  bytesPerSecond: number;
}

/** A minute, plus 10 MiB/s: a slow link still finishes, a hung one is given up. */
export const DEFAULT_COPY_TIMEOUT: CopyTimeout = { baseMs: 60_000, bytesPerSecond: 10 * 2 ** 20 };

export interface CopyOptions {
  /** Removes the source once the copy is verified (a move); a source already gone is then no error. */
  move?: boolean;
  timeout?: CopyTimeout;
  signal?: AbortSignal;
}

/** The time a copy of `bytes` may take. */
export function copyTimeoutMs(bytes: number, timeout: CopyTimeout = DEFAULT_COPY_TIMEOUT): number {
  return Math.ceil(timeout.baseMs + (bytes / timeout.bytesPerSecond) * 1000);
}

/**
 * Copies volume `name` from `source`'s pool into `target`'s, under the same name; answers the
 * target. Throws DriverError: permanent when libvirt refused (no such volume, no such pool, a
 * base image the target host lacks), not permanent when the copy timed out or a connection failed.
 */
export async function copyVolume(
  source: CopyEnd,
  target: CopyEnd,
  name: string,
  options: CopyOptions = {},
): Promise<VolumeHandle> {
  const what = `cannot ${options.move ? 'move' : 'copy'} volume ${name} from host ${source.host} to host ${target.host}`;
  try {
    return await copyOrResume(source, target, name, options);
  } catch (error) {
    if (error instanceof DriverError) throw error;
    if (error instanceof VirshTimeoutError)
      throw new DriverError(`${what}: ${error.message}`, false);
    if (error instanceof VirshError) {
      throw new DriverError(`${what}: ${error.message}`, !isConnectionLoss(error));
    }
    throw error;
  }
}

async function copyOrResume(
  source: CopyEnd,
  target: CopyEnd,
  name: string,
  options: CopyOptions,
): Promise<VolumeHandle> {
  const origin = await source.volumes.info(name);
  if (origin === null) {
    const moved = options.move ? await target.volumes.info(name) : null;
    // A move that removed its source has finished: the target was verified before.
    if (moved) return moved;
    throw new VirshError(
      `host ${source.host} has no volume ${name} in pool ${source.volumes.pool}`,
    );
  }
  if (origin.backing !== null) await requireBase(origin.backing, target);
  const size = await source.volumes.physicalSize(name);
  if (size === null) throw new VirshError(`volume ${name} vanished from host ${source.host}`);

  const existing = await target.volumes.info(name);
  let copied: VolumeHandle;
  if (existing && (await isComplete(target, name, origin, size))) {
    copied = existing;
  } else {
    // A partial copy (an earlier attempt that stopped) or an empty target: done again.
    if (existing) await target.volumes.remove(name);
    copied = await stream(source, target, name, origin, size, options);
  }
  if (options.move) await source.volumes.remove(name);
  return copied;
}

/** Whether the target holds the source's file: its size and the format libvirt reads from it. */
async function isComplete(
  target: CopyEnd,
  name: string,
  origin: VolumeHandle,
  size: number,
): Promise<boolean> {
  const [info, physical] = await Promise.all([
    target.volumes.info(name),
    target.volumes.physicalSize(name),
  ]);
  return physical === size && info?.format === origin.format;
}

async function stream(
  source: CopyEnd,
  target: CopyEnd,
  name: string,
  origin: VolumeHandle,
  size: number,
  options: CopyOptions,
): Promise<VolumeHandle> {
  const limitMs = copyTimeoutMs(size, options.timeout);
  const abort = new AbortController();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    abort.abort();
  }, limitMs);
  const outside = options.signal;
  const onOutsideAbort = () => abort.abort();
  outside?.addEventListener('abort', onOutsideAbort, { once: true });
  if (outside?.aborted) abort.abort();

  let bytes = 0;
  // What the download writes and the upload reads, counted on the way.
  const pipe = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      done(null, chunk);
    },
  });
  // The first failure is the cause; the other side fails because it was stopped.
  let cause: unknown;
  const side = (work: Promise<void>) =>
    work.catch((error: unknown) => {
      cause ??= error;
      abort.abort();
    });
  const range = { signal: abort.signal };
  try {
    await target.volumes.create(name, 0, 'raw');
    await Promise.all([
      side(source.volumes.download(name, pipe, range)),
      side(target.volumes.upload(name, pipe, range)),
    ]);
    if (timedOut) {
      throw new VirshTimeoutError(`vol-download ${name} | vol-upload ${name}`, limitMs);
    }
    if (outside?.aborted) throw new VirshError(`the copy of volume ${name} was stopped`);
    if (cause !== undefined) throw cause;
    if (bytes !== size || !(await isComplete(target, name, origin, size))) {
      const arrived = await target.volumes.physicalSize(name);
      throw new VirshError(
        `the copy of volume ${name} is incomplete: ${bytes} bytes streamed, ${arrived ?? 'none'} stored, of ${size}`,
      );
    }
    const copied = await target.volumes.info(name);
    if (!copied) throw new VirshError(`volume ${name} vanished from host ${target.host}`);
    return copied;
  } catch (error) {
    await removeQuietly(target, name, error);
    throw error;
  } finally {
    clearTimeout(timer);
    outside?.removeEventListener('abort', onOutsideAbort);
  }
}

/**
 * A linked clone reads its base by path: the target host must have that base (a library drive's
 * image, imported on every host) at the same path, which holds where every host's pool has the
 * same directory.
 */
async function requireBase(backing: string, target: CopyEnd): Promise<void> {
  const base = await target.volumes.info(basename(backing));
  if (base?.path !== backing) {
    throw new DriverError(
      `cannot copy a volume that reads base image ${backing} to host ${target.host}: that host has no such image (its pool must have the same directory and the library image)`,
      true,
    );
  }
}

/** Removes what a failed copy left; a removal that fails too is told with the first failure. */
async function removeQuietly(target: CopyEnd, name: string, cause: unknown): Promise<void> {
  try {
    await target.volumes.remove(name);
  } catch (error) {
    if (cause instanceof Error) {
      cause.message += ` (and the partial copy on host ${target.host} could not be removed: ${(error as Error).message})`;
    }
  }
}

/** A failure of the connection rather than a refusal: worth another attempt. */
function isConnectionLoss(error: VirshError): boolean {
  return /connect|end of file|broken pipe|cannot recv|cannot write|disconnected|stopped|ended with SIGKILL/i.test(
    error.message,
  );
}
