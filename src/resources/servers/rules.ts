/**
 * Rules on a whole server definition that need no store: capabilities (cpu, mem, smp, cpu per
 * smp, cpu_type/hypervisor pairs), NIC configuration combinations, device channels, boot order.
 */
import { errors } from '../../errors.js';
import type { Capabilities, HostLimits } from '../capabilities/types.js';
import type { AttachmentDoc, IpConf, NicDoc, ServerDoc } from './model.js';

export function checkServer(doc: ServerDoc, capabilities: Capabilities): void {
  const host = hostLimits(doc, capabilities);
  checkRange('cpu', doc.cpu, host.cpu.min, host.cpu.max, 'MHz');
  checkRange('mem', doc.mem, host.mem.min, host.mem.max, 'bytes');
  checkRange('smp', doc.smp, host.smp.min, host.smp.max, 'cores');
  if (doc.smp > 1) {
    const perSmp = doc.cpu / doc.smp;
    if (perSmp < host.cpu_per_smp.min || perSmp > host.cpu_per_smp.max) {
      throw errors.invalid(
        'cpu',
        `With smp ${doc.smp}, cpu per core must be between ${host.cpu_per_smp.min} and ${host.cpu_per_smp.max} MHz (got ${perSmp})`,
      );
    }
  }
  if (doc.vnc_password === '')
    throw errors.invalid('vnc_password', 'The VNC password cannot be empty');
  if (doc.gpus.length > 0 && !capabilities.gpus) {
    throw errors.invalid('gpus', 'GPUs are not offered in this location');
  }
  if (doc.epcs.length > 0 && !capabilities.epc) {
    throw errors.invalid('epcs', 'SGX enclave page caches are not offered in this location');
  }
  doc.requirements.forEach((r, i) => {
    if (typeof r !== 'string') throw errors.invalid(`requirements.${i}`, 'Expected a string');
  });
  doc.nics.forEach(checkNic);
  checkStaticIpsOnce(doc.nics);
  checkAttachmentSlots(doc.drives);
  checkBootOrder(doc);
}

function hostLimits(doc: ServerDoc, capabilities: Capabilities): HostLimits {
  const types = capabilities.hypervisors[doc.hypervisor];
  if (!types) {
    throw errors.invalid(
      'hypervisor',
      `Hypervisor "${doc.hypervisor}" is not offered in this location`,
    );
  }
  const host = capabilities.hosts[doc.cpu_type];
  if (!types.includes(doc.cpu_type) || !host) {
    throw errors.invalid(
      'cpu_type',
      `CPU type "${doc.cpu_type}" is not offered with hypervisor "${doc.hypervisor}" (offered: ${types.join(', ')})`,
    );
  }
  return host;
}

/** The number of cores for a cpu when the client gives none: enough for cpu_per_smp.max each. */
export function defaultSmp(
  cpu: number,
  doc: Pick<ServerDoc, 'cpu_type'>,
  capabilities: Capabilities,
): number {
  const host = capabilities.hosts[doc.cpu_type];
  if (!host) return 1;
  return Math.max(1, Math.ceil(cpu / host.cpu_per_smp.max));
}

function checkRange(point: string, value: number, min: number, max: number, unit: string): void {
  if (value < min || value > max) {
    throw errors.invalid(
      point,
      `${point} must be between ${min} and ${max} ${unit} (got ${value})`,
    );
  }
}

function checkNic(nic: NicDoc, i: number): void {
  const point = `nics.${i}`;
  if (nic.vlan !== null && nic.ip_v4_conf && nic.ip_v6_conf) {
    throw errors.invalid(point, 'Cannot assign all configs on a NIC');
  }
  if (nic.vlan !== null && (nic.ip_v4_conf || nic.ip_v6_conf)) {
    throw errors.invalid(point, 'Cannot assign both Private and Public on a NIC');
  }
  checkIpConf(nic.ip_v4_conf, `${point}.ip_v4_conf`);
  checkIpConf(nic.ip_v6_conf, `${point}.ip_v6_conf`);
  if (nic.boot_order !== null && nic.boot_order < 1) {
    throw errors.invalid(`${point}.boot_order`, 'Boot order must be 1 or more');
  }
}

function checkIpConf(conf: IpConf | null, point: string): void {
  if (!conf) return;
  if (conf.conf === 'static' && conf.ip === null) {
    throw errors.invalid(`${point}.ip`, 'A static configuration needs an IP');
  }
  if (conf.conf !== 'static' && conf.ip !== null) {
    throw errors.invalid(
      `${point}.ip`,
      `An IP can only be given with the static configuration, not "${conf.conf}"`,
    );
  }
}

/** A static IP is on one NIC only (api-reference.md §6: an IP belongs to one server). */
function checkStaticIpsOnce(nics: readonly NicDoc[]): void {
  const seen = new Set<string>();
  nics.forEach((nic, i) => {
    for (const name of ['ip_v4_conf', 'ip_v6_conf'] as const) {
      const conf = nic[name];
      if (conf?.conf !== 'static' || conf.ip === null) continue;
      if (seen.has(conf.ip)) {
        throw errors.invalid(
          `nics.${i}.${name}.ip`,
          `IP ${conf.ip} is already configured on another NIC of this server`,
        );
      }
      seen.add(conf.ip);
    }
  });
}

const CHANNEL = /^(\d{1,4}):(\d{1,4})$/;
const CHANNEL_LIMITS = {
  ide: { controllers: 2, units: 2 },
  virtio: { controllers: 171, units: 6 },
} as const;

/** Device channels `C:U` within the limits of their device, each (device, channel) used once. */
function checkAttachmentSlots(attachments: readonly AttachmentDoc[]): void {
  const used = new Set<string>();
  attachments.forEach((a, i) => {
    const point = `drives.${i}.dev_channel`;
    const match = CHANNEL.exec(a.dev_channel);
    const limits = CHANNEL_LIMITS[a.device];
    if (!match)
      throw errors.invalid(point, `Device channel must look like {controller}:{unit}, e.g. 0:0`);
    const controller = Number(match[1]);
    const unit = Number(match[2]);
    if (controller >= limits.controllers || unit >= limits.units) {
      throw errors.invalid(
        point,
        `Device channel ${a.dev_channel} is out of range for ${a.device}: controllers 0-${limits.controllers - 1}, units 0-${limits.units - 1}`,
      );
    }
    const slot = `${a.device} ${controller}:${unit}`;
    if (used.has(slot))
      throw errors.invalid(point, `Device channel ${a.device} ${a.dev_channel} is used twice`);
    used.add(slot);
  });
}

/** Boot orders are 1 or more and unique across drives and NICs (QEMU's bootindex is one space). */
function checkBootOrder(doc: ServerDoc): void {
  const seen = new Map<number, string>();
  const visit = (order: number | null, point: string) => {
    if (order === null) return;
    if (order < 1) throw errors.invalid(point, 'Boot order must be 1 or more');
    const other = seen.get(order);
    if (other) throw errors.invalid(point, `Boot order ${order} is already used by ${other}`);
    seen.set(order, point);
  };
  for (const [i, a] of doc.drives.entries()) visit(a.boot_order, `drives.${i}.boot_order`);
  for (const [i, n] of doc.nics.entries()) visit(n.boot_order, `nics.${i}.boot_order`);
}
