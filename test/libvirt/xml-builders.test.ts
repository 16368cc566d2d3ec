/**
 * nwfilter XML from firewall policies, network XML, pool and volume XML (the real libvirt takes
 * them in guest.test.ts, networks.test.ts and storage.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { dhcpHostXml, networkXml } from '../../src/drivers/compute/libvirt/network-xml.js';
import {
  complementNetwork,
  complementPorts,
  type FirewallRuleSpec,
  nwfilterXml,
  parseNetwork,
} from '../../src/drivers/compute/libvirt/nwfilter-xml.js';
import { attr, child, children, parseXml, text } from '../../src/drivers/compute/libvirt/xml.js';
import { dirPoolXml, volumeXml } from '../../src/drivers/storage/libvirt/storage-xml.js';

const POLICY = 'ffc71b41-4ce8-4eda-98f8-24c1bd808928';

function rule(overrides: Partial<FirewallRuleSpec>): FirewallRuleSpec {
  return {
    action: 'drop',
    direction: 'in',
    protocol: null,
    srcIp: null,
    srcPort: null,
    dstIp: null,
    dstPort: null,
    ...overrides,
  };
}

/** The filter's rules as `action direction priority element {attributes}` lines. */
function rules(list: FirewallRuleSpec[]): string[] {
  const filter = child(
    parseXml(nwfilterXml({ name: 'sl-fw', uuid: POLICY, rules: list }), ['rule']),
    'filter',
  );
  return children(filter, 'rule').map((r) => {
    const [element, match] = Object.entries(r).find(([key]) => !key.startsWith('@'))!;
    const attrs = Object.entries(match as Record<string, string>)
      .map(([k, v]) => `${k.slice(1)}=${v}`)
      .join(' ');
    return `${attr(r, 'action')} ${attr(r, 'direction')} ${attr(r, 'priority')} ${element}${attrs ? ` ${attrs}` : ''}`;
  });
}

