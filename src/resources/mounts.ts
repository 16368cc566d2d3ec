/**
 * The server–drive relation, kept consistent in both directions inside one transaction: a
 * server's `drives` and each drive's `mounted_on` and `mounted`/`unmounted` status.
 */
import { errors } from '../errors.js';
import type { WriteTx } from '../store/types.js';
import { accessOf, allows } from './acls/access.js';
import { parseDoc, toUpdate } from './common.js';
import { type DriveDoc, driveKind, settledStatus } from './drives/model.js';
import { checkLibraryAttachment, LIBDRIVE_KIND } from './libdrives/model.js';
import { type AttachmentDoc, type ServerDoc, serverKind } from './servers/model.js';

/**
 * Checks that every drive a server definition attaches exists, is the server owner's or shared
 * with it with ATTACH, and may be mounted there (a disk without `allow_multimount` on one server only).
 */
export async function checkAttachments(
  tx: WriteTx,
  owner: string,
  serverUuid: string,
  attachments: readonly AttachmentDoc[],
  by: { caller?: string | undefined; attached?: readonly string[] } = {},
): Promise<void> {
  const seen = new Set<string>();
  const attached = new Set(by.attached ?? []);
  for (const [i, attachment] of attachments.entries()) {
    const point = `drives.${i}.drive`;
    if (seen.has(attachment.drive)) {
      throw errors.invalid(point, `Drive ${attachment.drive} is attached more than once`);
    }
    seen.add(attachment.drive);
    const record = await tx.get(attachment.drive);
    if (record?.kind === LIBDRIVE_KIND) {
      checkLibraryAttachment(record, point);
      continue;
    }
    // Another account's drive must be shared with the server's owner (who may not be the
    // caller: an account editing a server shared with it), with ATTACH.
    const access = record?.kind === 'drives' ? await accessOf(tx, record, owner) : undefined;
    if (!record || !access) {
      throw errors.missingReference(point, attachment.drive);
    }
    if (!allows(access, 'ATTACH')) {
      throw errors.notSharedToAttach(`Drive ${record.uuid}`, point);
    }
    // A grantee editing the server attaches with its own rights: the owner's right alone would
    // let it mount any drive of the owner's, shared with it or not. Drives already attached stay.
    if (by.caller !== undefined && by.caller !== owner && !attached.has(record.uuid)) {
      const mine = await accessOf(tx, record, by.caller);
      if (!mine) throw errors.invalid(point, `Object with uuid ${attachment.drive} does not exist`);
      if (!allows(mine, 'ATTACH')) {
        throw errors.permission(
          `Drive ${record.uuid} is not shared with you with the ATTACH permission`,
          point,
        );
      }
    }
    const drive = parseDoc<DriveDoc>(record);
    if (drive.status === 'uploading') {
      // Its image is not checked yet (docs/images.md): no guest may see it before.
      throw errors.permission(
        `Drive ${drive.uuid} is being uploaded: attach it once the upload is complete`,
        point,
      );
    }
    const elsewhere = drive.mounted_on.filter((uuid) => uuid !== serverUuid);
    if (drive.media === 'disk' && !drive.allow_multimount && elsewhere.length > 0) {
      throw errors.invalid(
        'drives',
        `Drive ${drive.uuid} is already attached to server ${elsewhere[0]} and does not allow multimount`,
      );
    }
  }
}

/**
 * Checks, as a server starts, that its owner may still attach each of its drives: a grant of
 * ATTACH taken back (its ACL deleted or changed) since the drive was attached stops the start
 * (403 naming the drive); the server keeps the drive until someone detaches it.
 */
export async function checkStillAttachable(
  tx: WriteTx,
  owner: string,
  attachments: readonly AttachmentDoc[],
): Promise<void> {
  for (const [i, attachment] of attachments.entries()) {
    const record = await tx.get(attachment.drive);
    // Library drives are everyone's; a drive gone is detached by its delete.
    if (record?.kind !== 'drives' || record.owner === owner) continue;
    const access = await accessOf(tx, record, owner);
    if (!access || !allows(access, 'ATTACH')) {
      throw errors.notSharedToAttach(`Drive ${record.uuid}`, `drives.${i}.drive`);
    }
  }
}

/** Updates the drives whose attachment to `serverUuid` appeared or disappeared. */
export async function applyMounts(
  tx: WriteTx,
  serverUuid: string,
  before: readonly AttachmentDoc[],
  after: readonly AttachmentDoc[],
): Promise<void> {
  const was = new Set(before.map((a) => a.drive));
  const is = new Set(after.map((a) => a.drive));
  for (const uuid of was) {
    if (!is.has(uuid)) await changeMount(tx, uuid, serverUuid, false);
  }
  for (const uuid of is) {
    if (!was.has(uuid)) await changeMount(tx, uuid, serverUuid, true);
  }
}

async function changeMount(tx: WriteTx, driveUuid: string, serverUuid: string, mount: boolean) {
  const record = await tx.get(driveUuid);
  if (record?.kind !== 'drives') return;
  const drive = parseDoc<DriveDoc>(record);
  const others = drive.mounted_on.filter((uuid) => uuid !== serverUuid);
  drive.mounted_on = mount ? [...others, serverUuid] : others;
  drive.status = settledStatus(drive);
  await tx.update(toUpdate(driveKind, record, drive));
}

/**
 * Detaches a drive that is going away from every server it is mounted on (except those being
 * deleted with it). A server that is not stopped keeps its drives: 403.
 */
export async function detachEverywhere(
  tx: WriteTx,
  drive: DriveDoc,
  except: ReadonlySet<string> = new Set(),
): Promise<void> {
  for (const serverUuid of drive.mounted_on) {
    if (except.has(serverUuid)) continue;
    const record = await tx.get(serverUuid);
    if (record?.kind !== 'servers') continue;
    const server = parseDoc<ServerDoc>(record);
    if (server.status !== 'stopped') {
      throw errors.permission(
        `Cannot delete drive ${drive.uuid}: it is mounted on server ${server.uuid} in state "${server.status}"`,
      );
    }
    server.drives = server.drives.filter((a) => a.drive !== drive.uuid);
    await tx.update(toUpdate(serverKind, record, server));
  }
}
