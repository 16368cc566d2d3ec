/**
 * Server faults: a host crash, a pause, a revive. Each writes the new status and the task that
 * carries it out (`control/tasks.ts`) in one transaction, like the API's own power actions.
 */
import type { Clock } from '../engine/clock.js';
import { hostOf } from '../engine/placement.js';
import { errors } from '../errors.js';
import type { Random } from '../model/random.js';
import { loadServer, saveServer } from '../resources/objects.js';
import { markStopped } from '../resources/servers/lifecycle.js';
import type { Store, WriteTx } from '../store/types.js';
import { CONTROL_TASKS, type CrashPayload } from './tasks.js';

export interface ServerFaultEnv {
  store: Store;
  clock: Clock;
  random: Random;
}

/** How long a crashed host stays down by default (clock milliseconds). */
export const DEFAULT_DOWN_MS = 5_000;

async function addTask(
  env: ServerFaultEnv,
  tx: WriteTx,
  type: string,
  target: string,
  payload: unknown,
  dueAt = env.clock.now(),
): Promise<void> {
  await tx.addTask({
    id: env.random.uuid(),
    type,
    target,
    payload: JSON.stringify(payload),
    dueAt,
    // The server's host's process acts on its machine.
    host: await hostOf(tx, target),
  });
}

function wrongState(what: string, uuid: string, status: string, expected: string): Error {
  return errors.permission(
    `Cannot ${what} server ${uuid} in state "${status}". It should be in state "${expected}"`,
  );
}

export interface CrashRequest {
  /** Servers to crash (each must run); undefined: every running server (of `account`). */
  servers?: readonly string[];
  account?: string;
  downMs: number;
}

/**
 * Crashes the host of running servers: each becomes `unavailable` at once, its machine dies, and
 * after `downMs` it boots again (`starting`, then `running`). Returns the servers crashed.
 */
export async function crashHost(env: ServerFaultEnv, request: CrashRequest): Promise<string[]> {
  return env.store.write(async (tx) => {
    let uuids: string[];
    if (request.servers) {
      uuids = [...new Set(request.servers)];
      for (const uuid of uuids) {
        const server = await loadServer(tx, uuid);
        if (!server || (request.account !== undefined && server.doc.owner !== request.account)) {
          throw errors.notExist(uuid);
        }
        if (server.doc.status !== 'running') {
          throw wrongState('crash the host of', uuid, server.doc.status, 'running');
        }
      }
    } else {
      const running = await tx.byStatus('servers', ['running'], request.account);
      uuids = running.map((record) => record.uuid);
    }
    const now = env.clock.now();
    const payload: CrashPayload = { recoverAt: now + request.downMs };
    for (const uuid of uuids) {
      const server = (await loadServer(tx, uuid))!;
      server.doc.status = 'unavailable';
      await saveServer(tx, server);
      await addTask(env, tx, CONTROL_TASKS.serverCrash, uuid, payload, now);
    }
    return uuids;
  });
}

/** `running` -> `paused` ("essentially dead"): only a revive gets it out. */
export async function pauseServer(env: ServerFaultEnv, uuid: string): Promise<void> {
  await env.store.write(async (tx) => {
    const server = await loadServer(tx, uuid);
    if (!server) throw errors.notExist(uuid);
    if (server.doc.status !== 'running') {
      throw wrongState('pause', uuid, server.doc.status, 'running');
    }
    server.doc.status = 'paused';
    await saveServer(tx, server);
    await addTask(env, tx, CONTROL_TASKS.serverPause, uuid, {});
  });
}

/** `paused` -> `stopped` at once (the machine is killed by a task). */
export async function reviveServer(env: ServerFaultEnv, uuid: string): Promise<void> {
  await env.store.write(async (tx) => {
    const server = await loadServer(tx, uuid);
    if (!server) throw errors.notExist(uuid);
    if (server.doc.status !== 'paused') {
      throw wrongState('revive', uuid, server.doc.status, 'paused');
    }
    await markStopped(tx, server);
    await saveServer(tx, server);
    await addTask(env, tx, CONTROL_TASKS.serverRevive, uuid, {});
  });
}
