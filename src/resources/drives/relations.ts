/**
 * Where a drive meets the account's other resources (tags, snapshots; later licenses), so each
 * keeps its rules in its own module.
 */
import type { WriteTx } from '../../store/types.js';
import { deleteDriveSnapshots } from '../snapshots/service.js';
import { checkTags, syncTags } from '../tags/relations.js';
import type { DriveDoc } from './model.js';

export async function checkDriveReferences(tx: WriteTx, drive: DriveDoc): Promise<void> {
  await checkTags(tx, drive.owner, drive.tags, 'tags');
}

/** Keeps the other side of every relation in step after a drive was created, changed or deleted. */
export async function syncDriveRelations(
  tx: WriteTx,
  before: DriveDoc | null,
  after: DriveDoc | null,
): Promise<void> {
  const uuid = (after ?? before)!.uuid;
  await syncTags(tx, 'drives', uuid, before?.tags ?? [], after?.tags ?? null);
  // Deleting a drive deletes its snapshots (api-reference.md §3.7).
  if (before && !after) await deleteDriveSnapshots(tx, before);
}
