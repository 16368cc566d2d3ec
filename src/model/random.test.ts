import { describe, expect, it } from 'vitest';
import { alphanumeric, seededRandom } from './random.js';

describe('seededRandom', () => {
  it('gives the same sequence for the same seed, another for another seed', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43);
    const take = (r: ReturnType<typeof seededRandom>) => [
      r.uuid(),
      r.bytes(5).toString('hex'),
      r.int(1000),
      alphanumeric(r, 8),
    ];
    const first = take(a);
    expect(take(b)).toEqual(first);
    expect(take(c)).not.toEqual(first);
  });

  it('makes version 4 uuids and integers in range', () => {
    const r = seededRandom('x');
    for (let i = 0; i < 200; i++) {
      expect(r.uuid()).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      const n = r.int(7);
      expect(n).toBeGreaterThanOrEqual(0);
      expect(n).toBeLessThan(7);
    }
  });
});
