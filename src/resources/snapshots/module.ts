import type { ResourceModule } from '../module.js';
import { snapshotLifecycle } from './lifecycle.js';
import { snapshotRoutes } from './routes.js';

export const snapshotsModule: ResourceModule = {
  name: 'snapshots',
  routes: (env) => snapshotRoutes(env),
  engine: () => snapshotLifecycle(),
};
