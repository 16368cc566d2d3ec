import type { RouteSpec } from '../../http/api.js';
import type { ResourceEnv } from '../env.js';

export function capabilitiesRoutes(env: ResourceEnv): RouteSpec[] {
  return [
    {
      path: '/capabilities/',
      handlers: { GET: async () => ({ type: 'value', body: env.capabilities }) },
    },
    {
      path: '/capabilities/schema/',
      handlers: {
        GET: async () => ({
          type: 'value',
          body: {
            allowed_methods: ['get'],
            help_text: 'Various API capabilities. Check documentation for reference',
          },
        }),
      },
    },
  ];
}
