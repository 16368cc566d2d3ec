import type { ResourceModule } from '../module.js';
import { networkRoutes } from './routes.js';

/** `/ips/`, `/vlans/`, `/fwpolicies/`. */
export const networkingModule: ResourceModule = {
  name: 'networking',
  routes: (env) => networkRoutes(env),
};
