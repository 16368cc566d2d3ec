/**
 * virsh's human-readable answers that have no XML or raw form: `list --all`, `domstate --reason`,
 * `net-dhcp-leases` and `nodeinfo`. Header and rule lines (printed without `-q`) are skipped.
 */

/** `domstate` words, as `list` and `domstate` print them. */
export type DomainStateText =
  | 'running'
  | 'idle'
  | 'paused'
  | 'in shutdown'
  | 'shut off'
  | 'crashed'
  | 'pmsuspended'
  | 'no state';

export interface ListedDomain {
  /** The running instance's id; null for a domain that does not run. */
  id: number | null;
  name: string;
  state: DomainStateText | string;
}

/** `virsh list --all`: ` 13   a-name   running` and ` -    other   shut off`. */
export function parseDomainList(text: string): ListedDomain[] {
  const domains: ListedDomain[] = [];
  for (const line of text.split('\n')) {
    if (isDecoration(line, 'Id')) continue;
    const match = /^\s*(\d+|-)\s+(\S+)\s+(\S.*?)\s*$/.exec(line);
    if (!match) continue;
    domains.push({
      id: match[1] === '-' ? null : Number(match[1]),
      name: match[2]!,
      state: match[3]!,
    });
  }
  return domains;
}

/** `virsh domstate --reason`: `shut off (destroyed)`. */
export function parseDomainState(text: string): {
  state: DomainStateText | string;
  reason: string;
} {
  const line = text.trim();
  const match = /^(.*?)\s*\((.*)\)$/.exec(line);
  return match ? { state: match[1]!, reason: match[2]! } : { state: line, reason: '' };
}

export interface DhcpLease {
  /** When the lease ends, in ms since the epoch (libvirt prints the host's local time). */
  expires: number;
  mac: string;
  protocol: 'ipv4' | 'ipv6' | string;
  /** The address without its prefix. */
  address: string;
  prefix: number;
  /** The name the guest sent; null for none (`-`). */
  hostname: string | null;
  clientId: string | null;
}

/**
 * `virsh net-dhcp-leases NET`:
 * ` 2026-12-06 10:54:02   52:54:00:00:e2:01   ipv4   10.77.0.21/24   guest   01:52:54:00:00:e2:01`.
 */
export function parseDhcpLeases(text: string): DhcpLease[] {
  const leases: DhcpLease[] = [];
  for (const line of text.split('\n')) {
    if (isDecoration(line, 'Expiry Time')) continue;
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) continue;
    const [date, time, mac, protocol, cidr, hostname, clientId] = fields as [
      string,
      string,
      string,
      string,
      string,
      string | undefined,
      string | undefined,
    ];
    const slash = cidr.indexOf('/');
    if (!/^\d{4}-\d\d-\d\d$/.test(date) || slash < 0) continue;
    leases.push({
      expires: new Date(`${date}T${time}`).getTime(),
      mac: mac.toLowerCase(),
      protocol,
      address: cidr.slice(0, slash),
      prefix: Number(cidr.slice(slash + 1)),
      hostname: hostname === undefined || hostname === '-' ? null : hostname,
      clientId: clientId === undefined || clientId === '-' ? null : clientId,
    });
  }
  return leases;
}

export interface NodeInfo {
  cpus: number;
  /** The host CPU's clock, which turns CloudSigma's MHz into a share of a core. */
  mhz: number;
  sockets: number;
  coresPerSocket: number;
  threadsPerCore: number;
  numaCells: number;
  memoryKiB: number;
}

/** `virsh nodeinfo`: `CPU frequency:       2445 MHz` and the like. */
export function parseNodeInfo(text: string): NodeInfo {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) fields.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  const number = (key: string): number => {
    const value = Number.parseInt(fields.get(key) ?? '', 10);
    if (Number.isNaN(value))
      throw new Error(`virsh nodeinfo: no "${key}" in ${JSON.stringify(text)}`);
    return value;
  };
  return {
    cpus: number('CPU(s)'),
    mhz: number('CPU frequency'),
    sockets: number('CPU socket(s)'),
    coresPerSocket: number('Core(s) per socket'),
    threadsPerCore: number('Thread(s) per core'),
    numaCells: number('NUMA cell(s)'),
    memoryKiB: number('Memory size'),
  };
}

/** A table's header (starting with `first`) or its rule of dashes. */
function isDecoration(line: string, first: string): boolean {
  const text = line.trim();
  return text.startsWith(first) || /^-+$/.test(text);
}
