/** `/locations/`: this cloud is one location, reached at the address the client used. */
import type { RouteSpec } from '../../http/api.js';
import { readPaging } from '../../http/query.js';
import type { FieldDef, ResourceDef } from '../../model/fields.js';
import { canonicalJson } from '../../model/json.js';

const text = (help: string): FieldDef => ({ type: 'string', help, readonly: true });

/** A location as `/locations/` lists it (no `/schema/` is served), for the OpenAPI document. */
export const LOCATIONS: ResourceDef = {
  kind: 'locations',
  allowedListMethods: ['get'],
  allowedDetailMethods: [],
  defaultLimit: 0,
  fields: {
    alternative_frontend_url: text('Another address of the web UI'),
    api_endpoint: text('The API endpoint (`.../api/2.0/`)'),
    country_code: text('Country code'),
    default_frontend_signup_url: text('Sign-up page of the web UI'),
    default_frontend_url: text('The web UI'),
    display_name: text('Name to show'),
    documentation_url: text('Documentation'),
    id: text('Location id'),
    upload_url: text('Where drive images are uploaded'),
    websocket_url: text('The websocket of events'),
  },
};

export interface LocationOptions {
  id: string;
  displayName: string;
  countryCode: string;
}

export function locationRoutes(location: LocationOptions): RouteSpec[] {
  return [
    {
      path: '/locations/',
      resource: { def: LOCATIONS, as: 'list' },
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
          const paging = readPaging(ctx.query, LOCATIONS.defaultLimit ?? 0);
          const items = paging.offset > 0 ? [] : [canonicalJson(item)];
          return { type: 'list', total: 1, ...paging, items };
        },
      },
    },
  ];
}
