import type { RouteSpec } from '../../http/api.js';
import type { ResourceEnv } from '../env.js';
import { countSnapshots } from '../snapshots/service.js';

export function capabilitiesRoutes(env: ResourceEnv): RouteSpec[] {
  return [
    {
      path: '/capabilities/',
      handlers: {
        GET: async (ctx) => {
          const snapshots = env.capabilities.snapshots;
          if (!snapshots) return { type: 'value', body: env.capabilities };
          // `snapshots.current`: how many the caller has, against `max`.
          const current = await env.store.read((tx) => countSnapshots(tx, ctx.principal.uuid));
          return {
            type: 'value',
            body: { ...env.capabilities, snapshots: { ...snapshots, current } },
          };
        },
      },
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
