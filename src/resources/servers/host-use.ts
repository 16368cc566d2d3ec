/**
 * What servers a hypervisor host holds, for `sigmalite host list` and `host remove`: a host goes
 * from the registry only when no server placed there is anything but stopped (a stopped one
 * then forgets its placement and starts elsewhere), and nothing else is placed there.
 */
import { getHost, removeHost } from '../../engine/hosts.js';
import { hostOf, PLACEMENT_STATE, unplace } from '../../engine/placement.js';
import type { ReadTx, WriteTx } from '../../store/types.js';
import { SERVER_STATUSES } from './model.js';

const SERVERS = 'servers';
const NOT_STOPPED = SERVER_STATUSES.filter((status) => status !== 'stopped');

/** Why a host cannot go; `unknown`: the registry has no such host. */
export class HostInUseError extends Error {
  constructor(
    message: string,
    readonly unknown = false,
  ) {
    super(message);
    this.name = 'HostInUseError';
  }
}

/** The servers that are not stopped, by the host they are on (uuids, in no particular order). */
export async function busyServersByHost(tx: ReadTx): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for (const server of await tx.byStatus(SERVERS, NOT_STOPPED)) {
    const host = await hostOf(tx, server.uuid);
    out.set(host, [...(out.get(host) ?? []), server.uuid]);
  }
  return out;
}

/** At most this many uuids in a message. */
const NAMED = 5;

function someOf(uuids: readonly string[]): string {
  const named = uuids.slice(0, NAMED).join(', ');
  return uuids.length > NAMED ? `${named} and ${uuids.length - NAMED} more` : named;
}

/**
 * Removes `name` from the registry (its record and last status), forgetting the placements of
 * the stopped servers on it. Refused, with nothing changed, while a server placed there is not
 * stopped, or an object that is not a server is placed there (its data may be on the host).
 * Returns how many stopped servers forgot it.
 */
export async function releaseHost(tx: WriteTx, name: string): Promise<number> {
  if ((await getHost(tx, name)) === undefined) {
    throw new HostInUseError(`there is no host "${name}" in the registry`, true);
  }
  const busy = (await busyServersByHost(tx)).get(name) ?? [];
  if (busy.length > 0) {
    throw new HostInUseError(
      `${busy.length} server${busy.length === 1 ? ' is' : 's are'} on ${name} and not stopped (${someOf(busy)}): stop ${busy.length === 1 ? 'it' : 'them'} first`,
    );
  }
  const placed = (await tx.listState(PLACEMENT_STATE)).filter((row) => row.value === name);
  const records = await tx.getMany(placed.map((row) => row.key));
  const others = records.filter((record) => record.kind !== SERVERS);
  if (others.length > 0) {
    throw new HostInUseError(
      `objects other than servers are placed on ${name} (${someOf(others.map((o) => `${o.kind} ${o.uuid}`))}): move or delete them first`,
    );
  }
  // Servers gone since (a placement outliving its object) are forgotten with the stopped ones.
  for (const row of placed) await unplace(tx, row.key);
  await removeHost(tx, name);
  return records.length;
}
