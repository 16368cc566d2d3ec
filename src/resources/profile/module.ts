import type { ResourceModule } from '../module.js';
import { profileRoutes } from './routes.js';

export const profileModule: ResourceModule = {
  name: 'profile',
  routes: (env) => profileRoutes(env),
};
