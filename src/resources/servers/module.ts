import type { ResourceModule } from '../module.js';
import { serverActionRoutes } from './actions.js';
import { serverExtraRoutes } from './groups.js';
import { serverLifecycle } from './lifecycle.js';
import { serverRoutes } from './routes.js';

/** `/servers/`: definitions, power actions and tunnels; their tasks, events and reconciliation. */
export const serversModule: ResourceModule = {
  name: 'servers',
  routes: (env) => [...serverExtraRoutes(env), ...serverActionRoutes(env), ...serverRoutes(env)],
  engine: (deps) => serverLifecycle({ ips: deps.ips, random: deps.random }),
};
