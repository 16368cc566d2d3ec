/**
 * Which stored kinds the websocket announces (api-reference.md §5.11, docs/events.md), and the
 * `resource_uri` of one of their objects, for frames that carry no object to take it from
 * (deletions) and for the profile, which renders none. Kinds not listed here (internal records)
 * are never announced; a new resource whose URI is `/api/2.0/<kind>/<uuid>/` only needs its kind
 * added.
 */
import { API_PREFIX, resourceUri } from '../model/refs.js';

const ANNOUNCED = new Set([
  'servers',
  'drives',
  'snapshots',
  'ips',
  'vlans',
  'fwpolicies',
  'subscriptions',
  'jobs',
  'tags',
  'keypairs',
  'acls',
]);

/** The URI frames about an object of `kind` carry; undefined when the kind is not announced. */
export function eventUri(kind: string, uuid: string): string | undefined {
  if (kind === 'profile') return `${API_PREFIX}/profile/`;
  return ANNOUNCED.has(kind) ? resourceUri(kind, uuid) : undefined;
}
