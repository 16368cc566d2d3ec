/**
 * gzip answers built around bytes the store keeps, so that a gzip client's whole list costs about
 * what an identity one does. A list's items joined once per list version (`store/sqlite/cache.ts`),
 * or an object's rendered detail, are compressed once, off the event loop, and the compressed
 * form is kept for as long as the store keeps those bytes: a WeakMap keyed by the very Buffer, so
 * a changed list (a new join) or a changed object (new bytes) is compressed anew, and the old
 * form goes with the old bytes. Nothing else bounds it: it is a fraction of what it compresses.
 *
 * Each answer is one gzip member: the header, then for each piece of the body either the kept
 * deflate stream of a large piece (ended with a sync flush: byte-aligned, not final, referring to
 * nothing before it) or a small piece (the list envelope's head and tail) as a stored block, then
 * an empty final block and the trailer: the CRC-32 of the whole, combined from the pieces' CRCs
 * without reading the large ones again, and its length.
 */
import { constants, createGzip, crc32 as zlibCrc32 } from 'node:zlib';

/** A piece deflated once: its raw deflate stream (sync-flushed), CRC-32 and length. */
interface Segment {
  deflated: Buffer;
  crc: number;
  length: number;
  /** x^(8 * length) modulo the CRC polynomial: what combining a CRC before it takes. */
  shift: number;
}

/** Pieces at least this long are deflated and kept; shorter ones go as stored blocks. */
const SEGMENT_MIN = 1024;
/** The most a stored block holds. */
const STORED_MAX = 65_535;

const segments = new WeakMap<Buffer, Promise<Segment>>();
let deflated = 0;

/** How many pieces have been deflated since the process started (tests see reuse with it). */
export function deflatedPieces(): number {
  return deflated;
}

/** gzip's header as zlib writes it: no name, no time, OS unix. */
const HEADER = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03]);
/** An empty stored block with BFINAL set: the end of the deflate stream. */
const FINAL_BLOCK = Buffer.from([0x01, 0x00, 0x00, 0xff, 0xff]);

/**
 * `body` (its pieces in order) as a gzip member, in pieces to write one after the other. Large
 * pieces that are Buffers are deflated once and kept for as long as the Buffer lives.
 */
export async function gzipPieces(body: readonly Buffer[]): Promise<Buffer[]> {
  const out: Buffer[] = [HEADER];
  let crc = 0;
  let length = 0;
  for (const piece of body) {
    if (piece.length === 0) continue;
    if (piece.length >= SEGMENT_MIN) {
      const segment = await segmentOf(piece);
      out.push(segment.deflated);
      crc = (multModP(segment.shift, crc) ^ segment.crc) >>> 0;
    } else {
      out.push(storedHeader(piece.length), piece);
      crc = crc32(piece, crc);
    }
    length += piece.length;
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(crc, 0);
  trailer.writeUInt32LE(length % 2 ** 32, 4);
  out.push(FINAL_BLOCK, trailer);
  return out;
}

function storedHeader(length: number): Buffer {
  if (length > STORED_MAX) throw new Error('a stored block holds at most 65535 bytes');
  const header = Buffer.alloc(5);
  header[0] = 0x00;
  header.writeUInt16LE(length, 1);
  header.writeUInt16LE(~length & 0xffff, 3);
  return header;
}

function segmentOf(bytes: Buffer): Promise<Segment> {
  let segment = segments.get(bytes);
  if (!segment) {
    deflated++;
    segment = deflateSegment(bytes);
    segments.set(bytes, segment);
    // A failure is not kept: the next answer tries again.
    segment.catch(() => segments.delete(bytes));
  }
  return segment;
}

/**
 * Compresses on zlib's threads, not the event loop: a gzip stream flushed (Z_SYNC_FLUSH) and then
 * finished gives the deflate blocks, the empty final block zlib always writes after a flush
 * (`03 00`), and a trailer whose CRC-32 zlib computed there too.
 */
function deflateSegment(bytes: Buffer): Promise<Segment> {
  return new Promise((resolve, reject) => {
    const gzip = createGzip({ chunkSize: 256 * 1024 });
    const chunks: Buffer[] = [];
    gzip.on('data', (chunk: Buffer) => chunks.push(chunk));
    gzip.once('error', reject);
    gzip.once('end', () => {
      const all = Buffer.concat(chunks);
      const end = all.length - 10;
      if (end < HEADER.length || all[end] !== 0x03 || all[end + 1] !== 0x00) {
        reject(new Error('zlib ended a flushed gzip stream unexpectedly'));
        return;
      }
      resolve({
        deflated: all.subarray(HEADER.length, end),
        crc: all.readUInt32LE(end + 2),
        length: bytes.length,
        shift: x2nModP(bytes.length, 3),
      });
    });
    gzip.write(bytes);
    gzip.flush(constants.Z_SYNC_FLUSH, () => gzip.end());
  });
}

// CRC-32 arithmetic modulo its polynomial (reflected), as zlib's crc32_combine does it.
const POLY = 0xedb88320;

/** a * b modulo the polynomial. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  let x = b >>> 0;
  for (;;) {
    if (a & m) {
      p ^= x;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    if (m === 0) break;
    x = x & 1 ? (x >>> 1) ^ POLY : x >>> 1;
  }
  return p >>> 0;
}

/** x^(2^k) modulo the polynomial, k = 0..31. */
const X2N: number[] = (() => {
  const table = [0x40000000];
  for (let k = 1; k < 32; k++) table.push(multModP(table[k - 1]!, table[k - 1]!));
  return table;
})();

/** x^(n * 2^k) modulo the polynomial. */
function x2nModP(n: number, k: number): number {
  let p = 0x80000000;
  let rest = n;
  let bit = k;
  while (rest > 0) {
    if (rest % 2 === 1) p = multModP(X2N[bit & 31]!, p);
    rest = Math.floor(rest / 2);
    bit++;
  }
  return p;
}

/** The CRC-32 of `b` after `a`, from the CRC of each and the length of `b`. */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  return (multModP(x2nModP(lengthB, 3), crcA) ^ crcB) >>> 0;
}

/** zlib's CRC-32 where Node has it (20.15), a table otherwise. */
const crc32: (data: Buffer, value?: number) => number =
  typeof zlibCrc32 === 'function' ? zlibCrc32 : tableCrc32;

let table: Uint32Array | undefined;

/** CRC-32 from a table, for Node versions without zlib's (exported for its test). */
export function tableCrc32(data: Buffer, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? POLY ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let crc = ~value >>> 0;
  for (const byte of data) crc = table[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return ~crc >>> 0;
}