describe('firewall policies as nwfilters', () => {
  it('keeps the order, the actions and directions, and accepts what nothing matched', () => {
    const xml = nwfilterXml({
      name: 'sl-fw',
      uuid: POLICY,
      rules: [
        rule({ direction: 'out', dstIp: '23.0.0.0/32' }),
        rule({ action: 'accept', protocol: 'tcp', srcIp: '172.66.32.0/24', dstPort: '22' }),
        rule({ protocol: 'tcp', dstPort: '22', direction: 'both' }),
        rule({ protocol: 'icmp' }),
      ],
    });
    const filter = child(parseXml(xml), 'filter');
    expect([attr(filter, 'name'), attr(filter, 'chain'), text(filter, 'uuid')]).toEqual([
      'sl-fw',
      'root',
      POLICY,
    ]);
    expect(
      rules([
        rule({ direction: 'out', dstIp: '23.0.0.0/32' }),
        rule({ action: 'accept', protocol: 'tcp', srcIp: '172.66.32.0/24', dstPort: '22' }),
        rule({ protocol: 'tcp', dstPort: '22', direction: 'both' }),
        rule({ protocol: 'icmp' }),
      ]),
    ).toEqual([
      'drop out -999 all dstipaddr=23.0.0.0 dstipmask=32',
      'accept in -998 tcp srcipaddr=172.66.32.0 srcipmask=24 dstportstart=22 dstportend=22',
      // No address: IPv4 and IPv6 alike.
      'drop inout -997 tcp dstportstart=22 dstportend=22',
      'drop inout -996 tcp-ipv6 dstportstart=22 dstportend=22',
      'drop in -995 icmp',
      'drop in -994 icmpv6',
      'accept inout -993 all',
      'accept inout -992 all-ipv6',
    ]);
  });

  it('writes a negated port as the ranges around it', () => {
    expect(rules([rule({ protocol: 'udp', dstPort: '!1:1024', srcIp: '10.0.0.0/8' })])).toEqual([
      'drop in -999 udp srcipaddr=10.0.0.0 srcipmask=8 dstportstart=0 dstportend=0',
      'drop in -998 udp srcipaddr=10.0.0.0 srcipmask=8 dstportstart=1025 dstportend=65535',
      'accept inout -997 all',
      'accept inout -996 all-ipv6',
    ]);
    expect(complementPorts([0, 65535])).toEqual([]);
    expect(complementPorts([22, 22])).toEqual([
      [0, 21],
      [23, 65535],
    ]);
  });

  it('writes a negated network as the networks beside it', () => {
    expect(rules([rule({ protocol: 'udp', srcIp: '!172.66.32.55/30' })]).slice(0, 30)).toEqual([
      'drop in -999 udp srcipaddr=0.0.0.0 srcipmask=1',
      'drop in -998 udp srcipaddr=192.0.0.0 srcipmask=2',
      'drop in -997 udp srcipaddr=128.0.0.0 srcipmask=3',
      'drop in -996 udp srcipaddr=176.0.0.0 srcipmask=4',
      'drop in -995 udp srcipaddr=160.0.0.0 srcipmask=5',
      'drop in -994 udp srcipaddr=168.0.0.0 srcipmask=6',
      'drop in -993 udp srcipaddr=174.0.0.0 srcipmask=7',
      'drop in -992 udp srcipaddr=173.0.0.0 srcipmask=8',
      'drop in -991 udp srcipaddr=172.128.0.0 srcipmask=9',
      'drop in -990 udp srcipaddr=172.0.0.0 srcipmask=10',
      'drop in -989 udp srcipaddr=172.96.0.0 srcipmask=11',
      'drop in -988 udp srcipaddr=172.80.0.0 srcipmask=12',
      'drop in -987 udp srcipaddr=172.72.0.0 srcipmask=13',
      'drop in -986 udp srcipaddr=172.68.0.0 srcipmask=14',
      'drop in -985 udp srcipaddr=172.64.0.0 srcipmask=15',
      'drop in -984 udp srcipaddr=172.67.0.0 srcipmask=16',
      'drop in -983 udp srcipaddr=172.66.128.0 srcipmask=17',
      'drop in -982 udp srcipaddr=172.66.64.0 srcipmask=18',
      'drop in -981 udp srcipaddr=172.66.0.0 srcipmask=19',
      'drop in -980 udp srcipaddr=172.66.48.0 srcipmask=20',
      'drop in -979 udp srcipaddr=172.66.40.0 srcipmask=21',
      'drop in -978 udp srcipaddr=172.66.36.0 srcipmask=22',
      'drop in -977 udp srcipaddr=172.66.34.0 srcipmask=23',
      'drop in -976 udp srcipaddr=172.66.33.0 srcipmask=24',
      'drop in -975 udp srcipaddr=172.66.32.128 srcipmask=25',
      'drop in -974 udp srcipaddr=172.66.32.64 srcipmask=26',
      'drop in -973 udp srcipaddr=172.66.32.0 srcipmask=27',
      'drop in -972 udp srcipaddr=172.66.32.32 srcipmask=28',
      'drop in -971 udp srcipaddr=172.66.32.56 srcipmask=29',
      'drop in -970 udp srcipaddr=172.66.32.48 srcipmask=30',
    ]);
    // The networks beside one, and it, cover every address exactly once.
    const network = parseNetwork('172.66.32.52/30');
    const all = [network, ...complementNetwork(network)];
    const size = all.reduce((sum, n) => sum + 2 ** (32 - n.prefix), 0);
    expect(size).toBe(2 ** 32);
    expect(complementNetwork(parseNetwork('0.0.0.0/0'))).toEqual([]);
  });

  it('filters the IP version of its addresses, and drops a rule mixing both', () => {
    expect(rules([rule({ protocol: 'tcp', srcIp: '2001:db8::/32', dstPort: '443' })])).toEqual([
      'drop in -999 tcp-ipv6 srcipaddr=2001:db8:0:0:0:0:0:0 srcipmask=32 dstportstart=443 dstportend=443',
      'accept inout -998 all',
      'accept inout -997 all-ipv6',
    ]);
    expect(rules([rule({ srcIp: '10.0.0.1/32', dstIp: '2001:db8::1/128' })])).toEqual([
      'accept inout -999 all',
      'accept inout -998 all-ipv6',
    ]);
    expect(parseNetwork('::ffff:10.1.2.3')).toEqual({
      family: 6,
      value: 0xffff0a010203n,
      prefix: 128,
    });
    expect(parseNetwork('10.1.2.3/8')).toEqual({ family: 4, value: 0x0a000000n, prefix: 8 });
  });

  it('refuses what libvirt cannot hold', () => {
    expect(() =>
      nwfilterXml({ name: 'f', uuid: POLICY, rules: [rule({ dstPort: '22' })] }),
    ).toThrow(/tcp or udp/);
    expect(() =>
      nwfilterXml({
        name: 'f',
        uuid: POLICY,
        rules: [rule({ srcIp: '!2001:db8::1/128', dstIp: '!2001:db8::2/128' })],
      }),
    ).toThrow(/needs 16386 libvirt rules/);
    expect(() => parseNetwork('10.0.0.0/33')).toThrow(/prefix/);
    expect(() => parseNetwork('example.com')).toThrow(/not an IP address/);
  });
});

