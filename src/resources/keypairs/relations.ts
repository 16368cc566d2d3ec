/**
 * Public keys attached to servers (`pubkeys`, api-reference.md §5.6), and where a keypair meets
 * the account's other resources (tags). A server's keys are kept as `pubkey` links (server →
 * keypair) as well, so that a deleted keypair can drop off the servers that carry it.
 */
import { errors } from '../../errors.js';
import type { ReadTx, WriteTx } from '../../store/types.js';
import { checkTags, syncTags } from '../tags/relations.js';
import type { KeypairDoc } from './model.js';

/** The link kind of "server carries this public key". */
export const PUBKEY_LINK = 'pubkey';

/**
 * Checks the public keys a server of `owner` is given: each must be a keypair the account owns or
 * may list (shared with it); otherwise 400 naming `point.N`, as for a missing drive.
 */
export async function checkPubkeys(
  tx: WriteTx,
  owner: string,
  pubkeys: readonly string[],
  point: string,
): Promise<void> {
  const found = new Map((await tx.getMany(pubkeys)).map((record) => [record.uuid, record]));
  for (const [i, uuid] of pubkeys.entries()) {
    const record = found.get(uuid);
    if (record?.kind !== 'keypairs' || !(await mayUse(tx, record, owner))) {
      throw errors.invalid(`${point}.${i}`, `Object with uuid ${uuid} does not exist`);
    }
  }
}

/** Whether `account` may put a keypair on its servers (and see it in their context). */
export async function mayUse(
  tx: ReadTx,
  keypair: { uuid: string; owner: string | null },
  account: string,
): Promise<boolean> {
  if (keypair.owner === account) return true;
  return ((await tx.grantFor(keypair.uuid, account)) ?? []).includes('LIST');
}

/** After a server was written or deleted (`after` null): its keys' links follow. */
export async function syncPubkeys(
  tx: WriteTx,
  server: string,
  before: readonly string[],
  after: readonly string[] | null,
): Promise<void> {
  if (after !== null && sameList(before, after)) return;
  await tx.setLinks(PUBKEY_LINK, server, after ?? []);
}

/** The servers carrying a keypair. */
export function serversWithKey(tx: ReadTx, keypair: string): Promise<string[]> {
  return tx.linksTo(PUBKEY_LINK, keypair);
}

export async function checkKeypairReferences(tx: WriteTx, keypair: KeypairDoc): Promise<void> {
  await checkTags(tx, keypair.owner, keypair.tags, 'tags');
}

/** Keeps the other side of every relation in step after a keypair was created, changed or deleted. */
export async function syncKeypairRelations(
  tx: WriteTx,
  before: KeypairDoc | null,
  after: KeypairDoc | null,
): Promise<void> {
  const uuid = (after ?? before)!.uuid;
  await syncTags(tx, 'keypairs', uuid, before?.tags ?? [], after?.tags ?? null);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}
