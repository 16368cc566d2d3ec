/**
 * Grants are materialised: what each account may do with an object is a row of the store's
 * `grants`, derived from the object's tags and the owner's ACLs on those tags, and rewritten
 * whenever one of them changes (an ACL is written or deleted, a tag's resources change, an
 * object's tags change). Reads then need one indexed lookup, and lists one join.
 */
import { canonicalJson } from '../../model/json.js';
import type { Grant, WriteTx } from '../../store/types.js';
import { parseDoc, userLink } from '../common.js';
import { patchRecord } from '../tags/patch.js';
import { permissionsFor } from './access.js';
import type { AclDoc } from './model.js';

/** Store link kinds: an object carries a tag; an ACL names a tag. */
export const TAG_LINK = 'tag';
export const ACL_LINK = 'acl';

/** One grantee as the owner sees it in an object's `grantees`. */
export interface SharedWith {
  permissions: string[];
  user: { email: string; resource_uri: string; uuid: string };
}

/**
 * Recomputes the grants of each object from its tags and its owner's ACLs, and the `grantees`
 * its owner sees. Objects that are gone, or that nothing changed for, are left alone.
 */
export async function refreshGrants(tx: WriteTx, uuids: Iterable<string>): Promise<void> {
  const acls = new Map<string, AclDoc | undefined>();
  const aclOf = async (uuid: string): Promise<AclDoc | undefined> => {
    if (!acls.has(uuid)) {
      const record = await tx.get(uuid);
      acls.set(uuid, record?.kind === 'acls' ? parseDoc<AclDoc>(record) : undefined);
    }
    return acls.get(uuid);
  };
  for (const uuid of new Set(uuids)) {
    const record = await tx.get(uuid);
    if (!record || record.owner === null || record.kind === 'acls' || record.kind === 'tags') {
      continue;
    }
    const applicable = new Set<string>(permissionsFor(record.kind));
    const granted = new Map<string, { email: string; permissions: Set<string> }>();
    for (const tag of await tx.linksFrom(TAG_LINK, uuid)) {
      for (const aclUuid of await tx.linksTo(ACL_LINK, tag)) {
        const acl = await aclOf(aclUuid);
        // Only the owner grants; an ACL reaches its own account's objects only.
        if (!acl || acl.owner !== record.owner) continue;
        for (const grantee of acl.grantees) {
          if (grantee.uuid === record.owner) continue;
          const entry = granted.get(grantee.uuid) ?? {
            email: grantee.email,
            permissions: new Set<string>(),
          };
          for (const permission of acl.rules) {
            if (applicable.has(permission)) entry.permissions.add(permission);
          }
          granted.set(grantee.uuid, entry);
        }
      }
    }
    const grants: Omit<Grant, 'object'>[] = [...granted]
      .filter(([, entry]) => entry.permissions.size > 0)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([grantee, entry]) => ({ grantee, permissions: [...entry.permissions].sort() }));
    const stored = (await tx.grantsOf(uuid)).map(({ grantee, permissions }) => ({
      grantee,
      permissions,
    }));
    if (canonicalJson(stored) !== canonicalJson(grants)) await tx.setGrants(uuid, grants);
    const sharedWith: SharedWith[] = grants.map(({ grantee, permissions }) => ({
      permissions,
      user: { email: granted.get(grantee)!.email, ...userLink(grantee) },
    }));
    const doc = parseDoc<{ shared_with?: SharedWith[] }>(record);
    if (doc.shared_with === undefined && sharedWith.length === 0) continue;
    await patchRecord(tx, record, { shared_with: sharedWith }, { grantees: sharedWith });
  }
}

/**
 * A copy of an object for `owner` (a clone): it is shared with no one until its own tags say so,
 * and the tags of another account's source are that account's, so the copy has none.
 */
export function copyFor<D extends { owner: string; tags: string[] }>(source: D, owner: string): D {
  const { shared_with: _notCopied, ...copy } = source as D & { shared_with?: unknown };
  const out = copy as D;
  if (source.owner !== owner) {
    out.owner = owner;
    out.tags = [];
  }
  return out;
}
