/**
 * Snapshots (api-reference.md §3.7): taken of a drive of the account (`creating`, then
 * `available` once the storage has made it, a task of the engine), listed on their drive
 * (`snapshots`, newest first), renamed or re-tagged, deleted, and deleted with their drive.
 */

import { errors } from '../../errors.js';
import { readInput } from '../../model/input.js';
import type { ObjectRecord, ReadTx, WriteTx } from '../../store/types.js';
import { parseDoc, toRecord, toUpdate } from '../common.js';
import type { Created } from '../crud.js';
import { type DriveDoc, driveKind } from '../drives/model.js';
import type { ResourceEnv } from '../env.js';
import { addTask, queueVolumeRemoval } from '../lifecycle.js';
import { checkTags, syncTags } from '../tags/relations.js';
import { TASKS } from '../tasks.js';
import {
  defaultSnapshotName,
  SNAPSHOT_KIND,
  SNAPSHOTS,
  type SnapshotDoc,
  snapshotKind,
  snapshotTimestamp,
} from './model.js';

/** The engine's task that takes a snapshot (engine/snapshots.ts). */
export const SNAPSHOT_CREATE_TASK = TASKS.snapshotCreate;

/** Drive statuses a snapshot may be taken in: the data is there and not moving. */
const SNAPSHOTABLE = new Set(['mounted', 'unmounted']);

interface Draft {
  drive: string;
  name: string | null;
  meta: Record<string, string>;
  tags: string[];
}

/** Validates and stores new snapshots, all or nothing. */
export async function createSnapshots(
  env: ResourceEnv,
  owner: string,
  items: unknown[],
): Promise<Created[]> {
  const drafts = items.map((item): Draft => {
    const { values: v } = readInput(SNAPSHOTS.fields, item, { requireAll: true });
    return {
      drive: v.drive as string,
      name: (v.name as string | null | undefined) ?? null,
      meta: (v.meta as Record<string, string> | undefined) ?? {},
      tags: [...new Set((v.tags as string[] | undefined) ?? [])],
    };
  });
  return env.store.write(async (tx) => {
    const out: Created[] = [];
    for (const draft of drafts) out.push(await takeSnapshot(env, tx, owner, draft));
    return out;
  });
}

async function takeSnapshot(
  env: ResourceEnv,
  tx: WriteTx,
  owner: string,
  draft: Draft,
): Promise<Created> {
  const driveRecord = await tx.get(draft.drive);
  if (driveRecord?.kind !== 'drives' || driveRecord.owner !== owner) {
    throw errors.missingReference('drive', draft.drive);
  }
  const drive = parseDoc<DriveDoc>(driveRecord);
  if (drive.storage_type === 'local_nvme') {
    throw errors.permission(
      `Drive ${drive.uuid} is ephemeral (local_nvme): ephemeral drives cannot be snapshotted`,
      'drive',
    );
  }
  if (!SNAPSHOTABLE.has(drive.status)) {
    throw errors.wrongState('snapshot', 'drive', drive.uuid, drive.status, 'drive');
  }
  await checkLimits(env, tx, owner, drive);
  await checkTags(tx, owner, draft.tags, 'tags');
  const now = env.clock.now();
  const doc: SnapshotDoc = {
    uuid: env.random.uuid(),
    owner,
    name: draft.name ?? defaultSnapshotName(drive.uuid, now),
    drive: drive.uuid,
    meta: draft.meta,
    tags: draft.tags,
    status: 'creating',
    timestamp: snapshotTimestamp(now),
    allocated_size: null,
    media: drive.media,
    size: drive.size,
    storage_type: drive.storage_type,
    cloning: [],
  };
  const record = toRecord(snapshotKind, doc);
  await tx.insert(record);
  await syncTags(tx, SNAPSHOT_KIND, doc.uuid, [], doc.tags);
  drive.snapshots = [doc.uuid, ...drive.snapshots];
  await tx.update(toUpdate(driveKind, driveRecord, drive));
  await addTask(env, tx, SNAPSHOT_CREATE_TASK, doc.uuid);
  return { uuid: doc.uuid, detail: record.detail };
}

/**
 * The limits of capabilities `snapshots` (`max` per account, `max_per_drive`): a snapshot over
 * either is refused with 403 `permission`, as a quota is not a malformed request.
 */
