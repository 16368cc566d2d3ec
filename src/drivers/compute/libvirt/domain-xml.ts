/**
 * A CloudSigma server as a libvirt domain: `DomainSpec` is everything a hypervisor needs of a
 * server definition, resolved (volumes to images, networks and filters to libvirt names, serial
 * ports to the addresses sigmalite listens on), and `domainXml` writes it as libvirt's domain
 * XML. The choices where CloudSigma says nothing are in docs/libvirt.md, "Domain XML".
 */
import { buildXml, type XmlElement } from './xml.js';

/** The accelerator a domain runs under: KVM, or QEMU's own emulation (TCG). */
export type Accelerator = 'kvm' | 'tcg';

export interface DomainCpu {
  /** CloudSigma's `cpu`: MHz for the whole server, turned into a CPU quota. */
  mhz: number;
  /** The host's MHz per core (`virsh nodeinfo`); the quota is `mhz / hostMhz` cores. */
  hostMhz: number;
  /** CloudSigma's `smp`: virtual CPUs. */
  smp: number;
  /** CloudSigma's `cpu_model`: `kvm64` or null (the host's CPU under KVM, `qemu64` under TCG). */
  model: string | null;
  /** CloudSigma's `cpus_instead_of_cores`: vCPUs as sockets rather than cores of one socket. */
  socketsInsteadOfCores: boolean;
  /** CloudSigma's `enable_numa`: vCPUs and memory in NUMA cells of `coresPerNumaNode` vCPUs. */
  numa: boolean;
  /** vCPUs per NUMA cell when `numa` is on; CloudSigma's hosts have 6 cores per node. */
  coresPerNumaNode?: number;
  /** CloudSigma's `hv_relaxed` and `hv_tsc`: Hyper-V enlightenments (KVM only). */
  hvRelaxed: boolean;
  hvTsc: boolean;
}

/** A CPU without a quota or extras: `smp` whole cores (probes, tests). */
export function unlimitedCpu(smp = 1): DomainCpu {
  return {
    mhz: smp,
    hostMhz: 1,
    smp,
    model: null,
    socketsInsteadOfCores: false,
    numa: false,
    hvRelaxed: false,
    hvTsc: false,
  };
}

/** Where an image is: a volume of a libvirt storage pool, or a file on the host. */
export type DriveSource = { pool: string; volume: string } | { path: string };

export interface DomainDrive {
  /** CloudSigma's `device`. */
  bus: 'ide' | 'virtio';
  /** CloudSigma's `dev_channel`, `C:U`: IDE `0:0`..`1:1` (controller C, unit U). */
  channel: string;
  media: 'disk' | 'cdrom';
  source: DriveSource;
  /** The image's format. */
  format: 'raw' | 'qcow2';
  /** CloudSigma's `boot_order`: 1 boots first; null does not boot (see `domainXml`). */
  bootOrder: number | null;
  /** Written to by nobody (a cdrom always is). */
  readonly?: boolean;
}

export interface DomainNic {
  mac: string;
  /** CloudSigma's `model`: virtio, e1000, rtl8139, ne2k_pci, pcnet, i82551, i82557b, i82559er. */
  model: string;
  /** The libvirt network it joins. */
  network: string;
  /** The nwfilter enforcing its firewall policy, if it has one. */
  filter: string | null;
  bootOrder: number | null;
}

/** Where QEMU connects a serial port to (it connects out, and again whenever it loses it). */
export interface SerialTarget {
  host: string;
  port: number;
}

/** Boots a kernel directly instead of from the drives (tests and probes; never CloudSigma's). */
export interface DirectBoot {
  kernel: string;
  initrd: string | null;
  cmdline: string;
}

export interface DomainSpec {
  /** The server's uuid: the domain's uuid and the guest's SMBIOS system uuid. */
  uuid: string;
  /** The domain's name (the server's uuid, by sigmalite's rule). */
  name: string;
  /** The server's name, shown by `virsh list --title`. */
  title?: string;
  accelerator: Accelerator;
  cpu: DomainCpu;
  /** CloudSigma's `mem`, in bytes. */
  memBytes: number;
  drives: DomainDrive[];
  nics: DomainNic[];
  /** The screen: QEMU's VNC server with this password; null for none (a probe's throwaway domain). */
  vnc: VncScreen | null;
  /** The first serial port (ttyS0), the server's console. */
  console: SerialTarget;
  /** The second serial port (ttyS1), the server context; null when `context` is off. */
  context: SerialTarget | null;
  /** Seconds QEMU waits between attempts to reach a serial target; default 2. */
  serialReconnectS?: number;
  directBoot?: DirectBoot;
}

