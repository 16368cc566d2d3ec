/**
 * A CloudSigma firewall policy (api-reference.md §4.4) as a libvirt nwfilter, enforced on every
 * NIC that references it. Redefining the filter (with the same `<uuid>`, the policy's) applies
 * the new rules to running NICs at once.
 *
 * - Rules keep their order: each gets the next priority (libvirt runs lower priorities first).
 *   After them, a final rule accepts what no rule matched (CloudSigma's network is open unless a
 *   policy says otherwise).
 * - `in` is traffic to the guest, `out` from it, `both` either way (libvirt's `inout`). Rules are
 *   stateful as libvirt makes them: accepting a connection accepts its replies.
 * - A rule's fields must all match. A field negated with `!` matches what it names not, written as
 *   its complement: a port range becomes the ranges around it (two at most), a network the
 *   networks beside it (one per prefix bit), one libvirt rule per combination. (libvirt's own
 *   `match='no'` is no help: libvirt 9 writes such a rule without the negation, measured.)
 * - Addresses decide the IP version: a rule with IPv4 addresses filters IPv4, with IPv6 addresses
 *   IPv6, with none both. A rule whose source and destination are of different versions can
 *   match nothing and is left out.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { buildXml, type XmlElement } from './xml.js';

export interface FirewallRuleSpec {
  action: 'accept' | 'drop';
  direction: 'in' | 'out' | 'both';
  /** null: any protocol (then no ports). */
  protocol: 'tcp' | 'udp' | 'icmp' | null;
  /** `a.b.c.d/prefix` or an IPv6 network, `!` in front to negate; null: any. */
  srcIp: string | null;
  /** `22`, `1:1024`, `!` in front to negate; null: any. */
  srcPort: string | null;
  dstIp: string | null;
  dstPort: string | null;
}

export interface FirewallPolicySpec {
  /** The filter's name, which NICs reference. */
  name: string;
  /** The policy's uuid. */
  uuid: string;
  rules: FirewallRuleSpec[];
}

/** libvirt's rule priorities run from -1000 to 1000; the first rule gets this one. */
const FIRST_PRIORITY = -999;
const LAST_PRIORITY = 1000;

export function nwfilterXml(policy: FirewallPolicySpec): string {
  const rules: XmlElement[] = [];
  for (const rule of policy.rules) rules.push(...libvirtRules(rule));
  const accept = (element: string): XmlElement => ({
    '@action': 'accept',
    '@direction': 'inout',
    [element]: {},
  });
  rules.push(accept('all'), accept('all-ipv6'));
  if (FIRST_PRIORITY + rules.length - 1 > LAST_PRIORITY) {
    throw new Error(
      `the policy needs ${rules.length} libvirt rules, more than libvirt's ${LAST_PRIORITY - FIRST_PRIORITY + 1}: negate fewer networks`,
    );
  }
  rules.forEach((rule, i) => {
    rule['@priority'] = FIRST_PRIORITY + i;
  });
  return buildXml({
    filter: {
      '@name': policy.name,
      '@chain': 'root',
      uuid: policy.uuid,
      rule: rules,
    },
  });
}

type Family = 4 | 6;
interface Network {
  family: Family;
  /** The address as an integer (32 or 128 bits). */
  value: bigint;
  prefix: number;
}
type PortRange = [number, number];

/** One CloudSigma rule as libvirt rules (none, one, or one per combination of complements). */
function libvirtRules(rule: FirewallRuleSpec): XmlElement[] {
  const src = field(rule.srcIp, parseNetwork);
  const dst = field(rule.dstIp, parseNetwork);
  const srcPort = field(rule.srcPort, parsePorts);
  const dstPort = field(rule.dstPort, parsePorts);
  if ((srcPort || dstPort) && rule.protocol !== 'tcp' && rule.protocol !== 'udp') {
    throw new Error('a port applies to tcp or udp only');
  }
  const families = new Set<Family>([src, dst].filter((f) => f !== null).map((f) => f.value.family));
  if (families.size > 1) return [];
  const out: XmlElement[] = [];
  for (const family of families.size === 1 ? [...families] : ([4, 6] as Family[])) {
    // Each field as the values it may take: itself, or (negated) its complement.
    const expand = <T>(f: Field<T> | null, complement: (value: T) => T[]): (T | null)[] =>
      f === null ? [null] : f.negated ? complement(f.value) : [f.value];
    for (const s of expand(src, complementNetwork)) {
      for (const d of expand(dst, complementNetwork)) {
        for (const sp of expand(srcPort, complementPorts)) {
          for (const dp of expand(dstPort, complementPorts)) {
            const match: XmlElement = {
              ...(s && { '@srcipaddr': formatAddress(s), '@srcipmask': s.prefix }),
              ...(d && { '@dstipaddr': formatAddress(d), '@dstipmask': d.prefix }),
              ...(sp && { '@srcportstart': sp[0], '@srcportend': sp[1] }),
              ...(dp && { '@dstportstart': dp[0], '@dstportend': dp[1] }),
            };
            out.push({
              '@action': rule.action,
              '@direction': rule.direction === 'both' ? 'inout' : rule.direction,
              [protocolElement(rule.protocol, family)]: match,
            });
          }
        }
      }
    }
  }
  return out;
}

