import type { ResourceModule } from '../module.js';
import { driveActionRoutes } from './actions.js';
import { driveLifecycle } from './lifecycle.js';
import { driveRoutes } from './routes.js';
import { uploadRoutes } from './upload-routes.js';

/** `/drives/`: definitions, clone and resize; their tasks and reconciliation. */
export const drivesModule: ResourceModule = {
  name: 'drives',
  routes: (env) => [...driveActionRoutes(env), ...uploadRoutes(env.uploads), ...driveRoutes(env)],
  engine: () => driveLifecycle(),
};
