import type { ResourceModule } from '../module.js';
import { tagRoutes } from './routes.js';

export const tagsModule: ResourceModule = { name: 'tags', routes: (env) => tagRoutes(env) };
