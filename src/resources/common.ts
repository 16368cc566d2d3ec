/**
 * Pieces every resource shares: field declarations that recur (meta, tags, owner...), reading
 * POST bodies in their three shapes, loading an object the caller may see, and turning a document
 * into a store record with its rendered representations.
 */

import { errors } from '../errors.js';
import type { ApiContext } from '../http/api.js';
import type { FieldDef, Fields, ResourceDef } from '../model/fields.js';
import { unknownFields } from '../model/input.js';
import { canonicalJson, isPlainObject } from '../model/json.js';
import { type Link, link } from '../model/refs.js';
import type { DetailView, NewRecord, ObjectRecord, ReadTx, Store } from '../store/types.js';
import {
  type Access,
  accessOf,
  OWNER,
  PERMISSIONS,
  type Permission,
  requirePermission,
  sharedView,
} from './acls/access.js';

export const META_KEY_MAX = 32;
/** Characters of a `meta` in all, keys and values (each value is also a request string). */
export const META_TOTAL_MAX = 262_144;
export const META_VALUE_MAX = 65_536;

export function checkMeta(value: unknown, point: string): void {
  if (!isPlainObject(value)) throw errors.invalid(point, 'Expected an object');
  let total = 0;
  for (const [key, item] of Object.entries(value)) {
    if (typeof item === 'string') {
      if (item.length > META_VALUE_MAX) {
        throw errors.invalid(
          point,
          `Meta values must be at most ${META_VALUE_MAX} characters; "${key}" has ${item.length}`,
        );
      }
      total += key.length + item.length;
      if (total > META_TOTAL_MAX) {
        throw errors.invalid(
          point,
          `A meta may hold at most ${META_TOTAL_MAX} characters of keys and values in all`,
        );
      }
    }
    if ([...key].length > META_KEY_MAX) {
      throw errors.invalid(point, `Meta keys must be at most ${META_KEY_MAX} characters: "${key}"`);
    }
    if (typeof item !== 'string') {
      throw errors.invalid(point, `Meta values must be strings; "${key}" is not`);
    }
  }
}

export const fields = {
  uuid: (help: string): FieldDef => ({
    type: 'string',
    help,
    default: null,
    readonly: true,
    required: true,
  }),
  resourceUri: (): FieldDef => ({
    type: 'string',
    help: 'Unicode string data. Ex: "Hello World"',
    readonly: true,
    required: true,
  }),
  owner: (help: string, required = true): FieldDef => ({
    type: 'related',
    help,
    default: null,
    readonly: true,
    required,
  }),
  meta: (help: string): FieldDef => ({ type: 'dict', help, default: {}, check: checkMeta }),
  tags: (): FieldDef => ({
    type: 'related',
    help: 'Many related resources. Can be either a list of URIs or list of individually nested resource data.',
    shape: 'many',
    ref: 'tags',
  }),
  /** Who the owner shares the object with (acls/grants.ts `SharedWith`). */
  grantees: (): FieldDef => ({
    type: 'list',
    help: "A list of data. Ex: ['abc', 26.73, 8]",
    readonly: true,
    output: {
      fields: {
        permissions: {
          type: 'list',
          help: 'What the grantee may do',
          output: { choices: PERMISSIONS },
        },
        user: {
          type: 'related',
          help: 'The grantee',
          output: {
            fields: {
              email: { type: 'string', help: 'Email of the grantee' },
              resource_uri: { type: 'string', help: 'URI of the grantee' },
              uuid: { type: 'string', help: 'UUID of the grantee' },
            },
          },
        },
      },
    },
  }),
  /** What the caller may do with an object shared with it (empty for the owner). */
  permissions: (): FieldDef => ({
    type: 'list',
    help: "A list of data. Ex: ['abc', 26.73, 8]",
    readonly: true,
    output: { choices: PERMISSIONS },
  }),
  jobs: (): FieldDef => ({
    type: 'related',
    help: 'Background jobs related to this resource',
    readonly: true,
    required: true,
    shape: 'many',
  }),
};

/** The most a slice of a bulk request's preparation holds the event loop (`mapInSlices`). */
const SLICE_MS = 20;

/**
 * `items.map(fn)` for a bulk request's preparation (up to `--max-request-items` objects read and
 * checked): in slices of at most SLICE_MS, the event loop turning in between so that other
 * requests keep answering. Throws once `signal` says the client went away (nothing is written
 * yet). A short batch is mapped at once.
 */
export async function mapInSlices<T, U>(
  items: readonly T[],
  fn: (item: T) => U,
  signal?: AbortSignal,
): Promise<U[]> {
  const out: U[] = [];
  let started = performance.now();
  for (const item of items) {
    out.push(fn(item));
    if (performance.now() - started > SLICE_MS) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      signal?.throwIfAborted();
      started = performance.now();
    }
  }
  return out;
}

/** The objects of a POST body: `{"objects": [...]}`, a bare list, or one bare object. */
/** Unknown fields of the objects of a bulk body, pointed at as `objects.N.field`. */
export function noteUnknownObjects(
  ctx: ApiContext,
  fields: Fields,
  items: readonly unknown[],
): void {
  const wrapped = isPlainObject(ctx.body) && Array.isArray(ctx.body.objects);
  ctx.noteUnknownFields(
    items.flatMap((item, i) =>
      unknownFields(
        fields,
        item,
        wrapped ? `objects.${i}.` : Array.isArray(ctx.body) ? `${i}.` : '',
      ),
    ),
  );
}

