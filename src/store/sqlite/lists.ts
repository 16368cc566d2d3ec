/**
 * Lists in SQLite: a page of one account's objects of a kind, filtered and ordered, with its
 * total; unfiltered pages from the read cache (the list's uuids, the objects' bytes, joined
 * windows); the objects shared with an account; the audit log's entries (`log_entries`).
 */
import {
  type Filter,
  fold,
  type ListPage,
  type ListQuery,
  LOG_KINDS,
  type ObjectRecord,
} from '../types.js';
import { type CachedObject, encoded } from './cache.js';
import type { SqliteAccess } from './common.js';

/** One object's rendered forms, from the cache when it may answer (not inside a write). */
export function cachedObject(store: SqliteAccess, uuid: string): CachedObject | undefined {
  if (!store.writing) {
    store.cache.validate();
    const hit = store.cache.object(uuid);
    if (hit) return hit;
  }
  const row = store
    .statement('SELECT kind, uuid, owner, detail, summary FROM objects WHERE uuid = ?')
    .get(uuid) as Pick<ObjectRecord, 'kind' | 'uuid' | 'owner' | 'detail' | 'summary'> | undefined;
  if (!row) return undefined;
  const object = encoded(row);
  if (!store.writing) store.cache.rememberObject(object);
  return object;
}

/** A page of a list (`ReadTx.list`). */
export async function listPage(store: SqliteAccess, query: ListQuery): Promise<ListPage> {
  // Sharing costs nothing to an account nothing is granted to: its lists stay on the fast paths.
  if (
    query.sharedWith !== undefined &&
    query.owner !== null &&
    hasGrants(store, query.sharedWith)
  ) {
    return sharedList(store, query, query.owner, query.sharedWith);
  }
  if (LOG_KINDS.includes(query.kind)) return logList(store, query);
  if (query.filters.length === 0 && !query.order && !store.writing) {
    return cachedList(store, query);
  }
  const where = ['kind = ?', query.owner === null ? 'owner IS NULL' : 'owner = ?'];
  const params: unknown[] = [query.kind];
  if (query.owner !== null) params.push(query.owner);
  for (const filter of query.filters) {
    const [clause, values] = filterClause(filter);
    where.push(clause);
    params.push(...values);
  }
  return page(store, 'objects', where.join(' AND '), params, query);
}

/** The total and the window of `table`'s rows matching `whereSql`, in the query's order. */
function page(
  store: SqliteAccess,
  table: 'objects' | 'log_entries',
  whereSql: string,
  params: unknown[],
  query: ListQuery,
): ListPage {
  // Unfiltered, the list counts answer without counting.
  const total =
    query.filters.length === 0
      ? ((
          store
            .statement('SELECT n FROM object_counts WHERE owner = ? AND kind = ?')
            .get(query.owner ?? '', query.kind) as { n: number } | undefined
        )?.n ?? 0)
      : (
          store
            .statement(`SELECT count(*) AS n FROM ${table} WHERE ${whereSql}`)
            .get(...params) as { n: number }
        ).n;
  const column = query.view === 'detail' ? 'detail' : 'summary';
  const order = query.order
    ? `${query.order.column} ${query.order.descending ? 'DESC' : 'ASC'}, seq`
    : 'seq';
  const items = store
    .statement(
      `SELECT ${column} FROM ${table} WHERE ${whereSql} ORDER BY ${order} LIMIT ? OFFSET ?`,
    )
    .pluck()
    .all(...params, query.limit === 0 ? -1 : query.limit, query.offset) as string[];
  return { total, items };
}

/** A page of a log kind's entries (their own table; in creation order, never shared). */
function logList(store: SqliteAccess, query: ListQuery): ListPage {
  const where = ['owner IS ?', 'kind = ?'];
  const params: unknown[] = [query.owner, query.kind];
  for (const filter of query.filters) {
    if (filter.column === 'tag' || (filter.op === 'contains' && filter.column === 'name')) {
      throw new Error(`log entries have no ${filter.column} ${filter.op} filter`);
    }
    const [clause, values] = filterClause(filter);
    where.push(clause);
    params.push(...values);
  }
  // An entry's list form is its detail (`summary` is not stored twice).
  return page(store, 'log_entries', where.join(' AND '), params, { ...query, view: 'detail' });
}

/**
 * Whether anything is granted to `grantee`, cached outside write transactions. Only `setGrants`
 * adds grants and it drops the cached answers; deletions leave a stale yes at worst, which only
 * sends lists down the (equally correct) shared path.
 */
function hasGrants(store: SqliteAccess, grantee: string): boolean {
  const { cache } = store;
  const read = () =>
    store.statement('SELECT 1 FROM grants WHERE grantee = ? LIMIT 1').pluck().get(grantee) !==
    undefined;
  if (store.writing) return read();
  cache.validate();
  let granted = cache.hasGrants(grantee);
  if (granted === undefined) {
    granted = read();
    cache.rememberHasGrants(grantee, granted);
  }
  return granted;
}

