import type { ResourceModule } from '../module.js';
import { cloudStatusRoutes } from './routes.js';

export const cloudStatusModule: ResourceModule = {
  name: 'cloudstatus',
  routes: () => cloudStatusRoutes(),
};
