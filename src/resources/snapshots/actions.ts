/**
 * `POST /snapshots/{uuid}/action/?do=clone` (api-reference.md §3.7): a new drive of the snapshot's
 * content, `cloning_dst` until the storage has copied it. It answers 202 with the bare drive (not
 * wrapped in `objects`, unlike a drive clone). Without a name the profile's clone naming applies
 * to the snapshot's name (NONE, the default: the snapshot's name itself).
 */

import { errors } from '../../errors.js';
import type { ApiContext } from '../../http/api.js';
import { readInput } from '../../model/input.js';
import { isPlainObject } from '../../model/json.js';
import { resourceUri } from '../../model/refs.js';
import { loadVisible, parseDoc, toUpdate } from '../common.js';
import { insertDriveCopy } from '../drives/copies.js';
import { DRIVES, type DriveDoc } from '../drives/model.js';
import { checkDrive } from '../drives/service.js';
import type { ResourceEnv } from '../env.js';
import { addTask } from '../lifecycle.js';
import { cloneNamingOf } from '../profile/model.js';
import { cloneName } from '../profile/naming.js';
import { TASKS } from '../tasks.js';
import { SNAPSHOT_KIND, type SnapshotDoc, snapshotKind } from './model.js';

/** The engine's task that copies a snapshot into a new drive (engine/snapshots.ts). */
export const SNAPSHOT_CLONE_TASK = TASKS.snapshotClone;

export interface SnapshotClonePayload {
  snapshot: string;
  job: string;
}

const CLONE_FIELDS = {
  name: { ...DRIVES.fields.name!, required: false },
  media: DRIVES.fields.media!,
  affinities: DRIVES.fields.affinities!,
};

/** Returns the new drive's rendered detail. */
export async function cloneSnapshot(env: ResourceEnv, ctx: ApiContext): Promise<string> {
  const body = ctx.body === undefined ? {} : ctx.body;
  if (!isPlainObject(body)) throw errors.invalid(null, 'Expected a JSON object');
  const { values } = readInput(CLONE_FIELDS, body, { requireAll: false });
  return env.store.write(async (tx) => {
    const record = await loadVisible(tx, SNAPSHOT_KIND, ctx.params.uuid!, ctx);
    const snapshot = parseDoc<SnapshotDoc>(record);
    if (snapshot.status !== 'available') {
      throw errors.permission(
        `Cannot clone snapshot ${snapshot.uuid} in state "${snapshot.status}"`,
      );
    }
    const now = new Date(env.clock.now());
    const copy: DriveDoc = {
      uuid: env.random.uuid(),
      owner: snapshot.owner,
      name:
        (values.name as string | undefined) ??
        cloneName(snapshot.name, await cloneNamingOf(tx, snapshot.owner), now),
      size: snapshot.size,
      media: (values.media as DriveDoc['media'] | undefined) ?? snapshot.media,
      storage_type: snapshot.storage_type,
      allow_multimount: false,
      affinities: (values.affinities as string[] | undefined) ?? [],
      iops: null,
      licenses: [],
      meta: {},
      tags: [],
      status: 'cloning_dst',
      mounted_on: [],
      snapshots: [],
      jobs: [],
    };
    checkDrive(copy, env.capabilities);
    const { record: copyRecord, job } = await insertDriveCopy(
      env,
      tx,
      copy,
      resourceUri(SNAPSHOT_KIND, snapshot.uuid),
      now,
    );
    snapshot.cloning = [...snapshot.cloning, copy.uuid];
    await tx.update(toUpdate(snapshotKind, record, snapshot));
    const payload: SnapshotClonePayload = { snapshot: snapshot.uuid, job: job.uuid };
    await addTask(env, tx, SNAPSHOT_CLONE_TASK, copy.uuid, payload);
    return copyRecord.detail;
  });
}
