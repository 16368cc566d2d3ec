/**
 * Reconciliation at start: stored statuses are made to agree with what the drivers report, for
 * objects no task is going to finish (a task in the store finishes its own object). The
 * hypervisor is the authority on whether a machine runs.
 */
import { DRIVE_STATUSES, type DriveStatus, settledStatus } from '../resources/drives/model.js';
import { releaseDynamicAddresses } from '../resources/networking/service.js';
import type { ReadTx } from '../store/types.js';
import type { EngineContext } from './engine.js';
import { isoTime, loadDrive, loadServer, saveDrive, saveServer } from './objects.js';

const LIVE_SERVER_STATUSES = ['starting', 'running', 'stopping', 'cloning', 'unavailable'];
/**
 * `uploading` is no task's: an upload resumes after a restart, or the upload sweep gives it up
 * (`resources/drives/uploads.ts`).
 */
const TRANSITIONAL_DRIVE_STATUSES = DRIVE_STATUSES.filter(
  (s): s is DriveStatus => s !== 'mounted' && s !== 'unmounted' && s !== 'uploading',
);

export async function reconcile(ctx: EngineContext): Promise<void> {
  const { store, compute, logger } = ctx;
  const servers = await store.read((tx) => tx.byStatus('servers', LIVE_SERVER_STATUSES));
  const known = new Set<string>();
  for (const record of servers) {
    known.add(record.uuid);
    if ((await store.read((tx) => tx.tasksOf(record.uuid))).length > 0) continue;
    const machine = await compute.status(record.uuid);
    await store.write(async (tx) => {
      const server = await loadServer(tx, record.uuid);
      if (!server || (await tx.tasksOf(record.uuid)).length > 0) return;
      const before = server.doc.status;
      if (machine.state === 'running') {
        if (before === 'running') return;
        server.doc.status = 'running';
        server.doc.runtime ??= { active_since: isoTime(machine.since) };
      } else {
        if (before === 'running' && machine.state === 'paused') return;
        await releaseDynamicAddresses(tx, server.doc.uuid);
        server.doc.status = 'stopped';
        server.doc.runtime = null;
        server.doc.nics = server.doc.nics.map((nic) => ({ ...nic, runtime: null }));
        server.doc.drives = server.doc.drives.map((a) => ({ ...a, runtime: null }));
      }
      logger.warn(
        { server: server.doc.uuid, from: before, to: server.doc.status },
        'reconciled server',
      );
      await saveServer(tx, server);
    });
  }
  // Machines the hypervisor runs for servers that are gone or stopped: power them off.
  for (const uuid of await compute.running()) {
    if (known.has(uuid)) continue;
    logger.warn({ server: uuid }, 'reconcile: stopping a machine no running server owns');
    await compute.stop(uuid);
  }
  const drives = await store.read((tx) => tx.byStatus('drives', TRANSITIONAL_DRIVE_STATUSES));
  for (const record of drives) {
    await store.write(async (tx) => {
      if ((await tx.tasksOf(record.uuid)).length > 0) return;
      // A clone source is back to normal once no task copies from it.
      const drive = await loadDrive(tx, record.uuid);
      if (!drive) return;
      // A server clone's disk is finished by the clone's task (which targets the server).
      if (drive.doc.status === 'cloning_dst' && (await copiedInto(tx, drive.doc.uuid))) return;
      const before = drive.doc.status;
      drive.doc.status = 'unmounted';
      drive.doc.status = settledStatus(drive.doc);
      if (before === 'cloning_src' && (await copiesFrom(tx, drive.doc.uuid))) {
        drive.doc.status = before;
        return;
      }
      logger.warn(
        { drive: drive.doc.uuid, from: before, to: drive.doc.status },
        'reconciled drive',
      );
      await saveDrive(tx, drive);
    });
  }
}

/** Whether a server clone's task is still to copy into `target` (and then settle it). */
async function copiedInto(tx: ReadTx, target: string): Promise<boolean> {
  for (const clone of await tx.byStatus('servers', ['cloning'])) {
    for (const task of await tx.tasksOf(clone.uuid)) {
      const payload = JSON.parse(task.payload) as { copies?: { target: string }[] };
      if (payload.copies?.some((copy) => copy.target === target)) return true;
    }
  }
  return false;
}

/**
 * Whether a copy from `source` is still under way (other than the one into `except`): its
 * source then stays `cloning_src`. A copy is under way while its target is `cloning_dst` and a
 * task (a drive clone's, or a server clone's) is to make it.
 */
export async function copiesFrom(tx: ReadTx, source: string, except?: string): Promise<boolean> {
  const targets = await tx.byStatus('drives', ['cloning_dst']);
  for (const target of targets) {
    if (target.uuid === except) continue;
    for (const task of await tx.tasksOf(target.uuid)) {
      if ((JSON.parse(task.payload) as { source?: string }).source === source) return true;
    }
  }
  const pending = new Set(targets.map((target) => target.uuid));
  const clones = await tx.byStatus('servers', ['cloning']);
  for (const clone of clones) {
    for (const task of await tx.tasksOf(clone.uuid)) {
      const payload = JSON.parse(task.payload) as { copies?: { source: string; target: string }[] };
      const copying = payload.copies?.some(
        (copy) => copy.source === source && copy.target !== except && pending.has(copy.target),
      );
      if (copying) return true;
    }
  }
  return false;
}
