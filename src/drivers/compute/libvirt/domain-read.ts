/**
 * What `virsh dumpxml` says about a defined or running domain that sigmalite needs back: where its
 * screen listens, which images its disks use, its NICs' host devices (for counters and leases)
 * and where its serial ports connect (to serve a re-adopted machine's console and context).
 */
import { attr, child, children, parseXml, text } from './xml.js';

export interface DomainGraphics {
  type: string;
  /** The TCP port, when it listens on one (-1 or absent while it does not run). */
  port: number | null;
  /** The unix socket, when it listens on one. */
  socket: string | null;
  /** The listen address, when it listens on TCP. */
  address: string | null;
}

export interface DomainDisk {
  device: 'disk' | 'cdrom' | string;
  /** `vda`, `hdc`, `sda`. */
  target: string;
  bus: string;
  /** The image's path (a file, or a volume's resolved path on a running domain). */
  path: string | null;
  pool: string | null;
  volume: string | null;
}

export interface DomainInterface {
  mac: string;
  /** The host-side device (`vnet3`), on a running domain. */
  device: string | null;
  network: string | null;
  model: string | null;
  filter: string | null;
}

export interface DomainSerial {
  /** The guest's port: 0 is ttyS0. */
  port: number;
  type: string;
  host: string | null;
  service: number | null;
}

export interface DomainDescription {
  name: string;
  uuid: string;
  /** `qemu` (TCG) or `kvm`. */
  type: string;
  graphics: DomainGraphics[];
  disks: DomainDisk[];
  interfaces: DomainInterface[];
  serials: DomainSerial[];
}

export function readDomain(xml: string): DomainDescription {
  const domain = child(
    parseXml(xml, ['graphics', 'disk', 'interface', 'serial', 'listen']),
    'domain',
  );
  if (!domain) throw new Error('not a domain description');
  const devices = child(domain, 'devices');
  const number = (value: string | undefined): number | null =>
    value === undefined || value === '' || Number.isNaN(Number(value)) ? null : Number(value);
  return {
    name: text(domain, 'name') ?? '',
    uuid: text(domain, 'uuid') ?? '',
    type: attr(domain, 'type') ?? '',
    graphics: children(devices, 'graphics').map((g) => {
      const listens = children(g, 'listen');
      return {
        type: attr(g, 'type') ?? '',
        port: number(attr(g, 'port')),
        socket: attr(g, 'socket') ?? listens.map((l) => attr(l, 'socket')).find(Boolean) ?? null,
        address: listens.map((l) => attr(l, 'address')).find(Boolean) ?? attr(g, 'listen') ?? null,
      };
    }),
    disks: children(devices, 'disk').map((d) => {
      const source = child(d, 'source');
      const target = child(d, 'target');
      return {
        device: attr(d, 'device') ?? 'disk',
        target: attr(target, 'dev') ?? '',
        bus: attr(target, 'bus') ?? '',
        path: attr(source, 'file') ?? attr(source, 'dev') ?? null,
        pool: attr(source, 'pool') ?? null,
        volume: attr(source, 'volume') ?? null,
      };
    }),
    interfaces: children(devices, 'interface').map((i) => ({
      mac: (attr(child(i, 'mac'), 'address') ?? '').toLowerCase(),
      device: attr(child(i, 'target'), 'dev') ?? null,
      network: attr(child(i, 'source'), 'network') ?? null,
      model: attr(child(i, 'model'), 'type') ?? null,
      filter: attr(child(i, 'filterref'), 'filter') ?? null,
    })),
    serials: children(devices, 'serial').map((s) => {
      const source = child(s, 'source');
      return {
        port: number(attr(child(s, 'target'), 'port')) ?? 0,
        type: attr(s, 'type') ?? '',
        host: attr(source, 'host') ?? null,
        service: number(attr(source, 'service')),
      };
    }),
  };
}

export interface HostCapabilities {
  /** The host's architecture (`x86_64`). */
  arch: string;
  /** Domain types libvirt offers for x86_64 hvm guests: `qemu` (TCG), and `kvm` if /dev/kvm exists. */
  domainTypes: string[];
  /** The user and group QEMU runs as (its DAC label), when libvirt says. */
  qemuUser: { uid: number; gid: number } | null;
}

/** `virsh capabilities`. */
export function readCapabilities(xml: string): HostCapabilities {
  const root = child(
    parseXml(xml, ['guest', 'domain', 'secmodel', 'baselabel', 'arch']),
    'capabilities',
  );
  const host = child(root, 'host');
  const domainTypes = new Set<string>();
  for (const guest of children(root, 'guest')) {
    if (text(guest, 'os_type') !== 'hvm') continue;
    for (const arch of children(guest, 'arch')) {
      if (attr(arch, 'name') !== 'x86_64') continue;
      for (const domain of children(arch, 'domain')) {
        const type = attr(domain, 'type');
        if (type) domainTypes.add(type);
      }
    }
  }
  let qemuUser: HostCapabilities['qemuUser'] = null;
  for (const model of children(host, 'secmodel')) {
    if (text(model, 'model') !== 'dac') continue;
    for (const label of children(model, 'baselabel')) {
      // `+64055:+64055`: uid and gid, each with a `+` meaning "a number, not a name".
      const match = /^\+?(\d+):\+?(\d+)$/.exec(label['#text'] as string);
      if (match && attr(label, 'type') === 'qemu') {
        qemuUser = { uid: Number(match[1]), gid: Number(match[2]) };
      }
    }
  }
  return {
    // `arch` is parsed as a list (the guests' <arch> elements repeat).
    arch: children(child(host, 'cpu'), 'arch')[0]?.['#text']?.toString() ?? '',
    domainTypes: [...domainTypes],
    qemuUser,
  };
}
