/**
 * `virsh domstats --raw`: a `Domain: 'NAME'` line, then indented `key=value` lines, per domain.
 * Counters are libvirt's (`block.N.rd.bytes`, `net.N.tx.pkts`, ...). NIC counters are seen from
 * the guest: `tx` is what the guest sent (measured: `tx.bytes` equals the guest's own eth0 tx).
 */

/** libvirt's `virDomainState`, by number. */
export const DOMAIN_STATES = [
  'nostate',
  'running',
  'blocked',
  'paused',
  'shutdown',
  'shutoff',
  'crashed',
  'pmsuspended',
] as const;
export type DomainState = (typeof DOMAIN_STATES)[number];

export interface IoCounters {
  reqs: number;
  bytes: number;
  /** Total time spent, in ns. */
  times: number;
}

export interface BlockStats {
  /** The target device (`vda`, `hdc`). */
  name: string;
  /** The image's path, when the disk has one. */
  path: string | null;
  rd: IoCounters;
  wr: IoCounters;
  fl: { reqs: number; times: number };
  capacity: number | null;
  allocation: number | null;
}

export interface NetStats {
  /** The host-side device (`vnet3`). */
  name: string;
  rx: { bytes: number; pkts: number; errs: number; drop: number };
  tx: { bytes: number; pkts: number; errs: number; drop: number };
}

export interface DomainStats {
  name: string;
  state: DomainState;
  /** libvirt's reason number for the state (for shut off: 1 shutdown, 2 destroyed, 3 crashed...). */
  reason: number;
  /** CPU time used in this run, in ns; null for a domain that does not run. */
  cpuTime: number | null;
  /** In the domain's order of disks (a domain that does not run has names and sizes only). */
  blocks: BlockStats[];
  /** In the domain's order of interfaces. */
  nets: NetStats[];
  /** Every key as libvirt wrote it. */
  raw: Record<string, string>;
}

/** Parses the whole output; domains in the order virsh wrote them. */
export function parseDomstats(text: string): DomainStats[] {
  const domains: { name: string; raw: Record<string, string> }[] = [];
  for (const line of text.split('\n')) {
    const header = /^Domain: '(.*)'\s*$/.exec(line);
    if (header) {
      domains.push({ name: header[1]!, raw: {} });
      continue;
    }
    const pair = /^\s+([^=\s]+)=(.*)$/.exec(line);
    const current = domains.at(-1);
    if (pair && current) current.raw[pair[1]!] = pair[2]!;
  }
  return domains.map(({ name, raw }) => typed(name, raw));
}

function typed(name: string, raw: Record<string, string>): DomainStats {
  const number = (key: string): number | null => {
    const value = raw[key];
    return value === undefined || value === '' || Number.isNaN(Number(value))
      ? null
      : Number(value);
  };
  const counter = (key: string): number => number(key) ?? 0;
  const blocks: BlockStats[] = [];
  for (let i = 0; i < (number('block.count') ?? 0); i++) {
    const key = `block.${i}`;
    const io = (kind: 'rd' | 'wr'): IoCounters => ({
      reqs: counter(`${key}.${kind}.reqs`),
      bytes: counter(`${key}.${kind}.bytes`),
      times: counter(`${key}.${kind}.times`),
    });
    blocks.push({
      name: raw[`${key}.name`] ?? '',
      path: raw[`${key}.path`] ?? null,
      rd: io('rd'),
      wr: io('wr'),
      fl: { reqs: counter(`${key}.fl.reqs`), times: counter(`${key}.fl.times`) },
      capacity: number(`${key}.capacity`),
      allocation: number(`${key}.allocation`),
    });
  }
  const nets: NetStats[] = [];
  for (let i = 0; i < (number('net.count') ?? 0); i++) {
    const key = `net.${i}`;
    const side = (kind: 'rx' | 'tx') => ({
      bytes: counter(`${key}.${kind}.bytes`),
      pkts: counter(`${key}.${kind}.pkts`),
      errs: counter(`${key}.${kind}.errs`),
      drop: counter(`${key}.${kind}.drop`),
    });
    nets.push({ name: raw[`${key}.name`] ?? '', rx: side('rx'), tx: side('tx') });
  }
  const state = DOMAIN_STATES[number('state.state') ?? 0] ?? 'nostate';
  // A domain that does not run still reports the CPU time of its last run.
  const active = state !== 'shutoff' && state !== 'crashed' && state !== 'nostate';
  return {
    name,
    state,
    reason: number('state.reason') ?? 0,
    cpuTime: active ? number('cpu.time') : null,
    blocks,
    nets,
    raw,
  };
}
