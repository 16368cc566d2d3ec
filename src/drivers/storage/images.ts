/**
 * Where uploaded drive images are kept (issue 15 item 5): bytes in, in chunks at their offsets,
 * in any order; then sealed and read back as a stream. The simulated driver keeps them in files
 * (`simulated/image-files.ts`); the libvirt driver's volumes can implement the same interface
 * with `vol-upload --offset --length` and `vol-download`. Nothing here ever holds an image in
 * memory: a chunk is a stream written as it arrives.
 */
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';

/** Where one chunk goes in the image. */
export interface ChunkPlace {
  /** From 1 (resumable.js numbers them so). */
  number: number;
  offset: number;
  /** The bytes it must carry; undefined: as many as come (the raw upload). */
  size?: number;
}

/** Why a chunk was not kept: the stream carried the wrong number of bytes. */
export class ChunkSizeError extends Error {
  constructor(
    readonly expected: number | undefined,
    readonly received: number,
    readonly limit: number,
  ) {
    super(
      expected === undefined
        ? `more than ${limit} bytes`
        : `${received} bytes where the chunk has ${expected}`,
    );
  }
}

export interface ImageStore {
  /** Makes room for an upload of `drive` (idempotent: a resumed upload keeps its chunks). */
  begin(drive: string): Promise<void>;
  /**
   * Writes `source` at `place.offset`, never past `limit` (the image's end). The chunk counts
   * only once every byte is written: a stream cut off, or of the wrong size (`ChunkSizeError`),
   * leaves no chunk (its bytes may stay, to be overwritten by the chunk sent again). Answers
   * the bytes written. Writing a chunk that is already there again is no error.
   */
  putChunk(drive: string, place: ChunkPlace, source: Readable, limit: number): Promise<number>;
  /** The chunks complete so far, by number. */
  chunks(drive: string): Promise<Map<number, { offset: number; size: number }>>;
  /** The image's first `bytes` bytes (fewer if it is shorter): what its format is sniffed from. */
  head(drive: string, bytes: number): Promise<Buffer>;
  /** Seals an upload of `size` bytes: the chunk records go, the image stays. */
  finish(drive: string, size: number): Promise<void>;
  /** The sealed image and its size; null when the drive has none (never uploaded into). */
  read(drive: string): Promise<{ size: number; stream: Readable } | null>;
  /** When bytes for `drive` were last written (ms since the epoch); null if nothing is kept. */
  lastWrite(drive: string): Promise<number | null>;
  /**
   * Copies `source`'s sealed image to `target` (a drive clone); nothing when `source` has none.
   * Idempotent: a copy repeated after a crash starts over.
   */
  copy(source: string, target: string): Promise<void>;
  /** Removes whatever is kept for `drive` (idempotent). */
  remove(drive: string): Promise<void>;
  /** The drives something is kept for (sweeps remove those whose drive is gone). */
  drives(): Promise<string[]>;
}

/** Where a received chunk lies in the image: what `ImageStore.chunks` answers per chunk number. */
export interface ChunkRecord {
  offset: number;
  size: number;
}

/**
 * Notes a received chunk in `dir` (one small file per chunk number, written whole by a rename, so
 * a reader sees a chunk complete or not at all).
 */
export async function recordChunk(dir: string, place: ChunkPlace, size: number): Promise<void> {
  const record = join(dir, String(place.number));
  await mkdir(dir, { recursive: true });
  await writeFile(`${record}.tmp`, JSON.stringify({ offset: place.offset, size }));
  await rename(`${record}.tmp`, record);
}

/** The chunks `recordChunk` noted in `dir`, by number; none when the directory is gone. */
export async function readChunkRecords(dir: string): Promise<Map<number, ChunkRecord>> {
  const found = new Map<number, ChunkRecord>();
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return found;
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      found.set(Number(name), JSON.parse(await readFile(join(dir, name), 'utf8')) as ChunkRecord);
    } catch {
      // Removed meanwhile (a sweep): not there.
    }
  }
  return found;
}
