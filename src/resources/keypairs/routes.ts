/**
 * `/keypairs/` (CRUD) and `/pubkeys/` (its read-only mirror), api-reference.md §5.6.
 *
 * A keypair holds a private key, so `/keypairs/` is its owner's alone, whatever is shared: another
 * account gets the 404 of a missing uuid there. An account a keypair is shared with (an ACL on
 * one of its tags) sees it at `/pubkeys/`, which never shows a private key; that is also where
 * a server's `pubkeys` links point.
 */

import { errors } from '../../errors.js';
import type { ApiContext, ApiHandler, ApiResult, Method, RouteSpec } from '../../http/api.js';
import { readFilters, readOrder, readPaging } from '../../http/query.js';
import type { ResourceDef } from '../../model/fields.js';
import { isPlainObject } from '../../model/json.js';
import { renderSchema } from '../../model/schema.js';
import type { Store } from '../../store/types.js';
import { sharedView } from '../acls/access.js';
import { loadAccessible, readObjects } from '../common.js';
import { collectionRoutes } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { readTagFilters } from '../tags/relations.js';
import { KEYPAIRS, PUBKEYS } from './model.js';
import { createKeypairs, deleteKeypairs, updateKeypair } from './service.js';

const KIND = KEYPAIRS.kind;

export function keypairRoutes(env: ResourceEnv): RouteSpec[] {
  const crud = collectionRoutes(env, {
    def: KEYPAIRS,
    create: (owner, items, signal) => createKeypairs(env, owner, items, signal),
    update: (tx, record, body) => updateKeypair(tx, record, body),
    remove: (tx, records) => deleteKeypairs(tx, records),
  });
  const owned = ownedRoutes(env);
  const keypairs = crud.map((route) => {
    const handlers = { ...(route.handlers as Partial<Record<Method, ApiHandler>>) };
    for (const method of Object.keys(handlers) as Method[]) {
      const own = owned[route.path]?.[method];
      if (own) handlers[method] = own;
      else if (method === 'PUT' || method === 'DELETE') {
        handlers[method] = ownerOnly(env.store, handlers[method]!);
      }
    }
    return { path: route.path, handlers, ...(route.resource ? { resource: route.resource } : {}) };
  });
  return [...keypairs, ...pubkeyRoutes(env)];
}

/** The reads of `/keypairs/`: the caller's own keypairs, never shared ones. */
function ownedRoutes(env: ResourceEnv): Record<string, Partial<Record<Method, ApiHandler>>> {
  const list = listOf(env, KEYPAIRS, 'detail', false);
  return {
    [`/${KIND}/`]: { GET: list },
    [`/${KIND}/detail/`]: { GET: list },
    [`/${KIND}/:uuid/`]: {
      GET: async (ctx) => {
        const view = await env.store.getDetail(ctx.params.uuid!);
        if (view?.kind !== KIND || view.owner !== ctx.principal.uuid) {
          throw errors.notExist(ctx.params.uuid!);
        }
        return { type: 'object', json: view.detail };
      },
    },
  };
}

/** A write of `/keypairs/` goes on only if every keypair it names is the caller's. */
function ownerOnly(store: Store, handler: ApiHandler): ApiHandler {
  return async (ctx) => {
    const uuids =
      ctx.params.uuid !== undefined
        ? [ctx.params.uuid]
        : ctx.body === undefined
          ? []
          : readObjects(ctx.body).flatMap((item) =>
              typeof item === 'string'
                ? [item]
                : isPlainObject(item) && typeof item.uuid === 'string'
                  ? [item.uuid]
                  : [],
            );
    const records = await store.read((tx) => tx.getMany(uuids));
    for (const record of records) {
      if (record.kind === KIND && record.owner !== ctx.principal.uuid) {
        throw errors.notExist(record.uuid);
      }
    }
    return handler(ctx);
  };
}

/**
 * A list of keypairs: the stored detail (`/keypairs/`, own only) or the pubkeys view kept in the
 * `summary` slot (`/pubkeys/`, with those shared with the caller, as they see them).
 */
function listOf(
  env: ResourceEnv,
  def: ResourceDef,
  view: 'detail' | 'summary',
  shared: boolean,
): ApiHandler {
  return async (ctx: ApiContext): Promise<ApiResult> => {
    const paging = readPaging(ctx.query, def.defaultLimit ?? 20);
    const page = await env.store.read(async (tx) =>
      tx.list({
        kind: KIND,
        owner: ctx.principal.uuid,
        ...(shared ? { sharedWith: ctx.principal.uuid, sharedPermission: 'LIST' } : {}),
        filters: [
          ...readFilters(ctx.query, def),
          ...(await readTagFilters(tx, ctx.query, def, ctx.principal.uuid)),
        ],
        order: readOrder(ctx.query, def),
        limit: paging.limit,
        offset: paging.offset,
        view,
      }),
    );
    const { grants } = page;
    const items = grants
      ? page.items.map((item, i) => {
          const permissions = grants[i];
          return permissions ? sharedView(item, { owner: false, permissions }) : item;
        })
      : page.items;
    return { type: 'list', total: page.total, ...paging, items };
  };
}

/** The keypairs again, each in its pubkeys view (stored beside its detail, see model.ts). */
function pubkeyRoutes(env: ResourceEnv): RouteSpec[] {
  const list = listOf(env, PUBKEYS, 'summary', true);
  return [
    { path: '/pubkeys/', handlers: { GET: list }, resource: { def: PUBKEYS, as: 'list' } },
    { path: '/pubkeys/detail/', handlers: { GET: list }, resource: { def: PUBKEYS, as: 'list' } },
    {
      path: '/pubkeys/schema/',
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(PUBKEYS) }) },
    },
    {
      path: '/pubkeys/:uuid/',
      resource: { def: PUBKEYS, as: 'object' },
      handlers: {
        GET: async (ctx) => {
          const { record, access } = await env.store.read((tx) =>
            loadAccessible(tx, KIND, ctx.params.uuid!, ctx, 'LIST'),
          );
          return { type: 'object', json: sharedView(record.summary, access) };
        },
      },
    },
  ];
}
