/**
 * Domain XML from a machine description, read back with the XML parser (the real libvirt takes
 * it in test/libvirt/guest.test.ts).
 */
import { describe, expect, it } from 'vitest';
import { readDomain } from '../../src/drivers/compute/libvirt/domain-read.js';
import {
  cpuQuotaUs,
  type DomainSpec,
  deviceLetters,
  domainXml,
  vncPassword,
} from '../../src/drivers/compute/libvirt/domain-xml.js';
import {
  attr,
  child,
  children,
  type ParsedElement,
  parseXml,
  text,
} from '../../src/drivers/compute/libvirt/xml.js';

const UUID = '3e12e28f-0add-4f9a-8662-af27c9199053';

function spec(overrides: Partial<DomainSpec> = {}): DomainSpec {
  return {
    uuid: UUID,
    name: UUID,
    title: 'web-01',
    accelerator: 'tcg',
    cpu: {
      mhz: 2000,
      hostMhz: 2000,
      smp: 2,
      model: null,
      socketsInsteadOfCores: false,
      numa: false,
      hvRelaxed: false,
      hvTsc: false,
    },
    memBytes: 512 * 1024 * 1024,
    drives: [],
    nics: [],
    vnc: { socket: '/data/sockets/x.vnc', password: 'testserver' },
    console: { host: '127.0.0.1', port: 40001 },
    context: { host: '127.0.0.1', port: 40002 },
    ...overrides,
  };
}

function domain(s: DomainSpec): ParsedElement {
  return child(parseXml(domainXml(s), ['disk', 'interface', 'serial', 'entry', 'cell']), 'domain')!;
}