/** libvirt's CFS period for the CPU quota, in µs. */
export const CPU_PERIOD_US = 100_000;
/** libvirt refuses a quota under 1 ms per period. */
const MIN_QUOTA_US = 1000;

/** NIC models as CloudSigma names them, and QEMU's name for each (libvirt passes it on). */
const NIC_MODELS: Record<string, string> = {
  virtio: 'virtio',
  e1000: 'e1000',
  rtl8139: 'rtl8139',
  ne2k_pci: 'ne2k_pci',
  pcnet: 'pcnet',
  i82551: 'i82551',
  i82557b: 'i82557b',
  i82559er: 'i82559er',
};

/** The domain XML of `spec`. Throws on what no domain can be (an IDE channel beyond 1:1...). */
export function domainXml(spec: DomainSpec): string {
  const boots = bootOrders(spec);
  return buildXml({
    domain: {
      '@type': spec.accelerator === 'kvm' ? 'kvm' : 'qemu',
      name: spec.name,
      uuid: spec.uuid,
      title: spec.title === undefined ? undefined : oneLine(spec.title),
      memory: { '@unit': 'KiB', '#text': kib(spec.memBytes) },
      currentMemory: { '@unit': 'KiB', '#text': kib(spec.memBytes) },
      vcpu: { '@placement': 'static', '#text': spec.cpu.smp },
      cputune: cpuTune(spec.cpu),
      sysinfo: {
        '@type': 'smbios',
        system: {
          entry: [
            { '@name': 'manufacturer', '#text': 'CloudSigma' },
            // cloud-init's CloudSigma datasource reads the context only under this product name.
            { '@name': 'product', '#text': 'CloudSigma' },
            { '@name': 'uuid', '#text': spec.uuid },
          ],
        },
      },
      os: {
        type: { '@arch': 'x86_64', '@machine': 'pc', '#text': 'hvm' },
        kernel: spec.directBoot?.kernel,
        initrd: spec.directBoot?.initrd ?? undefined,
        cmdline: spec.directBoot?.cmdline,
        smbios: { '@mode': 'sysinfo' },
      },
      features: {
        acpi: {},
        apic: {},
        pae: {},
        hyperv: hyperV(spec),
      },
      cpu: cpuElement(spec),
      clock: {
        '@offset': 'utc',
        timer: spec.accelerator === 'kvm' && spec.cpu.hvTsc ? hyperVClock : undefined,
      },
      on_poweroff: 'destroy',
      on_reboot: 'restart',
      on_crash: 'destroy',
      devices: {
        disk: spec.drives.map((drive, i) => diskElement(drive, boots.drives[i])),
        controller: spec.drives.some((d) => d.media === 'cdrom' && d.bus === 'virtio')
          ? { '@type': 'scsi', '@index': 0, '@model': 'virtio-scsi' }
          : undefined,
        interface: spec.nics.map((nic, i) => nicElement(nic, boots.nics[i])),
        serial: [
          serialElement(spec.console, 0, spec.serialReconnectS),
          spec.context ? serialElement(spec.context, 1, spec.serialReconnectS) : undefined,
        ].filter((s): s is XmlElement => s !== undefined),
        graphics: spec.vnc ? vncGraphics(spec.vnc) : undefined,
        video: spec.vnc ? { model: { '@type': 'vga' } } : undefined,
        memballoon: { '@model': 'none' },
      },
    },
  });
}

/**
 * Where a machine's VNC server listens: on a unix socket (in a directory QEMU can write: a host
 * on this machine, or sharing its filesystem), or on TCP at an address of its host reachable from
 * sigmalite (`vncListen`), where QEMU takes the first free port from 5900.
 */
export type VncListen = { socket: string } | { address: string };

export type VncScreen = VncListen & { password: string };

