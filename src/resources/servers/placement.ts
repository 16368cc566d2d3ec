/**
 * Servers' side of placement (docs/libvirt.md, "Placement"): what a server takes on its host,
 * which servers a start's `avoid` names, where a starting server goes (the rule is the engine's
 * `host-choice.ts`), and what its old host is told when it moves.
 *
 * A server is placed again at every start from `stopped`: the host it last ran on may be full,
 * drained or down by then. While it runs (and through a restart) it stays where it is.
 */
import { randomUUID } from 'node:crypto';
import { chooseHost, type Resources } from '../../engine/host-choice.js';
import { hostStatuses, listHosts, type NamedHost } from '../../engine/hosts.js';
import {
  placedHost,
  placements,
  placeWithoutHosts,
  setPlacement,
  takePlacementTurn,
} from '../../engine/placement.js';
import { errors } from '../../errors.js';
import type { ObjectRecord, ReadTx, WriteTx } from '../../store/types.js';
import { parseDoc } from '../common.js';
import { TASKS } from '../tasks.js';
import type { ServerDoc, ServerStatus } from './model.js';

/** Statuses of a server whose machine holds its CPU and memory on its host. */
export const HOLDING_STATUSES: readonly ServerStatus[] = [
  'starting',
  'running',
  'stopping',
  // A paused machine is frozen, not gone: its memory is still taken.
  'paused',
  'unavailable',
];

/**
 * At most this many `avoid` items are weighed (the first ones: the list is in order of
 * priority); the rest are ignored, as an unknown uuid is, so that a long list costs nothing.
 */
export const MAX_AVOID = 64;

/** What a start asks of placement. */
export interface StartPlacement {
  /** The server starting (still `stopped` in the transaction). */
  server: ServerDoc;
  /** The account asking: only servers it may see count in `avoid`. */
  caller: string;
  /** Server uuids whose hosts to avoid, in order of priority. */
  avoid: readonly string[];
}

/** The payload of a `server.forget` task of a host a stopped server left. */
export interface ForgetPayload {
  /** The server whose machine the host forgets (absent: the task's target, a deleted server). */
  machine?: string;
}

/**
 * The first step of a start's placement, before the start writes anything: the declared hosts,
 * and (if there are any) the placement turn, taken first so that a start never waits for the
 * turn while holding a row another start waits for.
 */
export async function beginPlacement(tx: WriteTx): Promise<NamedHost[]> {
  const hosts = await listHosts(tx);
  if (hosts.length > 0) await takePlacementTurn(tx);
  return hosts;
}

/**
 * Chooses the host `server` starts on among `hosts` (`beginPlacement`'s) and records it. No
 * host with room: 503 `noHostRoom`, and the caller's transaction changes nothing. The
 * single-host case (no host declared) is the default host with no extra work. A server that
 * moves leaves its old host a `server.forget` task, so that the stale machine definition there
 * goes.
 */
export async function placeStart(
  tx: WriteTx,
  hosts: readonly NamedHost[],
  start: StartPlacement,
): Promise<string> {
  if (hosts.length === 0) return placeWithoutHosts(tx, start.server.uuid);
  const { server } = start;
  const statuses = await hostStatuses(tx);
  const where = await placements(tx);
  const holding = (await tx.byStatus('servers', HOLDING_STATUSES)).filter(
    (record) => record.uuid !== server.uuid,
  );
  const chosen = chooseHost({
    hosts,
    statuses,
    used: usageByHost(holding, where),
    demand: { mhz: server.cpu, memory: server.mem },
    avoid: await avoidedHosts(tx, holding, where, start),
    drives: drivesByHost(server, where),
  });
  if (chosen === undefined) throw errors.noHostRoom(server.cpu, server.mem);
  const previous = where.get(server.uuid);
  if (chosen === previous) return chosen;
  await setPlacement(tx, server.uuid, chosen);
  // Back on a host it left before that host forgot it: the start there redefines the machine.
  for (const task of await tx.tasksOf(forgetTarget(server.uuid, chosen))) {
    await tx.removeTask(task.id);
  }
  // Its old host, if it had one since hosts were declared and is still declared, forgets it.
  if (previous !== undefined && hosts.some((host) => host.name === previous)) {
    const payload: ForgetPayload = { machine: server.uuid };
    // A target of its own: the forget waits behind none of the server's tasks, so that a start
    // elsewhere does not wait for a host that may be down. The id is never shown (so not taken
    // from `--seed`'s sequence).
    await tx.addTask({
      id: randomUUID(),
      type: TASKS.serverForget,
      target: forgetTarget(server.uuid, previous),
      payload: JSON.stringify(payload),
      dueAt: 0,
      host: previous,
    });
  }
  return chosen;
}

/** The target of the task that makes `host` forget `server`'s machine after it moved. */
export function forgetTarget(server: string, host: string): string {
  return `forget:${host}:${server}`;
}

/**
 * How many of the server's drives each host holds: a volume in a pool of one host's own has a
 * placement record naming it (per-host pools); one on shared storage has none, and counts nowhere.
 */
function drivesByHost(server: ServerDoc, where: ReadonlyMap<string, string>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const { drive } of server.drives) {
    const host = where.get(drive);
    if (host !== undefined) counts.set(host, (counts.get(host) ?? 0) + 1);
  }
  return counts;
}

/** MHz and memory the servers holding them take, by host. */
function usageByHost(
  holding: readonly ObjectRecord[],
  where: ReadonlyMap<string, string>,
): Map<string, Resources> {
  const used = new Map<string, Resources>();
  for (const record of holding) {
    const { cpu, mem } = parseDoc<ServerDoc>(record);
    const host = placedHost(where, record.uuid);
    const sum = used.get(host) ?? { mhz: 0, memory: 0 };
    used.set(host, { mhz: sum.mhz + cpu, memory: sum.memory + mem });
  }
  return used;
}

/**
 * The hosts of the servers to avoid, in the client's order: those that hold a host and that the
 * caller may see (its own, or shared with it with `LIST`), each once; any other uuid is ignored,
 * so that nobody learns where another account's servers run.
 */
async function avoidedHosts(
  tx: ReadTx,
  holding: readonly ObjectRecord[],
  where: ReadonlyMap<string, string>,
  start: StartPlacement,
): Promise<string[]> {
  const byUuid = new Map(holding.map((record) => [record.uuid, record]));
  const hosts: string[] = [];
  for (const uuid of new Set(start.avoid.slice(0, MAX_AVOID))) {
    const record = byUuid.get(uuid);
    if (!record) continue;
    if (record.owner !== start.caller) {
      const granted = await tx.grantFor(uuid, start.caller);
      if (!granted?.includes('LIST')) continue;
    }
    hosts.push(placedHost(where, uuid));
  }
  return hosts;
}
