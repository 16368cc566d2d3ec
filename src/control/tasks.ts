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
import type { EngineContext, EngineModule, TaskHandler } from '../engine/engine.js';
import { hostOf } from '../engine/placement.js';
import type { Random } from '../model/random.js';
import { loadServer, saveServer } from '../resources/objects.js';
import { markStopped } from '../resources/servers/lifecycle.js';
import { TASKS } from '../resources/tasks.js';
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

/** The host a task's server is on. */
async function hostFor(ctx: EngineContext, task: Task): Promise<string> {
  return task.host ?? (await ctx.store.read((tx) => hostOf(tx, task.target)));
}

async function statusOf(ctx: EngineContext, uuid: string): Promise<string | undefined> {
  return ctx.store.read(async (tx) => (await loadServer(tx, uuid))?.doc.status);
}

const serverCrash =
  (random: Random): TaskHandler =>
  async (task, ctx) => {
    if ((await statusOf(ctx, task.target)) !== 'unavailable') return dropTask(ctx, task);
    await ctx.compute.kill(await hostFor(ctx, task), task.target);
    const { recoverAt } = JSON.parse(task.payload) as CrashPayload;
    await ctx.store.write(async (tx) => {
      await tx.removeTask(task.id);
      if ((await loadServer(tx, task.target))?.doc.status !== 'unavailable') return;
      await tx.addTask({
        id: random.uuid(),
        type: CONTROL_TASKS.serverRecover,
        target: task.target,
        payload: '{}',
        dueAt: recoverAt,
        host: await hostOf(tx, task.target),
      });
    });
  };

const serverRecover =
  (random: Random): TaskHandler =>
  async (task, ctx) => {
    await ctx.store.write(async (tx) => {
      await tx.removeTask(task.id);
      const server = await loadServer(tx, task.target);
      if (server?.doc.status !== 'unavailable') return;
      await markStopped(tx, server);
      server.doc.status = 'starting';
      await saveServer(tx, server);
      await tx.addTask({
        id: random.uuid(),
        type: TASKS.serverStart,
        target: task.target,
        payload: '{}',
        dueAt: ctx.clock.now(),
        host: await hostOf(tx, task.target),
      });
    });
  };

const serverPause: TaskHandler = async (task, ctx) => {
  if ((await statusOf(ctx, task.target)) === 'paused') {
    await ctx.compute.pause(await hostFor(ctx, task), task.target);
  }
  await dropTask(ctx, task);
};

const serverRevive: TaskHandler = async (task, ctx) => {
  // A start asked for meanwhile runs after this task; a machine it booted is not ours to kill.
  const status = await statusOf(ctx, task.target);
  const host = await hostFor(ctx, task);
  const machine = await ctx.compute.status(host, task.target);
  if (status === 'stopped' || machine.state === 'paused') await ctx.compute.kill(host, task.target);
  await dropTask(ctx, task);
};

/** The control API's tasks, for the engine. */
export function controlLifecycle(random: Random): EngineModule {
  return {
    name: 'control',
    tasks: {
      [CONTROL_TASKS.serverCrash]: serverCrash(random),
      [CONTROL_TASKS.serverRecover]: serverRecover(random),
      [CONTROL_TASKS.serverPause]: serverPause,
      [CONTROL_TASKS.serverRevive]: serverRevive,
    },
  };
}
