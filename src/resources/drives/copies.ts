/**
 * A drive copy coming into being: every clone (of a drive, a library drive, a snapshot, a
 * server's disks) stores the copy with a `drive_clone` job that names its source and the copy.
 */

import type { Random } from '../../model/random.js';
import { resourceUri } from '../../model/refs.js';
import type { NewRecord, WriteTx } from '../../store/types.js';
import { toRecord } from '../common.js';
import { type JobDoc, jobKind, newJob } from '../jobs/model.js';
import { type DriveDoc, driveKind } from './model.js';
import { syncDriveRelations } from './relations.js';

/** Stores `copy` (its jobs set to the new job) and the job; `sourceUri` is the source's URI. */
export async function insertDriveCopy(
  env: { random: Random },
  tx: WriteTx,
  copy: DriveDoc,
  sourceUri: string,
  now: Date,
): Promise<{ record: NewRecord; job: JobDoc }> {
  const job = newJob(
    env.random.uuid(),
    copy.owner,
    'drive_clone',
    [sourceUri, resourceUri('drives', copy.uuid)],
    now,
  );
  copy.jobs = [job.uuid];
  const record = toRecord(driveKind, copy);
  await tx.insert(record);
  await syncDriveRelations(tx, null, copy);
  await tx.insert(toRecord(jobKind, job));
  return { record, job };
}
