/**
 * Drives' part of the engine: the tasks that end `creating`, `resizing` and `cloning_dst` through
 * the storage driver, and reconciliation of transitional statuses no task will end. Drives are on
 * shared storage here: their tasks are host-less (any process runs them). Every handler is
 * idempotent: after a crash it runs again from the start, and statuses tell it what is done.
 */
import type { EngineContext, EngineModule, TaskHandler } from '../../engine/engine.js';
import type { ReadTx, Task, WriteTx } from '../../store/types.js';
import type { JobDoc } from '../jobs/model.js';
import { isoTime, loadDrive, loadJob, saveDrive, saveJob } from '../objects.js';
import { TASKS } from '../tasks.js';
import { DRIVE_STATUSES, type DriveDoc, type DriveStatus, settledStatus } from './model.js';

export interface DriveClonePayload {
  source: string;
  job: string;
}

/**
 * `uploading` is no task's: an upload resumes after a restart, or the upload sweep gives it up
 * (`resources/drives/uploads.ts`).
 */
const TRANSITIONAL_DRIVE_STATUSES = DRIVE_STATUSES.filter(
  (s): s is DriveStatus => s !== 'mounted' && s !== 'unmounted' && s !== 'uploading',
);

export async function dropTask(ctx: EngineContext, task: Task): Promise<void> {
  await ctx.store.write((tx) => tx.removeTask(task.id));
}

/** A drive's transitional status ends: back to `mounted`/`unmounted` by its attachments. */
function settle(drive: DriveDoc): void {
  drive.status = 'unmounted';
  drive.status = settledStatus(drive);
}

async function finishDrive(
  ctx: EngineContext,
  task: Task,
  statuses: readonly DriveStatus[],
): Promise<void> {
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    const drive = await loadDrive(tx, task.target);
    if (!drive || !statuses.includes(drive.doc.status)) return;
    settle(drive.doc);
    await saveDrive(tx, drive);
  });
}

export async function driveIn(ctx: EngineContext, uuid: string, statuses: readonly DriveStatus[]) {
  return ctx.store.read(async (tx) => {
    const drive = await loadDrive(tx, uuid);
    return drive && statuses.includes(drive.doc.status) ? drive : undefined;
  });
}

const driveCreate: TaskHandler = async (task, ctx) => {
  const drive = await driveIn(ctx, task.target, ['creating']);
  if (!drive) return dropTask(ctx, task);
  await ctx.storage.create(drive.doc.uuid, drive.doc.size);
  await finishDrive(ctx, task, ['creating']);
};

const driveResize: TaskHandler = async (task, ctx) => {
  const drive = await driveIn(ctx, task.target, ['resizing']);
  if (!drive) return dropTask(ctx, task);
  await ctx.storage.resize(drive.doc.uuid, drive.doc.size);
  await finishDrive(ctx, task, ['resizing']);
};

/** A deleted drive's or snapshot's volume goes (nothing of that uuid comes back). */
const driveRemove: TaskHandler = async (task, ctx) => {
  await ctx.storage.remove(task.target);
  await dropTask(ctx, task);
};

/** Marks a job (and its copy inside its parent) finished or advanced. */
export async function updateJob(
  tx: WriteTx,
  uuid: string,
  now: number,
  change: (job: JobDoc) => void,
): Promise<void> {
  const job = await loadJob(tx, uuid);
  if (!job) return;
  change(job.doc);
  job.doc.last_modified = isoTime(now);
  await saveJob(tx, job);
}

/** The copy is done: the new drive settles, the source goes back, the job succeeds. */
export async function finishCopy(
  ctx: EngineContext,
  tx: WriteTx,
  copy: { source: string; target: string; job: string },
): Promise<void> {
  const now = ctx.clock.now();
  const target = await loadDrive(tx, copy.target);
  if (target?.doc.status === 'cloning_dst') {
    settle(target.doc);
    await saveDrive(tx, target);
  }
  const source = await loadDrive(tx, copy.source);
  // The source may feed several copies at once; it is back when the last one is done.
  if (source?.doc.status === 'cloning_src' && !(await copiesFrom(tx, copy.source, copy.target))) {
    settle(source.doc);
    await saveDrive(tx, source);
  }
  await updateJob(tx, copy.job, now, (job) => {
    job.state = 'success';
    job.progress = 100;
  });
}

const driveClone: TaskHandler = async (task, ctx) => {
  const payload = JSON.parse(task.payload) as DriveClonePayload;
  const target = await driveIn(ctx, task.target, ['cloning_dst']);
  if (!target) return dropTask(ctx, task);
  await ctx.storage.clone(payload.source, task.target, target.doc.size);
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    await finishCopy(ctx, tx, { source: payload.source, target: task.target, job: payload.job });
  });
};

/** Transitional statuses no task is going to end are made to agree with the storage. */
async function reconcileDrives(ctx: EngineContext): Promise<void> {
  const { store, logger } = ctx;
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

/**
 * A drive task that failed for good: a drive being created or copied into has no image it can
 * trust (`unavailable`), a resize goes back to `mounted`/`unmounted`, a copy's source settles
 * once nothing copies from it, and a copy's job is in `error`.
 */
async function failedDrive(task: Task, error: Error, ctx: EngineContext): Promise<void> {
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    const drive = await loadDrive(tx, task.target);
    if (drive?.doc.status === 'resizing') settle(drive.doc);
    else if (drive?.doc.status === 'creating' || drive?.doc.status === 'cloning_dst') {
      drive.doc.status = 'unavailable';
    }
    if (drive) await saveDrive(tx, drive);
    if (task.type !== TASKS.driveClone) return;
    const payload = JSON.parse(task.payload) as DriveClonePayload;
    const source = await loadDrive(tx, payload.source);
    if (source?.doc.status === 'cloning_src' && !(await copiesFrom(tx, payload.source))) {
      settle(source.doc);
      await saveDrive(tx, source);
    }
    await updateJob(tx, payload.job, ctx.clock.now(), (job) => {
      job.state = 'error';
      job.error = error.message;
    });
  });
}

/** Drives' tasks and reconciliation, for the engine. */
export function driveLifecycle(): EngineModule {
  return {
    name: 'drives',
    tasks: {
      [TASKS.driveCreate]: { run: driveCreate, failed: failedDrive },
      [TASKS.driveResize]: { run: driveResize, failed: failedDrive },
      [TASKS.driveClone]: { run: driveClone, failed: failedDrive },
      [TASKS.driveRemove]: driveRemove,
    },
    // Storage is shared: any process may settle a drive; doing it at start is enough (a drive's
    // status changes only through its own tasks).
    reconcile: async (ctx, startup) => {
      if (startup) await reconcileDrives(ctx);
    },
  };
}
