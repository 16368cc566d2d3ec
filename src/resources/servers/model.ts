/**
 * The server resource: the Servers page's schema plus the newer fields (api-reference.md §2.9;
 * where they differ, the page wins), the stored document and its rendering.
 */
import type { FieldDef, Fields, ResourceDef } from '../../model/fields.js';
import { link, resourceUri } from '../../model/refs.js';
import { type DocKind, fields, userLink } from '../common.js';
import { NAME_MAX } from '../drives/model.js';

export const SERVER_STATUSES = [
  'stopped',
  'starting',
  'running',
  'stopping',
  'paused',
  'unavailable',
  'cloning',
] as const;
export type ServerStatus = (typeof SERVER_STATUSES)[number];

export const NIC_MODELS = [
  'ne2k_isa',
  'i82551',
  'i82557b',
  'i82559er',
  'ne2k_pci',
  'pcnet',
  'rtl8139',
  'e1000',
  'virtio',
] as const;
export const DEVICES = ['ide', 'virtio'] as const;
export const IP_CONFS = ['dhcp', 'static', 'manual'] as const;

export interface IpConf {
  conf: (typeof IP_CONFS)[number] | null;
  ip: string | null;
}

export interface NicIo {
  bytes_recv: number;
  bytes_sent: number;
  packets_recv: number;
  packets_sent: number;
}

export interface NicRuntime {
  interface_type: 'public' | 'private';
  io: NicIo;
  ip_v4: string | null;
  ip_v6: string | null;
}

export interface NicDoc {
  mac: string;
  model: (typeof NIC_MODELS)[number];
  boot_order: number | null;
  vlan: string | null;
  firewall_policy: string | null;
  ip_v4_conf: IpConf | null;
  ip_v6_conf: IpConf | null;
  runtime: NicRuntime | null;
}

export interface DriveIo {
  bytes_read: number;
  bytes_written: number;
  count_flush: number;
  count_read: number;
  count_written: number;
  total_time_ns_flush: number;
  total_time_ns_read: number;
  total_time_ns_write: number;
}

export interface AttachmentDoc {
  drive: string;
  device: (typeof DEVICES)[number];
  dev_channel: string;
  boot_order: number | null;
  runtime: { io: DriveIo } | null;
}

export interface ServerRuntime {
  active_since: string;
}

export interface ServerDoc {
  uuid: string;
  owner: string;
  name: string;
  cpu: number;
  mem: number;
  smp: number;
  vnc_password: string;
  cpu_type: string;
  hypervisor: string;
  cpu_model: string | null;
  context: boolean;
  cpus_instead_of_cores: boolean;
  enable_numa: boolean;
  hv_relaxed: boolean;
  hv_tsc: boolean;
  auto_start: boolean;
  is_grey: boolean;
  allocation_pool: string | null;
  requirements: unknown[];
  meta: Record<string, string>;
  tags: string[];
  pubkeys: string[];
  nics: NicDoc[];
  drives: AttachmentDoc[];
  gpus: { model: string }[];
  epcs: { size: number }[];
  status: ServerStatus;
  runtime: ServerRuntime | null;
  jobs: string[];
}

const integer = (help: string, extra: Partial<FieldDef> = {}): FieldDef => ({
  type: 'integer',
  help,
  ...extra,
});

const nicIoFields: Fields = {
  bytes_recv: integer('Bytes received on this interface', { default: 0 }),
  bytes_sent: integer('Packets received on this interface', { default: 0 }),
  packets_recv: integer('Bytes sent from this interface', { default: 0 }),
  packets_sent: integer('Packets sent from this interface', { default: 0 }),
};

const nicRuntimeFields = (withMac: boolean): Fields => ({
  interface_type: {
    type: 'string',
    help: 'Type of interface',
    default: null,
    required: true,
    choices: ['public', 'private'],
  },
  io: {
    type: 'related',
    help: 'NIC runtime Input and Output data',
    default: null,
    fields: nicIoFields,
  },
  ip_v4: {
    type: 'related',
    help: 'Public IPv4 configuration',
    default: null,
    output: { nullable: true },
  },
  ip_v6: {
    type: 'string',
    help: 'Public IPv6 configuration',
    default: null,
    output: { nullable: true },
  },
  ...(withMac ? { mac: { type: 'string', help: 'MAC address of this NIC', default: null } } : {}),
  rx_foreign: integer('Bytes received on this interface', { default: 0 }),
  rx_local: integer('Bytes received on this interface', { default: 0 }),
  tx_foreign: integer('Bytes sent from this interface', { default: 0 }),
  tx_local: integer('Bytes sent from this interface', { default: 0 }),
});

