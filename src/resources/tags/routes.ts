import type { ApiContext, ApiResult, RouteSpec } from '../../http/api.js';
import { readPaging } from '../../http/query.js';
import type { ResourceDef } from '../../model/fields.js';
import { loadVisible } from '../common.js';
import { collectionRoutes } from '../crud.js';
import { DRIVES } from '../drives/model.js';
import type { ResourceEnv } from '../env.js';
import { IPS, VLANS } from '../networking/model.js';
import { SERVERS } from '../servers/model.js';
import { SNAPSHOTS } from '../snapshots/model.js';
import { TAGS } from './model.js';
import { createTags, deleteTags, updateTag } from './service.js';

/** The types `/tags/{uuid}/{type}/` lists. */
const LISTED: Record<string, ResourceDef> = {
  servers: SERVERS,
  drives: DRIVES,
  ips: IPS,
  vlans: VLANS,
  snapshots: SNAPSHOTS,
};

export function tagRoutes(env: ResourceEnv): RouteSpec[] {
  const routes = collectionRoutes(env, {
    def: TAGS,
    create: (owner, items) => createTags(env, owner, items),
    update: (tx, record, body) => updateTag(tx, record, body),
    remove: (tx, records) => deleteTags(tx, records),
  }).map((route): RouteSpec => {
    // The schema's list methods are get and post: no list PUT or bulk DELETE.
    if (route.path !== '/tags/' || route.public) return route;
    const { PUT: _put, DELETE: _delete, ...handlers } = route.handlers;
    return { ...route, handlers };
  });
  for (const [kind, def] of Object.entries(LISTED)) {
    // `detail/` as under the type's own list (libcloud's `list_nodes(ex_tag=...)` reads it).
    for (const [suffix, view] of [
      ['', 'summary'],
      ['detail/', 'detail'],
    ] as const) {
      routes.push({
        path: `/tags/:uuid/${kind}/${suffix}`,
        handlers: { GET: (ctx) => taggedList(env, ctx, def, view) },
        resource: { def, as: 'list' },
      });
    }
  }
  return routes;
}

/** The tag's resources of one type, in that type's list (or detail list) representation. */
async function taggedList(
  env: ResourceEnv,
  ctx: ApiContext,
  def: ResourceDef,
  view: 'summary' | 'detail',
): Promise<ApiResult> {
  const kind = def.kind;
  const paging = readPaging(ctx.query, 20);
  const page = await env.store.read(async (tx) => {
    const tag = await loadVisible(tx, 'tags', ctx.params.uuid!, ctx);
    return tx.list({
      kind,
      owner: ctx.principal.uuid,
      filters: [{ column: 'tag', op: 'exact', values: [tag.uuid] }],
      limit: paging.limit,
      offset: paging.offset,
      view: def.listFields ? view : 'detail',
    });
  });
  return { type: 'list', total: page.total, ...paging, items: page.items };
}
