/** Queueing engine tasks from resources: a task is written in the transaction of the status it ends. */
import type { WriteTx } from '../store/types.js';
import type { ResourceEnv } from './env.js';

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