const ipConf = (help: string): FieldDef => ({
  type: 'related',
  help,
  default: null,
  nullable: true,
  shape: 'one',
  fields: {
    conf: {
      type: 'string',
      help: 'Configuration type',
      default: null,
      choices: IP_CONFS,
      nullable: true,
    },
    ip: {
      type: 'related',
      help: "An IP address reference. Only used in 'static' IP configuration type",
      default: null,
      nullable: true,
      ref: 'ips',
    },
  },
});

const driveIoFields: Fields = Object.fromEntries(
  [
    'bytes_read',
    'bytes_written',
    'count_flush',
    'count_read',
    'count_written',
    'total_time_ns_flush',
    'total_time_ns_read',
    'total_time_ns_write',
  ].map((name) => [name, integer('Integer data. Ex: 2673', { default: 0, required: true })]),
);

export const SERVERS: ResourceDef = {
  kind: 'servers',
  allowedListMethods: ['get', 'put', 'delete', 'post'],
  allowedDetailMethods: ['get', 'put', 'delete'],
  listFields: ['name', 'owner', 'resource_uri', 'runtime', 'status', 'uuid'],
  filtering: { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' },
  ordering: ['uuid', 'name'],
  fields: {
    allocation_pool: {
      type: 'string',
      help: 'Host Allocation Pool associated to the server',
      default: null,
      nullable: true,
    },
    auto_start: {
      type: 'boolean',
      help: 'Enable auto starting of the guest after a clone.',
      default: false,
    },
    context: { type: 'boolean', help: 'Enable guest context serial device', default: true },
    cpu: integer("Server's CPU Clock speed measured in MHz", { default: null, required: true }),
    cpu_model: {
      type: 'string',
      help: "Choose the virtual CPU model, for mitigating compatibility issues between the guest operating system and the underlying host's CPU. If not specified, all of the hypervisor's CPU capabilities are passed directly to the virtual machine.",
      default: null,
      choices: ['kvm64'],
      nullable: true,
    },
    cpu_type: {
      type: 'string',
      help: 'Specify the CPU type of the host on which this virtual server should run',
      default: 'amd',
      // A create without one takes --default-cpu-type.
      dynamicDefault: true,
      choices: ['amd', 'intel', 'sparc_t4', 'sparc_t5', 'vmware'],
    },
    cpus_instead_of_cores: {
      type: 'boolean',
      help: 'Expose server SMPs as separate CPUs, instead of cores of a single CPU.',
      default: false,
    },
    drives: {
      type: 'related',
      help: 'List of attached Drives to server',
      default: [],
      shape: 'many',
      fields: {
        boot_order: integer('Drive boot order', { default: null, nullable: true }),
        dev_channel: {
          type: 'string',
          help: 'Device channel in format {controller:unit} ex. 0:1, 0:2, etc. Keep in mind that there are limits based on emulation type - for example ide can have up to 2 controllers, 2 units each.',
          default: null,
          required: true,
        },
        device: {
          type: 'string',
          help: 'Device emulation type',
          default: null,
          required: true,
          choices: DEVICES,
        },
        drive: {
          type: 'related',
          help: 'Drive UUID',
          default: null,
          required: true,
          ref: 'drives',
        },
        runtime: {
          type: 'related',
          help: "Attached drive's runtime information",
          readonly: true,
          // Null while the server is not running.
          output: { nullable: true },
          fields: {
            io: {
              type: 'related',
              help: 'A single related resource. Can be either a URI or set of nested resource data.',
              default: null,
              fields: driveIoFields,
            },
          },
        },
      },
    },
    enable_numa: { type: 'boolean', help: 'Expose NUMA topology to the server.', default: false },
    epcs: {
      type: 'related',
      help: 'List of defined EPCs',
      default: [],
      shape: 'many',
      fields: { size: integer('Size of the EPC in bytes', { default: null, required: true }) },
    },
    gpus: {
      type: 'related',
      help: 'List of attached GPUs',
      default: [],
      shape: 'many',
      fields: {
        gpu: {
          type: 'related',
          help: 'GPU details',
          readonly: true,
          // No GPU is ever assigned here.
          output: { nullable: true },
          fields: {
            model_id: {
              type: 'string',
              help: 'Short model name of the GPU',
              default: null,
              required: true,
            },
            owner: { type: 'related', help: 'GPU owner', default: null },
            resource_uri: fields.resourceUri(),
            subscription: {
              type: 'related',
              help: 'Subscription related to this GPU',
              default: null,
            },
            uuid: { type: 'string', help: 'UUID of the GPU', default: null },
          },
        },
        model: { type: 'string', help: 'Model of the GPU', default: null, required: true },
      },
    },
    grantees: fields.grantees(),
    hv_relaxed: {
      type: 'boolean',
      help: 'Improve performance of Windows servers.',
      default: false,
    },
    hv_tsc: {
      type: 'boolean',
      help: 'Improves performance of Windows servers with the trade off that the servers cannot be live migrated.',
      default: false,
    },
    hypervisor: {
      type: 'string',
      help: 'Specify hypervisor on which this server should run',
      default: 'kvm',
      choices: ['kvm', 'solaris-kz'],
    },
    is_grey: {
      type: 'boolean',
      help: 'Specifies if server can be used to fill up free capacity',
      default: false,
    },
    jobs: fields.jobs(),
    mem: integer("Server's Random Access Memory measured in bytes", {
      default: null,
      required: true,
    }),
    meta: fields.meta('User assigned meta information for this server'),
    name: {
      type: 'string',
      help: 'Human readable name of server',
      default: null,
      required: true,
      maxLength: NAME_MAX,
    },
    nics: {
      type: 'related',
      help: 'The list of nics attached to this server',
      default: [],
      shape: 'many',
      fields: {
        boot_order: integer('Device boot order', { default: null, nullable: true }),
        firewall_policy: {
          type: 'related',
          help: 'Firewall policy',
          default: null,
          nullable: true,
          ref: 'fwpolicies',
        },
        ip_v4_conf: ipConf('Public IPv4 configuration'),
        ip_v6_conf: ipConf('Public IPv6 configuration'),
        // Null (or left out) on input: one is generated.
        mac: {
          type: 'string',
          help: 'MAC address of the server NIC',
          default: null,
          required: true,
          optionalOnInput: true,
          nullable: true,
          output: { nullable: false },
        },
        // Null (or left out) on input: virtio.
        model: {
          type: 'string',
          help: 'Model of NIC',
          default: null,
          choices: NIC_MODELS,
          nullable: true,
          output: { nullable: false },
        },
        runtime: {
          type: 'related',
          help: 'NIC runtime information',
          readonly: true,
          // Null while the server is not running.
          output: { nullable: true },
          fields: nicRuntimeFields(false),
        },
        vlan: {
          type: 'related',
          help: 'UUID of the private VLAN',
          default: null,
          nullable: true,
          ref: 'vlans',
        },
      },
    },
    owner: fields.owner('UUID of the server owner'),
    permissions: fields.permissions(),
    pubkeys: {
      type: 'related',
      help: 'List of SSH keys for that server',
      default: [],
      shape: 'many',
      ref: 'pubkeys',
    },
    requirements: {
      type: 'list',
      help: 'A collection of special requirements for this server',
      default: [],
    },
    resource_uri: fields.resourceUri(),
    runtime: {
      type: 'related',
      help: 'Runtime information of the guest',
      readonly: true,
      // Null while the server is not running (and while it is stopping).
      output: { nullable: true },
      fields: {
        active_since: {
          type: 'string',
          help: 'Datetime object representing the exact time the guest was started.',
          required: true,
        },
        nics: {
          type: 'related',
          help: "The list of this server's NICs runtime",
          default: [],
          required: true,
          shape: 'many',
          fields: nicRuntimeFields(true),
        },
      },
    },
    // Null (or left out) on input: derived from the CPU.
    smp: integer('Symmetric Multiprocessing (SMP) i.e. number of CPU cores', {
      default: null,
      nullable: true,
      // A create without one gets as many cores as its cpu needs (servers/rules.ts).
      dynamicDefault: true,
      output: { nullable: false },
    }),
    status: {
      type: 'string',
      help: 'Status of the guest.',
      readonly: true,
      output: { choices: SERVER_STATUSES },
    },
    tags: { ...fields.tags(), help: 'List of tags this server is associated with', default: [] },
    uuid: fields.uuid('UUID of server'),
    vnc_password: {
      type: 'string',
      help: 'VNC Password to connect to server',
      default: null,
      required: true,
    },
  },
};

export const serverKind: DocKind<ServerDoc> = {
  def: SERVERS,
  uuid: (s) => s.uuid,
  owner: (s) => s.owner,
  name: (s) => s.name,
  status: (s) => s.status,
  render: renderServer,
};

function renderNicRuntime(runtime: NicRuntime | null): Record<string, unknown> | null {
  if (!runtime) return null;
  return {
    interface_type: runtime.interface_type,
    io: runtime.io,
    ip_v4: runtime.ip_v4 === null ? null : link('ips', runtime.ip_v4),
    ip_v6: runtime.ip_v6,
  };
}

function renderIpConf(conf: IpConf | null): Record<string, unknown> | null {
  if (!conf) return null;
  return { conf: conf.conf, ip: conf.ip === null ? null : link('ips', conf.ip) };
}

function renderServer(s: ServerDoc): Record<string, unknown> {
  // The Servers page shows `runtime: null` for servers that are stopping; the runtime is kept
  // (an ACPI shutdown the guest ignores goes back to `running` with it).
  const shown = s.status !== 'stopping';
  return {
    allocation_pool: s.allocation_pool,
    auto_start: s.auto_start,
    context: s.context,
    cpu: s.cpu,
    cpu_model: s.cpu_model,
    cpu_type: s.cpu_type,
    cpus_instead_of_cores: s.cpus_instead_of_cores,
    drives: s.drives.map((d) => ({
      boot_order: d.boot_order,
      dev_channel: d.dev_channel,
      device: d.device,
      drive: link('drives', d.drive),
      runtime: shown ? d.runtime : null,
    })),
    enable_numa: s.enable_numa,
    epcs: s.epcs,
    gpus: s.gpus.map((g) => ({ gpu: null, model: g.model })),
    grantees: [],
    hv_relaxed: s.hv_relaxed,
    hv_tsc: s.hv_tsc,
    hypervisor: s.hypervisor,
    is_grey: s.is_grey,
    jobs: s.jobs.map((uuid) => link('jobs', uuid)),
    mem: s.mem,
    meta: s.meta,
    name: s.name,
    nics: s.nics.map((n) => ({
      boot_order: n.boot_order,
      firewall_policy: n.firewall_policy === null ? null : link('fwpolicies', n.firewall_policy),
      ip_v4_conf: renderIpConf(n.ip_v4_conf),
      ip_v6_conf: renderIpConf(n.ip_v6_conf),
      mac: n.mac,
      model: n.model,
      runtime: shown ? renderNicRuntime(n.runtime) : null,
      vlan: n.vlan === null ? null : link('vlans', n.vlan),
    })),
    owner: userLink(s.owner),
    permissions: [],
    pubkeys: s.pubkeys.map((uuid) => link('pubkeys', uuid)),
    requirements: s.requirements,
    resource_uri: resourceUri('servers', s.uuid),
    runtime:
      shown && s.runtime
        ? {
            active_since: s.runtime.active_since,
            nics: s.nics
              .filter((n) => n.runtime)
              .map((n) => ({ ...renderNicRuntime(n.runtime), mac: n.mac })),
          }
        : null,
    smp: s.smp,
    status: s.status,
    tags: s.tags.map((uuid) => link('tags', uuid)),
    uuid: s.uuid,
    vnc_password: s.vnc_password,
  };
}
