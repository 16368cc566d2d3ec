/**
 * Server clone (api-reference.md §2.7): the definition is copied; every disk is copied into a new
 * drive (`cloning_dst`, its source `cloning_src`), cdroms are attached as they are, NICs get fresh
 * MACs and DHCP instead of static addresses, and the clone is `cloning` until its disks are done.
 * A `server_clone` job with a `drive_clone` child per disk follows the copy.
 */

import { errors } from '../../errors.js';
import type { ApiContext } from '../../http/api.js';
import { isPlainObject } from '../../model/json.js';
import { alphanumeric } from '../../model/random.js';
import { resourceUri } from '../../model/refs.js';
import type { ObjectRecord, WriteTx } from '../../store/types.js';
import { accessOf, allows, notGranted, type Permission } from '../acls/access.js';
import { copyFor } from '../acls/grants.js';
import { loadVisible, parseDoc, toRecord, toUpdate } from '../common.js';
import { insertDriveCopy } from '../drives/copies.js';
import { type DriveDoc, driveKind } from '../drives/model.js';
import type { ResourceEnv } from '../env.js';
import { jobKind, newJob } from '../jobs/model.js';
import { LIBDRIVE_KIND } from '../libdrives/model.js';
import { addTask } from '../lifecycle.js';
import { cloneNamingOf } from '../profile/model.js';
import { cloneName } from '../profile/naming.js';
import { TASKS } from '../tasks.js';
import { type ServerDoc, serverKind } from './model.js';
import { syncServerRelations } from './relations.js';
import { assignMacs } from './service.js';

interface CloneOptions {
  name?: string;
  randomVncPassword: boolean;
}

function readCloneBody(body: unknown): CloneOptions {
  if (body === undefined) return { randomVncPassword: false };
  if (!isPlainObject(body)) throw errors.invalid(null, 'Expected a JSON object');
  // null is "not given": libcloud's ex_clone_node sends both keys, null when not asked for.
  if (body.name != null && typeof body.name !== 'string')
    throw errors.invalid('name', 'Expected a string');
  if (body.random_vnc_password != null && typeof body.random_vnc_password !== 'boolean') {
    throw errors.invalid('random_vnc_password', 'Expected true or false');
  }
  return {
    ...(typeof body.name === 'string' ? { name: body.name } : {}),
    randomVncPassword: body.random_vnc_password === true,
  };
}

/** A copy of a drive definition under a new uuid and name, `cloning_dst`, mounted nowhere yet. */
export function copyDrive(source: DriveDoc, uuid: string, name: string): DriveDoc {
  return {
    ...source,
    uuid,
    name,
    status: 'cloning_dst',
    mounted_on: [],
    snapshots: [],
    snapshots_allocated_size: 0,
    jobs: [],
  };
}

/**
 * The source of a copy: a drive that is not otherwise changing. One drive may feed several copies
 * at once (clients clone an image many times without waiting).
 */
export function markCloneSource(drive: DriveDoc): void {
  if (
    drive.status !== 'mounted' &&
    drive.status !== 'unmounted' &&
    drive.status !== 'cloning_src'
  ) {
    throw errors.permission(`Cannot clone drive ${drive.uuid} in state "${drive.status}"`);
  }
  drive.status = 'cloning_src';
}