async function checkLimits(
  env: ResourceEnv,
  tx: ReadTx,
  owner: string,
  drive: DriveDoc,
): Promise<void> {
  const limits = env.capabilities.snapshots;
  if (!limits) return;
  if (drive.snapshots.length >= limits.max_per_drive) {
    throw errors.permission(
      `Drive ${drive.uuid} has ${drive.snapshots.length} snapshots, the most a drive may have (max_per_drive ${limits.max_per_drive}); delete one first`,
      'drive',
    );
  }
  const total = await countSnapshots(tx, owner);
  if (total >= limits.max) {
    throw errors.permission(
      `The account has ${total} snapshots, the most it may have (max ${limits.max}); delete one first`,
    );
  }
}

/** How many snapshots `owner` has (capabilities `snapshots.current`). */
export async function countSnapshots(tx: ReadTx, owner: string): Promise<number> {
  const page = await tx.list({
    kind: SNAPSHOT_KIND,
    owner,
    filters: [],
    limit: 1,
    offset: 0,
    view: 'detail',
  });
  return page.total;
}

/** PUT: name, meta and tags change; the drive is the one it was taken of. */
export async function updateSnapshot(
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<string> {
  const { values } = readInput(SNAPSHOTS.fields, body, { requireAll: false });
  const doc = parseDoc<SnapshotDoc>(record);
  const next: SnapshotDoc = { ...doc };
  if (values.drive !== undefined && values.drive !== doc.drive) {
    throw errors.invalid('drive', 'The drive of a snapshot cannot be changed');
  }
  if (values.name !== undefined && values.name !== null) next.name = values.name as string;
  if (values.meta !== undefined) next.meta = values.meta as Record<string, string>;
  if (values.tags !== undefined) next.tags = [...new Set(values.tags as string[])];
  await checkTags(tx, doc.owner, next.tags, 'tags');
  const updated = toUpdate(snapshotKind, record, next);
  await tx.update(updated);
  await syncTags(tx, SNAPSHOT_KIND, doc.uuid, doc.tags, next.tags);
  return updated.detail;
}

/** Deletes snapshots; each leaves its drive's `snapshots`. */
export async function deleteSnapshots(
  tx: WriteTx,
  records: readonly ObjectRecord[],
): Promise<void> {
  for (const stale of records) {
    const record = await tx.get(stale.uuid);
    if (record?.kind !== SNAPSHOT_KIND) continue;
    const snapshot = parseDoc<SnapshotDoc>(record);
    await removeSnapshot(tx, record, snapshot);
    const driveRecord = await tx.get(snapshot.drive);
    if (driveRecord?.kind !== 'drives') continue;
    const drive = parseDoc<DriveDoc>(driveRecord);
    drive.snapshots = drive.snapshots.filter((uuid) => uuid !== snapshot.uuid);
    drive.snapshots_allocated_size = await allocatedSum(tx, drive.snapshots);
    await tx.update(toUpdate(driveKind, driveRecord, drive));
  }
}

/** A drive that goes takes its snapshots with it (called from the drive's relations). */
export async function deleteDriveSnapshots(tx: WriteTx, drive: DriveDoc): Promise<void> {
  for (const record of await tx.getMany(drive.snapshots)) {
    if (record.kind !== SNAPSHOT_KIND) continue;
    await removeSnapshot(tx, record, parseDoc<SnapshotDoc>(record));
  }
}

async function removeSnapshot(tx: WriteTx, record: ObjectRecord, snapshot: SnapshotDoc) {
  // A copy under way reads the snapshot: it stays until the copy is done.
  if (snapshot.cloning.length > 0) {
    throw errors.permission(
      `Cannot delete snapshot ${snapshot.uuid}: drive ${snapshot.cloning[0]} is being cloned from it`,
    );
  }
  await syncTags(tx, SNAPSHOT_KIND, snapshot.uuid, snapshot.tags, null);
  await tx.remove(record);
  await queueVolumeRemoval(tx, snapshot.uuid);
}

/** The drive's `runtime.snapshots_allocated_size` again, from its snapshots (engine and deletes). */
export async function refreshAllocatedSize(tx: WriteTx, driveUuid: string): Promise<void> {
  const record = await tx.get(driveUuid);
  if (record?.kind !== 'drives') return;
  const drive = parseDoc<DriveDoc>(record);
  const sum = await allocatedSum(tx, drive.snapshots);
  if (sum === (drive.snapshots_allocated_size ?? 0)) return;
  drive.snapshots_allocated_size = sum;
  await tx.update(toUpdate(driveKind, record, drive));
}

async function allocatedSum(tx: ReadTx, snapshots: readonly string[]): Promise<number> {
  let sum = 0;
  for (const record of await tx.getMany(snapshots)) {
    if (record.kind === SNAPSHOT_KIND) sum += parseDoc<SnapshotDoc>(record).allocated_size ?? 0;
  }
  return sum;
}
