/** `/locations/`: this cloud is one location, reached at the address the client used. */
import type { RouteSpec } from '../../http/api.js';
import { readPaging } from '../../http/query.js';
import { canonicalJson } from '../../model/json.js';

export interface LocationOptions {
  id: string;
  displayName: string;
  countryCode: string;
}

export function locationRoutes(location: LocationOptions): RouteSpec[] {
  return [
    {
      path: '/locations/',
      handlers: {
        GET: async (ctx) => {
          const origin = ctx.origin;
          const ws = origin.replace(/^http/, 'ws');
          const item = {
            alternative_frontend_url: `${origin}/ui/`,
            api_endpoint: `${origin}/api/2.0/`,
            country_code: location.countryCode,
            default_frontend_signup_url: `${origin}/ui/`,
            default_frontend_url: `${origin}/ui/`,
            display_name: location.displayName,
            documentation_url: 'https://docs.cloudsigma.com',
            id: location.id,
            upload_url: `${origin}/api/2.0/`,
            websocket_url: `${ws}/websocket`,
          };
          const paging = readPaging(ctx.query, 0);
          const items = paging.offset > 0 ? [] : [canonicalJson(item)];
          return { type: 'list', total: 1, ...paging, items };
        },
      },
    },
  ];
}
