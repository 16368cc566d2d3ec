/**
 * Which stored kinds the websocket announces (api-reference.md §5.11, docs/events.md), the
 * `resource_uri` of one of their objects, for frames that carry no object to take it from
 * (deletions) and for the profile, which renders none, and whom a shared object is shown to. Kinds not listed here (internal records)
 * are never announced; a new resource whose URI is `/api/2.0/<kind>/<uuid>/` only needs its kind
 * added.
 */
import type { SharedView } from '../http/events.js';
import { API_PREFIX, resourceUri } from '../model/refs.js';
import type { Rendered } from '../store/types.js';
import { sharedView } from './acls/access.js';
import type { SharedWith } from './acls/grants.js';

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

/**
 * The accounts an object is shared with and may see, each with the object as it sees it, from
 * the owner's rendered detail: its `grantees` name them with their permissions
 * (`acls/grants.ts`), and those granted LIST see it through `acls/access.ts` `sharedView`. An
 * ACL is shown as it is to the accounts it names (its `grantees`).
 */
export function eventSharedViews(kind: string, detail: Rendered): SharedView[] {
  // Most objects are shared with no one: their detail says so without being parsed.
  if (detail.includes('"grantees":[]') || !detail.includes('"grantees":')) return [];
  const object = JSON.parse(detail.toString()) as { grantees?: unknown };
  if (!Array.isArray(object.grantees)) return [];
  if (kind === 'acls') {
    return (object.grantees as { uuid: string }[]).map((grantee) => ({
      account: grantee.uuid,
      detail,
    }));
  }
  return (object.grantees as SharedWith[]).flatMap((grantee) =>
    grantee.permissions.includes('LIST')
      ? [
          {
            account: grantee.user.uuid,
            detail: sharedView(detail, { owner: false, permissions: grantee.permissions }),
          },
        ]
      : [],
  );
}
