import type { ResourceModule } from '../module.js';
import { keypairRoutes } from './routes.js';

export const keypairsModule: ResourceModule = {
  name: 'keypairs',
  routes: (env) => keypairRoutes(env),
};
