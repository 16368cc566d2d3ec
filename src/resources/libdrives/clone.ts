/**
 * Cloning a library drive into a drive of the caller (api-reference.md §3.5): through
 * `/libdrives/{uuid}/action/?do=clone` and, as libcloud does it, `/drives/{uuid}/action/?do=clone`.
 * The copy carries the library's licenses and its metadata in `meta` (§1.15); the library drive
 * itself does not change (it is every account's: no `cloning_src`, no job on it).
 */

import { errors } from '../../errors.js';
import type { ApiContext } from '../../http/api.js';
import { readInput } from '../../model/input.js';
import { isPlainObject } from '../../model/json.js';
import { resourceUri } from '../../model/refs.js';
import { parseDoc } from '../common.js';
import { insertDriveCopy } from '../drives/copies.js';
import { DRIVES, type DriveDoc } from '../drives/model.js';
import { checkDrive } from '../drives/service.js';
import type { ResourceEnv } from '../env.js';
import { addTask } from '../lifecycle.js';
import { cloneNamingOf } from '../profile/model.js';
import { cloneName } from '../profile/naming.js';
import { TASKS } from '../tasks.js';
import { LIBDRIVE_KIND, type LibdriveDoc, libraryMeta } from './model.js';

const CLONE_FIELDS = {
  name: { ...DRIVES.fields.name!, required: false },
  media: DRIVES.fields.media!,
  affinities: DRIVES.fields.affinities!,
  size: DRIVES.fields.size!,
  storage_type: DRIVES.fields.storage_type!,
};

/**
 * Clones the library drive `ctx.params.uuid` for the caller; returns the new drive's rendered
 * detail, or undefined when the uuid is not a library drive (then it is some other drive's clone).
 */
export async function cloneLibraryDrive(
  env: ResourceEnv,
  ctx: ApiContext,
): Promise<string | undefined> {
  const uuid = ctx.params.uuid!;
  // Library drives change only when a process starts: a read outside the transaction decides.
  if ((await env.store.get(uuid))?.kind !== LIBDRIVE_KIND) return undefined;
  const body = ctx.body === undefined ? {} : ctx.body;
  if (!isPlainObject(body)) throw errors.invalid(null, 'Expected a JSON object');
  const { values } = readInput(CLONE_FIELDS, body, { requireAll: false });
  const owner = ctx.principal.uuid;
  return env.store.write(async (tx) => {
    const record = await tx.get(uuid);
    if (record?.kind !== LIBDRIVE_KIND) throw errors.notExist(uuid);
    const source = parseDoc<LibdriveDoc>(record);
    const now = new Date(env.clock.now());
    const size = (values.size as number | undefined) ?? source.size;
    if (size < source.size) {
      throw errors.invalid(
        'size',
        `A clone cannot be smaller than its source (${source.size} bytes)`,
      );
    }
    const copy: DriveDoc = {
      uuid: env.random.uuid(),
      owner,
      name:
        (values.name as string | undefined) ??
        cloneName(source.name, await cloneNamingOf(tx, owner), now),
      size,
      media: (values.media as DriveDoc['media'] | undefined) ?? source.media,
      storage_type:
        (values.storage_type as string | undefined) ??
        source.storage_type ??
        env.capabilities.default_storage_type,
      allow_multimount: source.allow_multimount,
      affinities: (values.affinities as string[] | undefined) ?? source.affinities,
      iops: null,
      licenses: source.licenses,
      meta: libraryMeta(source),
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
      resourceUri(LIBDRIVE_KIND, source.uuid),
      now,
    );
    // The drive clone task: it copies from `source` and settles the copy; a source that is not
    // an account's drive is left alone.
    await addTask(env, tx, TASKS.driveClone, copy.uuid, { source: source.uuid, job: job.uuid });
    return copyRecord.detail;
  });
}
