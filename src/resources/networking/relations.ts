/**
 * What a server's NICs point to: a VLAN, a static IP, a firewall policy (api-reference.md §4).
 * Each must be the server owner's own, or shared with the server's owner with ATTACH (§5.10, as
 * drives are: whoever edits the server); a static IP must be a subscribed one and on no other
 * server.
 * The IP's `server`, the VLAN's `servers` and the policy's `servers` follow the NICs, in the
 * transaction that writes the server.
 */
import { errors } from '../../errors.js';
import type { ObjectRecord, WriteTx } from '../../store/types.js';
import { accessOf, allows } from '../acls/access.js';
import { type DocKind, parseDoc, toUpdate } from '../common.js';
import type { NicDoc, ServerDoc } from '../servers/model.js';
import { type IpDoc, ipKind, policyKind, vlanKind } from './model.js';

/** Checks what one NIC of a server of `owner` refers to; `point` is `nics.N`. */
export async function checkNicReferences(
  tx: WriteTx,
  owner: string,
  server: string,
  nic: Omit<NicDoc, 'mac'>,
  point: string,
): Promise<void> {
  if (nic.vlan !== null) await usableRecord(tx, 'vlans', nic.vlan, owner, `${point}.vlan`);
  if (nic.firewall_policy !== null) {
    await usableRecord(tx, 'fwpolicies', nic.firewall_policy, owner, `${point}.firewall_policy`);
  }
  for (const name of ['ip_v4_conf', 'ip_v6_conf'] as const) {
    const conf = nic[name];
    if (conf?.conf === 'static' && conf.ip !== null) {
      await checkStaticIp(tx, owner, server, conf.ip, name, `${point}.${name}.ip`);
    }
  }
}

/**
 * An object a NIC of a server of `owner` may use: `owner`'s, or shared with `owner` with ATTACH
 * (403 when shared without it). One not shared answers as a missing one.
 */
async function usableRecord(
  tx: WriteTx,
  kind: string,
  uuid: string,
  owner: string,
  point: string,
): Promise<ObjectRecord> {
  const record = await tx.get(uuid);
  const access = record?.kind === kind ? await accessOf(tx, record, owner) : undefined;
  if (!record || !access) throw errors.invalid(point, `Object with uuid ${uuid} does not exist`);
  if (!allows(access, 'ATTACH')) {
    throw errors.permission(
      `The ${SINGULAR[kind]} ${uuid} is not shared with the owner of the server with the ATTACH permission`,
      point,
    );
  }
  return record;
}

const SINGULAR: Record<string, string> = {
  vlans: 'VLAN',
  ips: 'IP',
  fwpolicies: 'firewall policy',
};

async function checkStaticIp(
  tx: WriteTx,
  owner: string,
  server: string,
  address: string,
  conf: 'ip_v4_conf' | 'ip_v6_conf',
  point: string,
): Promise<void> {
  const ip = parseDoc<IpDoc>(await usableRecord(tx, 'ips', address, owner, point));
  if (ip.subscription === null) {
    throw errors.invalid(
      point,
      `IP ${address} is a dynamic address of a running server; a static configuration needs a subscribed IP`,
    );
  }
  if ((conf === 'ip_v6_conf') !== address.includes(':')) {
    throw errors.invalid(
      point,
      `IP ${address} is not an IPv${conf === 'ip_v6_conf' ? '6' : '4'} address`,
    );
  }
  if (ip.server !== null && ip.server !== server) {
    throw errors.invalid(point, `IP ${address} is already used by server ${ip.server}`);
  }
}

interface NicReferences {
  ips: Set<string>;
  vlans: Set<string>;
  policies: Set<string>;
}

/** The static IPs, VLANs and policies of a server's NICs. */
export function nicReferences(server: ServerDoc | null): NicReferences {
  const refs: NicReferences = { ips: new Set(), vlans: new Set(), policies: new Set() };
  for (const nic of server?.nics ?? []) {
    if (nic.vlan !== null) refs.vlans.add(nic.vlan);
    if (nic.firewall_policy !== null) refs.policies.add(nic.firewall_policy);
    for (const conf of [nic.ip_v4_conf, nic.ip_v6_conf]) {
      if (conf?.conf === 'static' && conf.ip !== null) refs.ips.add(conf.ip);
    }
  }
  return refs;
}

/** After a server was written or deleted (`after` null): IPs, VLANs and policies follow. */
export async function syncNicReferences(
  tx: WriteTx,
  before: ServerDoc | null,
  after: ServerDoc | null,
): Promise<void> {
  const uuid = (after ?? before)!.uuid;
  const was = nicReferences(before);
  const is = nicReferences(after);
  await follow(tx, ipKind, was.ips, is.ips, (ip, on) => {
    if (on) ip.server = uuid;
    else if (ip.server === uuid) ip.server = null;
  });
  await follow(tx, vlanKind, was.vlans, is.vlans, (vlan, on) => {
    vlan.servers = withMember(vlan.servers, uuid, on);
  });
  await follow(tx, policyKind, was.policies, is.policies, (policy, on) => {
    policy.servers = withMember(policy.servers, uuid, on);
  });
}

function withMember(list: readonly string[], uuid: string, member: boolean): string[] {
  const rest = list.filter((item) => item !== uuid);
  return member ? [...rest, uuid] : rest;
}

/** Applies `change` to the objects that joined (`true`) or left (`false`) a server's NICs. */
async function follow<D>(
  tx: WriteTx,
  kind: DocKind<D>,
  was: ReadonlySet<string>,
  is: ReadonlySet<string>,
  change: (doc: D, on: boolean) => void,
): Promise<void> {
  const changed = [...[...was].filter((u) => !is.has(u)), ...[...is].filter((u) => !was.has(u))];
  for (const uuid of changed) {
    const record = await tx.get(uuid);
    // Gone meanwhile (an expired subscription took it, and its servers with it).
    if (record?.kind !== kind.def.kind) continue;
    const doc = parseDoc<D>(record);
    change(doc, is.has(uuid));
    await tx.update(toUpdate(kind, record, doc));
  }
}
