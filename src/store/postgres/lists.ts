/**
 * Lists in PostgreSQL: a page of one account's objects of a kind (in creation order, or by name or
 * uuid), filtered, with its total; the objects shared with an account; the audit log's entries,
 * which live in a table of their own (`log_entries`).
 */
import { type Filter, fold, type ListPage, type ListQuery, LOG_KINDS } from '../types.js';
import type { CachedRow, PgReadCache } from './cache.js';
import type { Queryable } from './common.js';

/** What lists need of the store's read cache (see `cache.ts`). */
export interface ListCache {
  cache: PgReadCache;
  /** Whether the cache may answer now. */
  fresh(): Promise<boolean>;
}

/**
 * An unfiltered page in creation order from the read cache (the list's uuids, the objects' bytes,
 * joined windows), reading what it lacks; undefined when the cache cannot answer this query.
 */
export async function cachedListPage(
  db: Queryable,
  query: ListQuery,
  cached: ListCache,
): Promise<ListPage | undefined> {
  if (query.filters.length > 0 || query.order || LOG_KINDS.includes(query.kind)) return undefined;
  if (!(await cached.fresh())) return undefined;
  const { cache } = cached;
  const generation = cache.generation;
  if (query.sharedWith !== undefined && query.owner !== null) {
    let granted = cache.hasGrants(query.sharedWith);
    if (granted === undefined) {
      const { rowCount } = await db.query('SELECT 1 FROM grants WHERE grantee = $1 LIMIT 1', [
        query.sharedWith,
      ]);
      granted = (rowCount ?? 0) > 0;
      cache.rememberHasGrants(query.sharedWith, granted, generation);
    }
    // Shared lists carry permissions per item: the database answers them.
    if (granted) return undefined;
  }
  let uuids = cache.list(query.owner, query.kind);
  if (!uuids) {
    const { rows } = await db.query<{ uuid: string }>(
      `SELECT uuid FROM objects WHERE kind = $1 AND ${query.owner === null ? 'owner IS NULL' : 'owner = $2'} ORDER BY seq`,
      query.owner === null ? [query.kind] : [query.kind, query.owner],
    );
    uuids = rows.map((row) => row.uuid);
    cache.rememberList(query.owner, query.kind, uuids, generation);
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
  const found = new Map<string, CachedRow>();
  const missing: string[] = [];
  for (const uuid of page) {
    const hit = cache.object(uuid);
    if (hit) found.set(uuid, hit);
    else missing.push(uuid);
  }
  // A long list's missing objects are read a slice at a time: each slice's rows are parsed and
  // encoded between two turns of the event loop, and the read stops once its client is gone.
  for (let at = 0; at < missing.length; at += MISSING_SLICE) {
    if (at > 0) query.signal?.throwIfAborted();
    const { rows } = await db.query<{
      kind: string;
      uuid: string;
      owner: string | null;
      detail: string;
      summary: string;
    }>('SELECT kind, uuid, owner, detail, summary FROM objects WHERE uuid = ANY($1::text[])', [
      missing.slice(at, at + MISSING_SLICE),
    ]);
    for (const row of rows) {
      const object = cachedRow(row);
      found.set(row.uuid, object);
      cache.rememberObject(object, generation);
    }
  }
  const items: Buffer[] = [];
  for (const uuid of page) {
    const object = found.get(uuid);
    if (object) items.push(query.view === 'detail' ? object.detail : object.summary);
  }
  if (window === undefined) return { total: uuids.length, items };
  const joined = joinWithCommas(items);
  cache.rememberJoined(query.owner, query.kind, window, joined, generation);
  return { total: uuids.length, items: [], joined };
}

/**
 * Objects a list reads from the database in one query: a page of a paged client, or a list of
 * up to 10,000, at once (slices of 2,000 made the benchmark's whole list of 10,000 twice as slow).
 */
const MISSING_SLICE = 10_000;

/** A row as the cache keeps it: both rendered forms as the bytes that are sent. */
export function cachedRow(row: {
  kind: string;
  uuid: string;
  owner: string | null;
  detail: string;
  summary: string;
}): CachedRow {
  return { ...row, detail: Buffer.from(row.detail), summary: Buffer.from(row.summary) };
}

const COMMA = Buffer.from(',');

function joinWithCommas(items: readonly Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const [i, item] of items.entries()) {
    if (i > 0) parts.push(COMMA);
    parts.push(item);
  }
  return Buffer.concat(parts);
}

