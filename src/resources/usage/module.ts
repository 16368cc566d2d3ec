import type { ResourceModule } from '../module.js';
import { usageRoutes } from './routes.js';

export const usageModule: ResourceModule = { name: 'usage', routes: (env) => usageRoutes(env) };
