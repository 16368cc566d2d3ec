import type { ApiHandler, RouteSpec } from '../../http/api.js';
import { collectionRoutes } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { ACLS } from './model.js';
import { createAcls, deleteAcls, leaveAcl, updateAcl } from './service.js';

export function aclRoutes(env: ResourceEnv): RouteSpec[] {
  const routes = collectionRoutes(env, {
    def: ACLS,
    create: (owner, items) => createAcls(env, owner, items),
    update: (tx, record, body) => updateAcl(env, tx, record, body),
    remove: (tx, records) => deleteAcls(tx, records),
  });
  // `DELETE /acls/{uuid}/` by an account the ACL names takes it off the ACL (docs/sharing.md).
  return routes.map((route): RouteSpec => {
    if (route.public || route.path !== `/${ACLS.kind}/:uuid/` || !route.handlers.DELETE) {
      return route;
    }
    const ownerDelete = route.handlers.DELETE;
    const del: ApiHandler = async (ctx) => {
      const left = await env.store.write((tx) =>
        leaveAcl(tx, ctx.params.uuid!, ctx.principal.uuid),
      );
      return left ? { type: 'empty' } : ownerDelete(ctx);
    };
    return { ...route, handlers: { ...route.handlers, DELETE: del } };
  });
}
