/** Drive definitions: create, update, delete, with the rules of api-reference.md §3. */

import { errors } from '../../errors.js';
import { readInput } from '../../model/input.js';
import type { ObjectRecord, WriteTx } from '../../store/types.js';
import type { Capabilities } from '../capabilities/types.js';
import { mapInSlices, parseDoc, toRecord, toUpdate } from '../common.js';
import type { Created } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { addTask, queueVolumeRemoval } from '../lifecycle.js';
import { detachEverywhere } from '../mounts.js';
import { TASKS } from '../tasks.js';
import { DRIVES, type DriveDoc, driveKind, settledStatus } from './model.js';
import { checkDriveReferences, syncDriveRelations } from './relations.js';

/** Validates and stores new drives, all or nothing. */
export async function createDrives(
  env: ResourceEnv,
  owner: string,
  items: unknown[],
  signal?: AbortSignal,
): Promise<Created[]> {
  const docs = await mapInSlices(items, (item) => newDrive(env, owner, item), signal);
  return env.store.write(async (tx) => {
    const out: Created[] = [];
    for (const doc of docs) out.push({ uuid: doc.uuid, detail: await insertDrive(env, tx, doc) });
    // The client went away meanwhile: the transaction rolls back.
    signal?.throwIfAborted();
    return out;
  });
}

/**
 * Stores a drive `newDrive` made, `creating` with the task that makes it, inside `tx`; checks its
 * references first. Returns its rendered detail.
 */
export async function insertDrive(env: ResourceEnv, tx: WriteTx, doc: DriveDoc): Promise<string> {
  await checkDriveReferences(tx, doc);
  const record = toRecord(driveKind, doc);
  await tx.insert(record);
  await syncDriveRelations(tx, null, doc);
  await addTask(env, tx, TASKS.driveCreate, doc.uuid);
  // Tags may share it: then its grantees were written after it.
  return doc.tags.length > 0 ? ((await tx.get(doc.uuid))?.detail ?? record.detail) : record.detail;
}

/**
 * Reads and checks a drive definition (a POST body's object) into a new document. Its uuid is
 * `uuid` when given (a seed file's), else a new one.
 */
export function newDrive(env: ResourceEnv, owner: string, item: unknown, uuid?: string): DriveDoc {
  const { values: v } = readInput(DRIVES.fields, item, { requireAll: true });
  rejectUnsupportedRefs(v);
  const doc: DriveDoc = {
    uuid: uuid ?? env.random.uuid(),
    owner,
    name: v.name as string,
    size: v.size as number,
    media: v.media as DriveDoc['media'],
    storage_type: (v.storage_type as string | undefined) ?? env.capabilities.default_storage_type,
    allow_multimount: (v.allow_multimount as boolean | undefined) ?? false,
    affinities: (v.affinities as string[] | undefined) ?? [],
    iops: (v.iops as number | null | undefined) ?? null,
    licenses: [],
    meta: (v.meta as Record<string, string> | undefined) ?? {},
    tags: [...new Set((v.tags as string[] | undefined) ?? [])],
    // `creating` until the storage has made it (a task of the engine).
    status: 'creating',
    mounted_on: [],
    snapshots: [],
    jobs: [],
  };
  checkDrive(doc, env.capabilities);
  return doc;
}

/** Licenses come with library drives (their clones carry them); they are not set by clients. */
function rejectUnsupportedRefs(v: Record<string, unknown>): void {
  if (Array.isArray(v.licenses) && v.licenses.length > 0) {
    throw errors.notYetSupported('licenses', 'Licenses');
  }
}

/** The rules on a whole drive definition: storage type, size and iops bounds from capabilities. */
export function checkDrive(doc: DriveDoc, capabilities: Capabilities): void {
  const limits = capabilities.drives[doc.storage_type];
  if (!limits) {
    const offered = Object.keys(capabilities.drives).join(', ');
    throw errors.invalid(
      'storage_type',
      `Storage type "${doc.storage_type}" is not offered here. Offered: ${offered}`,
    );
  }
  if (doc.size < limits.size.min || doc.size > limits.size.max) {
    throw errors.invalid(
      'size',
      `Drive size must be between ${limits.size.min} and ${limits.size.max} bytes for storage type ${doc.storage_type}`,
    );
  }
  if (
    doc.iops !== null &&
    limits.iops &&
    (doc.iops < limits.iops.min || doc.iops > limits.iops.max)
  ) {
    throw errors.invalid(
      'iops',
      `IOPS must be between ${limits.iops.min} and ${limits.iops.max} for storage type ${doc.storage_type}`,
    );
  }
  if (!doc.allow_multimount && doc.media === 'disk' && doc.mounted_on.length > 1) {
    throw errors.invalid(
      'allow_multimount',
      `Drive ${doc.uuid} is mounted on ${doc.mounted_on.length} servers; multimount cannot be turned off`,
    );
  }
}

