/**
 * `GET /api/2.0/openapi.json`: the OpenAPI 3.1 document of the routes served, built once when
 * first asked for (the route table does not change while the app runs). Public, like a schema
 * file: it tells nothing about any account.
 */
import type { RouteSpec } from '../http/api.js';
import { buildOpenApi } from './openapi.js';
import { packageVersion } from './version.js';

export function openApiRoute(routes: readonly RouteSpec[]): RouteSpec {
  let document: unknown;
  return {
    path: '/openapi.json',
    public: true,
    handlers: {
      GET: async () => {
        document ??= buildOpenApi(routes, { version: packageVersion() });
        return { type: 'value', body: document };
      },
    },
  };
}
