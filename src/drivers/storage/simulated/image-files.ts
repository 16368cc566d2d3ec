/**
 * Uploaded images as files, for the simulated driver: `ROOT/<drive>/image` holds the bytes (a
 * sparse file written at each chunk's offset), `ROOT/<drive>/chunks/<N>` records a chunk once all
 * its bytes are written and synced (so a chunk cut off half-way is simply missing, and sent
 * again). Sealing removes `chunks/`. ROOT is `images/` under `--data`, or a temporary directory
 * when the store is in memory.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type ChunkPlace,
  type ChunkRecord,
  ChunkSizeError,
  type ImageStore,
  readChunkRecords,
  recordChunk,
} from '../images.js';

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

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

export class FileImageStore implements ImageStore {
  constructor(private readonly root: string) {}

  private dir(drive: string): string {
    return join(this.root, drive);
  }

  private image(drive: string): string {
    return join(this.dir(drive), 'image');
  }

  private chunkDir(drive: string): string {
    return join(this.dir(drive), 'chunks');
  }

  async begin(drive: string): Promise<void> {
    await mkdir(this.chunkDir(drive), { recursive: true });
    // Opening for append creates the image without touching what a resumed upload wrote.
    await (await open(this.image(drive), 'a')).close();
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
    const count = counter(place.size ?? room, place.size, limit);
    const path = this.image(drive);
    await pipeline(
      source,
      count.stream,
      createWriteStream(path, { flags: 'r+', start: place.offset }),
    );
    // The chunk is recorded only once its bytes are on disk (fsync of any descriptor will do).
    const handle = await open(path, 'r');
    try {
      await handle.datasync();
    } finally {
      await handle.close();
    }
    const size = count.received();
    await recordChunk(this.chunkDir(drive), place, size);
    return size;
  }

  chunks(drive: string): Promise<Map<number, ChunkRecord>> {
    return readChunkRecords(this.chunkDir(drive));
  }

  async head(drive: string, bytes: number): Promise<Buffer> {
    const handle = await open(this.image(drive), 'r');
    try {
      const buffer = Buffer.alloc(bytes);
      const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async finish(drive: string, size: number): Promise<void> {
    const handle = await open(this.image(drive), 'r+');
    try {
      // A raw upload of a stream cut short never gets here; a chunk written past the end cannot.
      await handle.truncate(size);
    } finally {
      await handle.close();
    }
    await rm(this.chunkDir(drive), { recursive: true, force: true });
  }

  async read(drive: string): Promise<{ size: number; stream: Readable } | null> {
    const path = this.image(drive);
    try {
      const info = await stat(path);
      // An upload still under way has no image to read yet.
      if (await this.uploading(drive)) return null;
      return { size: info.size, stream: createReadStream(path) };
    } catch {
      return null;
    }
  }

  private async uploading(drive: string): Promise<boolean> {
    try {
      await stat(this.chunkDir(drive));
      return true;
    } catch {
      return false;
    }
  }

  async copy(source: string, target: string): Promise<void> {
    if ((await this.uploading(source)) || !(await exists(this.image(source)))) return;
    await rm(this.dir(target), { recursive: true, force: true });
    await mkdir(this.dir(target), { recursive: true });
    // Copied under another name first: a crash half-way leaves no image that looks whole.
    await copyFile(this.image(source), `${this.image(target)}.tmp`);
    await rename(`${this.image(target)}.tmp`, this.image(target));
  }

  async lastWrite(drive: string): Promise<number | null> {
    const times: number[] = [];
    for (const path of [this.dir(drive), this.image(drive), this.chunkDir(drive)]) {
      try {
        times.push((await stat(path)).mtimeMs);
      } catch {
        // Not there (yet, or any more).
      }
    }
    return times.length === 0 ? null : Math.max(...times);
  }

  async remove(drive: string): Promise<void> {
    await rm(this.dir(drive), { recursive: true, force: true });
  }

  async drives(): Promise<string[]> {
    try {
      return await readdir(this.root);
    } catch {
      return [];
    }
  }
}
