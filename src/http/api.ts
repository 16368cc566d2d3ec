/**
 * What a resource's routes see of HTTP: a context in, a result out. Resources never touch
 * Fastify; `http/server.ts` adapts these to it.
 */
import type { Principal } from './auth.js';
import type { Query } from './query.js';

export interface ApiContext {
  principal: Principal;
  params: Record<string, string>;
  query: Query;
  /** Parsed JSON body; undefined when the request had none. */
  body: unknown;
  /** `scheme://host` the client used (or the configured public URL), for `Location`. */
  origin: string;
  method: string;
  path: string;
}

export type ApiResult =
  /** A page of pre-rendered objects, wrapped in the list envelope. */
  | { type: 'list'; total: number; limit: number; offset: number; items: string[] }
  /** One pre-rendered object. */
  | { type: 'object'; status?: number; json: string; headers?: Record<string, string> }
  /** Any value, rendered as canonical JSON. */
  | { type: 'value'; status?: number; body: unknown; headers?: Record<string, string> }
  | { type: 'empty'; status?: number };

export type ApiHandler = (ctx: ApiContext) => Promise<ApiResult>;

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** One URL of the API (below `/api/2.0`), with a handler per method it allows. */
export interface RouteSpec {
  path: string;
  handlers: Partial<Record<Method, ApiHandler>>;
}
