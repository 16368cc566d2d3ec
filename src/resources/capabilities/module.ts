import type { ResourceModule } from '../module.js';
import { capabilitiesRoutes } from './routes.js';

export const capabilitiesModule: ResourceModule = {
  name: 'capabilities',
  routes: (env) => capabilitiesRoutes(env),
};
