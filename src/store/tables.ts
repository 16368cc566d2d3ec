/**
 * The one catalogue of the tables every store keeps, read by both dialects: what a restore locks
 * and empties, which snapshot table a table's rows belong to, and what removing an account (or
 * only what it owns) deletes. A table added to a store's migrations is added here, and snapshot,
 * restore and account removal of both stores then know it.
 */
import type { SnapshotTable } from './types.js';

export interface StoreTable {
  /** Its SQL name, the same in both dialects. */
  name: string;
  /**
   * The snapshot table its rows are part of (`objects`: objects and the log entries); undefined
   * for derived rows, which a restore rebuilds (the list counts).
   */
  snapshot: SnapshotTable | undefined;
  /**
   * Its rows of an account, as a condition on `:account` (the account's uuid; each dialect puts
   * in its own parameter). Conditions that find rows through the account's objects run before
   * `objects` loses them: the catalogue is in removal order.
   */
  ofAccount: string;
  /** The account's own rows (its sessions, tokens, itself): kept when only what it owns goes. */
  accountItself?: true;
}

const OWNED = 'SELECT uuid FROM objects WHERE owner = :account';

/** Every table of a store, in the order an account's rows are removed. */
export const STORE_TABLES: readonly StoreTable[] = [
  { name: 'claims', snapshot: 'claims', ofAccount: `holder IN (${OWNED})` },
  { name: 'tasks', snapshot: 'tasks', ofAccount: `target IN (${OWNED})` },
  { name: 'component_state', snapshot: 'state', ofAccount: `key IN (${OWNED})` },
  {
    name: 'links',
    snapshot: 'links',
    ofAccount: `source IN (${OWNED}) OR target IN (${OWNED})`,
  },
  { name: 'grants', snapshot: 'grants', ofAccount: `object IN (${OWNED}) OR grantee = :account` },
  { name: 'objects', snapshot: 'objects', ofAccount: 'owner = :account' },
  { name: 'log_entries', snapshot: 'objects', ofAccount: 'owner = :account' },
  { name: 'object_counts', snapshot: undefined, ofAccount: 'owner = :account' },
  { name: 'sessions', snapshot: 'sessions', ofAccount: 'account = :account', accountItself: true },
  { name: 'api_tokens', snapshot: 'tokens', ofAccount: 'account = :account', accountItself: true },
  { name: 'accounts', snapshot: 'accounts', ofAccount: 'uuid = :account', accountItself: true },
];

/** Every table's name (what a restore locks and empties). */
export const TABLE_NAMES: readonly string[] = STORE_TABLES.map((table) => table.name);

/**
 * The statements that remove an account's rows, in order, with `:account` written as `param`
 * (`:account` for SQLite's named parameters, `$1` for PostgreSQL). `ownedOnly`: what the account
 * owns and what hangs on it, the account itself staying (test control: reset one account).
 */
export function accountRemoval(param: string, ownedOnly = false): string[] {
  return STORE_TABLES.filter((table) => !(ownedOnly && table.accountItself)).map(
    (table) => `DELETE FROM ${table.name} WHERE ${table.ofAccount.replaceAll(':account', param)}`,
  );
}