/** The `<graphics>` element; `update-device` with a new one changes the password live. */
export function vncGraphics(vnc: VncScreen): XmlElement {
  if ('address' in vnc) {
    return {
      '@type': 'vnc',
      '@autoport': 'yes',
      '@passwd': vncPassword(vnc.password),
      listen: { '@type': 'address', '@address': vnc.address },
    };
  }
  return {
    '@type': 'vnc',
    '@passwd': vncPassword(vnc.password),
    listen: { '@type': 'socket', '@socket': vnc.socket },
  };
}

const hyperVClock: XmlElement = { '@name': 'hypervclock', '@present': 'yes' };

/**
 * VNC authentication uses the first 8 bytes of the password, and libvirt refuses a longer one:
 * the first 8 bytes of its UTF-8 (cut before a character that would not fit whole).
 */
export function vncPassword(password: string): string {
  let out = '';
  for (const char of password) {
    if (Buffer.byteLength(out + char) > 8) break;
    out += char;
  }
  return out;
}

/**
 * The quota per vCPU that gives the domain `mhz` in all: each vCPU thread may run
 * `mhz / hostMhz / smp` of every period. None when that is a whole core or more.
 */
export function cpuQuotaUs(cpu: Pick<DomainCpu, 'mhz' | 'hostMhz' | 'smp'>): number | null {
  if (!(cpu.hostMhz > 0)) throw new Error(`the host's MHz must be positive, not ${cpu.hostMhz}`);
  const share = cpu.mhz / cpu.hostMhz / cpu.smp;
  if (share >= 1) return null;
  return Math.max(MIN_QUOTA_US, Math.round(share * CPU_PERIOD_US));
}

function cpuTune(cpu: DomainCpu): XmlElement | undefined {
  const quota = cpuQuotaUs(cpu);
  return quota === null ? undefined : { period: CPU_PERIOD_US, quota };
}

function cpuElement(spec: DomainSpec): XmlElement {
  const { cpu } = spec;
  const topology = cpu.socketsInsteadOfCores
    ? { '@sockets': cpu.smp, '@dies': 1, '@cores': 1, '@threads': 1 }
    : { '@sockets': 1, '@dies': 1, '@cores': cpu.smp, '@threads': 1 };
  const element: XmlElement =
    cpu.model === null && spec.accelerator === 'kvm'
      ? { '@mode': 'host-passthrough', '@check': 'none' }
      : {
          '@mode': 'custom',
          '@match': 'exact',
          '@check': 'none',
          model: { '@fallback': 'forbid', '#text': cpu.model ?? 'qemu64' },
        };
  element.topology = topology;
  if (cpu.numa) element.numa = { cell: numaCells(spec) };
  return element;
}

/** vCPUs in cells of `coresPerNumaNode`, memory split evenly (the first cells take the rest). */
function numaCells(spec: DomainSpec): XmlElement[] {
  const perCell = spec.cpu.coresPerNumaNode ?? 6;
  const count = Math.ceil(spec.cpu.smp / perCell);
  const memory = kib(spec.memBytes);
  const cells: XmlElement[] = [];
  for (let i = 0; i < count; i++) {
    const first = i * perCell;
    const last = Math.min(spec.cpu.smp, first + perCell) - 1;
    const share = Math.floor(memory / count) + (i < memory % count ? 1 : 0);
    cells.push({
      '@id': i,
      '@cpus': first === last ? `${first}` : `${first}-${last}`,
      '@memory': share,
      '@unit': 'KiB',
    });
  }
  return cells;
}

function hyperV(spec: DomainSpec): XmlElement | undefined {
  // QEMU offers the enlightenments under KVM only; under TCG they are left out (docs/libvirt.md).
  // `hv_tsc`, the reference time page, is the Hyper-V clock in <clock>.
  if (spec.accelerator !== 'kvm' || !spec.cpu.hvRelaxed) return undefined;
  return { '@mode': 'custom', relaxed: { '@state': 'on' } };
}

/**
 * Boot orders: drives and NICs with a `boot_order` boot in that order, the others not at all.
 * When nothing has one, the drives boot in the server's order (disks and cdroms alike), so that a
 * server with an installer cdrom and an empty disk boots the cdrom.
 */