/** Fields that a drive mounted on a running server may still change (api-reference.md §1.14). */
const LIVE_FIELDS = new Set(['name', 'meta', 'tags', 'allow_multimount']);

/** PUT: a top-level merge of the writable fields. Returns the rendered detail. */
export async function updateDrive(
  env: ResourceEnv,
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<string> {
  const { values } = readInput(DRIVES.fields, body, { requireAll: false });
  rejectUnsupportedRefs(values);
  const doc = parseDoc<DriveDoc>(record);
  const liveOnly = await mountedOnLiveServer(tx, doc);
  const next: DriveDoc = { ...doc };
  for (const [key, value] of Object.entries(values)) {
    if (liveOnly && !LIVE_FIELDS.has(key)) continue;
    switch (key) {
      case 'storage_type':
        if (value !== doc.storage_type) {
          throw errors.invalid('storage_type', 'The storage type of a drive cannot be changed');
        }
        break;
      case 'size':
        if ((value as number) < doc.size) {
          throw errors.invalid(
            'size',
            `A drive cannot shrink (from ${doc.size} to ${value} bytes)`,
          );
        }
        next.size = value as number;
        break;
      case 'tags':
        next.tags = [...new Set(value as string[])];
        break;
      case 'licenses':
        break;
      case 'iops':
        next.iops = (value as number | null) ?? null;
        break;
      default:
        (next as unknown as Record<string, unknown>)[key] = value;
    }
  }
  next.status = settledStatus(next);
  checkDrive(next, env.capabilities);
  await checkDriveReferences(tx, next);
  if (next.size !== doc.size) await startResize(env, tx, next);
  const updated = toUpdate(driveKind, record, next);
  await tx.update(updated);
  await syncDriveRelations(tx, doc, next);
  return updated.detail;
}

/** `resizing` until the storage has grown the drive (a task of the engine). */
async function startResize(env: ResourceEnv, tx: WriteTx, drive: DriveDoc): Promise<void> {
  if (drive.status !== 'mounted' && drive.status !== 'unmounted') {
    throw errors.wrongState('resize', 'drive', drive.uuid, drive.status);
  }
  drive.status = 'resizing';
  await addTask(env, tx, TASKS.driveResize, drive.uuid);
}

/**
 * `?do=resize`: a full update whose size change is not silently dropped: on a drive mounted on a
 * running server it fails (403) where PUT would ignore the size.
 */
export async function resizeDrive(
  env: ResourceEnv,
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<string> {
  const doc = parseDoc<DriveDoc>(record);
  if (await mountedOnLiveServer(tx, doc)) {
    throw errors.permission(`Cannot resize drive ${doc.uuid}: it is mounted on a running server`);
  }
  return updateDrive(env, tx, record, body);
}

async function mountedOnLiveServer(tx: WriteTx, doc: DriveDoc): Promise<boolean> {
  for (const server of await tx.getMany(doc.mounted_on)) {
    if (server.status !== 'stopped') return true;
  }
  return false;
}

/** Deletes drives, detaching them from the (stopped) servers they are mounted on. */
export async function deleteDrives(
  tx: WriteTx,
  records: readonly ObjectRecord[],
  deletingServers: ReadonlySet<string> = new Set(),
): Promise<void> {
  for (const stale of records) {
    const record = await tx.get(stale.uuid);
    if (!record) continue;
    const drive = parseDoc<DriveDoc>(record);
    // An upload under way is given up with its drive (its bytes go with the next sweep).
    const deletable = ['mounted', 'unmounted', 'creating', 'uploading'];
    if (!deletable.includes(drive.status)) {
      throw errors.wrongState('delete', 'drive', drive.uuid, drive.status);
    }
    await detachEverywhere(tx, drive, deletingServers);
    await syncDriveRelations(tx, drive, null);
    await tx.remove(record);
    await queueVolumeRemoval(tx, drive.uuid);
  }
}
