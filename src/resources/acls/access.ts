/**
 * Who may do what with an object (api-reference.md §5.10): its owner everything; another account
 * what the owner's ACLs grant it, as materialised in the store's grants (`acls/grants.ts`); anyone
 * else nothing, not even see it. And how an object looks to an account it is shared with.
 */
import { errors } from '../../errors.js';
import { canonicalJson } from '../../model/json.js';
import type { ReadTx, Rendered, Store } from '../../store/types.js';

/** Every permission an ACL rule may name. `DELETE` is not documented but the dumps show it. */
export const PERMISSIONS = [
  'LIST',
  'EDIT',
  'CLONE',
  'START',
  'STOP',
  'OPEN_VNC',
  'ATTACH',
  'DELETE',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

/**
 * The permissions that mean something for each kind; an ACL's other rules do not reach objects
 * of that kind. Kinds not listed take every permission.
 */
const BY_KIND: Record<string, readonly Permission[]> = {
  servers: ['LIST', 'EDIT', 'CLONE', 'START', 'STOP', 'OPEN_VNC', 'DELETE'],
  drives: ['LIST', 'EDIT', 'CLONE', 'ATTACH', 'DELETE'],
  snapshots: ['LIST', 'EDIT', 'CLONE', 'DELETE'],
  ips: ['LIST', 'EDIT', 'ATTACH', 'DELETE'],
  vlans: ['LIST', 'EDIT', 'ATTACH', 'DELETE'],
  fwpolicies: ['LIST', 'EDIT', 'ATTACH', 'DELETE'],
};

export function permissionsFor(kind: string): readonly Permission[] {
  return BY_KIND[kind] ?? PERMISSIONS;
}

/** What an account may do with an object: everything (its owner) or what was granted. */
export type Access = { owner: true } | { owner: false; permissions: readonly string[] };

export const OWNER: Access = { owner: true };

type GrantSource = Pick<ReadTx, 'grantFor'> | Pick<Store, 'read'>;

/** What `account` may do with an object owned by `owner`; undefined: it may not even see it. */
export async function accessOf(
  source: GrantSource,
  object: { uuid: string; owner: string | null },
  account: string,
): Promise<Access | undefined> {
  if (object.owner === account) return OWNER;
  if (object.owner === null) return undefined;
  const permissions =
    'grantFor' in source
      ? await source.grantFor(object.uuid, account)
      : await source.read((tx) => tx.grantFor(object.uuid, account));
  return permissions && { owner: false, permissions };
}

export function allows(access: Access, permission: Permission): boolean {
  return access.owner || access.permissions.includes(permission);
}

const SINGULAR: Record<string, string> = {
  servers: 'server',
  drives: 'drive',
  ips: 'IP',
  vlans: 'VLAN',
  acls: 'ACL',
  snapshots: 'snapshot',
  fwpolicies: 'firewall policy',
};

/** The 403 for an object shared with the caller without `permission`. */
export function notGranted(kind: string, uuid: string, permission: Permission, point?: string) {
  const what = SINGULAR[kind] ?? kind;
  return errors.permission(
    `The owner of ${what} ${uuid} has not granted you the ${permission} permission`,
    point ?? null,
  );
}

/** Throws 404 (not visible, as a missing uuid) or 403 (shared without `permission`). */
export function requirePermission(
  access: Access | undefined,
  kind: string,
  uuid: string,
  permission: Permission,
): asserts access is Access {
  if (!access) throw errors.notExist(uuid);
  if (!allows(access, permission)) throw notGranted(kind, uuid, permission);
}

/**
 * An object as an account it is shared with sees it: the owner stays the real owner,
 * `permissions` are the caller's, and the owner's `grantees` and `tags` are not shown. Objects
 * without `permissions` (ACLs shown to their grantees) are shown as they are.
 */
export function sharedView(detail: Rendered, access: Access): Rendered {
  if (access.owner) return detail;
  const object = JSON.parse(detail.toString()) as Record<string, unknown>;
  if (!('permissions' in object)) return detail;
  object.permissions = [...access.permissions].sort();
  if ('grantees' in object) object.grantees = [];
  if ('tags' in object) object.tags = [];
  return canonicalJson(object);
}

/**
 * A write body as an account that is not the owner may send it: `tags` are the owner's (the
 * caller sees `[]` and may PUT that back), so they are left out.
 */
export function withoutOwnerFields(body: unknown, access: Access): unknown {
  if (access.owner || body === null || typeof body !== 'object' || Array.isArray(body)) return body;
  if (!Object.hasOwn(body, 'tags')) return body;
  const { tags: _owners, ...rest } = body as Record<string, unknown>;
  return rest;
}
