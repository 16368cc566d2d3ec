/**
 * The engine tasks behind the control API's server faults, after CloudSigma's state diagram
 * (api-reference.md §2.1): `Running -Host Crash-> ... Starting -> Running` through
 * `Unavailable`, and `Running -Illegal Op-> Paused -Revive-> Stopped`.
 *
 * - `server.crash` (status `unavailable`): the host is gone, so is the machine; the server stays
 *   `unavailable` until the outage ends, then `server.recover` boots it again elsewhere:
 *   `starting` (the usual start task), then `running` with a new `active_since`.
 * - `server.pause` (status `paused`): the machine freezes.
 * - `server.revive` (status `stopped` already): the paused machine is killed.
 *
 * They are registered whether or not the control API is on, so that tasks stored by a run with
 * `--control` finish after a restart without it.
 */
import type { EngineContext, TaskHandler } from '../engine/engine.js';
import { loadServer, saveServer } from '../engine/objects.js';
import { markStopped, TASKS } from '../engine/tasks.js';
import type { Task } from '../store/types.js';

export const CONTROL_TASKS = {
  serverCrash: 'server.crash',
  serverRecover: 'server.recover',
  serverPause: 'server.pause',
  serverRevive: 'server.revive',
} as const;

export interface CrashPayload {
  /** When the host is back (clock time). */
  recoverAt: number;
}

async function dropTask(ctx: EngineContext, task: Task): Promise<void> {
  await ctx.store.write((tx) => tx.removeTask(task.id));
}

async function statusOf(ctx: EngineContext, uuid: string): Promise<string | undefined> {
  return ctx.store.read(async (tx) => (await loadServer(tx, uuid))?.doc.status);
}

const serverCrash: TaskHandler = async (task, ctx) => {
  if ((await statusOf(ctx, task.target)) !== 'unavailable') return dropTask(ctx, task);
  await ctx.compute.kill(task.target);
  const { recoverAt } = JSON.parse(task.payload) as CrashPayload;
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    if ((await loadServer(tx, task.target))?.doc.status !== 'unavailable') return;
    await tx.addTask({
      id: ctx.random.uuid(),
      type: CONTROL_TASKS.serverRecover,
      target: task.target,
      payload: '{}',
      dueAt: recoverAt,
    });
  });
};

const serverRecover: TaskHandler = async (task, ctx) => {
  await ctx.store.write(async (tx) => {
    await tx.removeTask(task.id);
    const server = await loadServer(tx, task.target);
    if (server?.doc.status !== 'unavailable') return;
    await markStopped(tx, server);
    server.doc.status = 'starting';
    await saveServer(tx, server);
    await tx.addTask({
      id: ctx.random.uuid(),
      type: TASKS.serverStart,
      target: task.target,
      payload: '{}',
      dueAt: ctx.clock.now(),
    });
  });
};

const serverPause: TaskHandler = async (task, ctx) => {
  if ((await statusOf(ctx, task.target)) === 'paused') await ctx.compute.pause(task.target);
  await dropTask(ctx, task);
};

const serverRevive: TaskHandler = async (task, ctx) => {
  // A start asked for meanwhile runs after this task; a machine it booted is not ours to kill.
  const status = await statusOf(ctx, task.target);
  const machine = await ctx.compute.status(task.target);
  if (status === 'stopped' || machine.state === 'paused') await ctx.compute.kill(task.target);
  await dropTask(ctx, task);
};

export const CONTROL_TASK_HANDLERS: Record<string, TaskHandler> = {
  [CONTROL_TASKS.serverCrash]: serverCrash,
  [CONTROL_TASKS.serverRecover]: serverRecover,
  [CONTROL_TASKS.serverPause]: serverPause,
  [CONTROL_TASKS.serverRevive]: serverRevive,
};
