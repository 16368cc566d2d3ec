/**
 * Authentication: HTTP Basic, HTTP Digest, API tokens (`Authorization: Bearer`), and session
 * cookies with CSRF tokens.
 *
 * A slow hash must not run on every request, so verified Basic credentials are cached under a
 * keyed SHA-256 of the Authorization header (never the header itself) in a bounded LRU, and every
 * hit re-reads the account's credential version: a password changed by another process takes
 * effect on the next request. Login attempts are throttled per account and per client address
 * (`LoginThrottle`); credentials already verified and live sessions keep working while an account
 * is throttled. On a store several processes share, `start()` makes Digest nonces and the throttle
 * shared through it (a nonce issued by one process works on another; attempts count everywhere).
 */
import { createHash, hash, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { hashPassword, verifyPassword } from '../accounts/passwords.js';
import { hashToken } from '../accounts/tokens.js';
import { type ApiError, errors } from '../errors.js';
import type { Store } from '../store/types.js';
import { DigestVerifier, parseDigest } from './digest.js';
import { DEFAULT_THROTTLE, type GiveBack, LoginThrottle, type ThrottleLimits } from './throttle.js';

export interface Principal {
  uuid: string;
  email: string;
  /** `async`: the websocket's `async_auth` cookie; `token`: an API token (Bearer). */
  via: 'basic' | 'digest' | 'session' | 'async' | 'token';
}

interface CachedLogin {
  uuid: string;
  email: string;
  credVersion: number;
}

export interface AuthRequest {
  method: string;
  /** Path and query as sent (Digest signs it). */
  url: string;
  authorization: string | undefined;
  sessionId: string | undefined;
  csrfHeader: string | undefined;
  /** The client's address (the login throttle counts attempts per address). */
  address?: string | undefined;
  /**
   * Marked `X-Requested-With: XMLHttpRequest` (the web console): its 401 carries no
   * `WWW-Authenticate`, so that the browser opens no login dialog of its own.
   */
  xhr?: boolean;
  /** Came over TLS (the socket's own; no proxy header is trusted). */
  encrypted?: boolean;
}

export interface AuthenticatorOptions {
  /** Offer and accept HTTP Digest (needs the stored HA1). */
  digest: boolean;
  cacheSize?: number;
  sessionTtlMs?: number;
  /** Login attempts allowed per account and per client address. */
  throttle?: ThrottleLimits;
  now?: () => number;
  /**
   * Whether an account's profile sets `api_https_only`: its requests over plain HTTP are then
   * refused, but for `/profile/` itself (so that it can be read and turned off where no TLS is).
   */
  httpsOnly?: (account: string) => Promise<boolean>;
}

/** The one path an `api_https_only` account may use over plain HTTP. */
const PROFILE_PATH = /^\/api\/2\.0\/profile\/?(?:\?|$)/;

export interface NewSession {
  principal: Principal;
  sessionId: string;
  csrfToken: string;
  maxAgeSeconds: number;
}

export const BASIC_CHALLENGE = 'Basic realm="users"';
export const SESSION_COOKIE = 'sessionid';
export const CSRF_COOKIE = 'csrftoken';
/** The websocket cookie of `do=authenticate_asynchronous` (api-reference.md §1.3). */
export const ASYNC_COOKIE = 'async_auth';
/** CloudSigma's async_auth cookie lives two minutes. */
export const ASYNC_MAX_AGE = 120;
/** Django's defaults, which CloudSigma's cookies show. */
export const SESSION_MAX_AGE = 1_209_600;
export const CSRF_MAX_AGE = 31_449_600;

/** How long a Digest nonce is accepted (then the client is told it is stale). */
const DIGEST_NONCE_TTL_MS = 300_000;

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export class Authenticator {
  /**
   * Prefixed to the header before hashing, so cache keys reveal nothing without the process's
   * memory. A one-shot hash, not an HMAC: the key only names a cache entry (length extension
   * does not matter), and it runs on every request (an HMAC object costs about four times more).
   */
  private readonly keyPrefix = randomBytes(32).toString('base64');
  private readonly cache: LRUCache<string, CachedLogin>;
  private readonly inFlight = new Map<string, Promise<CachedLogin | null>>();
  private readonly throttle: LoginThrottle;
  private readonly digest: DigestVerifier | undefined;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    private readonly options: AuthenticatorOptions,
  ) {
    this.cache = new LRUCache({ max: options.cacheSize ?? 10_000 });
    this.now = options.now ?? Date.now;
    this.throttle = new LoginThrottle(options.throttle ?? DEFAULT_THROTTLE, this.now);
    this.digest = options.digest ? new DigestVerifier(DIGEST_NONCE_TTL_MS, this.now) : undefined;
  }

  /**
   * Shares Digest nonces and the login throttle through the store when several processes may use
   * it (PostgreSQL); nothing to do for a store of one process. Call before serving.
   */
  async start(): Promise<void> {
    const shared = this.store.sharedAuth;
    if (!shared) return;
    this.throttle.share({
      key: (await shared.secret('login-throttle')).toString('base64'),
      take: (...args) => shared.takeAttempt(...args),
      give: (...args) => shared.giveAttempt(...args),
    });
    this.digest?.share({
      key: await shared.secret('digest-nonces'),
      advance: (nonce, count, expiresAt) => shared.advanceNonce(nonce, count, expiresAt),
    });
  }

  /**
   * The 401 for a request without valid credentials, with a challenge per scheme offered; none
   * for a script of a page (`xhr`), where the challenge would make the browser ask for a password.
   */
  unauthorized(stale = false, xhr = false): ApiError {
    if (xhr) return errors.unauthorized([]);
    const challenges = [BASIC_CHALLENGE];
    if (this.digest) challenges.push(this.digest.challenge(stale));
    return errors.unauthorized(challenges);
  }

  /**
   * The account a request proves, or an ApiError (401, 403 for a missing CSRF token or a plain
   * HTTP request of an `api_https_only` account, 429).
   */
  async authenticate(request: AuthRequest): Promise<Principal> {
    const principal = await this.identify(request);
    if (
      request.encrypted !== true &&
      this.options.httpsOnly &&
      !PROFILE_PATH.test(request.url) &&
      (await this.options.httpsOnly(principal.uuid))
    ) {
      throw errors.httpsOnly();
    }
    return principal;
  }

  private async identify(request: AuthRequest): Promise<Principal> {
    const header = request.authorization;
    if (header) {
      if (/^digest\s/i.test(header)) return this.fromDigest(header, request);
      if (/^bearer\s/i.test(header)) return this.fromToken(header, request);
      return this.fromBasic(header, request);
    }
    if (request.sessionId) {
      const principal = await this.fromSession(request.sessionId);
      if (principal) {
        if (!SAFE_METHODS.has(request.method) && !(await this.csrfMatches(request))) {
          throw errors.permission(
            'CSRF verification failed: send the csrftoken cookie value as X-CSRFToken',
          );
        }
        return principal;
      }
    }
    throw this.unauthorized(false, request.xhr);
  }

  private async fromBasic(header: string, request: AuthRequest): Promise<Principal> {
    const xhr = request.xhr;
    const key = hash('sha256', this.keyPrefix + header, 'base64');
    const cached = this.cache.get(key);
    if (cached) {
      const version = await this.store.accounts.credVersion(cached.uuid);
      if (version === cached.credVersion)
        return { uuid: cached.uuid, email: cached.email, via: 'basic' };
      this.cache.delete(key);
    }
    const basic = parseBasic(header);
    if (!basic) throw this.unauthorized(false, xhr);
    let pending = this.inFlight.get(key);
    if (!pending) {
      // Reserved before the slow hash: parallel guesses are counted as they arrive.
      const reserved = this.throttle.reserve(basic.email, request.address);
      pending = reserved
        .then((giveBack) => this.verifyPassword(basic.email, basic.password, giveBack))
        .finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const login = await pending;
    if (!login) throw this.unauthorized(false, xhr);
    this.cache.set(key, login);
    return { uuid: login.uuid, email: login.email, via: 'basic' };
  }

  /**
   * Checks a password (the slow hash); a success gives the throttle's reservation back. An
   * unknown email is hashed against a dummy, so that it takes as long to refuse as a known one
   * (no telling which emails have accounts from the time of the answer).
   */
  private async verifyPassword(
    email: string,
    password: string,
    giveBack: GiveBack,
  ): Promise<CachedLogin | null> {
    const account = await this.store.accounts.byEmail(email);
    const stored = account?.passwordHash ?? (await this.dummyHash());
    const right = await verifyPassword(password, stored);
    if (account && right) {
      await giveBack();
      return { uuid: account.uuid, email: account.email, credVersion: account.credVersion };
    }
    return null;
  }

  private dummy: Promise<string> | undefined;
  private dummyHash(): Promise<string> {
    this.dummy ??= hashPassword(randomBytes(16).toString('base64'));
    return this.dummy;
  }

  private async fromDigest(header: string, request: AuthRequest): Promise<Principal> {
    const params = this.digest ? parseDigest(header) : null;
    if (!this.digest || !params) throw this.unauthorized(false, request.xhr);
    const nonce = this.digest.checkNonce(params.nonce);
    if (nonce !== 'ok') throw this.unauthorized(nonce === 'stale', request.xhr);
    const giveBack = await this.throttle.reserve(params.username, request.address);
    const account = await this.store.accounts.byEmail(params.username);
    if (
      !account?.ha1 ||
      !(await this.digest.verify(params, account.ha1, request.method, request.url))
    ) {
      throw this.unauthorized(false, request.xhr);
    }
    await giveBack();
    return { uuid: account.uuid, email: account.email, via: 'digest' };
  }

  /**
   * An API token, checked on every request (a revoked one stops working at once, in every
   * process). Tokens are too long to guess, but each wrong one costs a store read: they count
   * against the client address's login budget (not an account's: a token names none), reserved in
   * this process and counted in the shared tables only when wrong (no store write per request).
   */
  private async fromToken(header: string, request: AuthRequest): Promise<Principal> {
    const giveBack = this.throttle.reserveHere(undefined, request.address);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const account = match ? await this.store.tokens.accountOf(hashToken(match[1]!)) : undefined;
    if (!account) {
      await this.throttle.failed(undefined, request.address);
      throw this.unauthorized(false, request.xhr);
    }
    giveBack();
    return { uuid: account.uuid, email: account.email, via: 'token' };
  }

  private async fromSession(sessionId: string): Promise<Principal | null> {
    const session = await this.store.sessions.get(hashSessionId(sessionId), this.now());
    if (!session) return null;
    const account = await this.store.accounts.byUuid(session.account);
    return account ? { uuid: account.uuid, email: account.email, via: 'session' } : null;
  }

  private async csrfMatches(request: AuthRequest): Promise<boolean> {
    if (!request.sessionId || !request.csrfHeader) return false;
    const session = await this.store.sessions.get(hashSessionId(request.sessionId), this.now());
    return session?.csrfToken === request.csrfHeader;
  }

  /** `do=login`: checks the password (throttled) and opens a session. */
  async login(email: string, password: string, address?: string): Promise<NewSession> {
    const giveBack = await this.throttle.reserve(email, address);
    const login = await this.verifyPassword(email, password, giveBack);
    if (!login) throw errors.permission('Wrong username or password', null, 401);
    const sessionId = randomBytes(32).toString('base64url');
    const csrfToken = randomBytes(32).toString('hex');
    await this.store.sessions.create({
      idHash: hashSessionId(sessionId),
      account: login.uuid,
      csrfToken,
      expiresAt: this.now() + (this.options.sessionTtlMs ?? SESSION_MAX_AGE * 1000),
    });
    return {
      principal: { uuid: login.uuid, email: login.email, via: 'session' },
      sessionId,
      csrfToken,
      maxAgeSeconds: Math.floor((this.options.sessionTtlMs ?? SESSION_MAX_AGE * 1000) / 1000),
    };
  }

  async logout(sessionId: string): Promise<void> {
    await this.store.sessions.remove(hashSessionId(sessionId));
  }

  /**
   * `do=authenticate_asynchronous`: a token for the websocket's `async_auth` cookie, valid for
   * ASYNC_MAX_AGE seconds. It is kept as a short session row (any process sharing the store can
   * check it; expired rows go with the next session created; a password change ends it) whose id
   * is hashed under another prefix, so it never works as a `sessionid`, nor a session id as it.
   */
  async issueAsyncToken(principal: Principal): Promise<{ token: string; maxAgeSeconds: number }> {
    const token = randomBytes(32).toString('base64url');
    await this.store.sessions.create({
      idHash: hashAsyncToken(token),
      account: principal.uuid,
      // No CSRF token: a row that is not a login session can never pass a CSRF check.
      csrfToken: '',
      expiresAt: this.now() + ASYNC_MAX_AGE * 1000,
    });
    return { token, maxAgeSeconds: ASYNC_MAX_AGE };
  }

  /** The account an `async_auth` cookie value proves, or null (unknown or expired). */
  async fromAsyncToken(token: string): Promise<Principal | null> {
    if (token === '') return null;
    const session = await this.store.sessions.get(hashAsyncToken(token), this.now());
    if (!session) return null;
    const account = await this.store.accounts.byUuid(session.account);
    return account ? { uuid: account.uuid, email: account.email, via: 'async' } : null;
  }
}

function hashSessionId(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('hex');
}

function hashAsyncToken(token: string): string {
  return createHash('sha256').update(`async_auth:${token}`).digest('hex');
}

export function parseBasic(header: string): { email: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  // No account has a NUL in its email or password (PostgreSQL cannot even compare one).
  if (colon < 0 || decoded.includes('\0')) return null;
  return { email: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
