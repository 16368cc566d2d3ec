/**
 * Login attempts, rate-limited per account and per client address.
 *
 * An attempt is *reserved* before the password is checked (the slow hash), so parallel guesses
 * cannot all be checked before the first failure is counted; a login that succeeds gives its
 * reservation back, so an owner's own logins never count against them. Each limit is a token
 * bucket (`limit` attempts, refilled evenly over `windowMs`) in a fixed-size table indexed by a
 * keyed hash of the account or address: the memory is the same whatever the number of names
 * tried. Two names that share a slot share its budget (throttled earlier, never later); the key
 * is random, so nobody can choose a name that lands on someone else's slot.
 *
 * Processes sharing a store (`share`) also count in the store's bucket tables (same sizes, a key
 * kept in the store), so that an account's budget is one budget however many processes a client
 * spreads its guesses over: a password attempt takes from this process's table (a cheap first
 * refusal) and then from the shared one, which is exact. API tokens are checked on every request
 * and need no slow hash, so they reserve in this process only and count in the shared table when
 * they fail: a guesser spreading wrong tokens over N processes gets at most the limit plus N-1
 * before every process refuses it (a process whose shared take fails empties its own slot too).
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

/** What processes sharing a store share of the throttle (the store's `SharedAuthRepo`). */
export interface SharedBuckets {
  /** Places names in the shared slots (the same in every process). */
  key: string;
  /** The tokens there were before (under 1: none taken). */
  take(bucket: string, slot: number, limit: number, windowMs: number, now: number): Promise<number>;
  give(bucket: string, slot: number, limit: number, windowMs: number, now: number): Promise<void>;
}

/** The seconds until a bucket holding `tokens` has one again. */
function waitSeconds(tokens: number, limit: number, windowMs: number): number {
  return Math.max(1, Math.ceil(((1 - tokens) * windowMs) / limit / 1000));
}

/** Which of `slots` a name is counted in, under `key`. */
function slotOf(key: string, name: string, slots: number): number {
  return Number.parseInt(hash('sha256', key + name, 'hex').slice(0, 8), 16) % slots;
}

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
    return waitSeconds(tokens, this.limit, this.windowMs);
  }

  /** Empties `name`'s bucket (the shared table says its budget is spent). */
  drain(name: string): void {
    const slot = this.slotOf(name);
    this.refill(slot);
    this.tokens[slot] = 0;
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
    return slotOf(this.key, name, this.slots);
  }
}

/** A reservation's give-back: resolves once the attempt is back in every table it was taken from. */
export type GiveBack = () => Promise<void>;

export class LoginThrottle {
  private readonly accounts: RateTable;
  private readonly addresses: RateTable;
  private readonly slots: number;
  private readonly now: () => number;
  private shared: SharedBuckets | undefined;

  constructor(
    readonly limits: ThrottleLimits = DEFAULT_THROTTLE,
    now: () => number = Date.now,
  ) {
    this.slots = limits.slots ?? 1 << 16;
    this.now = now;
    this.accounts = new RateTable(limits.perAccount, limits.windowMs, this.slots, now);
    this.addresses = new RateTable(limits.perAddress, limits.windowMs, this.slots, now);
  }

  /** The memory both tables hold, in bytes (fixed at construction). */
  get bytes(): number {
    return this.accounts.bytes + this.addresses.bytes;
  }

  /** Counts in the store's shared tables too from now on. */
  share(shared: SharedBuckets): void {
    this.shared = shared;
  }

  /**
   * Reserves an attempt for `account` (when the credentials name one) from `address`, in this
   * process and in the shared tables, or throws the 429. Returns what gives the reservation back
   * when the login succeeds.
   */
  async reserve(account: string | undefined, address: string | undefined): Promise<GiveBack> {
    const keys = this.keys(account, address);
    const giveLocal = this.reserveKeys(keys);
    const shared = this.shared;
    if (!shared) return async () => giveLocal();
    if (keys.account !== undefined) {
      const wait = await this.takeShared(shared, 'account', keys.account);
      if (wait > 0) {
        this.accounts.drain(keys.account);
        if (keys.address !== undefined) this.addresses.give(keys.address);
        throw errors.throttled(wait, this.describe(this.limits.perAccount), 'account');
      }
    }
    if (keys.address !== undefined) {
      const wait = await this.takeShared(shared, 'address', keys.address);
      if (wait > 0) {
        this.addresses.drain(keys.address);
        if (keys.account !== undefined) {
          this.accounts.give(keys.account);
          await this.giveShared(shared, 'account', keys.account);
        }
        throw errors.throttled(wait, this.describe(this.limits.perAddress), 'address');
      }
    }
    return async () => {
      giveLocal();
      if (keys.account !== undefined) await this.giveShared(shared, 'account', keys.account);
      if (keys.address !== undefined) await this.giveShared(shared, 'address', keys.address);
    };
  }

  /**
   * Reserves in this process only (API tokens: see the module's comment), or throws the 429.
   * Returns what gives the reservation back when the credentials prove right.
   */
  reserveHere(account: string | undefined, address: string | undefined): () => void {
    return this.reserveKeys(this.keys(account, address));
  }

  /**
   * Counts a failure of credentials reserved with `reserveHere` in the shared tables; throws the
   * 429 when their budget there is spent (and empties this process's slots, so that it refuses
   * the next attempt itself).
   */
  async failed(account: string | undefined, address: string | undefined): Promise<void> {
    const shared = this.shared;
    if (!shared) return;
    const keys = this.keys(account, address);
    if (keys.account !== undefined) {
      const wait = await this.takeShared(shared, 'account', keys.account);
      if (wait > 0) {
        this.accounts.drain(keys.account);
        throw errors.throttled(wait, this.describe(this.limits.perAccount), 'account');
      }
    }
    if (keys.address !== undefined) {
      const wait = await this.takeShared(shared, 'address', keys.address);
      if (wait > 0) {
        this.addresses.drain(keys.address);
        throw errors.throttled(wait, this.describe(this.limits.perAddress), 'address');
      }
    }
  }

  private keys(
    account: string | undefined,
    address: string | undefined,
  ): { account?: string; address?: string } {
    return {
      ...(account === undefined ? {} : { account: account.toLowerCase() }),
      ...(address === undefined ? {} : { address: addressBlock(address) }),
    };
  }

  private reserveKeys(keys: { account?: string; address?: string }): () => void {
    const { account: accountKey, address: addressKey } = keys;
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

  /** Takes from the shared bucket of `name`: 0 when taken, else the seconds until one is free. */
  private async takeShared(
    shared: SharedBuckets,
    bucket: 'account' | 'address',
    name: string,
  ): Promise<number> {
    const limit = bucket === 'account' ? this.limits.perAccount : this.limits.perAddress;
    const slot = slotOf(shared.key, name, this.slots);
    const before = await shared.take(bucket, slot, limit, this.limits.windowMs, this.now());
    return before >= 1 ? 0 : waitSeconds(before, limit, this.limits.windowMs);
  }

  private giveShared(
    shared: SharedBuckets,
    bucket: 'account' | 'address',
    name: string,
  ): Promise<void> {
    const limit = bucket === 'account' ? this.limits.perAccount : this.limits.perAddress;
    const slot = slotOf(shared.key, name, this.slots);
    return shared.give(bucket, slot, limit, this.limits.windowMs, this.now());
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