function protocolElement(protocol: FirewallRuleSpec['protocol'], family: Family): string {
  const name = protocol ?? 'all';
  if (family === 4) return name;
  return name === 'icmp' ? 'icmpv6' : `${name}-ipv6`;
}

interface Field<T> {
  negated: boolean;
  value: T;
}

function field<T>(text: string | null, parse: (text: string) => T): Field<T> | null {
  if (text === null || text.trim() === '') return null;
  const trimmed = text.trim();
  const negated = trimmed.startsWith('!');
  return { negated, value: parse(negated ? trimmed.slice(1).trim() : trimmed) };
}

/** `10.0.0.0/24`, `2001:db8::/32`; no prefix: one address. */
export function parseNetwork(text: string): Network {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const family: Family | null = isIPv4(address) ? 4 : isIPv6(address) ? 6 : null;
  if (family === null) throw new Error(`not an IP address: ${JSON.stringify(text)}`);
  const bits = family === 4 ? 32 : 128;
  const prefix = slash < 0 ? bits : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits) {
    throw new Error(`not a network prefix: ${JSON.stringify(text)}`);
  }
  const value = family === 4 ? ipv4Value(address) : ipv6Value(address);
  // The host bits say nothing: 10.0.0.7/24 is the network 10.0.0.0/24.
  const mask = prefix === 0 ? 0n : ((1n << BigInt(prefix)) - 1n) << BigInt(bits - prefix);
  return { family, value: value & mask, prefix };
}

/** Every address outside `network`, as the networks that differ from it in one prefix bit. */
export function complementNetwork(network: Network): Network[] {
  const bits = network.family === 4 ? 32 : 128;
  const out: Network[] = [];
  for (let length = 1; length <= network.prefix; length++) {
    const bit = 1n << BigInt(bits - length);
    const keep = ((1n << BigInt(length - 1)) - 1n) << BigInt(bits - length + 1);
    out.push({
      family: network.family,
      value: (network.value & keep) | (~network.value & bit),
      prefix: length,
    });
  }
  return out;
}

/** `22` or `1:1024`. */
export function parsePorts(text: string): PortRange {
  const match = /^(\d{1,5})(?::(\d{1,5}))?$/.exec(text);
  const low = Number(match?.[1]);
  const high = match?.[2] === undefined ? low : Number(match[2]);
  if (!match || low > high || high > 65535) throw new Error(`not a port or range: ${text}`);
  return [low, high];
}

/** The ports around a range: `!1:1024` is 0 and 1025-65535. */
export function complementPorts([low, high]: PortRange): PortRange[] {
  const out: PortRange[] = [];
  if (low > 0) out.push([0, low - 1]);
  if (high < 65535) out.push([high + 1, 65535]);
  return out;
}

function ipv4Value(address: string): bigint {
  return address.split('.').reduce((value, part) => (value << 8n) | BigInt(Number(part)), 0n);
}

function ipv6Value(address: string): bigint {
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const v4 = ipv4Value(dotted[1]!);
    text = `${text.slice(0, dotted.index)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return groups.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n);
}

function formatAddress(network: Network): string {
  if (network.family === 4) {
    return [24n, 16n, 8n, 0n].map((shift) => (network.value >> shift) & 0xffn).join('.');
  }
  const groups: string[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) {
    groups.push(((network.value >> shift) & 0xffffn).toString(16));
  }
  return groups.join(':');
}
