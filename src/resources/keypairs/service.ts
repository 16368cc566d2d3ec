/**
 * Keypairs: create (both keys, the public key only, or a generated pair: RSA unless
 * `algorithm_type` says otherwise), update (PUT merge) and delete (the key drops off the servers
 * that carry it), api-reference.md §5.6.
 */
import { errors } from '../../errors.js';
import { readInput } from '../../model/input.js';
import { isPlainObject } from '../../model/json.js';
import type { ObjectRecord, WriteTx } from '../../store/types.js';
import { parseDoc, toUpdate } from '../common.js';
import type { Created } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { type ServerDoc, serverKind } from '../servers/model.js';
import { KEYPAIRS, type KeypairDoc, keypairRecord, keypairUpdate } from './model.js';
import {
  checkKeypairReferences,
  serversWithKey,
  syncKeypairRelations,
  syncPubkeys,
} from './relations.js';
import {
  type Algorithm,
  fingerprint,
  generatePair,
  parsePublicKey,
  publicKeyLine,
  readPrivateKey,
  SshKeyError,
} from './ssh.js';

interface Keys {
  public_key: string;
  private_key: string | null;
  fingerprint: string;
}

/** Keypairs one request may have generated unless `--max-generated-keys` says otherwise. */
export const MAX_GENERATED_KEYS = 10;

/**
 * Validates and stores new keypairs, all or nothing. Pairs to generate (no key given) are at
 * most `env.maxGeneratedKeys` a request, generated one after the other on libuv's threads (an
 * RSA key is a quarter of a second of a core), and none is started once `signal` says the client
 * went away.
 */
export async function createKeypairs(
  env: ResourceEnv,
  owner: string,
  items: unknown[],
  signal?: AbortSignal,
): Promise<Created[]> {
  const limit = env.maxGeneratedKeys ?? MAX_GENERATED_KEYS;
  if (items.filter(generates).length > limit) throw errors.tooManyGeneratedKeys(limit);
  const docs: KeypairDoc[] = [];
  // Generation takes a while (RSA): it happens before the transaction, which may run again.
  for (const item of items) {
    signal?.throwIfAborted();
    docs.push(await newKeypair(env, owner, item));
  }
  signal?.throwIfAborted();
  return env.store.write(async (tx) => {
    const out: Created[] = [];
    for (const doc of docs) {
      await checkKeypairReferences(tx, doc);
      const record = keypairRecord(doc);
      await tx.insert(record);
      await syncKeypairRelations(tx, null, doc);
      out.push({ uuid: doc.uuid, detail: record.detail });
    }
    return out;
  });
}

/** Whether sigmalite generates the pair of this item (it gives neither key). */
function generates(item: unknown): boolean {
  return isPlainObject(item) && item.public_key == null && item.private_key == null;
}

async function newKeypair(env: ResourceEnv, owner: string, item: unknown): Promise<KeypairDoc> {
  const { values: v } = readInput(KEYPAIRS.fields, item, { requireAll: true });
  const publicKey = (v.public_key as string | null | undefined) ?? null;
  const privateKey = (v.private_key as string | null | undefined) ?? null;
  let keys: Keys;
  if (publicKey === null && privateKey === null) {
    // A name alone is the older API's create (the Servers page; libcloud's `create_key_pair`):
    // it generates an RSA pair too.
    const algorithm = (v.algorithm_type as Algorithm | null | undefined) ?? 'rsa';
    const pair = await generatePair(algorithm);
    keys = resolveKeys(pair.publicKey, pair.privateKey);
  } else {
    keys = resolveKeys(publicKey, privateKey);
  }
  return {
    uuid: env.random.uuid(),
    owner,
    name: (v.name as string | undefined) ?? '',
    ...keys,
    meta: (v.meta as Record<string, string> | undefined) ?? {},
    tags: [...new Set((v.tags as string[] | undefined) ?? [])],
  };
}

/**
 * The stored keys and fingerprint: the public key as given (or derived from the private key),
 * checked against the private key when both are readable.
 */
function resolveKeys(publicKey: string | null, privateKey: string | null): Keys {
  let blob: Buffer | undefined;
  if (publicKey !== null) {
    try {
      blob = parsePublicKey(publicKey).blob;
    } catch (e) {
      throw keyError(e, 'public_key');
    }
  }
  if (privateKey !== null) {
    let derived: Buffer | undefined;
    try {
      derived = readPrivateKey(privateKey).publicBlob;
    } catch (e) {
      throw keyError(e, 'private_key');
    }
    if (blob && derived && !blob.equals(derived)) {
      throw errors.invalid('private_key', 'The private key does not match the public key');
    }
    blob ??= derived;
  }
  if (!blob) {
    throw errors.invalid('public_key', 'The private key is encrypted: give its public_key with it');
  }
  return {
    public_key: publicKey?.trim() ?? publicKeyLine(blob),
    private_key: privateKey,
    fingerprint: fingerprint(blob),
  };
}

function keyError(e: unknown, point: string): Error {
  if (e instanceof SshKeyError) return errors.invalid(point, e.message);
  return e as Error;
}

/** PUT: a top-level merge; new key material is checked as on create. */
export async function updateKeypair(
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<string> {
  const { values } = readInput(KEYPAIRS.fields, body, { requireAll: false });
  const doc = parseDoc<KeypairDoc>(record);
  const next: KeypairDoc = { ...doc };
  if (values.name !== undefined) next.name = values.name as string;
  if (values.meta !== undefined) next.meta = values.meta as Record<string, string>;
  if (values.tags !== undefined) next.tags = [...new Set(values.tags as string[])];
  const publicKey = values.public_key as string | null | undefined;
  const privateKey = values.private_key as string | null | undefined;
  if (
    (publicKey !== undefined && publicKey !== doc.public_key) ||
    (privateKey !== undefined && privateKey !== doc.private_key)
  ) {
    // The pair that results from the merge must hold together, as on create.
    Object.assign(
      next,
      resolveKeys(
        publicKey === undefined ? doc.public_key : publicKey,
        privateKey === undefined ? doc.private_key : privateKey,
      ),
    );
  }
  await checkKeypairReferences(tx, next);
  const updated = keypairUpdate(record, next);
  await tx.update(updated);
  await syncKeypairRelations(tx, doc, next);
  return updated.detail;
}

/** Deletes keypairs; each drops off the servers that carry it. */
export async function deleteKeypairs(tx: WriteTx, records: readonly ObjectRecord[]): Promise<void> {
  for (const stale of records) {
    const record = await tx.get(stale.uuid);
    if (!record) continue;
    const keypair = parseDoc<KeypairDoc>(record);
    for (const serverRecord of await tx.getMany(await serversWithKey(tx, keypair.uuid))) {
      if (serverRecord.kind !== 'servers') continue;
      const server = parseDoc<ServerDoc>(serverRecord);
      const pubkeys = server.pubkeys.filter((uuid) => uuid !== keypair.uuid);
      await tx.update(toUpdate(serverKind, serverRecord, { ...server, pubkeys }));
      await syncPubkeys(tx, server.uuid, server.pubkeys, pubkeys);
    }
    await syncKeypairRelations(tx, keypair, null);
    await tx.remove(record);
  }
}
