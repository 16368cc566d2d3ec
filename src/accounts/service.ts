/** Account management, shared by the server's start-up and `sigmalite user ...`. */

import { alphanumeric, cryptoRandom, type Random } from '../model/random.js';
import { toRecord } from '../resources/common.js';
import { newProfile, profileKind } from '../resources/profile/model.js';
import { type Account, DuplicateEmailError, type Store } from '../store/types.js';
import { AccountError } from './errors.js';
import { digestHa1, hashPassword } from './passwords.js';

export interface AccountOptions {
  /** Store the Digest HA1 beside the scrypt hash (off with `--no-digest`). */
  digest: boolean;
  random?: Random;
}

export interface Credentials {
  email: string;
  password: string;
}

export { AccountError } from './errors.js';

const EMAIL = /^[^\s:@]+@[^\s:@]+$/;

export function checkEmail(email: string): void {
  if (!EMAIL.test(email))
    throw new AccountError(`"${email}" is not an email address (no spaces or ":")`);
}

export function generatePassword(random: Random = cryptoRandom): string {
  return alphanumeric(random, 16);
}

export async function createAccount(
  store: Store,
  credentials: Credentials,
  options: AccountOptions,
): Promise<Account> {
  checkEmail(credentials.email);
  if (credentials.password === '') throw new AccountError('the password cannot be empty');
  const random = options.random ?? cryptoRandom;
  const now = new Date().toISOString();
  const account: Account = {
    uuid: random.uuid(),
    email: credentials.email,
    passwordHash: await hashPassword(credentials.password),
    ha1: options.digest ? digestHa1(credentials.email, credentials.password) : null,
    credVersion: 1,
    createdAt: now,
  };
  try {
    await store.accounts.create(account);
  } catch (e) {
    // The CLI reports AccountErrors as `sigmalite: MESSAGE` (exit 2), not as a crash.
    if (e instanceof DuplicateEmailError) throw new AccountError(e.message);
    throw e;
  }
  await store.write((tx) =>
    tx.insert(toRecord(profileKind, newProfile(account.uuid, account.email, now))),
  );
  return account;
}

export async function setPassword(
  store: Store,
  credentials: Credentials,
  options: AccountOptions,
): Promise<void> {
  const account = await store.accounts.byEmail(credentials.email);
  if (!account) throw new AccountError(`no account with email ${credentials.email}`);
  if (credentials.password === '') throw new AccountError('the password cannot be empty');
  await store.accounts.setPassword(
    account.uuid,
    await hashPassword(credentials.password),
    options.digest ? digestHa1(credentials.email, credentials.password) : null,
  );
}

export async function removeAccount(store: Store, email: string): Promise<void> {
  const account = await store.accounts.byEmail(email);
  if (!account) throw new AccountError(`no account with email ${email}`);
  await store.accounts.remove(account.uuid);
}

/** `SIGMALITE_USERS`: `email:password[,email:password...]` (a password may contain `:`). */
export function parseUsers(text: string): Credentials[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '')
    .map((entry) => {
      const colon = entry.indexOf(':');
      if (colon <= 0 || colon === entry.length - 1) {
        throw new AccountError(
          `SIGMALITE_USERS entry "${entry.split(':')[0]}" must be email:password`,
        );
      }
      return { email: entry.slice(0, colon), password: entry.slice(colon + 1) };
    });
}

export const DEFAULT_EMAIL = 'admin@sigmalite.local';

/**
 * Makes sure the given accounts exist with those passwords; with no accounts at all, creates one
 * with a generated password. Returns the accounts it created with a generated password.
 */
export async function ensureAccounts(
  store: Store,
  users: readonly Credentials[],
  options: AccountOptions,
): Promise<Credentials[]> {
  for (const user of users) {
    if (await store.accounts.byEmail(user.email)) await setPassword(store, user, options);
    else await createAccount(store, user, options);
  }
  if ((await store.accounts.count()) > 0) return [];
  const generated = { email: DEFAULT_EMAIL, password: generatePassword(options.random) };
  await createAccount(store, generated, options);
  return [generated];
}
