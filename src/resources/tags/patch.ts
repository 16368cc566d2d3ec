/**
 * Changes the fields of any resource's record that tags and ACLs own (`tags`; `shared_with`,
 * rendered as `grantees`) without knowing the resource: the document field and the matching key
 * of the rendered forms are replaced. Servers, drives, IPs, VLANs, snapshots... need nothing but
 * to render `tags` as tag links and to keep unknown document fields (documents are merged with a
 * spread), and `common.ts` `toRecord` renders `shared_with` as `grantees` on every later write.
 */
import { canonicalJson } from '../../model/json.js';
import type { ObjectRecord, WriteTx } from '../../store/types.js';

/**
 * Writes `record` with `doc` fields replaced in its document and `rendered` keys replaced in its
 * detail and list forms (where they have the key); does nothing when the document is unchanged.
 */
export async function patchRecord(
  tx: WriteTx,
  record: ObjectRecord,
  doc: Record<string, unknown>,
  rendered: Record<string, unknown>,
): Promise<void> {
  const current = JSON.parse(record.doc) as Record<string, unknown>;
  let changed = false;
  for (const [key, value] of Object.entries(doc)) {
    if (canonicalJson(current[key]) === canonicalJson(value)) continue;
    current[key] = value;
    changed = true;
  }
  if (!changed) return;
  await tx.update({
    ...record,
    doc: JSON.stringify(current),
    detail: patchJson(record.detail, rendered),
    summary: patchJson(record.summary, rendered),
  });
}

function patchJson(json: string, rendered: Record<string, unknown>): string {
  const object = JSON.parse(json.toString()) as Record<string, unknown>;
  let changed = false;
  for (const [key, value] of Object.entries(rendered)) {
    if (!(key in object)) continue;
    object[key] = value;
    changed = true;
  }
  return changed ? canonicalJson(object) : json;
}