export async function listPage(db: Queryable, query: ListQuery): Promise<ListPage> {
  // Sharing costs one indexed probe to an account nothing is granted to.
  if (query.sharedWith !== undefined && query.owner !== null) {
    const { rowCount } = await db.query('SELECT 1 FROM grants WHERE grantee = $1 LIMIT 1', [
      query.sharedWith,
    ]);
    if (rowCount) return sharedList(db, query, query.owner, query.sharedWith);
  }
  if (LOG_KINDS.includes(query.kind)) return logList(db, query);
  const params: unknown[] = [query.kind];
  const where = ['kind = $1'];
  if (query.owner === null) where.push('owner IS NULL');
  else {
    params.push(query.owner);
    where.push(`owner = $${params.length}`);
  }
  for (const filter of query.filters) where.push(filterClause(filter, params));
  const whereSql = where.join(' AND ');
  let total: number;
  if (query.filters.length === 0) {
    const { rows } = await db.query<{ n: string }>(
      'SELECT n FROM object_counts WHERE owner = $1 AND kind = $2',
      [query.owner ?? '', query.kind],
    );
    total = Number(rows[0]?.n ?? 0);
  } else {
    const { rows } = await db.query<{ n: string }>(
      `SELECT count(*) AS n FROM objects WHERE ${whereSql}`,
      params,
    );
    total = Number(rows[0]?.n ?? 0);
  }
  const column = query.view === 'detail' ? 'detail' : 'summary';
  const order = query.order
    ? `${query.order.column} ${query.order.descending ? 'DESC' : 'ASC'}, seq`
    : 'seq';
  const limit = query.limit === 0 ? 'ALL' : String(query.limit);
  const { rows } = await db.query<{ j: string }>(
    `SELECT ${column} AS j FROM objects WHERE ${whereSql} ORDER BY ${order} LIMIT ${limit} OFFSET ${query.offset}`,
    params,
  );
  return { total, items: rows.map((row) => row.j) };
}

/** A page of a log kind's entries (their own table; in creation order, never shared). */
async function logList(db: Queryable, query: ListQuery): Promise<ListPage> {
  const params: unknown[] = [query.owner, query.kind];
  const where = ['owner IS NOT DISTINCT FROM $1', 'kind = $2'];
  for (const filter of query.filters) {
    if (filter.column === 'tag' || (filter.op === 'contains' && filter.column === 'name')) {
      throw new Error(`log entries have no ${filter.column} ${filter.op} filter`);
    }
    where.push(filterClause(filter, params));
  }
  const whereSql = where.join(' AND ');
  const total =
    query.filters.length === 0
      ? await listCount(db, query)
      : await count(db, `SELECT count(*) AS n FROM log_entries WHERE ${whereSql}`, params);
  const limit = query.limit === 0 ? 'ALL' : String(query.limit);
  // An entry's list form is its detail (`summary` is not stored twice).
  const { rows } = await db.query<{ j: string }>(
    `SELECT detail AS j FROM log_entries WHERE ${whereSql} ORDER BY seq LIMIT ${limit} OFFSET ${query.offset}`,
    params,
  );
  return { total, items: rows.map((row) => row.j) };
}

/** An unfiltered list's total, from the list counts. */
async function listCount(db: Queryable, query: ListQuery): Promise<number> {
  const { rows } = await db.query<{ n: string }>(
    'SELECT n FROM object_counts WHERE owner = $1 AND kind = $2',
    [query.owner ?? '', query.kind],
  );
  return Number(rows[0]?.n ?? 0);
}

async function count(db: Queryable, sql: string, params: unknown[]): Promise<number> {
  const { rows } = await db.query<{ n: string }>(sql, params);
  return Number(rows[0]?.n ?? 0);
}

/** The owner's objects and those granted to `grantee`, with the permissions of the latter. */
async function sharedList(
  db: Queryable,
  query: ListQuery,
  owner: string,
  grantee: string,
): Promise<ListPage> {
  const params: unknown[] = [grantee, query.kind, owner];
  const where = ['o.kind = $2'];
  if (query.sharedPermission === undefined) {
    where.push('(o.owner = $3 OR g.permissions IS NOT NULL)');
  } else {
    params.push(JSON.stringify(query.sharedPermission));
    where.push(`(o.owner = $3 OR strpos(g.permissions, $${params.length}) > 0)`);
  }
  for (const filter of query.filters) where.push(filterClause(filter, params));
  const from = `objects o LEFT JOIN grants g ON g.object = o.uuid AND g.grantee = $1
    WHERE ${where.join(' AND ')}`;
  const counted = await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${from}`, params);
  const column = query.view === 'detail' ? 'detail' : 'summary';
  const order = query.order
    ? `o.${query.order.column} ${query.order.descending ? 'DESC' : 'ASC'}, o.seq`
    : 'o.seq';
  const limit = query.limit === 0 ? 'ALL' : String(query.limit);
  const { rows } = await db.query<{ j: string; p: string | null }>(
    `SELECT o.${column} AS j, CASE WHEN o.owner = $3 THEN NULL ELSE g.permissions END AS p
     FROM ${from} ORDER BY ${order} LIMIT ${limit} OFFSET ${query.offset}`,
    params,
  );
  return {
    total: Number(counted.rows[0]?.n ?? 0),
    items: rows.map((row) => row.j),
    grants: rows.map((row) => (row.p === null ? undefined : (JSON.parse(row.p) as string[]))),
  };
}

function filterClause(filter: Filter, params: unknown[]): string {
  if (filter.column === 'tag') {
    params.push([...filter.values]);
    return `uuid IN (SELECT source FROM links WHERE kind = 'tag' AND target = ANY($${params.length}::text[]))`;
  }
  if (filter.op === 'contains') {
    const column = filter.column === 'name' ? 'name_fold' : filter.column;
    const parts = filter.values.map((value) => {
      params.push(fold(value));
      return `strpos(${column}, $${params.length}) > 0`;
    });
    return `(${parts.join(' OR ')})`;
  }
  params.push([...filter.values]);
  return `${filter.column} = ANY($${params.length}::text[])`;
}
