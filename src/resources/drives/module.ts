import type { ResourceModule } from '../module.js';
import { driveActionRoutes } from './actions.js';
import { driveLifecycle } from './lifecycle.js';
import { driveRoutes } from './routes.js';

/** `/drives/`: definitions, clone and resize; their tasks and reconciliation. */
export const drivesModule: ResourceModule = {
  name: 'drives',
  routes: (env) => [...driveActionRoutes(env), ...driveRoutes(env)],
  engine: () => driveLifecycle(),
};
