/**
 * The routes every collection resource has: list, detail list, schema, one object, create (one or
 * many), PUT merge, delete (one or many). A resource supplies its rules; the conventions are here.
 */

import { errors } from '../errors.js';
import type { ApiContext, ApiHandler, ApiResult, Method, RouteSpec } from '../http/api.js';
import {
  ignoredListParameters,
  readFilters,
  readOrder,
  readPaging,
  readProjection,
} from '../http/query.js';
import type { ResourceDef } from '../model/fields.js';
import { unknownFields } from '../model/input.js';
import { isPlainObject } from '../model/json.js';
import { resourceUri } from '../model/refs.js';
import { renderSchema } from '../model/schema.js';
import type { ObjectRecord, WriteTx } from '../store/types.js';
import { type Access, sharedView, withoutOwnerFields } from './acls/access.js';
import {
  loadAccessible,
  loadVisible,
  loadVisibleDetail,
  noteUnknownObjects,
  readObjects,
  readUuids,
} from './common.js';
import type { ResourceEnv } from './env.js';
import { readTagFilters } from './tags/relations.js';

/** An object a create stored: its uuid and rendered detail. */
export interface Created {
  uuid: string;
  detail: string;
}

export interface CollectionRules {
  def: ResourceDef;
  /**
   * Validates and stores new objects (all or nothing), in the order given. `signal` is aborted
   * once the client went away: what is not committed by then need not be.
   */
  create(owner: string, items: unknown[], signal?: AbortSignal): Promise<Created[]>;
  /**
   * Applies a PUT body to one object inside `tx`; returns the rendered detail. `caller` is the
   * account sending it: the owner, or a grantee with EDIT.
   */
  update(tx: WriteTx, record: ObjectRecord, body: unknown, caller: string): Promise<string>;
  /** Deletes objects inside `tx` (query parameters such as `recurse` are the resource's). */
  remove(tx: WriteTx, records: ObjectRecord[], ctx: ApiContext): Promise<void>;
}

/** The read side of a collection: list, detail list, schema and one object. */
export function readRoutes(env: ResourceEnv, def: ResourceDef): RouteSpec[] {
  const kind = def.kind;
  const list =
    (view: 'summary' | 'detail') =>
    async (ctx: ApiContext): Promise<ApiResult> => {
      const paging = readPaging(ctx.query, def.defaultLimit ?? 20);
      const filters = readFilters(ctx.query, def);
      ctx.noteIgnoredParameters(ignoredListParameters(ctx.query, def));
      const page = await env.store.read(async (tx) =>
        tx.list({
          kind,
          owner: ctx.principal.uuid,
          // Objects shared with the caller with LIST are listed beside its own.
          sharedWith: ctx.principal.uuid,
          sharedPermission: 'LIST',
          filters: [...filters, ...(await readTagFilters(tx, ctx.query, def, ctx.principal.uuid))],
          order: readOrder(ctx.query, def) ?? def.defaultOrder,
          limit: paging.limit,
          offset: paging.offset,
          view: def.listFields ? view : 'detail',
          // Sent as kept, unless `fields=` picks from each item.
          joined: readProjection(ctx.query) === undefined,
          // A long list stops being read once its client is gone.
          ...((paging.limit === 0 || paging.limit >= 1000) && ctx.clientSignal
            ? { signal: ctx.clientSignal() }
            : {}),
        }),
      );
      const { grants } = page;
      const items = grants
        ? page.items.map((item, i) => {
            const permissions = grants[i];
            return permissions ? sharedView(item, { owner: false, permissions }) : item;
          })
        : page.items;
      return { type: 'list', total: page.total, ...paging, items, joined: page.joined };
    };
  return [
    { path: `/${kind}/`, handlers: { GET: list('summary') }, resource: { def, as: 'list' } },
    {
      path: `/${kind}/detail/`,
      handlers: { GET: list('detail') },
      resource: { def, as: 'list' },
    },
    {
      path: `/${kind}/schema/`,
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(def) }) },
    },
    {
      path: `/${kind}/:uuid/`,
      handlers: {
        GET: async (ctx) => {
          const view = await loadVisibleDetail(env.store, kind, ctx.params.uuid!, ctx);
          return { type: 'object', json: view.detail };
        },
      },
      resource: { def, as: 'object' },
    },
  ];
}

