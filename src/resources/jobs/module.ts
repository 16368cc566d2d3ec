import { readRoutes } from '../crud.js';
import type { ResourceModule } from '../module.js';
import { JOBS } from './model.js';

/** `/jobs/`: read-only; jobs are written by the clones and the engine. */
export const jobsModule: ResourceModule = { name: 'jobs', routes: (env) => readRoutes(env, JOBS) };
