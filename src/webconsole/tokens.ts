/**
 * Tokens for the web console's screen and serial console: short-lived, single-use, issued to an
 * account for one server and one kind of tunnel. The browser opens its websocket with one, so no
 * password (neither the account's nor the server's `vnc_password`) ever reaches a URL.
 *
 * They are rows of the store's sessions table (hashed, with an empty CSRF token, so a token never
 * works as a login session), so any process sharing a PostgreSQL database redeems what another
 * issued, and `SessionRepo.take` hands each to exactly one redeemer. The hash binds the token to
 * its server and kind: a screen token opens no serial console, nor another server's screen.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { SessionRepo } from '../store/types.js';

export type TunnelKind = 'screen' | 'serial';

export const TUNNEL_KINDS: readonly TunnelKind[] = ['screen', 'serial'];

/** How long a token may wait for its websocket. */
export const TOKEN_TTL_MS = 30_000;

export class ConsoleTokens {
  constructor(
    private readonly sessions: Pick<SessionRepo, 'create' | 'take'>,
    private readonly now: () => number = Date.now,
    private readonly ttlMs = TOKEN_TTL_MS,
  ) {}

  /** A new token for `account` to open `kind` of `server` once, within the TTL. */
  async issue(
    account: string,
    server: string,
    kind: TunnelKind,
  ): Promise<{ token: string; expiresInSeconds: number }> {
    const token = randomBytes(32).toString('base64url');
    await this.sessions.create({
      idHash: tokenHash(kind, server, token),
      account,
      csrfToken: '',
      expiresAt: this.now() + this.ttlMs,
    });
    return { token, expiresInSeconds: Math.round(this.ttlMs / 1000) };
  }

  /** The account the token was issued to, once; undefined if unknown, used, expired or for another server or kind. */
  async redeem(server: string, kind: TunnelKind, token: string): Promise<string | undefined> {
    if (token === '') return undefined;
    const row = await this.sessions.take(tokenHash(kind, server, token), this.now());
    return row?.account;
  }
}

function tokenHash(kind: TunnelKind, server: string, token: string): string {
  return createHash('sha256').update(`console-${kind}:${server}:${token}`).digest('hex');
}
