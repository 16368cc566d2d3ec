/**
 * Drives as volumes of one libvirt storage pool, on whichever host the pool is (commands go
 * through the host's interactive virsh; uploads and downloads each spawn a `virsh vol-upload`
 * or `vol-download` streaming from or to a Node stream, never holding an image in memory).
 *
 * Every operation is idempotent where a task may repeat it after a crash: creating a volume that
 * exists answers it, removing one that does not is no error.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { isNotFound, VirshError } from '../../compute/libvirt/virsh-command.js';
import {
  errorLines,
  runUnlessMissing,
  type VirshRunner,
} from '../../compute/libvirt/virsh-shell.js';
import { attr, child, parseXml, text } from '../../compute/libvirt/xml.js';
import { type VolumeFormat, volumeXml } from './storage-xml.js';

/** Where a drive's image is and what it is. */
export interface VolumeHandle {
  pool: string;
  name: string;
  /** The image's path on the libvirt host. */
  path: string;
  format: VolumeFormat | string;
  /** Bytes the guest sees. */
  capacity: number;
  /** Bytes the image takes on the host. */
  allocation: number;
  /** A linked clone's base image, if it has one. */
  backing: string | null;
}

export interface LibvirtVolumesOptions {
  /** The pool's host's commands. */
  virsh: VirshRunner;
  /**
   * The same host's URI, for the streams' own virsh processes (a function where the host may
   * change between calls: a shared pool reached through whichever host answers).
   */
  uri: string | (() => string);
  pool: string;
  /**
   * Whether other libvirt hosts write to the pool too (a directory on shared storage): a volume
   * this host does not know may only be unknown to it yet, so the pool is refreshed before the
   * volume is taken as missing.
   */
  shared?: boolean;
  /** The virsh executable; default `virsh`. */
  binary?: string;
}

export interface StreamRange {
  /** Where in the volume the bytes start; default 0. */
  offset?: number;
  /** How many bytes; default all (an upload: as many as the stream gives). */
  length?: number;
  signal?: AbortSignal;
}

export class LibvirtVolumes {
  readonly pool: string;
  /** The commands of the pool's host (or of whichever host answers, for a shared pool). */
  readonly virsh: VirshRunner;

  constructor(private readonly options: LibvirtVolumesOptions) {
    this.pool = options.pool;
    this.virsh = options.virsh;
  }

  /** The volume, or null if it does not exist. */
  async info(name: string): Promise<VolumeHandle | null> {
    let xml = await runUnlessMissing(this.virsh, ['vol-dumpxml', '--pool', this.pool, name]);
    if (xml === null && this.options.shared) {
      await this.refresh();
      xml = await runUnlessMissing(this.virsh, ['vol-dumpxml', '--pool', this.pool, name]);
    }
    if (xml === null) return null;
    const volume = child(parseXml(xml), 'volume');
    const target = child(volume, 'target');
    return {
      pool: this.pool,
      name: text(volume, 'name') ?? name,
      path: text(target, 'path') ?? '',
      format: attr(child(target, 'format'), 'type') ?? '',
      capacity: Number(text(volume, 'capacity') ?? 0),
      allocation: Number(text(volume, 'allocation') ?? 0),
      backing: text(child(volume, 'backingStore'), 'path') ?? null,
    };
  }

  /**
   * The bytes the volume's file has (what a download gives: a qcow2's file, not its virtual
   * size), or null if there is no such volume.
   */
  async physicalSize(name: string): Promise<number | null> {
    if (this.options.shared && !(await this.info(name))) return null;
    const answer = await runUnlessMissing(this.virsh, [
      'vol-info',
      '--pool',
      this.pool,
      name,
      '--bytes',
      '--physical',
    ]);
    if (answer === null) return null;
    const size = /^Physical:\s+(\d+)/m.exec(answer)?.[1];
    if (size === undefined) throw new VirshError(`no physical size in vol-info of ${name}`);
    return Number(size);
  }

  /** An empty volume: qcow2 (thin) unless said otherwise. */
  async create(
    name: string,
    capacity: number,
    format: VolumeFormat = 'qcow2',
  ): Promise<VolumeHandle> {
    return this.createFrom(name, () =>
      this.virsh.runWithFile(volumeXml({ name, capacity, format }), (path) => [
        'vol-create',
        this.pool,
        path,
      ]),
    );
  }

  /**
   * A full, independent copy of `source` in the same format, at least as large as it (grown to
   * `capacity` when that is larger). The source must not be attached to a running guest (QEMU
   * holds its image lock); a running guest's drive is copied through the domain instead.
   */
  async clone(source: string, target: string, capacity?: number): Promise<VolumeHandle> {
    const origin = await this.require(source);
    const format = asFormat(origin.format);
    const size = Math.max(origin.capacity, capacity ?? 0);
    const volume = await this.createFrom(target, () =>
      // vol-create-from with our XML (compat 1.1); vol-clone would keep the source's compat.
      this.virsh.runWithFile(
        volumeXml({ name: target, capacity: origin.capacity, format }),
        (path) => ['vol-create-from', this.pool, path, source, '--inputpool', this.pool],
      ),
    );
    return volume.capacity < size ? this.resize(target, size) : volume;
  }

  /**
   * A qcow2 volume that reads `base` (a read-only image: a library drive) and stores only what
   * the guest changes; as large as the base unless `capacity` is larger.
   */
  async linkedClone(base: string, target: string, capacity?: number): Promise<VolumeHandle> {
    const origin = await this.require(base);
    const spec = {
      name: target,
      capacity: Math.max(origin.capacity, capacity ?? 0),
      format: 'qcow2' as const,
      backing: { path: origin.path, format: asFormat(origin.format) },
    };
    return this.createFrom(target, () =>
      this.virsh.runWithFile(volumeXml(spec), (path) => ['vol-create', this.pool, path]),
    );
  }

