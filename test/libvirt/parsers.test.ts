/**
 * The parsers of virsh's answers, on answers virsh 9.0 gave on this machine kind.
 */
import { describe, expect, it } from 'vitest';
import { readCapabilities, readDomain } from '../../src/drivers/compute/libvirt/domain-read.js';
import { parseDomstats } from '../../src/drivers/compute/libvirt/domstats.js';
import { isLifecycle, parseEventLine } from '../../src/drivers/compute/libvirt/events.js';
import {
  parseDhcpLeases,
  parseDomainList,
  parseDomainState,
  parseNodeInfo,
} from '../../src/drivers/compute/libvirt/tables.js';
import {
  commandLine,
  isNotFound,
  isNotRunning,
  quoteArgument,
  VirshError,
  VirshTimeoutError,
} from '../../src/drivers/compute/libvirt/virsh-command.js';

const DOMSTATS = `Domain: 'a1b2'
  state.state=1
  state.reason=1
  cpu.time=4458598000
  cpu.user=4119505000
  balloon.current=131072
  vcpu.current=1
  net.count=1
  net.0.name=vnet7
  net.0.rx.bytes=1332
  net.0.rx.pkts=14
  net.0.rx.errs=0
  net.0.rx.drop=2
  net.0.tx.bytes=2900
  net.0.tx.pkts=29
  net.0.tx.errs=0
  net.0.tx.drop=0
  block.count=2
  block.0.name=hda
  block.0.path=/pool/iso
  block.0.backingIndex=2
  block.0.rd.reqs=5013
  block.0.rd.bytes=10266624
  block.0.rd.times=1361456088
  block.0.wr.reqs=0
  block.0.wr.bytes=0
  block.0.wr.times=0
  block.0.fl.reqs=0
  block.0.fl.times=0
  block.0.allocation=0
  block.0.capacity=11534336
  block.0.physical=11534336
  block.1.name=vda
  block.1.path=/pool/disk0
  block.1.rd.reqs=13
  block.1.rd.bytes=1192448
  block.1.rd.times=5000
  block.1.wr.reqs=2
  block.1.wr.bytes=1048576
  block.1.wr.times=7000
  block.1.fl.reqs=1
  block.1.fl.times=900
  block.1.capacity=67108864
  block.1.allocation=1314816

Domain: 'c3d4'
  state.state=5
  state.reason=2
  cpu.time=1140000000
  block.count=1
  block.0.name=vda
  block.0.path=/pool/disk1
  block.0.allocation=1314816
  block.0.capacity=67108864

`;

describe('domstats --raw', () => {
  const [running, stopped] = parseDomstats(DOMSTATS);

  it('reads every domain, its state and CPU time', () => {
    expect(parseDomstats(DOMSTATS).map((d) => d.name)).toEqual(['a1b2', 'c3d4']);
    expect(running).toMatchObject({ state: 'running', reason: 1, cpuTime: 4458598000 });
    // A stopped domain still reports its last run's CPU time: not this run's.
    expect(stopped).toMatchObject({ state: 'shutoff', reason: 2, cpuTime: null });
  });

  it('reads disk counters in the domain order, with sizes', () => {
    expect(running!.blocks.map((b) => b.name)).toEqual(['hda', 'vda']);
    expect(running!.blocks[1]).toEqual({
      name: 'vda',
      path: '/pool/disk0',
      rd: { reqs: 13, bytes: 1192448, times: 5000 },
      wr: { reqs: 2, bytes: 1048576, times: 7000 },
      fl: { reqs: 1, times: 900 },
      capacity: 67108864,
      allocation: 1314816,
    });
    // A domain that does not run has sizes and no counters.
    expect(stopped!.blocks[0]).toMatchObject({
      rd: { reqs: 0, bytes: 0, times: 0 },
      capacity: 67108864,
    });
  });

  it('reads NIC counters as the guest sees them', () => {
    expect(running!.nets).toEqual([
      {
        name: 'vnet7',
        rx: { bytes: 1332, pkts: 14, errs: 0, drop: 2 },
        tx: { bytes: 2900, pkts: 29, errs: 0, drop: 0 },
      },
    ]);
    expect(stopped!.nets).toEqual([]);
    expect(running!.raw['balloon.current']).toBe('131072');
  });

  it('answers nothing for no output', () => {
    expect(parseDomstats('')).toEqual([]);
  });
});

