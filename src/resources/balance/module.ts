import type { ResourceModule } from '../module.js';
import { balanceRoutes } from './routes.js';

export const balanceModule: ResourceModule = {
  name: 'balance',
  routes: (env) => balanceRoutes(env),
};