export function readObjects(body: unknown): unknown[] {
  if (Array.isArray(body)) return nonEmpty(body);
  if (isPlainObject(body)) {
    if (Object.hasOwn(body, 'objects')) {
      if (!Array.isArray(body.objects))
        throw errors.invalid('objects', 'Expected a list of objects');
      return nonEmpty(body.objects);
    }
    return [body];
  }
  if (body === undefined) throw errors.invalid(null, 'A request body is required');
  throw errors.invalid(null, 'Expected a JSON object or a list of objects');
}

function nonEmpty(items: unknown[]): unknown[] {
  if (items.length === 0) throw errors.invalid('objects', 'At least one object is required');
  return items;
}

/** The uuids of a bulk DELETE body: `{"objects": [{"uuid": ...}|"uuid", ...]}`. */
export function readUuids(body: unknown): string[] {
  const items = readObjects(body);
  return items.map((item, i) => {
    if (typeof item === 'string' && item !== '') return item;
    if (isPlainObject(item) && typeof item.uuid === 'string' && item.uuid !== '') return item.uuid;
    throw errors.invalid(`objects.${i}.uuid`, 'Each object needs a "uuid"');
  });
}

export function userLink(uuid: string): Link {
  return link('user', uuid);
}

/** A document kind: how it is rendered and indexed. */
export interface DocKind<D> {
  def: ResourceDef;
  uuid(doc: D): string;
  owner(doc: D): string | null;
  name(doc: D): string;
  status(doc: D): string | null;
  /** The detail representation (what GET /{kind}/{uuid}/ answers). */
  render(doc: D): Record<string, unknown>;
}

export function toRecord<D>(kind: DocKind<D>, doc: D): NewRecord {
  const detail = kind.render(doc);
  // Who the owner shares the object with, kept in the document by acls/grants.ts.
  const sharedWith = (doc as { shared_with?: unknown }).shared_with;
  if (Array.isArray(sharedWith) && 'grantees' in detail) detail.grantees = sharedWith;
  const rendered = canonicalJson(detail);
  return {
    kind: kind.def.kind,
    uuid: kind.uuid(doc),
    owner: kind.owner(doc),
    name: kind.name(doc),
    status: kind.status(doc),
    doc: JSON.stringify(doc),
    detail: rendered,
    // Without list fields the list representation is the detail: rendered once.
    summary: kind.def.listFields ? canonicalJson(summarize(kind.def, detail)) : rendered,
  };
}

/** The record `doc` replaces `previous` with (same version, which the store checks). */
export function toUpdate<D>(kind: DocKind<D>, previous: ObjectRecord, doc: D): ObjectRecord {
  return { ...toRecord(kind, doc), version: previous.version };
}

export function summarize(
  def: ResourceDef,
  detail: Record<string, unknown>,
): Record<string, unknown> {
  if (!def.listFields) return detail;
  const out: Record<string, unknown> = {};
  for (const key of def.listFields) out[key] = detail[key];
  return out;
}

export function parseDoc<D>(record: ObjectRecord): D {
  return JSON.parse(record.doc) as D;
}

/**
 * The record of `uuid` if it is a `kind` object the caller owns or, with `permission`, one shared
 * with the caller with that permission. Otherwise 404 `notexist`, the same answer for a foreign
 * object as for a missing one, or 403 `permission` for an object shared without `permission`.
 */
export async function loadVisible(
  tx: Pick<ReadTx, 'get'> & (Pick<ReadTx, 'grantFor'> | Pick<Store, 'read'>),
  kind: string,
  uuid: string,
  ctx: Pick<ApiContext, 'principal'>,
  permission?: Permission,
): Promise<ObjectRecord> {
  return (await loadAccessible(tx, kind, uuid, ctx, permission)).record;
}

/** `loadVisible`, and what the caller may do with the record. */
export async function loadAccessible(
  tx: Pick<ReadTx, 'get'> & (Pick<ReadTx, 'grantFor'> | Pick<Store, 'read'>),
  kind: string,
  uuid: string,
  ctx: Pick<ApiContext, 'principal'>,
  permission?: Permission,
): Promise<{ record: ObjectRecord; access: Access }> {
  const record = await tx.get(uuid);
  if (record?.kind !== kind) throw errors.notExist(uuid);
  const access =
    permission === undefined
      ? record.owner === ctx.principal.uuid
        ? OWNER
        : undefined
      : await accessOf(tx, record, ctx.principal.uuid);
  requirePermission(access, kind, uuid, permission ?? 'LIST');
  return { record, access };
}

/**
 * What a GET of one object answers: the stored detail for its owner, the shared view for an
 * account granted `LIST`; 404 for anyone else, 403 for an account granted something else.
 */
export async function loadVisibleDetail(
  store: Store,
  kind: string,
  uuid: string,
  ctx: Pick<ApiContext, 'principal'>,
): Promise<DetailView> {
  const view = await store.getDetail(uuid);
  if (view?.kind !== kind) throw errors.notExist(uuid);
  if (view.owner === ctx.principal.uuid) return view;
  const access = await accessOf(store, view, ctx.principal.uuid);
  requirePermission(access, kind, uuid, 'LIST');
  return { ...view, detail: sharedView(view.detail, access) };
}
