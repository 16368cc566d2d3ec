/** API paths as faults and latency rules match them: below `/api/2.0`, without the query. */
import { API_PREFIX } from '../model/refs.js';

/**
 * The path of a request URL relative to the API (`/servers/x/action/`), with repeated slashes
 * collapsed as the router does; undefined for URLs outside the API.
 */
export function apiPath(url: string): string | undefined {
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).replace(/\/{2,}/g, '/');
  if (path === API_PREFIX) return '/';
  if (!path.startsWith(`${API_PREFIX}/`)) return undefined;
  return path.slice(API_PREFIX.length);
}

/** A path given in a rule: relative to the API, or absolute (`/api/2.0/...`); leading `/` added. */
export function rulePath(path: string): string {
  let out = path.trim().replace(/\/{2,}/g, '/');
  if (out === API_PREFIX || out.startsWith(`${API_PREFIX}/`)) out = out.slice(API_PREFIX.length);
  if (!out.startsWith('/')) out = `/${out}`;
  return out;
}

/**
 * A whole-path pattern: `*` stands for any characters but `/` (one uuid), everything else is
 * literal; a trailing slash is optional on both sides, as in the router.
 */
export function pathPattern(pattern: string): RegExp {
  const body = rulePath(pattern)
    .replace(/\/+$/, '')
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[^/]*');
  return new RegExp(`^${body}/?$`);
}