describe('tables', () => {
  it('list --all, with or without its header', () => {
    const expected = [
      { id: 13, name: 'a1b2', state: 'running' },
      { id: null, name: 'c3d4', state: 'shut off' },
      { id: null, name: 'e5f6', state: 'in shutdown' },
    ];
    const rows = ' 13   a1b2   running\n -    c3d4   shut off\n -    e5f6   in shutdown\n';
    expect(parseDomainList(rows)).toEqual(expected);
    expect(parseDomainList(` Id   Name   State\n--------------------\n${rows}\n`)).toEqual(
      expected,
    );
    expect(parseDomainList('')).toEqual([]);
  });

  it('domstate --reason', () => {
    expect(parseDomainState('running (booted)\n\n')).toEqual({
      state: 'running',
      reason: 'booted',
    });
    expect(parseDomainState('shut off (destroyed)\n')).toEqual({
      state: 'shut off',
      reason: 'destroyed',
    });
    expect(parseDomainState('paused\n')).toEqual({ state: 'paused', reason: '' });
  });

  it('net-dhcp-leases', () => {
    const text = [
      ' Expiry Time           MAC address         Protocol   IP address         Hostname   Client ID or DUID',
      '------------------------------------------------------------------------------------------------------',
      ' 2026-12-06 10:54:02   52:54:00:5E:00:01   ipv4       10.150.3.50/24     -          01:52:54:00:5e:00:01',
      ' 2026-12-06 11:00:00   52:54:00:5e:00:02   ipv4       10.150.3.101/24    guest',
      '',
    ].join('\n');
    expect(parseDhcpLeases(text)).toEqual([
      {
        expires: new Date('2026-12-06T10:54:02').getTime(),
        mac: '52:54:00:5e:00:01',
        protocol: 'ipv4',
        address: '10.150.3.50',
        prefix: 24,
        hostname: null,
        clientId: '01:52:54:00:5e:00:01',
      },
      {
        expires: new Date('2026-12-06T11:00:00').getTime(),
        mac: '52:54:00:5e:00:02',
        protocol: 'ipv4',
        address: '10.150.3.101',
        prefix: 24,
        hostname: 'guest',
        clientId: null,
      },
    ]);
  });

  it('nodeinfo', () => {
    const text = `CPU model:           x86_64
CPU(s):              2
CPU frequency:       2445 MHz
CPU socket(s):       1
Core(s) per socket:  2
Thread(s) per core:  1
NUMA cell(s):        1
Memory size:         24683784 KiB
`;
    expect(parseNodeInfo(text)).toEqual({
      cpus: 2,
      mhz: 2445,
      sockets: 1,
      coresPerSocket: 2,
      threadsPerCore: 1,
      numaCells: 1,
      memoryKiB: 24683784,
    });
    expect(() => parseNodeInfo('CPU(s): 2\n')).toThrow(/CPU frequency/);
  });
});

describe('event lines', () => {
  it('reads lifecycle events with their time and detail', () => {
    expect(
      parseEventLine(
        "2026-12-06 07:54:02.744+0000: event 'lifecycle' for domain 'a1b2': Started Booted",
      ),
    ).toEqual({
      kind: 'lifecycle',
      time: Date.UTC(2026, 11, 6, 7, 54, 2, 744),
      domain: 'a1b2',
      event: 'Started',
      detail: 'Booted',
    });
    const shutdown = parseEventLine(
      "2026-12-06 07:54:02.744+0000: event 'lifecycle' for domain 'a1b2': Shutdown Finished after guest request",
    );
    expect(shutdown).toMatchObject({ event: 'Shutdown', detail: 'Finished after guest request' });
    expect(isLifecycle(shutdown!)).toBe(true);
  });

  it('keeps other events whole and skips what is not an event', () => {
    const reboot = parseEventLine("2026-12-06 07:54:02.000+0000: event 'reboot' for domain 'a1b2'");
    expect(reboot).toEqual({
      kind: 'reboot',
      time: Date.UTC(2026, 11, 6, 7, 54, 2),
      domain: 'a1b2',
      detail: '',
    });
    expect(isLifecycle(reboot!)).toBe(false);
    expect(parseEventLine('\tlocal=foo')).toBeUndefined();
    expect(
      parseEventLine('error: Disconnected from qemu:///system due to end of file'),
    ).toBeUndefined();
    expect(
      parseEventLine(
        "2026-12-06 07:54:02.744+0000: event 'lifecycle' for domain 'x': Exploded Now",
      ),
    ).toBeUndefined();
  });
});

