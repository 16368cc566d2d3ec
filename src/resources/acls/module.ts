import type { ResourceModule } from '../module.js';
import { aclRoutes } from './routes.js';

export const aclsModule: ResourceModule = { name: 'acls', routes: (env) => aclRoutes(env) };
