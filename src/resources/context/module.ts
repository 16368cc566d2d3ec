import type { ResourceModule } from '../module.js';
import { globalContextRoutes } from './global.js';

/** `/global_context/` (a server's own context is served to it, not through the API). */
export const contextModule: ResourceModule = {
  name: 'context',
  routes: (env) => globalContextRoutes(env),
};
