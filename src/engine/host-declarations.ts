/**
 * The host registry at a process's start: the configuration file's `[[hypervisor]]` tables become
 * records, and `--hosts '*'` reads which hosts to serve from it.
 */
import { DEFAULT_HOST } from '../drivers/registry.js';
import type { Store } from '../store/types.js';
import { getHost, listHosts, type NamedHost, putHost } from './hosts.js';

/**
 * Writes the declared hosts to the registry: what a declaration says replaces the record's
 * fields, and whether the host is drained (`sigmalite host drain`, an operator's act) is kept.
 * Hosts the registry has and the file does not are left alone (added by `sigmalite host add`).
 */
export async function declareHosts(store: Store, hosts: readonly NamedHost[]): Promise<void> {
  if (hosts.length === 0) return;
  await store.write(async (tx) => {
    for (const { name, ...declared } of hosts) {
      const stored = await getHost(tx, name);
      await putHost(tx, name, stored?.drained ? { ...declared, drained: true } : declared);
    }
  });
}

/**
 * Every host of the registry (`--hosts '*'`); with none, `DEFAULT_HOST`, which is registered so
 * that the registry says what is served.
 */
export async function everyRegisteredHost(store: Store): Promise<NamedHost[]> {
  return store.write(async (tx) => {
    const hosts = await listHosts(tx);
    if (hosts.length > 0) return hosts;
    await putHost(tx, DEFAULT_HOST, {});
    return [{ name: DEFAULT_HOST }];
  });
}
