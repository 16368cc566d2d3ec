/** Queueing engine tasks from resources: a task is written in the transaction of the status it ends. */
import { randomUUID } from 'node:crypto';
import type { WriteTx } from '../store/types.js';
import type { ResourceEnv } from './env.js';
import { TASKS } from './tasks.js';

/**
 * Queues a task of `type` for `target`, due now. `host`: the host whose process must run it (a
 * server's, from `place`), or none for host-less work (drives on shared storage).
 */
export async function addTask(
  env: ResourceEnv,
  tx: WriteTx,
  type: string,
  target: string,
  payload: unknown = {},
  host: string | null = null,
): Promise<void> {
  await tx.addTask({
    id: env.random.uuid(),
    type,
    target,
    payload: JSON.stringify(payload),
    dueAt: env.clock.now(),
    ...(host === null ? {} : { host }),
  });
}

/**
 * A deleted drive's or snapshot's volume goes once the deletion is committed (a task: the storage
 * driver is called outside transactions, and again after a crash). Due at once whatever the
 * clock says; the id is the task's own, never shown (so not taken from `--seed`'s sequence).
 */
export async function queueVolumeRemoval(tx: WriteTx, volume: string): Promise<void> {
  await tx.addTask({
    id: randomUUID(),
    type: TASKS.driveRemove,
    target: volume,
    payload: '{}',
    dueAt: 0,
  });
}