describe('domain XML', () => {
  it('names the domain by the server, with its memory and vCPUs', () => {
    const d = domain(spec());
    expect(attr(d, 'type')).toBe('qemu');
    expect(text(d, 'name')).toBe(UUID);
    expect(text(d, 'uuid')).toBe(UUID);
    expect(text(d, 'title')).toBe('web-01');
    expect(child(d, 'memory')).toEqual({ '@unit': 'KiB', '#text': '524288' });
    expect(text(d, 'vcpu')).toBe('2');
    expect(attr(child(child(d, 'os'), 'type'), 'machine')).toBe('pc');
    expect(attr(domain(spec({ accelerator: 'kvm' })), 'type')).toBe('kvm');
  });

  it('says CloudSigma in SMBIOS, with the server uuid as the system uuid', () => {
    const d = domain(spec());
    const entries = children(child(child(d, 'sysinfo'), 'system'), 'entry');
    expect(entries.map((e) => [attr(e, 'name'), e['#text']])).toEqual([
      ['manufacturer', 'CloudSigma'],
      ['product', 'CloudSigma'],
      ['uuid', UUID],
    ]);
    expect(attr(child(child(d, 'os'), 'smbios'), 'mode')).toBe('sysinfo');
  });

  it('turns MHz into a CPU quota per vCPU, and none for a whole core or more', () => {
    expect(cpuQuotaUs({ mhz: 1000, hostMhz: 2000, smp: 1 })).toBe(50_000);
    expect(cpuQuotaUs({ mhz: 1000, hostMhz: 2000, smp: 2 })).toBe(25_000);
    expect(cpuQuotaUs({ mhz: 4000, hostMhz: 2000, smp: 2 })).toBeNull();
    expect(cpuQuotaUs({ mhz: 5, hostMhz: 2000, smp: 1 })).toBe(1000); // libvirt's minimum
    expect(() => cpuQuotaUs({ mhz: 1000, hostMhz: 0, smp: 1 })).toThrow(/positive/);
    const d = domain(spec({ cpu: { ...spec().cpu, mhz: 1000 } }));
    expect(child(d, 'cputune')).toEqual({ period: '100000', quota: '25000' });
    expect(child(domain(spec({ cpu: { ...spec().cpu, mhz: 4000 } })), 'cputune')).toBeUndefined();
  });

  it('lays vCPUs out as cores or sockets, with the model asked for', () => {
    const cores = child(domain(spec()), 'cpu')!;
    expect(child(cores, 'topology')).toEqual({
      '@sockets': '1',
      '@dies': '1',
      '@cores': '2',
      '@threads': '1',
    });
    expect(text(cores, 'model')).toBe('qemu64');
    const sockets = child(
      domain(spec({ cpu: { ...spec().cpu, socketsInsteadOfCores: true, model: 'kvm64' } })),
      'cpu',
    )!;
    expect(attr(child(sockets, 'topology'), 'sockets')).toBe('2');
    expect(text(sockets, 'model')).toBe('kvm64');
    expect(attr(child(domain(spec({ accelerator: 'kvm' })), 'cpu'), 'mode')).toBe(
      'host-passthrough',
    );
  });

  it('splits vCPUs and memory into NUMA cells of six', () => {
    const cpu = { ...spec().cpu, smp: 8, numa: true };
    const cells = children(
      child(child(domain(spec({ cpu, memBytes: 3 * 1024 * 1024 })), 'cpu'), 'numa'),
      'cell',
    );
    expect(cells).toEqual([
      { '@id': '0', '@cpus': '0-5', '@memory': '1536', '@unit': 'KiB' },
      { '@id': '1', '@cpus': '6-7', '@memory': '1536', '@unit': 'KiB' },
    ]);
  });

  it('gives Hyper-V enlightenments under KVM only', () => {
    const cpu = { ...spec().cpu, hvRelaxed: true, hvTsc: true };
    const kvm = domain(spec({ accelerator: 'kvm', cpu }));
    expect(child(child(kvm, 'features'), 'hyperv')).toEqual({
      '@mode': 'custom',
      relaxed: { '@state': 'on' },
    });
    expect(child(child(kvm, 'clock'), 'timer')).toEqual({
      '@name': 'hypervclock',
      '@present': 'yes',
    });
    const tcg = domain(spec({ cpu }));
    expect(child(child(tcg, 'features'), 'hyperv')).toBeUndefined();
    expect(child(child(tcg, 'clock'), 'timer')).toBeUndefined();
  });

  it('puts IDE drives on their dev_channel, virtio disks and cdroms on virtio', () => {
    const s = spec({
      drives: [
        {
          bus: 'ide',
          channel: '0:0',
          media: 'disk',
          source: { pool: 'p', volume: 'a' },
          format: 'qcow2',
          bootOrder: null,
        },
        {
          bus: 'ide',
          channel: '1:1',
          media: 'cdrom',
          source: { path: '/img/x.iso' },
          format: 'raw',
          bootOrder: null,
        },
        {
          bus: 'virtio',
          channel: '0:1',
          media: 'disk',
          source: { pool: 'p', volume: 'b' },
          format: 'raw',
          bootOrder: null,
        },
        {
          bus: 'virtio',
          channel: '0:0',
          media: 'cdrom',
          source: { pool: 'p', volume: 'c' },
          format: 'raw',
          bootOrder: null,
        },
      ],
    });
    const read = readDomain(domainXml(s));
    expect(read.disks).toEqual([
      { device: 'disk', target: 'hda', bus: 'ide', path: null, pool: 'p', volume: 'a' },
      { device: 'cdrom', target: 'hdd', bus: 'ide', path: '/img/x.iso', pool: null, volume: null },
      { device: 'disk', target: 'vdb', bus: 'virtio', path: null, pool: 'p', volume: 'b' },
      { device: 'cdrom', target: 'sda', bus: 'scsi', path: null, pool: 'p', volume: 'c' },
    ]);
    const disks = children(child(domain(s), 'devices'), 'disk');
    expect(child(disks[1], 'address')).toEqual({
      '@type': 'drive',
      '@controller': '0',
      '@bus': '1',
      '@target': '0',
      '@unit': '1',
    });
    expect(child(disks[1], 'readonly')).toBeDefined();
    expect(child(disks[0], 'readonly')).toBeUndefined();
    expect(attr(child(disks[2], 'driver'), 'type')).toBe('raw');
    expect(attr(child(child(domain(s), 'devices'), 'controller'), 'model')).toBe('virtio-scsi');
    expect(() => domainXml(spec({ drives: [{ ...s.drives[0]!, channel: '2:0' }] }))).toThrow(
      /IDE has 0:0, 0:1, 1:0 and 1:1 only/,
    );
    expect(() => domainXml(spec({ drives: [{ ...s.drives[0]!, channel: 'x' }] }))).toThrow(
      /device channel/,
    );
  });

  it('names virtio disks as libvirt does', () => {
    expect([0, 1, 25, 26, 27, 701, 702].map(deviceLetters)).toEqual([
      'a',
      'b',
      'z',
      'aa',
      'ab',
      'zz',
      'aaa',
    ]);
  });

  it('boots in boot_order, and every drive in order when nothing has one', () => {
    const drive = {
      bus: 'virtio' as const,
      media: 'disk' as const,
      format: 'qcow2' as const,
      source: { path: '/x' },
    };
    const nic = { model: 'virtio', network: 'public', filter: null };
    const boots = (s: DomainSpec) => {
      const devices = child(domain(s), 'devices');
      return [...children(devices, 'disk'), ...children(devices, 'interface')].map(
        (e) => attr(child(e, 'boot'), 'order') ?? null,
      );
    };
    const drives = [
      { ...drive, channel: '0:0', bootOrder: null },
      { ...drive, channel: '0:1', bootOrder: 5 },
      { ...drive, channel: '0:2', bootOrder: 2 },
    ];
    const nics = [{ ...nic, mac: '52:54:00:00:00:01', bootOrder: 3 }];
    expect(boots(spec({ drives, nics }))).toEqual([null, '3', '1', '2']);
    expect(
      boots(
        spec({
          drives: drives.map((d) => ({ ...d, bootOrder: null })),
          nics: [{ ...nics[0]!, bootOrder: null }],
        }),
      ),
    ).toEqual(['1', '2', '3', null]);
  });

  it('joins NICs to their network with their model, MAC and filter', () => {
    const s = spec({
      nics: [
        {
          mac: '52:54:00:AA:00:01',
          model: 'e1000',
          network: 'public',
          filter: 'sl-fw-1',
          bootOrder: null,
        },
        {
          mac: '52:54:00:aa:00:02',
          model: 'rtl8139',
          network: 'vlan-7',
          filter: null,
          bootOrder: null,
        },
      ],
    });
    expect(readDomain(domainXml(s)).interfaces).toEqual([
      {
        mac: '52:54:00:aa:00:01',
        device: null,
        network: 'public',
        model: 'e1000',
        filter: 'sl-fw-1',
      },
      { mac: '52:54:00:aa:00:02', device: null, network: 'vlan-7', model: 'rtl8139', filter: null },
    ]);
    expect(() => domainXml(spec({ nics: [{ ...s.nics[0]!, model: 'ne2k_isa' }] }))).toThrow(
      /ne2k_isa/,
    );
  });

  it('connects the console and the context ports out, with reconnect', () => {
    const d = domain(spec({ serialReconnectS: 1 }));
    const serials = children(child(d, 'devices'), 'serial');
    expect(serials[1]).toEqual({
      '@type': 'tcp',
      source: {
        '@mode': 'connect',
        '@host': '127.0.0.1',
        '@service': '40002',
        reconnect: { '@enabled': 'yes', '@timeout': '1' },
      },
      protocol: { '@type': 'raw' },
      target: { '@port': '1' },
    });
    expect(readDomain(domainXml(spec({ context: null }))).serials.map((s) => s.port)).toEqual([0]);
  });

  it('gives VNC the first 8 bytes of the password on a unix socket', () => {
    expect(readDomain(domainXml(spec())).graphics).toEqual([
      { type: 'vnc', port: null, socket: '/data/sockets/x.vnc', address: null },
    ]);
    expect(attr(child(child(domain(spec()), 'devices'), 'graphics'), 'passwd')).toBe('testserv');
    expect(vncPassword('short')).toBe('short');
    expect(vncPassword('pässwörds')).toBe('pässwö'); // 8 bytes, no character cut in half
    expect(vncPassword('1234567€')).toBe('1234567');
    expect(child(child(domain(spec({ vnc: null })), 'devices'), 'graphics')).toBeUndefined();
  });

  it("gives VNC a TCP port at the host's address when the host names one (no unix socket)", () => {
    const screen = { address: '10.231.7.2', password: 'testserver' };
    const xml = domainXml(spec({ vnc: screen }));
    expect(readDomain(xml).graphics).toEqual([
      { type: 'vnc', port: null, socket: null, address: '10.231.7.2' },
    ]);
    const graphics = child(child(domain(spec({ vnc: screen })), 'devices'), 'graphics');
    expect(attr(graphics, 'autoport')).toBe('yes');
    expect(attr(graphics, 'passwd')).toBe('testserv');
    expect(attr(child(graphics, 'listen'), 'type')).toBe('address');
    expect(attr(child(graphics, 'listen'), 'address')).toBe('10.231.7.2');
    expect(attr(child(graphics, 'listen'), 'socket')).toBeUndefined();
    expect(xml).not.toContain('type="socket"');
  });

  it('escapes whatever a name or path holds', () => {
    const xml = domainXml(
      spec({ title: `a'b"<c>&\nd`, vnc: { socket: "/x'/<y>", password: `p"<&'` } }),
    );
    const d = domain(spec({ title: `a'b"<c>&\nd`, vnc: { socket: "/x'/<y>", password: `p"<&'` } }));
    expect(text(d, 'title')).toBe(`a'b"<c>& d`);
    expect(readDomain(xml).graphics[0]!.socket).toBe("/x'/<y>");
    expect(attr(child(child(d, 'devices'), 'graphics'), 'passwd')).toBe(`p"<&'`);
  });

  it('boots a kernel directly when asked (probes)', () => {
    const os = child(
      domain(spec({ directBoot: { kernel: '/k', initrd: '/i', cmdline: 'console=ttyS0' } })),
      'os',
    );
    expect([text(os, 'kernel'), text(os, 'initrd'), text(os, 'cmdline')]).toEqual([
      '/k',
      '/i',
      'console=ttyS0',
    ]);
  });
});