/** The owner's objects and those granted to `grantee`, with the permissions of the latter. */
function sharedList(
  store: SqliteAccess,
  query: ListQuery,
  owner: string,
  grantee: string,
): ListPage {
  const where = ['o.kind = ?'];
  const params: unknown[] = [grantee, query.kind];
  if (query.sharedPermission === undefined) {
    where.push('(o.owner = ? OR g.permissions IS NOT NULL)');
    params.push(owner);
  } else {
    where.push('(o.owner = ? OR instr(g.permissions, ?) > 0)');
    params.push(owner, JSON.stringify(query.sharedPermission));
  }
  for (const filter of query.filters) {
    const [clause, values] = filterClause(filter);
    where.push(clause);
    params.push(...values);
  }
  const from = `objects o LEFT JOIN grants g ON g.object = o.uuid AND g.grantee = ?
    WHERE ${where.join(' AND ')}`;
  const { n: total } = store.statement(`SELECT count(*) AS n FROM ${from}`).get(...params) as {
    n: number;
  };
  const column = query.view === 'detail' ? 'detail' : 'summary';
  const order = query.order
    ? `o.${query.order.column} ${query.order.descending ? 'DESC' : 'ASC'}, o.seq`
    : 'o.seq';
  const rows = store
    .statement(
      `SELECT o.${column} AS j, CASE WHEN o.owner = ? THEN NULL ELSE g.permissions END AS p
       FROM ${from} ORDER BY ${order} LIMIT ? OFFSET ?`,
    )
    .all(owner, ...params, query.limit === 0 ? -1 : query.limit, query.offset) as {
    j: string;
    p: string | null;
  }[];
  return {
    total,
    items: rows.map((row) => row.j),
    grants: rows.map((row) => (row.p === null ? undefined : (JSON.parse(row.p) as string[]))),
  };
}

/**
 * Lists longer than this are read in slices of at most SLICE_MS, the lock handed to whoever waits
 * in between: shorter ones (every page of a paged client) are read at once, as before.
 */
export const SLICED_LIST_MIN = 2000;
const SLICE_MS = 20;

/** An unfiltered page in creation order, from the cached list of uuids and cached objects. */
function cachedList(store: SqliteAccess, query: ListQuery): ListPage | Promise<ListPage> {
  const { cache } = store;
  cache.validate();
  let uuids = cache.list(query.owner, query.kind);
  if (!uuids) {
    uuids = store
      .statement(
        `SELECT uuid FROM objects WHERE kind = ? AND ${query.owner === null ? 'owner IS NULL' : 'owner = ?'} ORDER BY seq`,
      )
      .pluck()
      .all(...(query.owner === null ? [query.kind] : [query.kind, query.owner])) as string[];
    cache.rememberList(query.owner, query.kind, uuids);
  }
  const window = query.joined ? `${query.view}/${query.offset}/${query.limit}` : undefined;
  if (window !== undefined) {
    const joined = cache.joined(query.owner, query.kind, window);
    if (joined) return { total: uuids.length, items: [], joined };
  }
  const page =
    query.limit === 0
      ? uuids.slice(query.offset)
      : uuids.slice(query.offset, query.offset + query.limit);
  if (page.length >= SLICED_LIST_MIN) return slicedList(store, query, uuids.length, page, window);
  const items: Buffer[] = [];
  for (const uuid of page) {
    const object = cachedObject(store, uuid);
    if (object) items.push(query.view === 'detail' ? object.detail : object.summary);
  }
  if (window === undefined) return { total: uuids.length, items };
  const joined = joinWithCommas(items);
  cache.rememberJoined(query.owner, query.kind, window, joined);
  return { total: uuids.length, items: [], joined };
}

/**
 * A long page (a whole list of thousands: `?limit=0`) read a slice at a time, the store's lock
 * handed to the requests waiting between slices, so that no slice holds the event loop or the
 * store for long. Each slice's items are joined on their own: the items are those slices,
 * comma-separated, which the answer joins with commas again. An object deleted meanwhile is left
 * out, one changed meanwhile is sent as it is now; the whole join is kept for the next reader
 * only if nothing was committed meanwhile. Stops (throws) once `query.signal` says the client went away.
 */
async function slicedList(
  store: SqliteAccess,
  query: ListQuery,
  total: number,
  page: readonly string[],
  window: string | undefined,
): Promise<ListPage> {
  const { cache } = store;
  const epoch = cache.epoch;
  const slices: Buffer[] = [];
  let items: Buffer[] = [];
  let started = performance.now();
  for (let i = 0; i < page.length; i++) {
    const object = cachedObject(store, page[i]!);
    if (object) items.push(query.view === 'detail' ? object.detail : object.summary);
    if ((i & 255) === 255 && performance.now() - started > SLICE_MS) {
      // Items the caller picks from (`fields=`: not joined) stay one by one.
      if (window === undefined) slices.push(...items);
      else if (items.length > 0) slices.push(joinWithCommas(items));
      items = [];
      await store.pause();
      query.signal?.throwIfAborted();
      cache.validate();
      started = performance.now();
    }
  }
  if (window === undefined) return { total, items: [...slices, ...items] };
  if (items.length > 0) slices.push(joinWithCommas(items));
  if (cache.epoch === epoch) {
    // Nothing changed while it was read: joined once more (a copy, one slice's time per 50 MB
    // or so) and kept, the next reader of the list gets it at once.
    const joined = slices.length === 1 ? slices[0]! : joinWithCommas(slices);
    cache.rememberJoined(query.owner, query.kind, window, joined);
    return { total, items: [], joined };
  }
  return { total, items: slices };
}

function filterClause(filter: Filter): [string, string[]] {
  if (filter.column === 'tag') {
    const marks = filter.values.map(() => '?').join(', ');
    return [
      `uuid IN (SELECT source FROM links WHERE kind = 'tag' AND target IN (${marks}))`,
      [...filter.values],
    ];
  }
  if (filter.op === 'contains') {
    const column = filter.column === 'name' ? 'name_fold' : filter.column;
    const values = filter.values.map(fold);
    return [`(${values.map(() => `instr(${column}, ?) > 0`).join(' OR ')})`, values];
  }
  return [`${filter.column} IN (${filter.values.map(() => '?').join(', ')})`, [...filter.values]];
}

const COMMA = Buffer.from(',');

function joinWithCommas(items: readonly Buffer[]): Buffer {
  const chunks: Buffer[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i > 0) chunks.push(COMMA);
    chunks.push(items[i]!);
  }
  return Buffer.concat(chunks);
}
