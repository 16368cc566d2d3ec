import { randomBytes } from 'node:crypto';
import { crc32, gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { crc32Combine, deflatedPieces, gzipPieces, tableCrc32 } from './gzip.js';

/** Text like a list's (compressible) or random bytes (not), of `n` bytes. */
function piece(n: number, random = false): Buffer {
  if (random) return randomBytes(n);
  const text = Array.from({ length: Math.ceil(n / 40) }, (_, i) => `{"name":"s-${i}","cpu":2000},`)
    .join('')
    .slice(0, n);
  return Buffer.from(text);
}

describe('gzipPieces', () => {
  it.each([
    ['nothing', []],
    ['a small piece', [piece(100)]],
    ['pieces around the kept size', [piece(1023), piece(1024), piece(1025, true)]],
    ['a list: head, a large join, tail', [piece(60), piece(300_000), Buffer.from(']}')]],
    [
      'random bytes larger than a stored block',
      [piece(70_000, true), piece(5), piece(200_000, true)],
    ],
    ['empty pieces among others', [Buffer.alloc(0), piece(2000), Buffer.alloc(0)]],
  ])('makes a gzip member any decoder reads back: %s', async (_name, pieces: Buffer[]) => {
    const zipped = Buffer.concat(await gzipPieces(pieces));
    // gunzip checks the CRC-32 and the length in the trailer.
    expect(gunzipSync(zipped).equals(Buffer.concat(pieces))).toBe(true);
  });

  it('deflates a large piece once while its Buffer lives, and a new one anew', async () => {
    const join = piece(50_000);
    const before = deflatedPieces();
    const first = await gzipPieces([Buffer.from('{"a":['), join, Buffer.from(']}')]);
    const second = await gzipPieces([Buffer.from('{"b":['), join, Buffer.from(']}')]);
    expect(deflatedPieces()).toBe(before + 1);
    // The kept deflate stream itself goes out again, not a copy.
    expect(second).toContain(first.find((p) => p.length > 1000));
    expect(gunzipSync(Buffer.concat(second)).toString()).toBe(`{"b":[${join}]}`);
    await gzipPieces([Buffer.from(join)]);
    expect(deflatedPieces()).toBe(before + 2);
  });
});

describe('CRC-32', () => {
  it('combines the CRCs of two pieces into that of both', () => {
    for (const [a, b] of [
      [0, 0],
      [1, 0],
      [0, 7],
      [13, 1],
      [1000, 65_536],
      [70_001, 123_457],
    ] as const) {
      const x = randomBytes(a);
      const y = randomBytes(b);
      expect(crc32Combine(crc32(x), crc32(y), b)).toBe(crc32(Buffer.concat([x, y])));
    }
  });

  it('from a table, as zlib computes it', () => {
    const data = randomBytes(10_000);
    expect(tableCrc32(data)).toBe(crc32(data));
    expect(tableCrc32(data.subarray(5000), tableCrc32(data.subarray(0, 5000)))).toBe(crc32(data));
    expect(tableCrc32(Buffer.alloc(0))).toBe(0);
  });
});
