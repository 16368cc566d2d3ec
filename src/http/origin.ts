/**
 * Cross-site requests a browser makes with the user's credentials: a page of any site can make
 * the browser open a websocket, or post a form, to sigmalite with its cookies (and Basic
 * credentials it holds). What only sigmalite's own pages may do checks the `Origin` the browser
 * sends against the API's own origin and `--allowed-origins`. A client that sends no `Origin` is
 * not a browser on someone else's page, and passes.
 */
import { errors } from '../errors.js';

export interface OriginPolicy {
  /** The API's own origin (`--public-url`, else the request's scheme and Host). */
  own: string;
  /** Other origins (`https://console.example`) allowed as well. */
  allowed?: readonly string[] | undefined;
}

/** Whether `origin` (the header's value) is the API's own or an allowed one. */
export function originAllowed(origin: string, policy: OriginPolicy): boolean {
  const wanted = origin.toLowerCase();
  return [policy.own, ...(policy.allowed ?? [])].some((o) => o.toLowerCase() === wanted);
}

/** Throws the API's 403 when a browser page of a foreign origin asks to `what`. */
export function refuseForeignOrigin(
  origin: string | string[] | undefined,
  policy: OriginPolicy,
  what: string,
): void {
  if (origin === undefined) return;
  const text = Array.isArray(origin) ? origin.join(',') : origin;
  if (!originAllowed(text, policy)) throw errors.foreignOrigin(text, what);
}

/** `--allowed-origins` as a list. */
export function parseAllowedOrigins(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter((o) => o !== '');
}
