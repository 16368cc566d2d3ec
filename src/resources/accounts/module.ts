import type { ResourceModule } from '../module.js';
import { accountRoutes } from './routes.js';

/** `/accounts/` actions of the caller's own account (password, tokens). */
export const accountsModule: ResourceModule = {
  name: 'accounts',
  routes: (env) => accountRoutes(env.authenticator),
};
