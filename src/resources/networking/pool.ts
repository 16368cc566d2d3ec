/**
 * What subscriptions hand out (api-reference.md §4.2, §4.3): public addresses from a configured
 * range (`--ip-pool`), and VLANs, each holding one 802.1Q tag of a configured range
 * (`--vlan-tags`, which bounds how many VLANs the cloud has). Both are claims in the store, held
 * by the object that bought or holds them (the subscription of an address, the VLAN), so they are
 * free again when that object goes, also when a whole account is reset. A holder is never a value
 * itself: a claim then answers for one holder only, also between concurrent transactions.
 */
import type { WriteTx } from '../../store/types.js';

export const SUBSCRIBED_IPS = 'ip.subscribed';
export const VLAN_TAGS = 'vlan.tag';
/** Where the next search for a free address or tag starts (component state). */
const HINTS = 'net.hints';

export class ExhaustedError extends Error {}

/** `a.b.c.d` as an integer; undefined if it is not a dotted quad. */
export function parseIpv4(text: string): number | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!match) return undefined;
  const parts = match.slice(1, 5).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return parts.reduce((acc, p) => acc * 256 + p, 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/**
 * A range of addresses in one network. `CIDR` hands out the network's hosts after the gateway
 * (`198.51.100.0/24`: .2 to .254); `FIRST-LAST/PREFIX` exactly that range, in the network of the
 * prefix (`185.12.6.183-185.12.6.190/24`). The gateway is the network's first address.
 */
export class AddressPool {
  readonly first: number;
  readonly last: number;
  readonly prefix: number;
  readonly network: number;

  constructor(spec: string) {
    const bad = (why: string) => new Error(`bad IP pool "${spec}": ${why}`);
    const match = /^([\d.]+)(?:-([\d.]+))?\/(\d{1,2})$/.exec(spec.trim());
    if (!match) throw bad('expected CIDR or FIRST-LAST/PREFIX');
    const start = parseIpv4(match[1]!);
    const end = match[2] === undefined ? undefined : parseIpv4(match[2]);
    const prefix = Number(match[3]);
    if (start === undefined || (match[2] !== undefined && end === undefined)) {
      throw bad('not an IPv4 address');
    }
    if (prefix < 8 || prefix > 30) throw bad('the prefix must be from /8 to /30');
    const size = 2 ** (32 - prefix);
    this.prefix = prefix;
    this.network = start - (start % size);
    if (end === undefined) {
      this.first = this.network + 2;
      this.last = this.network + size - 2;
    } else {
      this.first = start;
      this.last = end;
    }
    const broadcast = this.network + size - 1;
    if (this.first > this.last) throw bad('the range is empty');
    if (this.last >= broadcast || this.last - this.network >= size) {
      throw bad('the range leaves its network');
    }
    if (this.first <= this.network + 1) throw bad('the range includes the network or gateway');
  }

  get gateway(): string {
    return formatIpv4(this.network + 1);
  }

  get size(): number {
    return this.last - this.first + 1;
  }

  /** Whether the two ranges share an address (the dynamic pool must be apart). */
  overlaps(first: number, last: number): boolean {
    return this.first <= last && first <= this.last;
  }

  /** Whether `address` is one of the addresses this pool hands out. */
  contains(address: string): boolean {
    const n = parseIpv4(address);
    return n !== undefined && n >= this.first && n <= this.last;
  }

  /** Claims `address`, one of the pool's, for `holder`; false when another holder has it. */
  async claim(tx: WriteTx, address: string, holder: string): Promise<boolean> {
    return tx.claim(SUBSCRIBED_IPS, address, holder);
  }

  /** Claims a free address for `holder`; throws `ExhaustedError` when every one is taken. */
  async lease(tx: WriteTx, holder: string): Promise<string> {
    return claimNext(tx, SUBSCRIBED_IPS, this.size, (i) => formatIpv4(this.first + i), holder);
  }
}

/** The 802.1Q tags VLANs get (`FIRST-LAST`, within 1-4094): as many VLANs as tags. */
export class TagRange {
  readonly first: number;
  readonly last: number;

  constructor(spec: string) {
    const match = /^(\d{1,4})-(\d{1,4})$/.exec(spec.trim());
    const first = Number(match?.[1]);
    const last = Number(match?.[2]);
    if (!match || first < 1 || last > 4094 || first > last) {
      throw new Error(`bad VLAN tag range "${spec}": expected FIRST-LAST within 1-4094`);
    }
    this.first = first;
    this.last = last;
  }

  /** Claims a free tag for the VLAN `holder`. */
  async lease(tx: WriteTx, holder: string): Promise<number> {
    const tag = await claimNext(
      tx,
      VLAN_TAGS,
      this.last - this.first + 1,
      (i) => String(this.first + i),
      holder,
    );
    return Number(tag);
  }
}

/**
 * Claims the first free value after the last one handed out (wrapping round), so that a value
 * let go is not handed out again at once and a long run of taken values is not searched each time.
 */
async function claimNext(
  tx: WriteTx,
  namespace: string,
  count: number,
  valueAt: (i: number) => string,
  holder: string,
): Promise<string> {
  const hint = Number((await tx.getState(HINTS, namespace)) ?? 0);
  const start = Number.isSafeInteger(hint) && hint >= 0 ? hint % count : 0;
  for (let n = 0; n < count; n++) {
    const i = (start + n) % count;
    const value = valueAt(i);
    if (await tx.claim(namespace, value, holder)) {
      await tx.putState(HINTS, namespace, String((i + 1) % count));
      return value;
    }
  }
  throw new ExhaustedError(`every one of the ${count} ${namespace} values is taken`);
}
