/**
 * The list conventions of every collection: limit/offset, filters (`,` is OR, `\,` escapes it,
 * separate parameters AND), `fields=` projection and `order_by`.
 */

import { errors } from '../errors.js';
import type { ResourceDef } from '../model/fields.js';
import type { Filter, FilterColumn } from '../store/types.js';

export type Query = Record<string, string | string[] | undefined>;

/** Every value a parameter was given, in order. */
/** A URL's path, without its query. */
export function pathOf(url: string): string {
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}

export function all(query: Query, name: string): string[] {
  const value = query[name];
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

/** The last value of a parameter (CloudSigma: when a parameter repeats, the last one wins). */
export function last(query: Query, name: string): string | undefined {
  const values = all(query, name);
  return values[values.length - 1];
}

export interface Paging {
  limit: number;
  offset: number;
}

export function readPaging(query: Query, defaultLimit: number): Paging {
  return {
    limit: readCount(query, 'limit', defaultLimit),
    offset: readCount(query, 'offset', 0),
  };
}

function readCount(query: Query, name: string, fallback: number): number {
  const text = last(query, name);
  if (text === undefined || text === '') return fallback;
  if (!/^\d+$/.test(text)) throw errors.invalid(name, `"${name}" must be a non-negative integer`);
  const n = Number(text);
  if (!Number.isSafeInteger(n)) throw errors.invalid(name, `"${name}" is too large`);
  return n;
}

/** Splits a filter value on unescaped commas; `\,` is a comma and `\\` a backslash. */
export function splitValues(text: string): string[] {
  const values: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\\' && i + 1 < text.length && (text[i + 1] === ',' || text[i + 1] === '\\')) {
      current += text[i + 1];
      i++;
    } else if (ch === ',') {
      values.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  values.push(current);
  return values;
}

const FILTERS: Record<string, { column: FilterColumn; op: Filter['op'] }> = {
  name: { column: 'name', op: 'exact' },
  name__contains: { column: 'name', op: 'contains' },
  name__icontains: { column: 'name', op: 'contains' },
  uuid: { column: 'uuid', op: 'exact' },
  status: { column: 'status', op: 'exact' },
  state: { column: 'status', op: 'exact' },
};

/** Parameters every list understands, besides its filters. */
const LIST_PARAMETERS = ['limit', 'offset', 'fields', 'order_by', 'format'];

/**
 * The parameters of a list query that nothing reads (unknown, or a filter the resource does not
 * offer): ignored, as tastypie ignores them, and named in the request's log line.
 */
export function ignoredListParameters(
  query: Query,
  def: ResourceDef,
  extra: readonly string[] = [],
): string[] {
  const allowed = def.filtering ?? {};
  return Object.keys(query).filter(
    (param) =>
      !LIST_PARAMETERS.includes(param) &&
      !extra.includes(param) &&
      !(
        Object.hasOwn(FILTERS, param) &&
        (param in allowed || (param === 'name__icontains' && 'name__contains' in allowed))
      ) &&
      !((param === 'tag' || param === 'tag__name') && Object.hasOwn(allowed, 'tag')),
  );
}

/**
 * The store filters a query asks for. Parameters the resource does not filter on are ignored, as
 * tastypie ignores them; `name__icontains` is accepted wherever `name__contains` is.
 */
export function readFilters(query: Query, def: ResourceDef): Filter[] {
  const allowed = def.filtering ?? {};
  const filters: Filter[] = [];
  for (const [param, spec] of Object.entries(FILTERS)) {
    const accepted =
      param in allowed || (param === 'name__icontains' && 'name__contains' in allowed);
    if (!accepted) continue;
    for (const text of all(query, param)) {
      filters.push({ column: spec.column, op: spec.op, values: splitValues(text) });
    }
  }
  return filters;
}

export function readOrder(
  query: Query,
  def: ResourceDef,
): { column: 'uuid' | 'name'; descending: boolean } | undefined {
  const text = last(query, 'order_by');
  if (!text) return undefined;
  const descending = text.startsWith('-');
  const column = descending ? text.slice(1) : text;
  if (!def.ordering?.includes(column)) return undefined;
  if (column !== 'uuid' && column !== 'name') return undefined;
  return { column, descending };
}

/** The `fields=` projection, if asked for. */
export function readProjection(query: Query): string[] | undefined {
  const values = all(query, 'fields');
  if (values.length === 0) return undefined;
  const names = values
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter((v) => v !== '');
  return names.length > 0 ? names : undefined;
}
