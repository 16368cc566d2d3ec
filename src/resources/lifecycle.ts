/** Queueing engine tasks from resources: a task is written in the transaction of the status it ends. */
import type { WriteTx } from '../store/types.js';
import type { ResourceEnv } from './env.js';

export async function addTask(
  env: ResourceEnv,
  tx: WriteTx,
  type: string,
  target: string,
  payload: unknown = {},
): Promise<void> {
  await tx.addTask({
    id: env.random.uuid(),
    type,
    target,
    payload: JSON.stringify(payload),
    dueAt: env.clock.now(),
  });
}
