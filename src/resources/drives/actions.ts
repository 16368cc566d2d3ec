/**
 * `POST /drives/{uuid}/action/?do=clone|resize` (api-reference.md §3.4-§3.5). Both answer 202
 * with `{"objects": [drive]}`: the new drive (`cloning_dst`) or the resized one (`resizing`).
 */

import { errors } from '../../errors.js';
import { dispatchAction } from '../../http/actions.js';
import type { ApiContext, ApiResult, RouteSpec } from '../../http/api.js';
import { readInput } from '../../model/input.js';
import { isPlainObject } from '../../model/json.js';
import { resourceUri } from '../../model/refs.js';
import { sharedView, withoutOwnerFields } from '../acls/access.js';
import { copyFor } from '../acls/grants.js';
import { loadAccessible, loadVisible, parseDoc, toUpdate } from '../common.js';
import type { ResourceEnv } from '../env.js';
import { cloneLibraryDrive } from '../libdrives/clone.js';
import { addTask } from '../lifecycle.js';
import { cloneNamingOf } from '../profile/model.js';
import { cloneName } from '../profile/naming.js';
import { copyDrive, markCloneSource } from '../servers/clone.js';
import { TASKS } from '../tasks.js';
import { insertDriveCopy } from './copies.js';
import { DRIVES, type DriveDoc, driveKind } from './model.js';
import { checkDrive, resizeDrive } from './service.js';

const CLONE_FIELDS = {
  name: DRIVES.fields.name!,
  media: DRIVES.fields.media!,
  affinities: DRIVES.fields.affinities!,
  size: DRIVES.fields.size!,
  storage_type: DRIVES.fields.storage_type!,
};

async function cloneDrive(env: ResourceEnv, ctx: ApiContext): Promise<string> {
  const body = ctx.body === undefined ? {} : ctx.body;
  if (!isPlainObject(body)) throw errors.invalid(null, 'Expected a JSON object');
  const { values } = readInput(
    { ...CLONE_FIELDS, name: { ...CLONE_FIELDS.name, required: false } },
    body,
    {
      requireAll: false,
    },
  );
  return env.store.write(async (tx) => {
    const record = await loadVisible(tx, 'drives', ctx.params.uuid!, ctx, 'CLONE');
    const source = parseDoc<DriveDoc>(record);
    // The copy is the caller's, who may clone a drive shared with it.
    const cloner = ctx.principal.uuid;
    const now = new Date(env.clock.now());
    const name =
      (values.name as string | undefined) ??
      cloneName(source.name, await cloneNamingOf(tx, cloner), now);
    markCloneSource(source);
    const copy = copyFor(copyDrive(source, env.random.uuid(), name), cloner);
    if (values.media !== undefined) copy.media = values.media as DriveDoc['media'];
    if (values.affinities !== undefined) copy.affinities = values.affinities as string[];
    if (values.storage_type !== undefined) copy.storage_type = values.storage_type as string;
    if (values.size !== undefined) {
      if ((values.size as number) < source.size) {
        throw errors.invalid(
          'size',
          `A clone cannot be smaller than its source (${source.size} bytes)`,
        );
      }
      copy.size = values.size as number;
    }
    checkDrive(copy, env.capabilities);
    const { record: copyRecord, job } = await insertDriveCopy(
      env,
      tx,
      copy,
      resourceUri('drives', source.uuid),
      now,
    );
    source.jobs = [...source.jobs, job.uuid];
    await tx.update(toUpdate(driveKind, record, source));
    await addTask(env, tx, TASKS.driveClone, copy.uuid, { source: source.uuid, job: job.uuid });
    // As stored once its relations followed (its grants, if its tags share it).
    return (await tx.get(copy.uuid))?.detail ?? copyRecord.detail;
  });
}

export function driveActionRoutes(env: ResourceEnv): RouteSpec[] {
  const actions: Record<string, (ctx: ApiContext) => Promise<ApiResult>> = {
    clone: async (ctx) => ({
      type: 'object',
      status: 202,
      // A library drive's uuid clones the library drive (libcloud clones images this way).
      json: `{"objects":[${(await cloneLibraryDrive(env, ctx)) ?? (await cloneDrive(env, ctx))}]}`,
    }),
    resize: async (ctx) => {
      if (!isPlainObject(ctx.body)) throw errors.invalid(null, 'Expected a JSON object');
      const json = await env.store.write(async (tx) => {
        const { record, access } = await loadAccessible(
          tx,
          'drives',
          ctx.params.uuid!,
          ctx,
          'EDIT',
        );
        const body = withoutOwnerFields(ctx.body, access);
        return sharedView(await resizeDrive(env, tx, record, body), access);
      });
      return { type: 'object', status: 202, json: `{"objects":[${json}]}` };
    },
  };
  return [
    {
      path: '/drives/:uuid/action/',
      handlers: {
        POST: dispatchAction(actions),
      },
      actions: { clone: { as: 'objects', def: DRIVES }, resize: { as: 'objects', def: DRIVES } },
    },
  ];
}