/** Every route of a collection: the read side, plus create, PUT merge and delete (one or many). */
export function collectionRoutes(env: ResourceEnv, rules: CollectionRules): RouteSpec[] {
  const { def } = rules;
  const kind = def.kind;
  const writes: Record<string, Partial<Record<Method, ApiHandler>>> = {
    [`/${kind}/`]: {
      POST: async (ctx) => {
        const items = readObjects(ctx.body);
        noteUnknownObjects(ctx, def.fields, items);
        // A single create (the hot path) is not worth watching the connection for.
        const signal = items.length > 1 ? ctx.clientSignal?.() : undefined;
        const created = await rules.create(ctx.principal.uuid, items, signal);
        const headers: Record<string, string> = {};
        if (created.length === 1)
          headers.location = ctx.origin + resourceUri(kind, created[0]!.uuid);
        return {
          type: 'object',
          status: 201,
          json: `{"objects":[${created.map((c) => c.detail).join(',')}]}`,
          headers,
          uuids: created.map((c) => c.uuid),
        };
      },
      PUT: async (ctx) => {
        const items = readObjects(ctx.body);
        noteUnknownObjects(ctx, def.fields, items);
        const signal = items.length > 1 ? ctx.clientSignal?.() : undefined;
        const updated = await env.store.write(async (tx) => {
          await lockInOrder(tx, items);
          const out: string[] = [];
          for (const [i, item] of items.entries()) {
            if (!isPlainObject(item) || typeof item.uuid !== 'string') {
              throw errors.invalid(`objects.${i}.uuid`, 'Each object needs a "uuid"');
            }
            const { record, access } = await loadAccessible(tx, kind, item.uuid, ctx, 'EDIT');
            out.push(await updateAs(tx, rules, record, access, item, ctx.principal.uuid));
          }
          // The client went away meanwhile: the transaction rolls back.
          signal?.throwIfAborted();
          return out;
        });
        return { type: 'object', json: `{"objects":[${updated.join(',')}]}` };
      },
      DELETE: async (ctx) => {
        const uuids = readUuids(ctx.body);
        const signal = uuids.length > 1 ? ctx.clientSignal?.() : undefined;
        await env.store.write(async (tx) => {
          await tx.getMany(uuids);
          const records: ObjectRecord[] = [];
          for (const uuid of new Set(uuids)) {
            records.push(await loadVisible(tx, kind, uuid, ctx, 'DELETE'));
          }
          await rules.remove(tx, records, ctx);
          // The client went away meanwhile: the transaction rolls back.
          signal?.throwIfAborted();
        });
        return { type: 'empty' };
      },
    },
    [`/${kind}/:uuid/`]: {
      PUT: async (ctx) => {
        if (!isPlainObject(ctx.body)) throw errors.expectedObject(null);
        ctx.noteUnknownFields(unknownFields(def.fields, ctx.body));
        const json = await env.store.write(async (tx) => {
          const { record, access } = await loadAccessible(tx, kind, ctx.params.uuid!, ctx, 'EDIT');
          return updateAs(tx, rules, record, access, ctx.body, ctx.principal.uuid);
        });
        return { type: 'object', json };
      },
      DELETE: async (ctx) => {
        await env.store.write(async (tx) => {
          const record = await loadVisible(tx, kind, ctx.params.uuid!, ctx, 'DELETE');
          await rules.remove(tx, [record], ctx);
        });
        return { type: 'empty' };
      },
    },
  };
  return readRoutes(env, def).map((route) => ({
    path: route.path,
    ...(route.resource ? { resource: route.resource } : {}),
    handlers: { ...(route.handlers as Partial<Record<Method, ApiHandler>>), ...writes[route.path] },
  }));
}

/**
 * A PUT by the owner or by an account granted EDIT. The tags are the owner's: another account's
 * `tags` (it sees `[]`) are ignored. The answer is the object as stored after every relation
 * followed (its grants among them), as the caller sees it.
 */
async function updateAs(
  tx: WriteTx,
  rules: CollectionRules,
  record: ObjectRecord,
  access: Access,
  body: unknown,
  caller: string,
): Promise<string> {
  const json = await rules.update(tx, record, withoutOwnerFields(body, access), caller);
  const stored = await tx.get(record.uuid);
  return sharedView(stored?.detail ?? json, access).toString();
}

/**
 * Reads (and so, on PostgreSQL, locks) every object a bulk request names, in one statement and one
 * order, so that two bulk requests over the same objects cannot deadlock.
 */
async function lockInOrder(tx: WriteTx, items: unknown[]): Promise<void> {
  const uuids = items.flatMap((item) =>
    isPlainObject(item) && typeof item.uuid === 'string' ? [item.uuid] : [],
  );
  await tx.getMany(uuids);
}
