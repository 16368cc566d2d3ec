/**
 * What the upgrade test asks a store written by an older version, and how the answers are kept
 * (`fixtures/*.answers.json`, written by `seed-old.ts` in the old version).
 */

/** Collections listed (`detail/` and plain, `limit=0`), and each of their objects fetched. */
export const ASKED_COLLECTIONS = [
  'servers',
  'drives',
  'snapshots',
  'libdrives',
  'ips',
  'vlans',
  'fwpolicies',
  'tags',
  'keypairs',
  'acls',
  'jobs',
  'subscriptions',
] as const;

/** Single answers that come from stored state. */
export const ASKED_SINGLES = [
  '/profile/',
  '/logs/?limit=0',
  '/servers/availability_groups/',
  '/drives/availability_groups/',
] as const;

/** Per user, per path: the status and parsed body the old version answered. */
export type Answers = Record<string, Record<string, { status: number; body: unknown }>>;
