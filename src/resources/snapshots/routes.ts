/** `/snapshots/` routes: the collection's, `?drive=` on the lists, and the clone action. */
import { dispatchAction } from '../../http/actions.js';
import type { ApiContext, ApiHandler, Method, RouteSpec } from '../../http/api.js';
import { all, readPaging, splitValues } from '../../http/query.js';
import { parseDoc } from '../common.js';
import { collectionRoutes } from '../crud.js';
import { DRIVES, type DriveDoc } from '../drives/model.js';
import type { ResourceEnv } from '../env.js';
import { cloneSnapshot } from './actions.js';
import { SNAPSHOT_KIND, SNAPSHOTS } from './model.js';
import { createSnapshots, deleteSnapshots, updateSnapshot } from './service.js';

export function snapshotRoutes(env: ResourceEnv): RouteSpec[] {
  const routes = collectionRoutes(env, {
    def: SNAPSHOTS,
    create: (owner, items) => createSnapshots(env, owner, items),
    update: (tx, record, body) => updateSnapshot(tx, record, body),
    remove: (tx, records) => deleteSnapshots(tx, records),
  });
  return [
    ...routes.map((route) =>
      route.path === `/${SNAPSHOT_KIND}/` || route.path === `/${SNAPSHOT_KIND}/detail/`
        ? withDriveFilter(env, route)
        : route,
    ),
    {
      path: `/${SNAPSHOT_KIND}/:uuid/action/`,
      handlers: {
        POST: dispatchAction({
          clone: async (ctx) => ({
            type: 'object',
            status: 202,
            json: await cloneSnapshot(env, ctx),
          }),
        }),
      },
      // The new drive, bare (not in `objects`).
      actions: { clone: { as: 'object', def: DRIVES } },
    },
  ];
}

/**
 * `?drive=<uuid>[,<uuid>...]` (pycloudsigma lists a drive's snapshots so): the snapshots of those
 * drives, found through each drive's `snapshots` and handed to the list as a `uuid` filter, so that
 * paging, counting and visibility stay the list's own.
 */
function withDriveFilter(env: ResourceEnv, route: RouteSpec): RouteSpec {
  if (route.public) return route;
  const handlers: Partial<Record<Method, ApiHandler>> = { ...route.handlers };
  const list = handlers.GET;
  if (!list) return route;
  handlers.GET = async (ctx: ApiContext) => {
    const params = all(ctx.query, 'drive');
    if (params.length === 0) return list(ctx);
    const uuidFilters: string[] = [];
    for (const text of params) {
      const drives = await env.store.read((tx) => tx.getMany(splitValues(text)));
      const snapshots = drives
        .filter((record) => record.kind === 'drives')
        .flatMap((record) => parseDoc<DriveDoc>(record).snapshots);
      if (snapshots.length === 0) {
        return { type: 'list', total: 0, ...readPaging(ctx.query, 20), items: [] };
      }
      uuidFilters.push(snapshots.join(','));
    }
    // `drive` is read here: the generic list must not count it as ignored.
    const { drive: _drive, ...rest } = ctx.query;
    const query = { ...rest, uuid: [...all(ctx.query, 'uuid'), ...uuidFilters] };
    return list({ ...ctx, query });
  };
  return { ...route, handlers };
}