  /** Grows a volume that no running guest uses (a running guest's: the domain's blockresize). */
  async resize(name: string, capacity: number): Promise<VolumeHandle> {
    const volume = await this.require(name);
    if (capacity < volume.capacity) {
      throw new VirshError(
        `volume ${name} is ${volume.capacity} bytes: it cannot shrink to ${capacity}`,
      );
    }
    if (capacity === volume.capacity) return volume;
    await this.virsh.run(['vol-resize', '--pool', this.pool, name, `${capacity}B`]);
    return this.require(name);
  }

  /** Deletes a volume; one that does not exist is no error. */
  async remove(name: string): Promise<void> {
    // Another host's new volume must be known here before it can go.
    if (this.options.shared && !(await this.info(name))) return;
    try {
      await this.virsh.run(['vol-delete', '--pool', this.pool, name]);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Reads the pool's directory again (volumes other hosts made or removed). */
  private async refresh(): Promise<void> {
    await this.virsh.run(['pool-refresh', this.pool]);
  }

  /** Writes what `source` gives into the volume, from `offset` on. */
  async upload(name: string, source: Readable, range: StreamRange = {}): Promise<void> {
    const args = ['vol-upload', '--pool', this.pool, name, '/dev/stdin', ...rangeArgs(range)];
    // virsh opens the file it is given: a Node stdio socket cannot be opened, a pipe can.
    const child = this.spawnVirsh('cat | "$@"', args, ['pipe', 'ignore', 'pipe'], range.signal);
    const feeding = pipeline(source, child.stdin!).catch((error: NodeJS.ErrnoException) => {
      if (isClosed(error)) return;
      killGroup(child); // The source failed: what virsh stored so far is not the image.
      throw error;
    });
    await Promise.all([feeding, exited(child, args)]);
  }

  /** Writes the volume's bytes (from `offset`, `length` of them) into `target`. */
  async download(name: string, target: Writable, range: StreamRange = {}): Promise<void> {
    const args = ['vol-download', '--pool', this.pool, name, '/dev/stdout', ...rangeArgs(range)];
    const child = this.spawnVirsh('"$@" | cat', args, ['ignore', 'pipe', 'pipe'], range.signal);
    const draining = pipeline(child.stdout!, target).catch((error) => {
      killGroup(child);
      throw error;
    });
    await Promise.all([draining, exited(child, args)]);
  }

  /**
   * virsh in a bash pipeline with `cat` (so that its file is a real pipe), in a process group of
   * its own, so that an abort ends both by the group's id.
   */
  private spawnVirsh(
    pipe: string,
    args: string[],
    stdio: ['pipe' | 'ignore', 'pipe' | 'ignore', 'pipe'],
    signal: AbortSignal | undefined,
  ): ChildProcess {
    const uri = typeof this.options.uri === 'string' ? this.options.uri : this.options.uri();
    const virsh = [this.options.binary ?? 'virsh', '-q', '-c', uri, ...args];
    const child = spawn('bash', ['-c', `set -o pipefail; ${pipe}`, 'bash', ...virsh], {
      stdio,
      detached: true,
    });
    if (signal) {
      const abort = () => killGroup(child);
      if (signal.aborted) abort();
      signal.addEventListener('abort', abort, { once: true });
      child.once('close', () => signal.removeEventListener('abort', abort));
    }
    return child;
  }

  /** Runs `make` unless the volume exists already; answers the volume. */
  private async createFrom(name: string, make: () => Promise<unknown>): Promise<VolumeHandle> {
    const existing = await this.info(name);
    if (existing) return existing;
    await make();
    return this.require(name);
  }

  private async require(name: string): Promise<VolumeHandle> {
    const volume = await this.info(name);
    if (!volume) throw new VirshError(`no volume ${name} in pool ${this.pool}`);
    return volume;
  }
}

/**
 * How a copy of a volume stores its bytes: a qcow2 stays qcow2; anything else libvirt reads from
 * the content (`raw`, an uploaded `iso`, a `vmdk`...) is given to guests as raw bytes
 * (docs/libvirt.md, "Image checks"), so it is copied as raw bytes.
 */
function asFormat(format: string): VolumeFormat {
  return format === 'qcow2' ? 'qcow2' : 'raw';
}

function rangeArgs(range: StreamRange): string[] {
  return [
    ...(range.offset ? ['--offset', `${range.offset}`] : []),
    ...(range.length !== undefined ? ['--length', `${range.length}`] : []),
  ];
}

/** Resolves when the process exits 0; rejects with its error lines otherwise. */
function exited(child: ChildProcess, args: string[]): Promise<void> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr += text;
  });
  return new Promise((resolve, reject) => {
    child.on('error', (error) => reject(new VirshError(error.message, args.join(' '))));
    child.on('close', (code, signal) => {
      if (code === 0) return resolve();
      const message = errorLines(stderr);
      reject(
        new VirshError(
          message || `virsh ${args[0]} ended with ${signal ?? `code ${code}`}`,
          args.join(' '),
        ),
      );
    });
  });
}

/** Ends a streaming pipeline's processes (bash, cat, virsh) by their group's id. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Gone already.
  }
}

/** virsh stopped reading (it failed): its exit status tells why, not the broken pipe. */
function isClosed(error: NodeJS.ErrnoException): boolean {
  return error.code === 'EPIPE' || error.code === 'ERR_STREAM_PREMATURE_CLOSE';
}
