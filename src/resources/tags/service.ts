/**
 * Tags from their own side: create (with resources), PUT (replaces the resource set), delete
 * (the tag drops off every resource and every ACL). Resources are given as bare ids of any
 * taggable type; the type is worked out from the store.
 */
import { errors } from '../../errors.js';
import { readInput } from '../../model/input.js';
import { canonicalJson } from '../../model/json.js';
import type { ObjectRecord, WriteTx } from '../../store/types.js';
import { ACL_LINK, refreshGrants, TAG_LINK } from '../acls/grants.js';
import { type AclDoc, aclKind } from '../acls/model.js';
import { parseDoc, toRecord, toUpdate } from '../common.js';
import type { Created } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { TAGS, type TagDoc, type TaggedRef, tagKind } from './model.js';
import { retag, TAGGABLE, tagsOf } from './relations.js';

/** Validates and stores new tags, all or nothing. Returns their rendered detail. */
export async function createTags(
  env: ResourceEnv,
  owner: string,
  items: unknown[],
): Promise<Created[]> {
  const drafts = items.map((item) => {
    const { values } = readInput(TAGS.fields, item, { requireAll: true });
    const doc: TagDoc = {
      uuid: env.random.uuid(),
      owner,
      name: values.name as string,
      meta: (values.meta as Record<string, string> | undefined) ?? {},
      resources: [],
    };
    return { doc, resources: (values.resources as string[] | null | undefined) ?? [] };
  });
  return env.store.write(async (tx) => {
    const out: Created[] = [];
    for (const { doc, resources } of drafts) {
      const record = toRecord(tagKind, doc);
      await tx.insert(record);
      out.push({ uuid: doc.uuid, detail: await setResources(tx, doc, resources) });
    }
    return out;
  });
}

/** PUT: `name` and `meta` merge; `resources`, when given, replaces the tag's resource set. */
export async function updateTag(tx: WriteTx, record: ObjectRecord, body: unknown): Promise<string> {
  const { values } = readInput(TAGS.fields, body, { requireAll: false });
  const doc = parseDoc<TagDoc>(record);
  if (values.name !== undefined) doc.name = values.name as string;
  if (values.meta !== undefined) doc.meta = values.meta as Record<string, string>;
  if (values.resources === undefined) {
    const updated = toUpdate(tagKind, record, doc);
    await tx.update(updated);
    return updated.detail;
  }
  await tx.update(toUpdate(tagKind, record, doc));
  return setResources(tx, doc, (values.resources as string[] | null) ?? []);
}

/**
 * Makes `ids` the resources of the stored tag `doc` (name and meta as in `doc`): resources that
 * leave or join it are retagged, their grants derived again. Returns the tag's rendered detail.
 */
async function setResources(tx: WriteTx, doc: TagDoc, ids: readonly string[]): Promise<string> {
  const wanted = [...new Set(ids)];
  const found = new Map((await tx.getMany(wanted)).map((r) => [r.uuid, r]));
  const resources: TaggedRef[] = wanted.map((id) => {
    const record = found.get(id);
    const point = `resources.${ids.indexOf(id)}`;
    if (!record || record.owner !== doc.owner) {
      throw errors.invalid(point, `Object with uuid ${id} does not exist`);
    }
    if (
      !TAGGABLE.includes(record.kind) ||
      !Array.isArray(parseDoc<{ tags?: unknown }>(record).tags)
    ) {
      throw errors.invalid(point, `${record.kind} cannot be tagged (object ${id})`);
    }
    return { uuid: id, res_type: record.kind };
  });
  const before = await tx.linksTo(TAG_LINK, doc.uuid);
  const keep = new Set(wanted);
  const changed: string[] = [];
  for (const uuid of before) {
    if (keep.has(uuid)) continue;
    const record = await tx.get(uuid);
    if (!record) continue;
    await retag(
      tx,
      record,
      tagsOf(record).filter((tag) => tag !== doc.uuid),
    );
    changed.push(uuid);
  }
  const had = new Set(before);
  for (const uuid of wanted) {
    if (had.has(uuid)) continue;
    const record = found.get(uuid)!;
    await retag(tx, record, [...tagsOf(record).filter((tag) => tag !== doc.uuid), doc.uuid]);
    changed.push(uuid);
  }
  const current = (await tx.get(doc.uuid))!;
  if (changed.length === 0 && canonicalJson(resources) === canonicalJson(doc.resources)) {
    return current.detail;
  }
  const updated = toUpdate(tagKind, current, { ...doc, resources });
  await tx.update(updated);
  await refreshGrants(tx, changed);
  return updated.detail;
}

/** Deletes tags: each drops off its resources and off the ACLs that name it. */
export async function deleteTags(tx: WriteTx, records: readonly ObjectRecord[]): Promise<void> {
  for (const stale of records) {
    const record = await tx.get(stale.uuid);
    if (!record) continue;
    const resources = await tx.linksTo(TAG_LINK, record.uuid);
    for (const uuid of resources) {
      const resource = await tx.get(uuid);
      if (resource) {
        await retag(
          tx,
          resource,
          tagsOf(resource).filter((tag) => tag !== record.uuid),
        );
      }
    }
    for (const uuid of await tx.linksTo(ACL_LINK, record.uuid)) {
      const aclRecord = await tx.get(uuid);
      if (aclRecord?.kind !== 'acls') continue;
      const acl = parseDoc<AclDoc>(aclRecord);
      acl.tags = acl.tags.filter((tag) => tag !== record.uuid);
      await tx.update(toUpdate(aclKind, aclRecord, acl));
      await tx.setLinks(ACL_LINK, acl.uuid, acl.tags);
    }
    await tx.remove(record);
    await refreshGrants(tx, resources);
  }
}
