/**
 * The placement rule: which host a starting server goes to. Pure (hosts, what they run and what
 * the start asks for in; a host name out), so that the rule is tested on its own and every
 * process answers the same for the same state.
 *
 * A host can take the server if it is declared, not drained, not known to be down, and has room:
 * its capacity (declared, else as its hypervisor reports it, else unbounded) minus what its
 * servers take (MHz and memory of those starting, running, stopping, paused or unavailable there)
 * holds the server's MHz and memory. Among those, in this order:
 * 1. the one running the fewest of the servers to avoid, by priority: a host with the first
 *    avoided server is worse than any without it, whatever the later ones; then the second...
 * 2. the one holding the most of the server's drives (volumes in a pool of that host's own:
 *    starting elsewhere first moves them there, docs/libvirt.md "Volumes on several hosts");
 * 3. the most free memory, then the most free MHz (an unbounded host has the most);
 * 4. the least memory used, then the fewest MHz used (spreads servers over unbounded hosts);
 * 5. the first by name.
 */
import type { HostStatus, NamedHost } from './hosts.js';

/** CPU (MHz) and memory (bytes): what a server asks for, what a host has or gives. */
export interface Resources {
  mhz: number;
  memory: number;
}

export interface HostChoiceInput {
  /** Every declared host. */
  hosts: readonly NamedHost[];
  /** The last status seen of each host (none: not known to be down). */
  statuses: ReadonlyMap<string, HostStatus>;
  /** What each host's servers take now (none: nothing). */
  used: ReadonlyMap<string, Resources>;
  /** What the starting server needs. */
  demand: Resources;
  /**
   * The host of each server to avoid that runs somewhere, in the client's order of priority
   * (a host may appear more than once).
   */
  avoid: readonly string[];
  /** How many of the server's drives each host holds in a pool of its own (none: no such drive). */
  drives?: ReadonlyMap<string, number>;
}

const NOTHING: Resources = { mhz: 0, memory: 0 };

/** A host's capacity: declared, else reported by its hypervisor, else unbounded. */
export function capacityOf(host: NamedHost, status: HostStatus | undefined): Resources {
  return {
    mhz: host.mhz ?? status?.mhz ?? Number.POSITIVE_INFINITY,
    memory: host.memory ?? status?.memory ?? Number.POSITIVE_INFINITY,
  };
}

/** Whether a host takes new servers at all (not drained, not known to be down). */
export function takesServers(host: NamedHost, status: HostStatus | undefined): boolean {
  return host.drained !== true && status?.up !== false;
}

interface Candidate {
  name: string;
  /** For each avoided server in priority order: whether it runs here. */
  avoided: boolean[];
  /** How many of the server's drives it holds. */
  drives: number;
  free: Resources;
  used: Resources;
}

/** The host the server goes to; undefined when no host can take it. */
export function chooseHost(input: HostChoiceInput): string | undefined {
  const candidates: Candidate[] = [];
  for (const host of input.hosts) {
    const status = input.statuses.get(host.name);
    if (!takesServers(host, status)) continue;
    const capacity = capacityOf(host, status);
    const used = input.used.get(host.name) ?? NOTHING;
    const free = { mhz: capacity.mhz - used.mhz, memory: capacity.memory - used.memory };
    if (free.mhz < input.demand.mhz || free.memory < input.demand.memory) continue;
    candidates.push({
      name: host.name,
      avoided: input.avoid.map((avoided) => avoided === host.name),
      drives: input.drives?.get(host.name) ?? 0,
      free,
      used,
    });
  }
  candidates.sort(compareCandidates);
  return candidates[0]?.name;
}

/** Negative when `a` is the better host. */
function compareCandidates(a: Candidate, b: Candidate): number {
  for (let i = 0; i < a.avoided.length; i++) {
    if (a.avoided[i] !== b.avoided[i]) return a.avoided[i] ? 1 : -1;
  }
  return (
    descending(a.drives, b.drives) ||
    descending(a.free.memory, b.free.memory) ||
    descending(a.free.mhz, b.free.mhz) ||
    ascending(a.used.memory, b.used.memory) ||
    ascending(a.used.mhz, b.used.mhz) ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  );
}

// Infinity - Infinity is NaN: equal values (unbounded ones too) compare equal first.
function ascending(a: number, b: number): number {
  return a === b ? 0 : a < b ? -1 : 1;
}

function descending(a: number, b: number): number {
  return ascending(b, a);
}