export async function cloneServer(env: ResourceEnv, ctx: ApiContext): Promise<string> {
  const options = readCloneBody(ctx.body);
  return env.store.write(async (tx) => {
    const sourceRecord = await loadVisible(tx, 'servers', ctx.params.uuid!, ctx, 'CLONE');
    const source = parseDoc<ServerDoc>(sourceRecord);
    // The clone and its disks are the caller's, who may clone a server shared with it.
    const cloner = ctx.principal.uuid;
    const naming = await cloneNamingOf(tx, cloner);
    const now = new Date(env.clock.now());
    const uuid = env.random.uuid();
    const jobUuid = env.random.uuid();
    const copies: { source: string; target: string; job: string }[] = [];
    const drives = [];
    for (const attachment of source.drives) {
      const driveRecord = await tx.get(attachment.drive);
      // A library cdrom is shared as it is (a library disk cannot be attached).
      if (driveRecord?.kind === LIBDRIVE_KIND) drives.push({ ...attachment, runtime: null });
      if (driveRecord?.kind !== 'drives') continue;
      const drive = parseDoc<DriveDoc>(driveRecord);
      // Another account's cdrom is shared as it is (ATTACH); its disks are copied (CLONE).
      await requireGrant(tx, driveRecord, cloner, drive.media === 'cdrom' ? 'ATTACH' : 'CLONE');
      if (drive.media === 'cdrom') {
        drives.push({ ...attachment, runtime: null });
        continue;
      }
      markCloneSource(drive);
      await tx.update(toUpdate(driveKind, driveRecord, drive));
      const copy = copyFor(
        copyDrive(drive, env.random.uuid(), cloneName(drive.name, naming, now)),
        cloner,
      );
      copy.mounted_on = [uuid];
      copy.status = 'cloning_dst';
      const { job: childJob } = await insertDriveCopy(
        env,
        tx,
        copy,
        resourceUri('drives', drive.uuid),
        now,
      );
      copies.push({ source: drive.uuid, target: copy.uuid, job: childJob.uuid });
      drives.push({ ...attachment, drive: copy.uuid, runtime: null });
    }
    const job = newJob(
      jobUuid,
      cloner,
      'server_clone',
      [resourceUri('servers', source.uuid), resourceUri('servers', uuid)],
      now,
    );
    const clone: ServerDoc = {
      ...copyFor(source, cloner),
      // Public keys, like tags, are the source owner's.
      pubkeys: source.owner === cloner ? source.pubkeys : [],
      uuid,
      name: options.name ?? cloneName(source.name, naming, now),
      vnc_password: options.randomVncPassword ? alphanumeric(env.random, 8) : source.vnc_password,
      status: copies.length > 0 ? 'cloning' : 'stopped',
      runtime: null,
      jobs: [jobUuid],
      drives,
      nics: await assignMacs(
        tx,
        env.random,
        uuid,
        [],
        source.nics.map((nic) => ({
          ...nic,
          mac: null,
          runtime: null,
          ip_v4_conf: nic.ip_v4_conf && { conf: 'dhcp', ip: null },
          ip_v6_conf: nic.ip_v6_conf && { conf: 'dhcp', ip: null },
          // The source owner's networks are not the cloner's.
          ...(source.owner === cloner ? {} : { vlan: null, firewall_policy: null }),
        })),
      ),
    };
    await mountCdroms(
      tx,
      uuid,
      drives.map((d) => d.drive).filter((d) => !copies.some((c) => c.target === d)),
    );
    const record = toRecord(serverKind, clone);
    await tx.insert(record);
    await syncServerRelations(tx, null, clone);
    if (copies.length === 0) {
      job.state = 'success';
      job.progress = 100;
    }
    await tx.insert(toRecord(jobKind, job));
    if (copies.length > 0) {
      await addTask(env, tx, TASKS.serverClone, uuid, {
        source: source.uuid,
        job: jobUuid,
        copies,
      });
    }
    // As stored once its relations followed (its grants, if its tags share it).
    return (await tx.get(uuid))?.detail ?? record.detail;
  });
}

/** A drive of another account's server must be granted to the cloner with `permission`. */
async function requireGrant(
  tx: WriteTx,
  drive: ObjectRecord,
  cloner: string,
  permission: Permission,
): Promise<void> {
  const access = await accessOf(tx, drive, cloner);
  if (!access || !allows(access, permission)) throw notGranted('drives', drive.uuid, permission);
}

/** The clone shares the source's cdroms: they are mounted on it too. */
async function mountCdroms(tx: WriteTx, serverUuid: string, cdroms: string[]): Promise<void> {
  for (const uuid of cdroms) {
    const record = await tx.get(uuid);
    if (record?.kind !== 'drives') continue;
    const drive = parseDoc<DriveDoc>(record);
    if (!drive.mounted_on.includes(serverUuid))
      drive.mounted_on = [...drive.mounted_on, serverUuid];
    if (drive.status === 'unmounted') drive.status = 'mounted';
    await tx.update(toUpdate(driveKind, record, drive));
  }
}
