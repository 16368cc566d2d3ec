/**
 * The pool DHCP NICs get their address from while their server runs (`--dynamic-pool CIDR`). An
 * address is a claim in the store (namespace `ip.dynamic`, held by the server), taken in the
 * transaction that accepts the start and released in the one that stops the server. The network
 * it was leased from (gateway and prefix) is kept beside the claims, so that an address keeps
 * them whatever the pool is when its IP record is written (a start accepted before a restart
 * with another `--dynamic-pool` ends after it).
 */
import type { Random } from '../../model/random.js';
import type { ReadTx, WriteTx } from '../../store/types.js';

export const DYNAMIC_IPS = 'ip.dynamic';
/** Component state, one key per server: `{address: {gateway, netmask}}` of what it holds. */
export const DYNAMIC_NETWORKS = 'ip.dynamic.networks';

/** The network an address was leased from, as its IP record shows it. */
export interface LeaseNetwork {
  gateway: string;
  netmask: number;
}

export class IpPool {
  readonly network: number;
  readonly size: number;
  readonly prefix: number;

  /** `nameservers`: what the IP records of leased addresses show (`--nameservers`). */
  constructor(
    cidr: string,
    readonly nameservers: readonly string[] = [],
  ) {
    const match = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(cidr.trim());
    const parts = match?.slice(1, 5).map(Number) ?? [];
    const prefix = Number(match?.[5]);
    if (!match || parts.some((p) => p > 255) || prefix < 8 || prefix > 30) {
      throw new Error(`bad dynamic IP pool "${cidr}": expected an IPv4 CIDR from /8 to /30`);
    }
    const address = parts.reduce((acc, p) => acc * 256 + p, 0);
    this.prefix = prefix;
    this.size = 2 ** (32 - prefix);
    this.network = address - (address % this.size);
  }

  /** The gateway: the first address of the network. */
  get gateway(): string {
    return toText(this.network + 1);
  }

  /** Its gateway and prefix, as the IP records of its addresses show them. */
  get leaseNetwork(): LeaseNetwork {
    return { gateway: this.gateway, netmask: this.prefix };
  }

  /**
   * The network a hypervisor serves DHCP on: sigmalite reserves each NIC's address by MAC, so the
   * range for NICs it does not know is small, the pool's last (at most 16) addresses.
   */
  get dhcpNetwork(): {
    gateway: string;
    prefix: number;
    dhcp: { start: string; end: string };
  } {
    const last = this.network + this.size - 2;
    const first = Math.max(this.network + 2, last - 15);
    return {
      gateway: this.gateway,
      prefix: this.prefix,
      dhcp: { start: toText(first), end: toText(last) },
    };
  }

  contains(address: string): boolean {
    const n = toNumber(address);
    return n !== undefined && n >= this.network && n < this.network + this.size;
  }

  /**
   * Claims a free address for `holder`: a random one first (so addresses are not reused at once),
   * then the first free one. Throws when the pool is exhausted.
   */
  async lease(tx: WriteTx, holder: string, random: Random): Promise<string> {
    // Host addresses are network+2 .. broadcast-1 (network+1 is the gateway).
    const first = 2;
    const count = this.size - 3;
    for (let attempt = 0; attempt < 8; attempt++) {
      const address = toText(this.network + first + random.int(count));
      if (await tx.claim(DYNAMIC_IPS, address, holder)) return address;
    }
    for (let offset = 0; offset < count; offset++) {
      const address = toText(this.network + first + offset);
      if (await tx.claim(DYNAMIC_IPS, address, holder)) return address;
    }
    throw new PoolExhaustedError(
      `No free address in the dynamic IP pool ${toText(this.network)}/${this.prefix}`,
    );
  }
}

/**
 * Reserves an address for each DHCP NIC of a server that is about to start, in the transaction
 * that accepts the start: a full pool is refused then (503), not discovered by a start that
 * never ends. Addresses the server already holds are kept.
 */
export async function reserveAddresses(
  tx: WriteTx,
  pool: IpPool,
  server: string,
  dhcpNics: number,
  random: Random,
): Promise<string[]> {
  const held = await tx.claimsOf(DYNAMIC_IPS, server);
  if (held.length >= dhcpNics) return held;
  const networks = await recordedNetworks(tx, server);
  while (held.length < dhcpNics) {
    const address = await pool.lease(tx, server, random);
    held.push(address);
    networks[address] = pool.leaseNetwork;
  }
  await tx.putState(DYNAMIC_NETWORKS, server, JSON.stringify(networks));
  return held;
}

/**
 * The default `--dynamic-pool` of versions before 198.18.0.0/15. Their leases have no recorded
 * network: an address of theirs in this network keeps its gateway and prefix after an upgrade.
 */
export const FORMER_DEFAULT_POOL = '10.30.0.0/16';
const formerDefault = new IpPool(FORMER_DEFAULT_POOL);

/**
 * The network each of `addresses` (held by `server`) was leased from: as recorded; for a lease of
 * a version that recorded none, the pool's if the address is in it, else the former default's.
 */
export async function leaseNetworks(
  tx: ReadTx,
  pool: IpPool,
  server: string,
  addresses: readonly string[],
): Promise<Map<string, LeaseNetwork>> {
  const recorded = await recordedNetworks(tx, server);
  return new Map(
    addresses.map((address) => [
      address,
      recorded[address] ??
        (pool.contains(address) || !formerDefault.contains(address)
          ? pool.leaseNetwork
          : formerDefault.leaseNetwork),
    ]),
  );
}

async function recordedNetworks(tx: ReadTx, server: string): Promise<Record<string, LeaseNetwork>> {
  const text = await tx.getState(DYNAMIC_NETWORKS, server);
  return text === undefined ? {} : (JSON.parse(text) as Record<string, LeaseNetwork>);
}

export class PoolExhaustedError extends Error {}

function toNumber(address: string): number | undefined {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) {
    return undefined;
  }
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

function toText(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
