/**
 * libvirt networks for CloudSigma's: the public network (NAT to the outside, DHCP over the dynamic
 * pool, a reservation per static address) and a VLAN (an isolated layer-2 bridge shared by the
 * account's NICs on it, without a host address or DHCP). libvirt runs DHCP on one IPv4 range per
 * network, so the dynamic pool and the subscribed addresses are separate networks.
 */
import { buildXml, type XmlElement } from './xml.js';

/** A DHCP reservation: the NIC with this MAC always gets this address. */
export interface DhcpHost {
  mac: string;
  ip: string;
  /** A host name handed to the guest. */
  name?: string;
}

export interface NetworkSpec {
  name: string;
  /** Fixed, so that redefining the network keeps its identity. */
  uuid?: string;
  /** The Linux bridge; at most 15 characters, unique on the host. */
  bridge: string;
  /**
   * `nat`: guests reach the outside through the host's address; `isolated`: guests reach each
   * other and (when the network has an address) the host, nothing else.
   */
  forward: 'nat' | 'isolated';
  /** The host's address on the network and its DHCP service; none for a pure layer-2 VLAN. */
  ipv4?: {
    address: string;
    prefix: number;
    dhcp?: { start: string; end: string; hosts?: DhcpHost[] };
  };
}

export function networkXml(spec: NetworkSpec): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(spec.bridge)) {
    throw new Error(`bridge name ${JSON.stringify(spec.bridge)}: 1-15 letters, digits, _ . -`);
  }
  const ip = spec.ipv4;
  return buildXml({
    network: {
      name: spec.name,
      uuid: spec.uuid,
      forward: spec.forward === 'nat' ? { '@mode': 'nat' } : undefined,
      bridge: { '@name': spec.bridge, '@stp': 'off', '@delay': 0 },
      ip: ip && {
        '@address': ip.address,
        '@prefix': ip.prefix,
        dhcp: ip.dhcp && {
          range: { '@start': ip.dhcp.start, '@end': ip.dhcp.end },
          host: (ip.dhcp.hosts ?? []).map(hostElement),
        },
      },
    },
  });
}

/**
 * One reservation as `net-update ... ip-dhcp-host` takes it: `<host mac='..' ip='..'/>` (only
 * the MAC, to delete one).
 */
export function dhcpHostXml(host: DhcpHost | { mac: string }): string {
  return buildXml({ host: hostElement(host) }, { oneLine: true }).trim();
}

function hostElement(host: DhcpHost | { mac: string }): XmlElement {
  const reserved = 'ip' in host ? host : undefined;
  return { '@mac': host.mac.toLowerCase(), '@name': reserved?.name, '@ip': reserved?.ip };
}
