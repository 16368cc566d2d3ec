/**
 * API tokens (`sigmalite token create|list|revoke EMAIL`): credentials an operator issues for an
 * account, which clients send as `Authorization: Bearer TOKEN` wherever Basic is taken
 * (CloudSigma's Go SDK and Terraform provider, `CLOUDSIGMA_TOKEN`). A token is 256 random bits,
 * so a plain SHA-256 of it is what is stored: no slow hash is needed against guessing, and the
 * lookup on every request is one indexed read. The token itself is shown once, when made.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { ApiToken, Store } from '../store/types.js';
import { AccountError } from './errors.js';

/** Tokens start with this, so that secret scanners and people can tell what they are. */
export const TOKEN_PREFIX = 'sigmalite_';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new token for the account of `email`: its id (for `list` and `revoke`) and the token. */
export async function issueToken(
  store: Store,
  email: string,
  name = '',
): Promise<{ id: string; token: string }> {
  const account = await accountOf(store, email);
  const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
  const id = randomBytes(6).toString('hex');
  await store.tokens.create({
    id,
    account: account.uuid,
    hash: hashToken(token),
    name,
    createdAt: new Date().toISOString(),
  });
  return { id, token };
}

/** The account's tokens (never the tokens themselves: they are not kept). */
export async function listTokens(store: Store, email: string): Promise<ApiToken[]> {
  return store.tokens.list((await accountOf(store, email)).uuid);
}

/** Revokes one of the account's tokens: the next request that sends it gets 401. */
export async function revokeToken(store: Store, email: string, id: string): Promise<void> {
  const account = await accountOf(store, email);
  if (!(await store.tokens.remove(account.uuid, id))) {
    throw new AccountError(`${email} has no token ${id} (sigmalite token list ${email})`);
  }
}

async function accountOf(store: Store, email: string) {
  const account = await store.accounts.byEmail(email);
  if (!account) throw new AccountError(`no account with email ${email}`);
  return account;
}
