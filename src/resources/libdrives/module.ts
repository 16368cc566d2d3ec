import type { ResourceModule } from '../module.js';
import { libdriveRoutes } from './routes.js';

export const libdrivesModule: ResourceModule = {
  name: 'libdrives',
  routes: (env) => libdriveRoutes(env),
};
