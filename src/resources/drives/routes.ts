import type { RouteSpec } from '../../http/api.js';
import { collectionRoutes } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { withLibraryDrives } from '../libdrives/routes.js';
import { DRIVES } from './model.js';
import { createDrives, deleteDrives, updateDrive } from './service.js';

export function driveRoutes(env: ResourceEnv): RouteSpec[] {
  // GET /drives/{uuid}/ also answers library drives (api-reference.md §3.1).
  return withLibraryDrives(
    env,
    collectionRoutes(env, {
      def: DRIVES,
      create: (owner, items, signal) => createDrives(env, owner, items, signal),
      update: (tx, record, body) => updateDrive(env, tx, record, body),
      remove: (tx, records) => deleteDrives(tx, records),
    }),
  );
}
