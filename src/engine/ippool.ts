/**
 * The pool DHCP NICs get their address from while their server runs (`--dynamic-pool CIDR`). An
 * address is a claim in the store (namespace `ip.dynamic`, held by the server), taken in the
 * transaction that makes the server `running` and released in the one that stops it.
 */
import type { Random } from '../model/random.js';
import type { WriteTx } from '../store/types.js';

export const DYNAMIC_IPS = 'ip.dynamic';

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
  while (held.length < dhcpNics) held.push(await pool.lease(tx, server, random));
  return held;
}

export class PoolExhaustedError extends Error {}

function toText(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}
