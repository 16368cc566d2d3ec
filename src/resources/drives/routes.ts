import type { RouteSpec } from '../../http/api.js';
import { collectionRoutes } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { DRIVES } from './model.js';
import { createDrives, deleteDrives, updateDrive } from './service.js';

export function driveRoutes(env: ResourceEnv): RouteSpec[] {
  return collectionRoutes(env, {
    def: DRIVES,
    create: (owner, items) => createDrives(env, owner, items),
    update: (tx, record, body) => updateDrive(env, tx, record, body),
    remove: (tx, records) => deleteDrives(tx, records),
  });
}
