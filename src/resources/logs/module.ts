import type { ResourceModule } from '../module.js';
import { logRoutes } from './routes.js';

export const logsModule: ResourceModule = { name: 'logs', routes: (env) => logRoutes(env) };
