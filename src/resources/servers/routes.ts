import { errors } from '../../errors.js';
import type { RouteSpec } from '../../http/api.js';
import { last } from '../../http/query.js';
import { collectionRoutes } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { SERVERS } from './model.js';
import {
  createServers,
  deleteServers,
  RECURSE_OPTIONS,
  type Recurse,
  updateServer,
} from './service.js';

export function serverRoutes(env: ResourceEnv): RouteSpec[] {
  return collectionRoutes(env, {
    def: SERVERS,
    create: (owner, items, signal) => createServers(env, owner, items, signal),
    update: (tx, record, body, caller) => updateServer(env, tx, record, body, caller),
    remove: (tx, records, ctx) =>
      deleteServers(tx, records, readRecurse(last(ctx.query, 'recurse')), ctx.principal.uuid),
  });
}

function readRecurse(value: string | undefined): Recurse | undefined {
  if (value === undefined || value === '') return undefined;
  if (!(RECURSE_OPTIONS as readonly string[]).includes(value)) {
    throw errors.invalid('recurse', `recurse must be one of ${RECURSE_OPTIONS.join(', ')}`);
  }
  return value as Recurse;
}
