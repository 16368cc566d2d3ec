/**
 * The server context (api-reference.md §5.9, docs/context.md): the document a guest reads from
 * its context serial port, built on request from the stored server, its drives, NICs, keys and
 * the account's global context, so it follows every PUT at once.
 *
 * It is the server definition without `owner`, `status`, `runtime`, `resource_uri`, `jobs`,
 * `grantees`, `permissions` and `context`; drives are expanded to their definitions, NIC
 * addresses to `{uuid, gateway, netmask, nameservers, meta, tags}` (a DHCP NIC's is the address
 * its running server holds), public keys to `{uuid, name, public_key, fingerprint, meta, tags}`;
 * tags are tag names. It adds `global_context`, `cpu_perf_threshold` and `mem_perf_threshold`.
 */
import { isPlainObject } from '../../model/json.js';
import { link } from '../../model/refs.js';
import type { ObjectRecord, ReadTx } from '../../store/types.js';
import { parseDoc } from '../common.js';
import { mayUse } from '../keypairs/relations.js';
import type { IpConf, NicDoc, ServerDoc } from '../servers/model.js';
import { readGlobalContext } from './global.js';
import { PyFloat } from './pyjson.js';

export type ContextDoc = Record<string, unknown>;

/**
 * What an address with no IP object of its own shows (the dynamic pool's network; the composition
 * root passes the `IpPool`).
 */
export interface DynamicNetwork {
  gateway: string;
  prefix: number;
  nameservers?: readonly string[];
}

const DRIVE_KEYS = [
  'affinities',
  'allow_multimount',
  'licenses',
  'media',
  'meta',
  'name',
  'size',
  'storage_type',
  'tags',
  'uuid',
];
const IP_KEYS = ['gateway', 'meta', 'nameservers', 'netmask', 'tags', 'uuid'];
const KEY_KEYS = ['fingerprint', 'meta', 'name', 'public_key', 'tags', 'uuid'];

