/**
 * Login attempts, rate-limited per account and per client address.
 *
 * An attempt is *reserved* before the password is checked (the slow hash), so parallel guesses
 * cannot all be checked before the first failure is counted; a login that succeeds gives its
 * reservation back, so an owner's own logins never count against them. Each limit is a token
 * bucket (`limit` attempts, refilled evenly over `windowMs`) in a fixed-size table indexed by a
 * keyed hash of the account or address: the memory is the same whatever the number of names
 * tried. Two names that share a slot share its budget (throttled earlier, never later); the key
 * is random per process, so nobody can choose a name that lands on someone else's slot.
 * Counters are per process.
 */
import { hash, randomBytes } from 'node:crypto';
import { errors } from '../errors.js';

export interface ThrottleLimits {
  /** Attempts per account in a window (api-reference's decision: 10 a minute). */
  perAccount: number;
  /** Attempts per client address (IPv6: per /64) in a window. */
  perAddress: number;
  windowMs: number;
  /** Slots per table (each 16 bytes). */
  slots?: number;
}

export const DEFAULT_THROTTLE: ThrottleLimits = {
  perAccount: 10,
  perAddress: 60,
  windowMs: 60_000,
};

/** A fixed-size table of token buckets. */
export class RateTable {
  private readonly tokens: Float64Array;
  private readonly stamps: Float64Array;
  private readonly key = randomBytes(16).toString('base64');

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    readonly slots: number,
    private readonly now: () => number,
  ) {
    this.tokens = new Float64Array(slots);
    // A slot never used is full: its refill since minus infinity is unbounded.
    this.stamps = new Float64Array(slots).fill(Number.NEGATIVE_INFINITY);
  }

  /** The table's memory in bytes, whatever the number of names it has seen. */
  get bytes(): number {
    return this.tokens.byteLength + this.stamps.byteLength;
  }

  /** Takes an attempt for `name`: 0 when taken, else the seconds until one is free. */
  take(name: string): number {
    const slot = this.slotOf(name);
    const tokens = this.refill(slot);
    if (tokens >= 1) {
      this.tokens[slot] = tokens - 1;
      return 0;
    }
    const waitMs = ((1 - tokens) * this.windowMs) / this.limit;
    return Math.max(1, Math.ceil(waitMs / 1000));
  }

  /** Gives back an attempt taken for `name` (the login succeeded). */
  give(name: string): void {
    const slot = this.slotOf(name);
    this.tokens[slot] = Math.min(this.limit, this.refill(slot) + 1);
  }

  private refill(slot: number): number {
    const now = this.now();
    const elapsed = now - this.stamps[slot]!;
    const tokens = Math.min(
      this.limit,
      this.tokens[slot]! + (elapsed * this.limit) / this.windowMs,
    );
    this.tokens[slot] = tokens;
    this.stamps[slot] = now;
    return tokens;
  }

  private slotOf(name: string): number {
    return Number.parseInt(hash('sha256', this.key + name, 'hex').slice(0, 8), 16) % this.slots;
  }
}

export class LoginThrottle {
  private readonly accounts: RateTable;
  private readonly addresses: RateTable;

  constructor(
    readonly limits: ThrottleLimits = DEFAULT_THROTTLE,
    now: () => number = Date.now,
  ) {
    const slots = limits.slots ?? 1 << 16;
    this.accounts = new RateTable(limits.perAccount, limits.windowMs, slots, now);
    this.addresses = new RateTable(limits.perAddress, limits.windowMs, slots, now);
  }

  /** The memory both tables hold, in bytes (fixed at construction). */
  get bytes(): number {
    return this.accounts.bytes + this.addresses.bytes;
  }

  /**
   * Reserves an attempt for `account` (when the credentials name one) from `address`, or throws
   * the 429. Returns what gives the reservation back when the login succeeds.
   */
  reserve(account: string | undefined, address: string | undefined): () => void {
    const accountKey = account === undefined ? undefined : account.toLowerCase();
    const addressKey = address === undefined ? undefined : addressBlock(address);
    if (accountKey !== undefined) {
      const wait = this.accounts.take(accountKey);
      if (wait > 0) throw errors.throttled(wait, this.describe(this.limits.perAccount), 'account');
    }
    if (addressKey !== undefined) {
      const wait = this.addresses.take(addressKey);
      if (wait > 0) {
        if (accountKey !== undefined) this.accounts.give(accountKey);
        throw errors.throttled(wait, this.describe(this.limits.perAddress), 'address');
      }
    }
    return () => {
      if (accountKey !== undefined) this.accounts.give(accountKey);
      if (addressKey !== undefined) this.addresses.give(addressKey);
    };
  }

  private describe(limit: number): string {
    return `${limit} attempts per ${this.limits.windowMs / 1000} seconds`;
  }
}

/**
 * What an address is counted as: IPv4 as is, IPv6 by its /64 (one subscriber's network, where a
 * client picks any address it likes).
 */
export function addressBlock(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.toLowerCase().split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [
    ...left,
    ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'),
    ...right,
  ];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}
