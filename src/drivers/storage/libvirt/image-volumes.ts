/**
 * Uploaded images straight into drives' volumes, for the libvirt driver (docs/images.md, "On
 * libvirt"): a drive's bytes go into the pool volume named by its uuid (`vol-upload --offset`
 * per chunk), so that a server started from it boots what was uploaded, and downloads read that
 * volume (`vol-download`). Streamed both ways, never held in memory.
 *
 * The volume is made raw and sparse at the first chunk, as large as the image may be; libvirt
 * reads its format from its content (an uploaded qcow2 is a qcow2 volume to it and to guests).
 * Which chunks are complete is recorded on this side, in `ROOT/<drive>/chunks/<N>` (written
 * once a chunk's virsh has ended well), and `ROOT/<drive>` stays after sealing: it says the drive
 * was uploaded into (a resumable client asking after the end) and lets a sweep find the volume
 * of a drive deleted meanwhile.
 */
import { mkdir, readdir, rm, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable, Transform, Writable } from 'node:stream';
import {
  type ChunkPlace,
  type ChunkRecord,
  ChunkSizeError,
  type ImageStore,
  readChunkRecords,
  recordChunk,
} from '../images.js';
import type { LibvirtVolumes } from './volumes.js';

export interface VolumeImageStoreOptions {
  /**
   * The pool holding a drive's volume: the one pool of one host or of shared storage, or, with a
   * pool per host, the pool of the host the drive is on.
   */
  volumesOf: (drive: string) => LibvirtVolumes | Promise<LibvirtVolumes>;
  /** Where chunk records are kept (a local directory of sigmalite's). */
  root: string;
}

/** Counts what passes and refuses more than `max` bytes, or an end short of `exact`. */
function counter(max: number, exact: number | undefined, limit: number) {
  let received = 0;
  return {
    received: () => received,
    stream: new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > max) callback(new ChunkSizeError(exact, received, limit));
        else callback(null, chunk);
      },
      flush(callback) {
        if (exact !== undefined && received !== exact) {
          callback(new ChunkSizeError(exact, received, limit));
        } else callback();
      },
    }),
  };
}

export class VolumeImageStore implements ImageStore {
  /** Volumes being made, one per drive: the first chunks of an upload may arrive together. */
  private readonly making = new Map<string, Promise<void>>();

  constructor(private readonly options: VolumeImageStoreOptions) {}

  private dir(drive: string): string {
    return join(this.options.root, drive);
  }

  private chunkDir(drive: string): string {
    return join(this.dir(drive), 'chunks');
  }

  async begin(drive: string): Promise<void> {
    await mkdir(this.chunkDir(drive), { recursive: true });
  }

  /** The drive's volume, made raw and sparse of `capacity` bytes if it is not there yet. */
  private volumeFor(drive: string, capacity: number): Promise<void> {
    const under = this.making.get(drive);
    if (under) return under;
    const work = (async () => {
      const volumes = await this.options.volumesOf(drive);
      if (!(await volumes.info(drive))) await volumes.create(drive, capacity, 'raw');
    })().finally(() => this.making.delete(drive));
    this.making.set(drive, work);
    return work;
  }

  async putChunk(
    drive: string,
    place: ChunkPlace,
    source: Readable,
    limit: number,
  ): Promise<number> {
    const room = limit - place.offset;
    if (room < 0 || (place.size !== undefined && place.size > room)) {
      throw new ChunkSizeError(place.size, 0, limit);
    }
    await this.volumeFor(drive, limit);
    const count = counter(place.size ?? room, place.size, limit);
    source.on('error', (error) => count.stream.destroy(error));
    // Not `pipeline`: an error of the counter must reach the upload, which then ends virsh.
    const volumes = await this.options.volumesOf(drive);
    await volumes.upload(drive, source.pipe(count.stream), { offset: place.offset });
    const size = count.received();
    await recordChunk(this.chunkDir(drive), place, size);
    return size;
  }

  chunks(drive: string): Promise<Map<number, ChunkRecord>> {
    return readChunkRecords(this.chunkDir(drive));
  }

  async head(drive: string, bytes: number): Promise<Buffer> {
    const volumes = await this.options.volumesOf(drive);
    const volume = await volumes.info(drive);
    if (!volume) return Buffer.alloc(0);
    const length = Math.min(bytes, volume.capacity);
    const parts: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    });
    await volumes.download(drive, sink, { length });
    return Buffer.concat(parts);
  }

  async finish(drive: string, size: number): Promise<void> {
    const volumes = await this.options.volumesOf(drive);
    const volume = await volumes.info(drive);
    // A raw upload of unknown length made its volume as large as a drive may be: cut to the image.
    if (volume && volume.capacity > size) {
      try {
        await volumes.virsh.run([
          'vol-resize',
          '--pool',
          volumes.pool,
          drive,
          `${size}B`,
          '--shrink',
        ]);
      } catch {
        // libvirt refuses to cut below the bytes allocated (a fully written image whose end is
        // not block-aligned): the pool is a local directory (bootstrap.ts), so cut the file here.
        await truncate(volume.path, size);
        await volumes.virsh.run(['pool-refresh', volumes.pool]);
      }
    }
    await rm(this.chunkDir(drive), { recursive: true, force: true });
  }

  async read(drive: string): Promise<{ size: number; stream: Readable } | null> {
    if (await exists(this.chunkDir(drive))) return null; // Still uploading.
    const volumes = await this.options.volumesOf(drive);
    const size = await volumes.physicalSize(drive);
    if (size === null) return null;
    const stream = new PassThrough();
    volumes.download(drive, stream).catch((error: Error) => stream.destroy(error));
    return { size, stream };
  }

  async lastWrite(drive: string): Promise<number | null> {
    const times: number[] = [];
    for (const path of [this.dir(drive), this.chunkDir(drive)]) {
      try {
        times.push((await stat(path)).mtimeMs);
      } catch {
        // Not there (yet, or any more).
      }
    }
    return times.length === 0 ? null : Math.max(...times);
  }

  /** Nothing: the storage driver's clone copies the volume itself. */
  async copy(): Promise<void> {}

  async remove(drive: string): Promise<void> {
    await (await this.options.volumesOf(drive)).remove(drive);
    await rm(this.dir(drive), { recursive: true, force: true });
  }

  async drives(): Promise<string[]> {
    try {
      return await readdir(this.options.root);
    } catch {
      return [];
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