/** The context of `server`, or undefined when there is no such server. */
export async function buildContext(
  tx: ReadTx,
  server: string,
  dynamic?: DynamicNetwork,
): Promise<ContextDoc | undefined> {
  const record = await tx.get(server);
  if (record?.kind !== 'servers') return undefined;
  const s = parseDoc<ServerDoc>(record);

  const drives = byUuid(await tx.getMany(s.drives.map((a) => a.drive)));
  const keys = byUuid(await tx.getMany(s.pubkeys));
  const addresses = s.nics.flatMap((nic) => [
    addressOf(nic, nic.ip_v4_conf, 4),
    addressOf(nic, nic.ip_v6_conf, 6),
  ]);
  const ips = byUuid(await tx.getMany(addresses.filter((a): a is string => a !== null)));

  // Every object shown is rendered from its stored detail; tags become names.
  const driveViews = new Map(
    [...drives].flatMap(([uuid, r]) =>
      r.kind === 'drives' || r.kind === 'libdrives' ? [[uuid, pick(r.detail, DRIVE_KEYS)]] : [],
    ),
  );
  const keyViews = new Map<string, Record<string, unknown>>();
  for (const [uuid, r] of keys) {
    // The owner's keys, and keys shared with the owner while they still are.
    if (r.kind === 'keypairs' && (await mayUse(tx, r, s.owner))) {
      const view = pick(r.summary, KEY_KEYS);
      // Tags are their owner's: another account's keypair shows none.
      keyViews.set(uuid, r.owner === s.owner ? view : { ...view, tags: [] });
    }
  }
  const ipViews = new Map(
    [...ips].flatMap(([uuid, r]) => (r.kind === 'ips' ? [[uuid, pick(r.detail, IP_KEYS)]] : [])),
  );
  const tagIds = new Set<string>(s.tags);
  for (const view of [...driveViews.values(), ...keyViews.values(), ...ipViews.values()]) {
    for (const uuid of tagUuids(view.tags)) tagIds.add(uuid);
  }
  const tagNames = new Map(
    (await tx.getMany([...tagIds])).flatMap((r) => (r.kind === 'tags' ? [[r.uuid, r.name]] : [])),
  );
  const names = (tags: unknown): string[] =>
    tagUuids(tags).flatMap((uuid) => {
      const name = tagNames.get(uuid);
      return name === undefined ? [] : [name];
    });
  const withNames = (view: Record<string, unknown>) => ({ ...view, tags: names(view.tags) });

  const ip = (address: string | null, leased: boolean): Record<string, unknown> | null => {
    if (address === null) return null;
    const view = ipViews.get(address);
    if (view) return sorted(withNames(view));
    const pool = leased ? dynamic : undefined;
    return sorted({
      gateway: pool?.gateway ?? null,
      meta: {},
      nameservers: [...(pool?.nameservers ?? [])],
      netmask: pool?.prefix ?? null,
      tags: [],
      uuid: address,
    });
  };
  const conf = (nic: NicDoc, value: IpConf | null, version: 4 | 6) =>
    value === null
      ? null
      : { conf: value.conf, ip: ip(addressOf(nic, value, version), value.conf === 'dhcp') };

  return {
    allocation_pool: s.allocation_pool,
    auto_start: s.auto_start,
    cpu: s.cpu,
    cpu_model: s.cpu_model,
    cpu_perf_threshold: new PyFloat(0),
    cpu_type: s.cpu_type,
    cpus_instead_of_cores: s.cpus_instead_of_cores,
    drives: s.drives.map((a) => {
      const view = driveViews.get(a.drive);
      return {
        boot_order: a.boot_order,
        dev_channel: a.dev_channel,
        device: a.device,
        drive: view ? sorted(withNames(view)) : { uuid: a.drive },
      };
    }),
    enable_numa: s.enable_numa,
    epcs: s.epcs,
    global_context: await readGlobalContext(tx, s.owner),
    gpus: s.gpus.map((g) => ({ gpu: null, model: g.model })),
    hv_relaxed: s.hv_relaxed,
    hv_tsc: s.hv_tsc,
    hypervisor: s.hypervisor,
    is_grey: s.is_grey,
    mem: s.mem,
    mem_perf_threshold: new PyFloat(0),
    meta: s.meta,
    name: s.name,
    nics: s.nics.map((nic) => ({
      boot_order: nic.boot_order,
      firewall_policy:
        nic.firewall_policy === null ? null : link('fwpolicies', nic.firewall_policy),
      ip_v4_conf: conf(nic, nic.ip_v4_conf, 4),
      ip_v6_conf: conf(nic, nic.ip_v6_conf, 6),
      mac: nic.mac,
      model: nic.model,
      vlan: nic.vlan === null ? null : link('vlans', nic.vlan),
    })),
    pubkeys: s.pubkeys.flatMap((uuid) => {
      const view = keyViews.get(uuid);
      return view ? [sorted(withNames(view))] : [];
    }),
    requirements: s.requirements,
    smp: s.smp,
    tags: names(s.tags.map((uuid) => ({ uuid }))),
    uuid: s.uuid,
    vnc_password: s.vnc_password,
  };
}

/** The address a NIC's configuration stands for now: static, or a DHCP lease while running. */
function addressOf(nic: NicDoc, conf: IpConf | null, version: 4 | 6): string | null {
  if (conf === null) return null;
  if (conf.conf === 'static') return conf.ip;
  if (conf.conf === 'dhcp')
    return (version === 4 ? nic.runtime?.ip_v4 : nic.runtime?.ip_v6) ?? null;
  return null;
}

function byUuid(records: ObjectRecord[]): Map<string, ObjectRecord> {
  return new Map(records.map((r) => [r.uuid, r]));
}

function pick(rendered: string | Buffer, keys: readonly string[]): Record<string, unknown> {
  const source = JSON.parse(rendered.toString()) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of keys) if (Object.hasOwn(source, key)) out[key] = source[key];
  return out;
}

/** Tag references as rendered (links) or as uuids. */
function tagUuids(tags: unknown): string[] {
  if (!Array.isArray(tags)) return [];
  return tags.flatMap((t) =>
    typeof t === 'string' ? [t] : isPlainObject(t) && typeof t.uuid === 'string' ? [t.uuid] : [],
  );
}

function sorted(view: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(view).sort(([a], [b]) => (a < b ? -1 : 1)));
}
