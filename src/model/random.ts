/**
 * The one source of randomness for ids, MACs and generated passwords, so that a seed can make
 * them reproducible for snapshot tests.
 */
import { createHash, randomBytes, randomInt, randomUUID } from 'node:crypto';

export interface Random {
  uuid(): string;
  bytes(n: number): Buffer;
  /** An integer in [0, max). */
  int(max: number): number;
}

/**
 * Bytes from the system's CSPRNG, drawn 4 KiB at a time: a synchronous `randomBytes` call costs
 * tens of microseconds however few bytes it returns (a MAC per created NIC is 5).
 */
function pooledBytes(): (n: number) => Buffer {
  const POOL = 4096;
  let pool = Buffer.alloc(0);
  return (n) => {
    if (n > POOL) return randomBytes(n);
    if (pool.length < n) pool = randomBytes(POOL);
    const out = Buffer.from(pool.subarray(0, n));
    // Used bytes are wiped: what was handed out is never left in memory here.
    pool.fill(0, 0, n);
    pool = pool.subarray(n);
    return out;
  };
}

export const cryptoRandom: Random = {
  uuid: () => randomUUID(),
  bytes: pooledBytes(),
  int: (max) => randomInt(max),
};

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function alphanumeric(random: Random, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHANUMERIC[random.int(ALPHANUMERIC.length)];
  return out;
}

/**
 * A reproducible source (`--seed N`): SHA-256 of the seed and a counter, so that uuids, MACs,
 * generated passwords and addresses come out the same on every run with the same seed and the
 * same requests. Secrets (session ids, nonces, VNC challenges) never come from it.
 */
export function seededRandom(seed: number | string): Random {
  let counter = 0;
  let pool = Buffer.alloc(0);
  const take = (n: number): Buffer => {
    while (pool.length < n) {
      const block = createHash('sha256').update(`sigmalite:${seed}:${counter++}`).digest();
      pool = Buffer.concat([pool, block]);
    }
    const out = pool.subarray(0, n);
    pool = pool.subarray(n);
    return Buffer.from(out);
  };
  const int = (max: number): number => {
    if (!Number.isSafeInteger(max) || max <= 0) throw new RangeError(`bad bound ${max}`);
    // Rejection sampling over 48 bits keeps every value equally likely.
    const limit = 2 ** 48 - (2 ** 48 % max);
    for (;;) {
      const value = take(6).readUIntBE(0, 6);
      if (value < limit) return value % max;
    }
  };
  return {
    uuid: () => {
      const b = take(16);
      b[6] = (b[6]! & 0x0f) | 0x40;
      b[8] = (b[8]! & 0x3f) | 0x80;
      const hex = b.toString('hex');
      return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
    },
    bytes: take,
    int,
  };
}
