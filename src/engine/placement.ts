/**
 * Which host an object's machine runs on. Every process registers the hosts it serves when its
 * engine starts (`engine.hosts`, component state); an object is placed on one of the registered
 * hosts the first time it needs one (a server's first start) and stays there (`engine.placement`,
 * component state under the object's uuid, so removing the object's account removes it too).
 * An object without a placement (all of them in data written before hosts existed, and those
 * placed on it) is on `DEFAULT_HOST`.
 */
import { DEFAULT_HOST } from '../drivers/registry.js';
import type { ReadTx, Store, WriteTx } from '../store/types.js';
import { HOSTS_STATE } from './hosts.js';

export const PLACEMENT_STATE = 'engine.placement';

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
 * The host `target` is placed on, placing it now if it is not yet: on a registered host chosen
 * from its uuid (the same answer in every process, spread evenly), or `DEFAULT_HOST` if no
 * process registered any.
 */
export async function place(tx: WriteTx, target: string): Promise<string> {
  const placed = await tx.getState(PLACEMENT_STATE, target);
  if (placed !== undefined) return placed;
  const hosts = (await tx.listState(HOSTS_STATE)).map((row) => row.key).sort();
  const host = hosts.length === 0 ? DEFAULT_HOST : hosts[spread(target) % hosts.length]!;
  // An object without a record is on the default host.
  if (host !== DEFAULT_HOST) await tx.putState(PLACEMENT_STATE, target, host);
  return host;
}

/** Forgets where `target` was (it is gone). */
export async function unplace(tx: WriteTx, target: string): Promise<void> {
  await tx.deleteState(PLACEMENT_STATE, target);
}

/** A number from a uuid's characters, the same in every process. */
function spread(text: string): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) n = (n * 31 + text.charCodeAt(i)) >>> 0;
  return n;
}
