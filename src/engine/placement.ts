/**
 * Which host an object's machine runs on, and where a drive's volume lives. Every process
 * registers the hosts it serves when its engine starts (`engine.hosts`, component state); a
 * server is placed on one of the declared hosts at each start from `stopped` (the rule is
 * `host-choice.ts`; the servers' side, which knows what a server takes, is
 * `resources/servers/placement.ts`) and stays there while it runs (`engine.placement`, component
 * state under the object's uuid, so removing the object's account removes it too). An object
 * without a placement (all of them in data written before hosts existed, and those started while
 * no host is declared) is on `DEFAULT_HOST`.
 */
import { DEFAULT_HOST } from '../drivers/registry.js';
import type { ReadTx, Store, WriteTx } from '../store/types.js';
import { HOSTS_STATE } from './hosts.js';

export const PLACEMENT_STATE = 'engine.placement';
/** Component state: the one row placements take turns on (`takePlacementTurn`). */
const PLACEMENT_TURN_STATE = 'engine.placement-turn';

/**
 * Records that `hosts` are served (by the calling process), idempotently. A process that serves
 * only `DEFAULT_HOST` records nothing: the single-host case stores what it stored before hosts.
 */
export async function registerHosts(store: Store, hosts: readonly string[]): Promise<void> {
  if (hosts.length === 1 && hosts[0] === DEFAULT_HOST) return;
  await store.write(async (tx) => {
    for (const host of hosts) {
      if ((await tx.getState(HOSTS_STATE, host)) === undefined) {
        await tx.putState(HOSTS_STATE, host, '{}');
      }
    }
  });
}

/** The host `target` is placed on. */
export async function hostOf(tx: ReadTx, target: string): Promise<string> {
  return (await tx.getState(PLACEMENT_STATE, target)) ?? DEFAULT_HOST;
}

/**
 * Where each placed object is (objects without a record are on `DEFAULT_HOST`): one read of
 * every placement, for rules that weigh every host's servers at once.
 */
export async function placements(tx: ReadTx): Promise<Map<string, string>> {
  return new Map((await tx.listState(PLACEMENT_STATE)).map((row) => [row.key, row.value]));
}

/** The host of `target` in what `placements` read. */
export function placedHost(where: ReadonlyMap<string, string>, target: string): string {
  return where.get(target) ?? DEFAULT_HOST;
}

/**
 * Where `target` goes when no host is declared (one process serving `DEFAULT_HOST`): there, at
 * the cost of one read, as before hosts existed. A placement left from a time hosts were declared
 * goes too: no process serves that host now.
 */
export async function placeWithoutHosts(tx: WriteTx, target: string): Promise<string> {
  if ((await tx.getState(PLACEMENT_STATE, target)) !== undefined) {
    await tx.deleteState(PLACEMENT_STATE, target);
  }
  return DEFAULT_HOST;
}

/**
 * Places `target` on `host` (hosts are declared). The record is written even for
 * `DEFAULT_HOST`, so that an object placed there is told from one never placed since hosts
 * were declared (whose old host, if any, nobody knows).
 */
export async function setPlacement(tx: WriteTx, target: string, host: string): Promise<void> {
  await tx.putState(PLACEMENT_STATE, target, host);
}

/**
 * Takes the placement turn for the rest of the transaction: every placement writes one row
 * first, so that on PostgreSQL (read committed) a second placement waits for the first to commit
 * and then reads what it placed, instead of both finding the same room free. SQLite runs one
 * write at a time anyway.
 */
export async function takePlacementTurn(tx: WriteTx): Promise<void> {
  await tx.putState(PLACEMENT_TURN_STATE, 'turn', '{}');
}

/** Forgets where `target` was (it is gone). */
export async function unplace(tx: WriteTx, target: string): Promise<void> {
  await tx.deleteState(PLACEMENT_STATE, target);
}

/**
 * Where drives' volumes live, by drive: the host whose own pool holds it (its placement record,
 * written by a storage driver with a pool per host), else `SHARED_STORAGE` (one storage every
 * host reaches: a shared pool, the simulator). Drive availability groups ask this.
 */
export async function storageLocations(
  tx: ReadTx,
  drives: readonly string[],
): Promise<Map<string, string>> {
  const locations = new Map<string, string>();
  for (const drive of drives) {
    locations.set(drive, (await tx.getState(PLACEMENT_STATE, drive)) ?? SHARED_STORAGE);
  }
  return locations;
}

/** The location of a volume on storage that every host reaches. */
export const SHARED_STORAGE = 'shared';