function bootOrders(spec: DomainSpec): { drives: (number | null)[]; nics: (number | null)[] } {
  const entries = [
    ...spec.drives.map((d, i) => ({ kind: 'drives' as const, i, order: d.bootOrder })),
    ...spec.nics.map((n, i) => ({ kind: 'nics' as const, i, order: n.bootOrder })),
  ];
  const result = {
    drives: spec.drives.map((): number | null => null),
    nics: spec.nics.map((): number | null => null),
  };
  const ordered = entries.filter((e) => e.order !== null);
  if (ordered.length === 0) {
    spec.drives.forEach((_, i) => {
      result.drives[i] = i + 1;
    });
    return result;
  }
  // Stable: equal orders keep the definition's order (drives before NICs).
  ordered.sort((a, b) => (a.order as number) - (b.order as number));
  ordered.forEach((e, rank) => {
    result[e.kind][e.i] = rank + 1;
  });
  return result;
}

function diskElement(drive: DomainDrive, bootOrder: number | null | undefined): XmlElement {
  const [controller, unit] = parseChannel(drive.channel);
  const source =
    'path' in drive.source
      ? { '@file': drive.source.path }
      : { '@pool': drive.source.pool, '@volume': drive.source.volume };
  let target: XmlElement;
  let address: XmlElement | undefined;
  if (drive.bus === 'ide') {
    if (controller > 1 || unit > 1) {
      throw new Error(`IDE channel ${drive.channel}: IDE has 0:0, 0:1, 1:0 and 1:1 only`);
    }
    // hda..hdd: primary master, primary slave, secondary master, secondary slave.
    target = { '@dev': `hd${'abcd'[controller * 2 + unit]}`, '@bus': 'ide' };
    address = {
      '@type': 'drive',
      '@controller': 0,
      '@bus': controller,
      '@target': 0,
      '@unit': unit,
    };
  } else if (drive.media === 'cdrom') {
    // libvirt has no virtio cdrom: a cdrom on "virtio" is a SCSI cdrom on a virtio-scsi HBA.
    const index = controller * VIRTIO_UNITS + unit;
    target = { '@dev': `sd${deviceLetters(index)}`, '@bus': 'scsi' };
    address = { '@type': 'drive', '@controller': 0, '@bus': 0, '@target': 0, '@unit': index };
  } else {
    target = { '@dev': `vd${deviceLetters(controller * VIRTIO_UNITS + unit)}`, '@bus': 'virtio' };
  }
  return {
    '@type': 'path' in drive.source ? 'file' : 'volume',
    '@device': drive.media,
    driver: { '@name': 'qemu', '@type': drive.format },
    source,
    target,
    boot: bootOrder ? { '@order': bootOrder } : undefined,
    readonly: drive.media === 'cdrom' || drive.readonly ? {} : undefined,
    address,
  };
}

/** CloudSigma's virtio channels have units 0-5 per controller. */
const VIRTIO_UNITS = 6;

/** `C:U` as two numbers. */
export function parseChannel(channel: string): [number, number] {
  const match = /^(\d{1,3}):(\d{1,3})$/.exec(channel);
  if (!match) throw new Error(`not a device channel (C:U): ${JSON.stringify(channel)}`);
  return [Number(match[1]), Number(match[2])];
}

/** libvirt's disk names: 0 → a, 25 → z, 26 → aa, 701 → zz, 702 → aaa. */
export function deviceLetters(index: number): string {
  let name = '';
  for (let n = index; n >= 0; n = Math.floor(n / 26) - 1) {
    name = String.fromCharCode(97 + (n % 26)) + name;
  }
  return name;
}

function nicElement(nic: DomainNic, bootOrder: number | null | undefined): XmlElement {
  const model = NIC_MODELS[nic.model];
  if (model === undefined) throw new Error(`NIC model ${nic.model} has no libvirt equivalent`);
  return {
    '@type': 'network',
    mac: { '@address': nic.mac.toLowerCase() },
    source: { '@network': nic.network },
    model: { '@type': model },
    filterref: nic.filter === null ? undefined : { '@filter': nic.filter },
    boot: bootOrder ? { '@order': bootOrder } : undefined,
  };
}

function serialElement(target: SerialTarget, port: number, reconnectS = 2): XmlElement {
  return {
    '@type': 'tcp',
    source: {
      '@mode': 'connect',
      '@host': target.host,
      '@service': target.port,
      reconnect: { '@enabled': 'yes', '@timeout': reconnectS },
    },
    protocol: { '@type': 'raw' },
    target: { '@port': port },
  };
}

function kib(bytes: number): number {
  return Math.ceil(bytes / 1024);
}

/** A title is one line in libvirt. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, ' ');
}
