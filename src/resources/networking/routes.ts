import type { ApiHandler, Method, RouteSpec } from '../../http/api.js';
import { collectionRoutes } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { FWPOLICIES, IPS, VLANS } from './model.js';
import { createPolicies, deletePolicies, updateIp, updatePolicy, updateVlan } from './service.js';

/** `/ips/`, `/vlans/` (read, and PUT of meta and tags) and `/fwpolicies/` (CRUD). */
export function networkRoutes(env: ResourceEnv): RouteSpec[] {
  const bySubscription = async (): Promise<never> => {
    throw new Error('IPs and VLANs come and go with subscriptions');
  };
  return [
    ...readAndPut(
      'ips',
      collectionRoutes(env, {
        def: IPS,
        create: bySubscription,
        update: updateIp,
        remove: bySubscription,
      }),
    ),
    ...readAndPut(
      'vlans',
      collectionRoutes(env, {
        def: VLANS,
        create: bySubscription,
        update: updateVlan,
        remove: bySubscription,
      }),
    ),
    ...collectionRoutes(env, {
      def: FWPOLICIES,
      create: (owner, items) => createPolicies(env, owner, items),
      update: updatePolicy,
      remove: (tx, records) => deletePolicies(tx, records),
    }),
  ];
}

/**
 * IPs and VLANs are bought and let go through subscriptions (§4.2, §4.3): of the collection
 * routes they keep the reads and `PUT /{kind}/{id}/` (405 for the rest, as their schema says).
 */
function readAndPut(kind: string, routes: RouteSpec[]): RouteSpec[] {
  return routes.map((route) => {
    const handlers = { ...(route.handlers as Partial<Record<Method, ApiHandler>>) };
    delete handlers.POST;
    delete handlers.DELETE;
    if (route.path !== `/${kind}/:uuid/`) delete handlers.PUT;
    return { path: route.path, handlers, ...(route.resource ? { resource: route.resource } : {}) };
  });
}
