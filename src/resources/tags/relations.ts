/**
 * Tags seen from the objects that carry them (api-reference.md §5.1), and the objects seen from
 * their tags. The two sides always agree: a resource's `tags`, the store's `tag` links (resource →
 * tag, which the `tag` list filter reads) and the tag's `resources` change together, in one
 * transaction, from whichever side a client writes. Each change also re-derives the grants of the
 * resources whose tags changed (`acls/grants.ts`).
 *
 * Resources only call `checkTags` before writing and `syncTags` after; nothing here depends on
 * their kind beyond `TAGGABLE`.
 */
import { errors } from '../../errors.js';
import { all, type Query, splitValues } from '../../http/query.js';
import type { ResourceDef } from '../../model/fields.js';
import { link } from '../../model/refs.js';
import type { Filter, ObjectRecord, ReadTx, WriteTx } from '../../store/types.js';
import { refreshGrants, TAG_LINK } from '../acls/grants.js';
import { parseDoc, toUpdate } from '../common.js';
import { type TagDoc, type TaggedRef, tagKind } from './model.js';
import { patchRecord } from './patch.js';

/** Kinds whose objects carry `tags` and may be put in a tag. */
export const TAGGABLE: readonly string[] = [
  'servers',
  'drives',
  'ips',
  'vlans',
  'snapshots',
  'fwpolicies',
  'keypairs',
];

/**
 * Checks the tags an object of `owner` is given: each must be a tag of that account (another
 * account's tag answers as a missing one). Throws 400 naming `point.N`.
 */
export async function checkTags(
  tx: Pick<ReadTx, 'getMany'>,
  owner: string,
  tags: readonly string[],
  point: string,
): Promise<void> {
  if (tags.length === 0) return;
  const found = new Map((await tx.getMany(tags)).map((r) => [r.uuid, r]));
  for (const [i, uuid] of tags.entries()) {
    const record = found.get(uuid);
    if (record?.kind !== 'tags' || record.owner !== owner) {
      throw errors.invalid(`${point}.${i}`, `Object with uuid ${uuid} does not exist`);
    }
  }
}

/**
 * After an object was written or deleted (`after` null): its links follow its tags, the tags it
 * joined or left list it or no longer do, and its grants are derived again.
 */
export async function syncTags(
  tx: WriteTx,
  kind: string,
  uuid: string,
  before: readonly string[],
  after: readonly string[] | null,
): Promise<void> {
  const was = new Set(before);
  const is = new Set(after ?? []);
  const left = [...was].filter((tag) => !is.has(tag));
  const joined = [...is].filter((tag) => !was.has(tag));
  if (left.length === 0 && joined.length === 0) return;
  await tx.setLinks(TAG_LINK, uuid, [...is]);
  for (const tag of left) await editTag(tx, tag, (refs) => refs.filter((r) => r.uuid !== uuid));
  for (const tag of joined) {
    await editTag(tx, tag, (refs) => [
      ...refs.filter((r) => r.uuid !== uuid),
      { uuid, res_type: kind },
    ]);
  }
  // A deleted object's grants go with it (the store removes them).
  if (after !== null) await refreshGrants(tx, [uuid]);
}

async function editTag(
  tx: WriteTx,
  uuid: string,
  change: (refs: TaggedRef[]) => TaggedRef[],
): Promise<void> {
  const record = await tx.get(uuid);
  if (record?.kind !== 'tags') return;
  const tag = parseDoc<TagDoc>(record);
  tag.resources = change(tag.resources);
  await tx.update(toUpdate(tagKind, record, tag));
}

/** Replaces the tags of a resource from the tag's side: its document, renders and links. */
export async function retag(tx: WriteTx, record: ObjectRecord, tags: string[]): Promise<void> {
  await patchRecord(tx, record, { tags }, { tags: tags.map((uuid) => link('tags', uuid)) });
  await tx.setLinks(TAG_LINK, record.uuid, tags);
}

/** The tags a resource's document lists (an empty list for a document without them). */
export function tagsOf(record: ObjectRecord): string[] {
  const tags = parseDoc<{ tags?: unknown }>(record).tags;
  return Array.isArray(tags) ? (tags as string[]) : [];
}

/**
 * The `tag` (tag uuids) and `tag__name` (tag names) filters of a list, for resources that declare
 * `tag` in their `filtering`. Commas OR, repeated parameters AND. Only the caller's own tags
 * count: another account's tag matches nothing, as a missing one.
 */
export async function readTagFilters(
  tx: ReadTx,
  query: Query,
  def: ResourceDef,
  account: string,
): Promise<Filter[]> {
  if (!def.filtering || !Object.hasOwn(def.filtering, 'tag')) return [];
  const filters: Filter[] = [];
  for (const text of all(query, 'tag')) {
    const tags = await tx.getMany(splitValues(text));
    filters.push({
      column: 'tag',
      op: 'exact',
      values: tags.filter((t) => t.kind === 'tags' && t.owner === account).map((t) => t.uuid),
    });
  }
  for (const text of all(query, 'tag__name')) {
    const page = await tx.list({
      kind: 'tags',
      owner: account,
      filters: [{ column: 'name', op: 'exact', values: splitValues(text) }],
      limit: 0,
      offset: 0,
      view: 'detail',
    });
    filters.push({
      column: 'tag',
      op: 'exact',
      values: page.items.map((item) => (JSON.parse(item.toString()) as { uuid: string }).uuid),
    });
  }
  return filters;
}
