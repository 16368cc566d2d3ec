/**
 * The one source of randomness for ids, MACs and generated passwords, so that a seed can make
 * them reproducible for snapshot tests.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';

export interface Random {
  uuid(): string;
  bytes(n: number): Buffer;
  /** An integer in [0, max). */
  int(max: number): number;
}

export const cryptoRandom: Random = {
  uuid: () => randomUUID(),
  bytes: (n) => randomBytes(n),
  int: (max) => randomInt(max),
};

const ALPHANUMERIC = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

export function alphanumeric(random: Random, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHANUMERIC[random.int(ALPHANUMERIC.length)];
  return out;
}
