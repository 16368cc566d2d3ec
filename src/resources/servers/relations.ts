/**
 * Where a server meets the account's other resources: tags, public keys, and what its NICs point
 * to. Every check and every "other side" of a relation goes through here, so each resource keeps
 * its rules in its own module.
 */
import type { WriteTx } from '../../store/types.js';
import { checkPubkeys, syncPubkeys } from '../keypairs/relations.js';
import { checkNicReferences, syncNicReferences } from '../networking/relations.js';
import { checkTags, syncTags } from '../tags/relations.js';
import type { NicDoc, ServerDoc } from './model.js';

/** Checks every reference of a server definition (NICs as drafts: a MAC may still be missing). */
export async function checkServerReferences(
  tx: WriteTx,
  server: Omit<ServerDoc, 'nics'> & { nics: readonly Omit<NicDoc, 'mac'>[] },
): Promise<void> {
  await checkTags(tx, server.owner, server.tags, 'tags');
  await checkPubkeys(tx, server.owner, server.pubkeys, 'pubkeys');
  for (const [i, nic] of server.nics.entries()) {
    await checkNicReferences(tx, server.owner, server.uuid, nic, `nics.${i}`);
  }
}

/** Keeps the other side of every relation in step after a server was created, changed or deleted. */
export async function syncServerRelations(
  tx: WriteTx,
  before: ServerDoc | null,
  after: ServerDoc | null,
): Promise<void> {
  const uuid = (after ?? before)!.uuid;
  await syncTags(tx, 'servers', uuid, before?.tags ?? [], after?.tags ?? null);
  await syncPubkeys(tx, uuid, before?.pubkeys ?? [], after?.pubkeys ?? null);
  await syncNicReferences(tx, before, after);
}
