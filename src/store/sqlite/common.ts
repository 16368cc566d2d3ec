/** What the SQLite store's modules share: record columns, rows, and their view of the store. */
import type { Statement } from 'better-sqlite3';
import type { ObjectQuotas, Task } from '../types.js';
import type { Change, ReadCache } from './cache.js';

/**
 * What the store's modules (transaction, lists, accounts, tokens) use of `SqliteStore`: its
 * statements, its lock, its read cache and the transaction being built. An interface of its own,
 * so that they need not import the store that imports them.
 */
export interface SqliteAccess {
  readonly cache: ReadCache;
  /** Changes of the transaction being built, applied to the cache after its COMMIT. */
  readonly changes: Change[];
  /** Inside a write transaction: reads must see its uncommitted rows, so they skip the cache. */
  readonly writing: boolean;
  tasksAdded: boolean;
  grantsWritten: boolean;
  /** Objects per account, by kind (`Store.setQuotas`). */
  readonly quotas: ObjectQuotas;
  statement(sql: string): Statement;
  locked<T>(fn: () => T): Promise<T>;
  /** Between slices of a long read: lets the event loop and the lock's waiters have a turn. */
  pause(): Promise<void>;
}

export const RECORD_COLUMNS = 'kind, uuid, owner, name, status, version, doc, detail, summary';

export interface Row {
  kind: string;
  uuid: string;
  owner: string | null;
  name: string;
  status: string | null;
  version: number;
  doc: string;
  detail: string;
  summary: string;
}

/** A task as stored: a null host is left out (tasks written before hosts existed look the same). */
export function taskRow(row: Task): Task {
  const { host, ...task } = row;
  return host == null ? task : { ...task, host };
}
