/**
 * HTTP Digest authentication (RFC 2617: MD5, qop=auth, realm "users") as CloudSigma offers it.
 * Nonces are HMAC-signed and expire; the nonce counts seen are remembered per nonce, and a count
 * that does not grow is refused as a replay. Alone, a process signs with a random key and keeps
 * the counts in memory; processes sharing a store (`share`) sign with the store's key and record
 * the counts there, so a nonce issued by one is accepted by every other, and a count seen by one
 * is refused by all.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { DIGEST_REALM } from '../accounts/passwords.js';

export interface DigestParams {
  username: string;
  realm: string;
  nonce: string;
  uri: string;
  response: string;
  qop?: string;
  nc?: string;
  cnonce?: string;
  algorithm?: string;
  opaque?: string;
}

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

/** Parses `Digest k="v", k=v, ...`; null if it is not a Digest header or lacks a required part. */
export function parseDigest(header: string): DigestParams | null {
  const match = /^Digest\s+(.*)$/is.exec(header);
  if (!match) return null;
  const params: Record<string, string> = {};
  const pattern = /([a-zA-Z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*(?:,|$)/g;
  for (const part of match[1]!.matchAll(pattern)) {
    params[part[1]!.toLowerCase()] =
      part[2] !== undefined ? part[2].replace(/\\(.)/g, '$1') : part[3]!;
  }
  const { username, realm, nonce, uri, response } = params;
  if (!username || realm === undefined || !nonce || !uri || !response) return null;
  return {
    username,
    realm,
    nonce,
    uri,
    response,
    qop: params.qop,
    nc: params.nc,
    cnonce: params.cnonce,
    algorithm: params.algorithm,
    opaque: params.opaque,
  };
}

export type NonceCheck = 'ok' | 'stale' | 'invalid';

/** What processes sharing a store share of Digest (the store's `SharedAuthRepo`). */
export interface SharedNonces {
  key: Buffer;
  /** Records the count if it is higher than the one recorded (see `SharedAuthRepo.advanceNonce`). */
  advance(nonce: string, count: number, expiresAt: number): Promise<boolean>;
}

export class DigestVerifier {
  private secret: Buffer = randomBytes(32);
  private opaque = randomBytes(16).toString('hex');
  private shared: SharedNonces | undefined;
  /**
   * The highest nonce count seen per nonce, kept until the nonce expires (then `checkNonce`
   * refuses it anyway). Never evicted early: a forgotten count would let a replay through. When
   * `maxTracked` live nonces are tracked, a new one is refused (the client gets a fresh challenge
   * and tries again later) rather than one forgotten. Nonces enter only with a right response.
   */
  private readonly counts = new Map<string, { count: number; stamp: number }>();

  constructor(
    private readonly nonceTtlMs = 300_000,
    private readonly now: () => number = Date.now,
    private readonly maxTracked = 100_000,
  ) {}

  /**
   * Signs with the shared key and records counts in the store from now on. The opaque value is
   * derived from the key, so that every process sends (and checks) the same.
   */
  share(shared: SharedNonces): void {
    this.shared = shared;
    this.secret = shared.key;
    this.opaque = this.sign('opaque');
  }

  /** A `WWW-Authenticate` value with a fresh nonce. */
  challenge(stale = false): string {
    return `Digest realm="${DIGEST_REALM}", qop="auth", algorithm="MD5", nonce="${this.nonce()}", opaque="${this.opaque}"${stale ? ', stale=true' : ''}`;
  }

  private nonce(): string {
    const stamp = String(this.now());
    const salt = randomBytes(8).toString('hex');
    return `${stamp}:${salt}:${this.sign(`${stamp}:${salt}`)}`;
  }

  private sign(text: string): string {
    return createHmac('sha256', this.secret).update(text).digest('hex').slice(0, 32);
  }

  checkNonce(nonce: string): NonceCheck {
    const [stamp, salt, signature] = nonce.split(':');
    if (!stamp || !salt || !signature || !/^\d+$/.test(stamp)) return 'invalid';
    const expected = Buffer.from(this.sign(`${stamp}:${salt}`));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return 'invalid';
    return this.now() - Number(stamp) > this.nonceTtlMs ? 'stale' : 'ok';
  }

  /**
   * Whether `params` prove knowledge of the password whose HA1 is `ha1` for this request.
   * Records the nonce count, so the same count is refused next time (in every process sharing).
   */
  async verify(
    params: DigestParams,
    ha1: string,
    method: string,
    requestUri: string,
  ): Promise<boolean> {
    if (params.realm !== DIGEST_REALM) return false;
    if (params.algorithm !== undefined && params.algorithm.toUpperCase() !== 'MD5') return false;
    if (params.opaque !== undefined && params.opaque !== this.opaque) return false;
    if (params.uri !== requestUri) return false;
    if (
      params.qop !== 'auth' ||
      !params.nc ||
      !params.cnonce ||
      !/^[0-9a-fA-F]{8}$/.test(params.nc)
    ) {
      return false;
    }
    const ha2 = md5(`${method}:${params.uri}`);
    const expected = md5(`${ha1}:${params.nonce}:${params.nc}:${params.cnonce}:auth:${ha2}`);
    const given = params.response.toLowerCase();
    if (
      expected.length !== given.length ||
      !timingSafeEqual(Buffer.from(expected), Buffer.from(given))
    ) {
      return false;
    }
    const count = Number.parseInt(params.nc, 16);
    if (this.shared) {
      const issued = Number(params.nonce.split(':', 1)[0]);
      return this.shared.advance(params.nonce, count, issued + this.nonceTtlMs);
    }
    const seen = this.counts.get(params.nonce);
    if (seen) {
      if (count <= seen.count) return false;
      seen.count = count;
      return true;
    }
    if (this.counts.size >= this.maxTracked) {
      this.forgetExpired();
      if (this.counts.size >= this.maxTracked) return false;
    }
    this.counts.set(params.nonce, { count, stamp: Number(params.nonce.split(':', 1)[0]) });
    return true;
  }

  /** Drops the counts of nonces that have expired (checkNonce refuses those before verify). */
  private forgetExpired(): void {
    const now = this.now();
    for (const [nonce, { stamp }] of this.counts) {
      if (now - stamp > this.nonceTtlMs) this.counts.delete(nonce);
    }
  }
}

/** The response a client computes (tests and clients of this module). */
export function digestResponse(
  ha1: string,
  nonce: string,
  nc: string,
  cnonce: string,
  method: string,
  uri: string,
): string {
  return md5(`${ha1}:${nonce}:${nc}:${cnonce}:auth:${md5(`${method}:${uri}`)}`);
}
