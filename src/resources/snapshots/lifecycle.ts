/**
 * Snapshots' part of the engine: taking a snapshot (`creating` -> `available`) and copying one into
 * a new drive (`cloning_dst` -> `unmounted`). Like every handler they are idempotent: the
 * statuses say what is already done, and the last write removes the task.
 */
import type { EngineContext, EngineModule, TaskHandler } from '../../engine/engine.js';
import type { ReadTx, Task, WriteTx } from '../../store/types.js';
import { parseDoc, toUpdate } from '../common.js';
import { settledStatus } from '../drives/model.js';
import { isoTime, type Loaded, loadDrive, loadJob, saveDrive, saveJob } from '../objects.js';
import { TASKS } from '../tasks.js';
import type { SnapshotClonePayload } from './actions.js';
import { SNAPSHOT_KIND, type SnapshotDoc, snapshotKind } from './model.js';
import { refreshAllocatedSize } from './service.js';

async function loadSnapshot(tx: ReadTx, uuid: string): Promise<Loaded<SnapshotDoc> | undefined> {
  const record = await tx.get(uuid);
  if (record?.kind !== SNAPSHOT_KIND) return undefined;
  return { record, doc: parseDoc<SnapshotDoc>(record) };
}

async function saveSnapshot(tx: WriteTx, loaded: Loaded<SnapshotDoc>): Promise<void> {
  await tx.update(toUpdate(snapshotKind, loaded.record, loaded.doc));
}

async function dropTask(ctx: EngineContext, task: Task): Promise<void> {
  await ctx.store.write((tx) => tx.removeTask(task.id));
}

/** The storage takes the snapshot; it is `available` with the bytes it holds. */
const snapshotCreate: TaskHandler = async (task, ctx) => {
  const snapshot = await ctx.store.read((tx) => loadSnapshot(tx, task.target));
  if (snapshot?.doc.status !== 'creating') return dropTask(ctx, task);
  const { allocatedSize } = await ctx.storage.snapshot(snapshot.doc.drive, snapshot.doc.uuid);
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    const current = await loadSnapshot(tx, task.target);
    if (current?.doc.status !== 'creating') return;
    current.doc.status = 'available';
    current.doc.allocated_size = allocatedSize;
    await saveSnapshot(tx, current);
    await refreshAllocatedSize(tx, current.doc.drive);
  });
};

/** The storage copies the snapshot into the new drive; the drive settles and the job succeeds. */
const snapshotClone: TaskHandler = async (task, ctx) => {
  const payload = JSON.parse(task.payload) as SnapshotClonePayload;
  const target = await ctx.store.read((tx) => loadDrive(tx, task.target));
  if (target?.doc.status === 'cloning_dst') {
    await ctx.storage.cloneSnapshot(payload.snapshot, task.target, target.doc.size);
  }
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    // Whatever became of the copy, the snapshot is no longer read for it.
    const snapshot = await loadSnapshot(tx, payload.snapshot);
    if (snapshot?.doc.cloning.includes(task.target)) {
      snapshot.doc.cloning = snapshot.doc.cloning.filter((uuid) => uuid !== task.target);
      await saveSnapshot(tx, snapshot);
    }
    const drive = await loadDrive(tx, task.target);
    if (drive?.doc.status !== 'cloning_dst') return;
    drive.doc.status = 'unmounted';
    drive.doc.status = settledStatus(drive.doc);
    await saveDrive(tx, drive);
    const job = await loadJob(tx, payload.job);
    if (job) {
      job.doc.state = 'success';
      job.doc.progress = 100;
      job.doc.last_modified = isoTime(ctx.clock.now());
      await saveJob(tx, job);
    }
  });
};

/** Snapshots' tasks, for the engine. */
export function snapshotLifecycle(): EngineModule {
  return {
    name: 'snapshots',
    tasks: { [TASKS.snapshotCreate]: snapshotCreate, [TASKS.snapshotClone]: snapshotClone },
  };
}
