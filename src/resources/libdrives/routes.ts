/**
 * `/libdrives/` (api-reference.md §3.8): GET only (list == detail), the clone action, and the
 * library drives seen through `GET /drives/{uuid}/`.
 */

import { ApiError, errors } from '../../errors.js';
import { dispatchAction } from '../../http/actions.js';
import type { ApiContext, ApiHandler, ApiResult, Method, RouteSpec } from '../../http/api.js';
import { all, readFilters, readPaging, splitValues } from '../../http/query.js';
import { canonicalJson } from '../../model/json.js';
import { renderSchema } from '../../model/schema.js';
import type { Rendered } from '../../store/types.js';
import { parseDoc } from '../common.js';
import { DRIVES } from '../drives/model.js';
import type { ResourceEnv } from '../env.js';
import { cloneLibraryDrive } from './clone.js';
import { LIBDRIVE_KIND, LIBDRIVES, type LibdriveDoc, renderAsDrive } from './model.js';

/** Filters on fields the store does not index: applied to the (small) catalog in memory. */
const FIELD_FILTERS = ['arch', 'category', 'distribution', 'image_type', 'os', 'version'] as const;

interface FieldFilter {
  key: (typeof FIELD_FILTERS)[number];
  values: string[];
}

/** Exact matches, values ORed; `category` (a list) matches when any of its items does. */
function matches(object: Record<string, unknown>, filters: readonly FieldFilter[]): boolean {
  return filters.every(({ key, values }) => {
    const value = object[key];
    if (Array.isArray(value)) return value.some((item) => values.includes(String(item)));
    return typeof value === 'string' && values.includes(value);
  });
}

export function libdriveRoutes(env: ResourceEnv): RouteSpec[] {
  const list = async (ctx: ApiContext): Promise<ApiResult> => {
    const paging = readPaging(ctx.query, LIBDRIVES.defaultLimit ?? 20);
    const fieldFilters: FieldFilter[] = FIELD_FILTERS.flatMap((key) =>
      all(ctx.query, key).map((text) => ({ key, values: splitValues(text) })),
    );
    const inMemory = fieldFilters.length > 0;
    const page = await env.store.read((tx) =>
      tx.list({
        kind: LIBDRIVE_KIND,
        owner: null,
        filters: readFilters(ctx.query, LIBDRIVES),
        limit: inMemory ? 0 : paging.limit,
        offset: inMemory ? 0 : paging.offset,
        view: 'detail',
      }),
    );
    if (!inMemory) return { type: 'list', total: page.total, ...paging, items: page.items };
    const items: Rendered[] = page.items.filter((item) =>
      matches(JSON.parse(item.toString()) as Record<string, unknown>, fieldFilters),
    );
    const end = paging.limit === 0 ? items.length : paging.offset + paging.limit;
    return {
      type: 'list',
      total: items.length,
      ...paging,
      items: items.slice(paging.offset, end),
    };
  };
  return [
    { path: '/libdrives/', handlers: { GET: list }, resource: { def: LIBDRIVES, as: 'list' } },
    {
      path: '/libdrives/detail/',
      handlers: { GET: list },
      resource: { def: LIBDRIVES, as: 'list' },
    },
    {
      path: '/libdrives/schema/',
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(LIBDRIVES) }) },
    },
    {
      path: '/libdrives/:uuid/',
      resource: { def: LIBDRIVES, as: 'object' },
      handlers: {
        GET: async (ctx) => {
          const view = await env.store.getDetail(ctx.params.uuid!);
          if (view?.kind !== LIBDRIVE_KIND) throw errors.notExist(ctx.params.uuid!);
          return { type: 'object', json: view.detail };
        },
      },
    },
    {
      path: '/libdrives/:uuid/action/',
      handlers: {
        POST: dispatchAction({
          clone: async (ctx) => {
            const json = await cloneLibraryDrive(env, ctx);
            if (json === undefined) throw errors.notExist(ctx.params.uuid!);
            return { type: 'object', status: 202, json: `{"objects":[${json}]}` };
          },
        }),
      },
      actions: { clone: { as: 'objects', def: DRIVES } },
    },
  ];
}

/**
 * The drive routes, with `GET /drives/{uuid}/` answering a library drive too (as a drive with
 * `owner: null`; the drive lists leave them out). Only a uuid that is no drive of the caller's
 * costs the extra read.
 */
export function withLibraryDrives(env: ResourceEnv, routes: RouteSpec[]): RouteSpec[] {
  return routes.map((route): RouteSpec => {
    if (route.path !== '/drives/:uuid/' || route.public) return route;
    const handlers: Partial<Record<Method, ApiHandler>> = { ...route.handlers };
    const get = handlers.GET;
    if (!get) return route;
    handlers.GET = async (ctx) => {
      try {
        return await get(ctx);
      } catch (e) {
        if (!(e instanceof ApiError) || e.type !== 'notexist') throw e;
        const record = await env.store.get(ctx.params.uuid!);
        if (record?.kind !== LIBDRIVE_KIND) throw e;
        const drive = renderAsDrive(
          parseDoc<LibdriveDoc>(record),
          env.capabilities.default_storage_type,
        );
        return { type: 'object', json: canonicalJson(drive) };
      }
    };
    return { ...route, handlers };
  });
}
