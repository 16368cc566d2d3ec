/**
 * The route table of a default app, for the generated docs (support matrix, OpenAPI): an app is
 * started in memory on a free port of 127.0.0.1, asked for its routes and closed again.
 */
import { createApp } from '../app.js';
import { DEFAULTS } from '../config.js';
import type { RouteSpec } from '../http/api.js';

export async function defaultRoutes(): Promise<readonly RouteSpec[]> {
  const app = await createApp(
    { ...DEFAULTS, host: '127.0.0.1', port: 0, memory: true, logLevel: 'silent' },
    { users: [{ email: 'docs@sigmalite.local', password: 'docs-password' }] },
  );
  try {
    return app.routes;
  } finally {
    await app.close();
  }
}