describe('network XML', () => {
  it('a NAT network with DHCP over a range and reservations', () => {
    const xml = networkXml({
      name: 'sigmalite-public',
      uuid: POLICY,
      bridge: 'slbr0',
      forward: 'nat',
      ipv4: {
        address: '10.77.0.1',
        prefix: 24,
        dhcp: {
          start: '10.77.0.100',
          end: '10.77.0.199',
          hosts: [{ mac: '52:54:00:AA:00:01', ip: '10.77.0.21' }],
        },
      },
    });
    expect(parseXml(xml)).toEqual({
      network: {
        name: 'sigmalite-public',
        uuid: POLICY,
        forward: { '@mode': 'nat' },
        bridge: { '@name': 'slbr0', '@stp': 'off', '@delay': '0' },
        ip: {
          '@address': '10.77.0.1',
          '@prefix': '24',
          dhcp: {
            range: { '@start': '10.77.0.100', '@end': '10.77.0.199' },
            host: { '@mac': '52:54:00:aa:00:01', '@ip': '10.77.0.21' },
          },
        },
      },
    });
  });

  it('a VLAN: an isolated bridge without an address', () => {
    expect(parseXml(networkXml({ name: 'vlan-7', bridge: 'slv7', forward: 'isolated' }))).toEqual({
      network: { name: 'vlan-7', bridge: { '@name': 'slv7', '@stp': 'off', '@delay': '0' } },
    });
    expect(() =>
      networkXml({ name: 'x', bridge: 'a-bridge-name-too-long', forward: 'isolated' }),
    ).toThrow(/1-15/);
  });

  it('a reservation on one line for net-update', () => {
    expect(dhcpHostXml({ mac: '52:54:00:AA:00:01', ip: '10.77.0.21', name: 'web' })).toBe(
      '<host mac="52:54:00:aa:00:01" name="web" ip="10.77.0.21"/>',
    );
    expect(dhcpHostXml({ mac: '52:54:00:aa:00:01' })).toBe('<host mac="52:54:00:aa:00:01"/>');
  });
});

describe('storage XML', () => {
  it('a directory pool QEMU can enter', () => {
    expect(
      parseXml(dirPoolXml({ name: 'sigmalite', path: '/var/lib/sigmalite/libvirt/pool' })),
    ).toEqual({
      pool: {
        '@type': 'dir',
        name: 'sigmalite',
        target: { path: '/var/lib/sigmalite/libvirt/pool', permissions: { mode: '0711' } },
      },
    });
  });

  it('qcow2 volumes at compat 1.1, linked clones with their base', () => {
    expect(
      parseXml(
        volumeXml({
          name: 'd1',
          capacity: 1024,
          format: 'qcow2',
          backing: { path: '/p/base', format: 'raw' },
        }),
      ),
    ).toEqual({
      volume: {
        name: 'd1',
        capacity: { '@unit': 'bytes', '#text': '1024' },
        allocation: { '@unit': 'bytes', '#text': '0' },
        target: { format: { '@type': 'qcow2' }, compat: '1.1', permissions: { mode: '0600' } },
        backingStore: { path: '/p/base', format: { '@type': 'raw' } },
      },
    });
    expect(
      child(
        child(parseXml(volumeXml({ name: 'r', capacity: 1, format: 'raw' })), 'volume'),
        'target',
      ),
    ).toEqual({
      format: { '@type': 'raw' },
      permissions: { mode: '0600' },
    });
    expect(() =>
      volumeXml({ name: 'r', capacity: 1, format: 'raw', backing: { path: '/b', format: 'raw' } }),
    ).toThrow(/only a qcow2/);
  });
});