const DUMPXML = `<domain type='qemu' id='13'>
  <name>a1b2</name>
  <uuid>3e12e28f-0add-4f9a-8662-af27c9199053</uuid>
  <devices>
    <disk type='volume' device='cdrom'>
      <driver name='qemu' type='raw'/>
      <source pool='sl' volume='iso' index='2'/>
      <target dev='hda' bus='ide'/>
    </disk>
    <disk type='file' device='disk'>
      <source file='/pool/disk0' index='1'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:5E:00:01'/>
      <source network='public' portid='x' bridge='slbr0'/>
      <target dev='vnet7'/>
      <model type='virtio'/>
      <filterref filter='sl-fw-1'/>
    </interface>
    <serial type='tcp'>
      <source mode='connect' host='127.0.0.1' service='34123'/>
      <target type='isa-serial' port='0'/>
    </serial>
    <serial type='tcp'>
      <source mode='connect' host='127.0.0.1' service='35179'/>
      <target type='isa-serial' port='1'/>
    </serial>
    <graphics type='vnc' port='5900' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
    <graphics type='vnc'>
      <listen type='socket' socket='/data/sockets/a1b2.vnc'/>
    </graphics>
  </devices>
</domain>`;

describe('dumpxml', () => {
  it('reads the screens, disks, NICs and serial ports', () => {
    expect(readDomain(DUMPXML)).toEqual({
      name: 'a1b2',
      uuid: '3e12e28f-0add-4f9a-8662-af27c9199053',
      type: 'qemu',
      graphics: [
        { type: 'vnc', port: 5900, socket: null, address: '127.0.0.1' },
        { type: 'vnc', port: null, socket: '/data/sockets/a1b2.vnc', address: null },
      ],
      disks: [
        { device: 'cdrom', target: 'hda', bus: 'ide', path: null, pool: 'sl', volume: 'iso' },
        {
          device: 'disk',
          target: 'vda',
          bus: 'virtio',
          path: '/pool/disk0',
          pool: null,
          volume: null,
        },
      ],
      interfaces: [
        {
          mac: '52:54:00:5e:00:01',
          device: 'vnet7',
          network: 'public',
          model: 'virtio',
          filter: 'sl-fw-1',
        },
      ],
      serials: [
        { port: 0, type: 'tcp', host: '127.0.0.1', service: 34123 },
        { port: 1, type: 'tcp', host: '127.0.0.1', service: 35179 },
      ],
    });
  });

  it('refuses what is not a domain', () => {
    expect(() => readDomain('<network/>')).toThrow(/not a domain/);
  });
});

describe('capabilities', () => {
  it('reads the domain types offered and the user QEMU runs as', () => {
    const xml = `<capabilities>
  <host><cpu><arch>x86_64</arch></cpu>
    <secmodel><model>none</model><doi>0</doi></secmodel>
    <secmodel><model>dac</model><doi>0</doi>
      <baselabel type='kvm'>+64055:+64055</baselabel>
      <baselabel type='qemu'>+64055:+108</baselabel>
    </secmodel>
  </host>
  <guest><os_type>hvm</os_type><arch name='i686'><domain type='qemu'/><domain type='kvm'/></arch></guest>
  <guest><os_type>hvm</os_type><arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch></guest>
</capabilities>`;
    expect(readCapabilities(xml)).toEqual({
      arch: 'x86_64',
      domainTypes: ['qemu', 'kvm'],
      qemuUser: { uid: 64055, gid: 108 },
    });
    expect(
      readCapabilities(
        xml.replace("<domain type='kvm'/></arch></guest>\n</", '</arch></guest>\n</'),
      ),
    ).toMatchObject({ domainTypes: ['qemu'] });
  });
});

describe('virsh command lines', () => {
  it('quotes every argument so that nothing becomes another word or command', () => {
    expect(quoteArgument("it's")).toBe("'it'\\''s'");
    expect(commandLine(['define', '/tmp/a b.xml'])).toBe("define '/tmp/a b.xml'");
    expect(commandLine(['echo', 'x; destroy y', '--pool'])).toBe("echo 'x; destroy y' '--pool'");
    expect(() => commandLine(['echo', 'a\nquit'])).toThrow(VirshError);
    expect(() => commandLine(['list; quit'])).toThrow(/not a virsh command/);
    expect(() => commandLine([])).toThrow(/not a virsh command/);
  });

  it('tells "not found" and "not running" from other failures', () => {
    expect(isNotFound(new VirshError("failed to get domain 'x'"))).toBe(true);
    expect(
      isNotFound(
        new VirshError(
          "failed to get pool 'p'\nStorage pool not found: no storage pool with matching name 'p'",
        ),
      ),
    ).toBe(true);
    expect(
      isNotFound(
        new VirshError(
          "failed to get domain 'x'\nFailed to connect socket to '/run/libvirt/libvirt-sock'",
        ),
      ),
    ).toBe(false);
    expect(isNotFound(new VirshTimeoutError('domstate x', 10))).toBe(false);
    expect(isNotFound(new Error("failed to get domain 'x'"))).toBe(false);
    expect(
      isNotRunning(
        new VirshError(
          "Failed to destroy domain 'x'\nRequested operation is not valid: domain is not running",
        ),
      ),
    ).toBe(true);
  });
});
