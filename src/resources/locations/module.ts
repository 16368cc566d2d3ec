import type { ResourceModule } from '../module.js';
import { locationRoutes } from './routes.js';

/** The one location sigmalite is. */
export const locationsModule: ResourceModule = {
  name: 'locations',
  routes: () => locationRoutes({ id: 'SIGMALITE', displayName: 'sigmalite', countryCode: 'ZZ' }),
};
