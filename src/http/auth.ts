/**
 * Authentication. HTTP Basic against scrypt hashes; a slow hash must not run on every request, so
 * verified credentials are cached under an HMAC of the Authorization header (never the header
 * itself) in a bounded LRU, and every hit re-reads the account's credential version, so a password
 * changed by another process takes effect on the next request.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { verifyPassword } from '../accounts/passwords.js';
import type { Store } from '../store/types.js';

export interface Principal {
  uuid: string;
  email: string;
}

interface CachedLogin extends Principal {
  credVersion: number;
}

export interface AuthenticatorOptions {
  cacheSize?: number;
}

export class Authenticator {
  private readonly secret = randomBytes(32);
  private readonly cache: LRUCache<string, CachedLogin>;
  private readonly inFlight = new Map<string, Promise<CachedLogin | null>>();

  constructor(
    private readonly store: Store,
    options: AuthenticatorOptions = {},
  ) {
    this.cache = new LRUCache({ max: options.cacheSize ?? 10_000 });
  }

  /** The account an Authorization header proves, or null. */
  async authenticate(header: string | undefined): Promise<Principal | null> {
    if (!header) return null;
    const key = createHmac('sha256', this.secret).update(header).digest('base64');
    const cached = this.cache.get(key);
    if (cached) {
      const version = await this.store.accounts.credVersion(cached.uuid);
      if (version === cached.credVersion) return { uuid: cached.uuid, email: cached.email };
      this.cache.delete(key);
    }
    let pending = this.inFlight.get(key);
    if (!pending) {
      pending = this.verify(header).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, pending);
    }
    const login = await pending;
    if (!login) return null;
    this.cache.set(key, login);
    return { uuid: login.uuid, email: login.email };
  }

  private async verify(header: string): Promise<CachedLogin | null> {
    const basic = parseBasic(header);
    if (!basic) return null;
    const account = await this.store.accounts.byEmail(basic.email);
    if (!account) return null;
    if (!(await verifyPassword(basic.password, account.passwordHash))) return null;
    return { uuid: account.uuid, email: account.email, credVersion: account.credVersion };
  }
}

export function parseBasic(header: string): { email: string; password: string } | null {
  const match = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!match) return null;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return null;
  return { email: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

export const BASIC_CHALLENGE = 'Basic realm="users"';
