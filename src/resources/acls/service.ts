/**
 * ACLs: create, PUT merge, delete. Every change re-derives the grants of the resources that carry
 * the ACL's tags (before and after). An ACL is shown, read-only, to the accounts it names.
 */
import { errors } from '../../errors.js';
import { readInput } from '../../model/input.js';
import { isPlainObject } from '../../model/json.js';
import { readRef } from '../../model/refs.js';
import type { Account, AccountRepo, ObjectRecord, WriteTx } from '../../store/types.js';
import { parseDoc, toRecord, toUpdate } from '../common.js';
import type { Created } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { checkTags } from '../tags/relations.js';
import { PERMISSIONS, type Permission } from './access.js';
import { ACL_LINK, refreshGrants, TAG_LINK } from './grants.js';
import { ACLS, type AclDoc, type AclGrantee, aclKind } from './model.js';

/** The fields `readInput` reads; grantees, rules and tags have readers of their own. */
const PLAIN_FIELDS = { name: ACLS.fields.name!, meta: ACLS.fields.meta! };

interface AclInput {
  name?: string;
  meta?: Record<string, string>;
  grantees?: AclGrantee[];
  rules?: string[];
  tags?: string[];
}

async function readAcl(accounts: AccountRepo, body: unknown): Promise<AclInput> {
  const { values } = readInput(PLAIN_FIELDS, body, { requireAll: false });
  const input: AclInput = {};
  if (values.name !== undefined) input.name = values.name as string;
  if (values.meta !== undefined) input.meta = values.meta as Record<string, string>;
  const object = body as Record<string, unknown>;
  const list = (key: string): unknown[] | undefined => {
    const value = object[key];
    if (value === undefined || value === null) return value === null ? [] : undefined;
    if (!Array.isArray(value)) throw errors.invalid(key, 'Expected a list');
    return value;
  };
  const grantees = list('grantees');
  if (grantees) input.grantees = await readGrantees(accounts, grantees);
  const rules = list('rules');
  if (rules) input.rules = [...new Set(rules.map(readRule))];
  const tags = list('tags');
  if (tags) input.tags = [...new Set(tags.map((tag, i) => readRef(tag, 'tags', `tags.${i}`)))];
  return input;
}

/** Grantees by `{uuid}` or `{email}` (or a bare uuid, user URI or email) of an existing account. */
async function readGrantees(accounts: AccountRepo, items: unknown[]): Promise<AclGrantee[]> {
  const out = new Map<string, AclGrantee>();
  for (const [i, item] of items.entries()) {
    const point = `grantees.${i}`;
    let email: string | undefined;
    if (typeof item === 'string' && item.includes('@')) email = item;
    else if (isPlainObject(item) && item.uuid == null && item.resource_uri == null) {
      if (typeof item.email !== 'string') {
        throw errors.invalid(point, 'A grantee is an account given by "uuid" or "email"');
      }
      email = item.email;
    }
    let account: Account | undefined;
    if (email !== undefined) {
      account = await accounts.byEmail(email);
      if (!account) throw errors.invalid(point, `No account has the email ${email}`);
    } else {
      const uuid = readRef(item, 'user', point);
      account = await accounts.byUuid(uuid);
      if (!account) throw errors.invalid(point, `Object with uuid ${uuid} does not exist`);
    }
    out.set(account.uuid, { uuid: account.uuid, email: account.email });
  }
  return [...out.values()];
}

function readRule(item: unknown, i: number): Permission {
  const value = isPlainObject(item) ? item.permission : item;
  if (typeof value !== 'string' || !(PERMISSIONS as readonly string[]).includes(value)) {
    throw errors.invalid(
      `rules.${i}.permission`,
      `Value ${JSON.stringify(value ?? null)} is not a valid permission. Valid choices are: ${PERMISSIONS.join(', ')}`,
    );
  }
  return value as Permission;
}

/** Validates and stores new ACLs, all or nothing. Returns their rendered detail. */
export async function createAcls(
  env: ResourceEnv,
  owner: string,
  items: unknown[],
): Promise<Created[]> {
  const docs: AclDoc[] = [];
  for (const item of items) {
    if (!isPlainObject(item)) throw errors.invalid(null, 'Expected a JSON object');
    const input = await readAcl(env.store.accounts, item);
    docs.push({
      uuid: env.random.uuid(),
      owner,
      name: input.name ?? '',
      meta: input.meta ?? {},
      grantees: input.grantees ?? [],
      rules: input.rules ?? [],
      tags: input.tags ?? [],
    });
  }
  return env.store.write(async (tx) => {
    const out: Created[] = [];
    for (const doc of docs) {
      await checkTags(tx, owner, doc.tags, 'tags');
      const record = toRecord(aclKind, doc);
      await tx.insert(record);
      await syncAcl(tx, null, doc);
      out.push({ uuid: doc.uuid, detail: record.detail });
    }
    return out;
  });
}

/** PUT: a top-level merge; `grantees`, `rules` and `tags` are replaced whole. */
export async function updateAcl(
  env: ResourceEnv,
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<string> {
  // Accounts are read outside the store's transaction API: they are not objects.
  const input = await readAcl(env.store.accounts, body);
  const doc = parseDoc<AclDoc>(record);
  const next: AclDoc = { ...doc, ...input };
  await checkTags(tx, doc.owner, next.tags, 'tags');
  const updated = toUpdate(aclKind, record, next);
  await tx.update(updated);
  await syncAcl(tx, doc, next);
  return updated.detail;
}

export async function deleteAcls(tx: WriteTx, records: readonly ObjectRecord[]): Promise<void> {
  for (const record of records) {
    const doc = parseDoc<AclDoc>(record);
    await tx.remove(record);
    await syncAcl(tx, doc, null);
  }
}

/**
 * After an ACL was written or deleted: its tag links, who may see it (its grantees, read-only),
 * and the grants of every resource carrying one of its tags, before or after.
 */
async function syncAcl(tx: WriteTx, before: AclDoc | null, after: AclDoc | null): Promise<void> {
  if (after) {
    await tx.setLinks(ACL_LINK, after.uuid, after.tags);
    await tx.setGrants(
      after.uuid,
      after.grantees
        .filter((g) => g.uuid !== after.owner)
        .map((g) => ({ grantee: g.uuid, permissions: ['LIST'] })),
    );
  }
  const tags = new Set([...(before?.tags ?? []), ...(after?.tags ?? [])]);
  const resources: string[] = [];
  for (const tag of tags) resources.push(...(await tx.linksTo(TAG_LINK, tag)));
  await refreshGrants(tx, resources);
}
