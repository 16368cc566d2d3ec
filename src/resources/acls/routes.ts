import type { RouteSpec } from '../../http/api.js';
import { collectionRoutes } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { ACLS } from './model.js';
import { createAcls, deleteAcls, updateAcl } from './service.js';

export function aclRoutes(env: ResourceEnv): RouteSpec[] {
  return collectionRoutes(env, {
    def: ACLS,
    create: (owner, items) => createAcls(env, owner, items),
    update: (tx, record, body) => updateAcl(env, tx, record, body),
    remove: (tx, records) => deleteAcls(tx, records),
  });
}
