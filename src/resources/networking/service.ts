/**
 * IPs, VLANs and firewall policies: what clients change (IP and VLAN `meta` and `tags`; policies
 * whole), what subscriptions create and take away, and the IP records of dynamic addresses.
 */

import { randomUUID } from 'node:crypto';
import { errors } from '../../errors.js';
import { readInput } from '../../model/input.js';
import type { Random } from '../../model/random.js';
import type { ObjectRecord, WriteTx } from '../../store/types.js';
import { type DocKind, parseDoc, toRecord, toUpdate } from '../common.js';
import type { Created } from '../crud.js';
import type { ResourceEnv } from '../env.js';
import { type ServerDoc, serverKind } from '../servers/model.js';
import { checkTags, syncTags } from '../tags/relations.js';
import { TASKS } from '../tasks.js';
import { normalizeRule, type RuleInput } from './firewall.js';
import { DYNAMIC_IPS, DYNAMIC_NETWORKS, type IpPool, leaseNetworks } from './ippool.js';
import {
  type FirewallRule,
  FWPOLICIES,
  type IpDoc,
  ipKind,
  type PolicyDoc,
  policyKind,
  type VlanDoc,
  vlanKind,
} from './model.js';
import { type AddressPool, SUBSCRIBED_IPS, type TagRange, VLAN_TAGS } from './pool.js';

/** What the composition root gives networking (from `--ip-pool`, `--vlan-tags`, `--nameservers`). */
export interface NetworkSettings {
  addresses: AddressPool;
  vlanTags: TagRange;
  nameservers: string[];
}

function uniqueRefs(value: unknown): string[] {
  return [...new Set(value as string[])];
}

// --- IPs and VLANs: PUT changes meta and tags only (§4.2, §4.3) -----------------------------

export const updateIp = (tx: WriteTx, record: ObjectRecord, body: unknown): Promise<string> =>
  updateMetaAndTags(ipKind, tx, record, body);

export const updateVlan = (tx: WriteTx, record: ObjectRecord, body: unknown): Promise<string> =>
  updateMetaAndTags(vlanKind, tx, record, body);

/** A PUT that may change only `meta` and `tags` (the rest of the body is read-only). */
async function updateMetaAndTags<D extends IpDoc | VlanDoc>(
  kind: DocKind<D>,
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<string> {
  const { values } = readInput(kind.def.fields, body, { requireAll: false });
  const doc = parseDoc<D>(record);
  const next: D = { ...doc };
  if (values.meta !== undefined) next.meta = values.meta as Record<string, string>;
  if (values.tags !== undefined) next.tags = uniqueRefs(values.tags);
  await checkTags(tx, next.owner, next.tags, 'tags');
  const updated = toUpdate(kind, record, next);
  await tx.update(updated);
  await syncTags(tx, kind.def.kind, next.uuid, doc.tags, next.tags);
  return updated.detail;
}

// --- What subscriptions create and take away -----------------------------------------------

/**
 * A subscribed address for `owner`, bought by subscription `subscription`: `wanted` (a seed
 * file's, which must be a free address of the pool), or the next free one.
 */
export async function createSubscribedIp(
  tx: WriteTx,
  net: NetworkSettings,
  owner: string,
  subscription: string,
  wanted?: string,
): Promise<string> {
  let address: string;
  if (wanted === undefined) address = await net.addresses.lease(tx, subscription);
  else {
    if (!net.addresses.contains(wanted)) {
      throw errors.invalid('address', `${wanted} is not an address of the IP pool (--ip-pool)`);
    }
    if (!(await net.addresses.claim(tx, wanted, subscription))) {
      throw errors.invalid('address', `${wanted} is already subscribed to`);
    }
    address = wanted;
  }
  const doc: IpDoc = {
    uuid: address,
    owner,
    subscription,
    server: null,
    gateway: net.addresses.gateway,
    netmask: net.addresses.prefix,
    nameservers: [...net.nameservers],
    meta: {},
    tags: [],
  };
  await tx.insert(toRecord(ipKind, doc));
  return address;
}

/** A VLAN for `owner`, bought by subscription `subscription`; its uuid `wanted` (a seed file's) or new. */
export async function createVlan(
  tx: WriteTx,
  net: NetworkSettings,
  random: Random,
  owner: string,
  subscription: string,
  wanted?: string,
): Promise<string> {
  const uuid = wanted ?? random.uuid();
  const doc: VlanDoc = {
    uuid,
    owner,
    subscription,
    servers: [],
    tag: await net.vlanTags.lease(tx, uuid),
    meta: {},
    tags: [],
  };
  await tx.insert(toRecord(vlanKind, doc));
  return uuid;
}

/**
 * A subscription ended: its IP or VLAN goes. NICs that used it are left without it (a static
 * configuration falls back to DHCP, a private NIC to no network); a running server keeps its
 * runtime until it stops.
 */
export async function removeSubscribedObject(tx: WriteTx, uuid: string): Promise<void> {
  const record = await tx.get(uuid);
  if (record?.kind === 'ips') {
    const ip = parseDoc<IpDoc>(record);
    if (ip.subscription === null) return;
    if (ip.server !== null) {
      await changeServer(tx, ip.server, (nic) => {
        for (const name of ['ip_v4_conf', 'ip_v6_conf'] as const) {
          const conf = nic[name];
          if (conf?.conf === 'static' && conf.ip === uuid) nic[name] = { conf: 'dhcp', ip: null };
        }
      });
    }
    await syncTags(tx, 'ips', uuid, ip.tags, null);
    await tx.releaseAll(SUBSCRIBED_IPS, ip.subscription);
    await tx.remove(record);
  } else if (record?.kind === 'vlans') {
    const vlan = parseDoc<VlanDoc>(record);
    for (const server of vlan.servers) {
      await changeServer(tx, server, (nic) => {
        if (nic.vlan === uuid) nic.vlan = null;
      });
    }
    await syncTags(tx, 'vlans', uuid, vlan.tags, null);
    await tx.releaseAll(VLAN_TAGS, uuid);
    await tx.remove(record);
  }
}

async function changeServer(
  tx: WriteTx,
  uuid: string,
  change: (nic: ServerDoc['nics'][number]) => void,
): Promise<void> {
  const record = await tx.get(uuid);
  if (record?.kind !== 'servers') return;
  const server = parseDoc<ServerDoc>(record);
  server.nics = server.nics.map((nic) => {
    const copy = { ...nic };
    change(copy);
    return copy;
  });
  await tx.update(toUpdate(serverKind, record, server));
}

// --- Dynamic addresses: an IP record while the server runs (§4.2) ---------------------------

/**
 * The IP records of a server's DHCP leases, written in the transaction that makes it `running`
 * (`engine/tasks.ts`), so that `/ips/` lists them with `subscription: null`.
 */
export async function recordDynamicAddresses(
  tx: WriteTx,
  server: ServerDoc,
  pool: IpPool,
): Promise<void> {
  const leased = server.nics.flatMap((nic) =>
    nic.ip_v4_conf?.conf === 'dhcp' && nic.runtime?.ip_v4 ? [nic.runtime.ip_v4] : [],
  );
  const networks = await leaseNetworks(tx, pool, server.uuid, leased);
  for (const address of leased) {
    const record = await tx.get(address);
    if (record) {
      if (record.kind !== 'ips') continue;
      const ip = parseDoc<IpDoc>(record);
      if (ip.subscription !== null || (ip.server === server.uuid && ip.owner === server.owner)) {
        continue;
      }
      // Left over from a server that stopped without its records going (a crash): replaced.
      await syncTags(tx, 'ips', address, ip.tags, null);
      await tx.remove(record);
    }
    await tx.insert(
      toRecord(ipKind, {
        uuid: address,
        owner: server.owner,
        subscription: null,
        server: server.uuid,
        ...networks.get(address)!,
        nameservers: [...pool.nameservers],
        meta: {},
        tags: [],
      }),
    );
  }
}

/** The server stops: its dynamic addresses are released and their IP records go. */
export async function releaseDynamicAddresses(tx: WriteTx, server: string): Promise<void> {
  for (const address of await tx.claimsOf(DYNAMIC_IPS, server)) {
    const record = await tx.get(address);
    if (record?.kind !== 'ips') continue;
    const ip = parseDoc<IpDoc>(record);
    if (ip.subscription !== null || ip.server !== server) continue;
    await syncTags(tx, 'ips', address, ip.tags, null);
    await tx.remove(record);
  }
  await tx.releaseAll(DYNAMIC_IPS, server);
  await tx.deleteState(DYNAMIC_NETWORKS, server);
}

// --- Firewall policies: CRUD (§4.4) ----------------------------------------------------------

function readRules(value: unknown): FirewallRule[] {
  return (value as RuleInput[]).map((rule, i) => normalizeRule(rule, `rules.${i}`));
}

export async function createPolicies(
  env: Pick<ResourceEnv, 'store' | 'random'>,
  owner: string,
  items: unknown[],
): Promise<Created[]> {
  const docs = items.map((item): PolicyDoc => {
    const { values: v } = readInput(FWPOLICIES.fields, item, { requireAll: true });
    return {
      uuid: env.random.uuid(),
      owner,
      name: (v.name as string | null | undefined) ?? null,
      meta: (v.meta as Record<string, string> | undefined) ?? {},
      rules: v.rules === undefined ? [] : readRules(v.rules),
      servers: [],
      tags: v.tags === undefined ? [] : uniqueRefs(v.tags),
    };
  });
  return env.store.write(async (tx) => {
    const out: Created[] = [];
    for (const doc of docs) {
      await checkTags(tx, owner, doc.tags, 'tags');
      const record = toRecord(policyKind, doc);
      await tx.insert(record);
      await syncTags(tx, 'fwpolicies', doc.uuid, [], doc.tags);
      out.push({ uuid: doc.uuid, detail: record.detail });
    }
    return out;
  });
}

/** PUT: a top-level merge; `rules`, `meta` and `tags` are replaced whole. */
export async function updatePolicy(
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<string> {
  const { values } = readInput(FWPOLICIES.fields, body, { requireAll: false });
  const doc = parseDoc<PolicyDoc>(record);
  const next: PolicyDoc = { ...doc };
  if (values.name !== undefined) next.name = values.name as string | null;
  if (values.meta !== undefined) next.meta = values.meta as Record<string, string>;
  if (values.rules !== undefined) next.rules = readRules(values.rules);
  if (values.tags !== undefined) next.tags = uniqueRefs(values.tags);
  await checkTags(tx, next.owner, next.tags, 'tags');
  const updated = toUpdate(policyKind, record, next);
  await tx.update(updated);
  await syncTags(tx, 'fwpolicies', next.uuid, doc.tags, next.tags);
  if (values.rules !== undefined) {
    // Running NICs follow the new rules (libvirt: the policy's filter is redefined), once this is
    // committed. The task's id is its own, never shown (so not taken from `--seed`'s sequence).
    await tx.addTask({
      id: randomUUID(),
      type: TASKS.policyApply,
      target: next.uuid,
      payload: '{}',
      dueAt: 0,
    });
  }
  return updated.detail;
}

/**
 * Deletes policies. A policy in use by a server that is not stopped cannot go (403); stopped
 * servers that use it are left without a policy on those NICs.
 */
export async function deletePolicies(tx: WriteTx, records: readonly ObjectRecord[]): Promise<void> {
  for (const record of records) {
    const policy = parseDoc<PolicyDoc>(record);
    for (const uuid of policy.servers) {
      const server = await tx.get(uuid);
      if (server?.kind === 'servers' && server.status !== 'stopped') {
        throw errors.permission(
          `Cannot delete firewall policy ${policy.uuid}: it is in use by server ${uuid} in state "${server.status}". Stop the server first.`,
        );
      }
    }
  }
  for (const stale of records) {
    const record = await tx.get(stale.uuid);
    if (!record) continue;
    const policy = parseDoc<PolicyDoc>(record);
    for (const uuid of policy.servers) {
      await changeServer(tx, uuid, (nic) => {
        if (nic.firewall_policy === policy.uuid) nic.firewall_policy = null;
      });
    }
    await syncTags(tx, 'fwpolicies', policy.uuid, policy.tags, null);
    await tx.remove(record);
    // Its hosts drop its filter (libvirt), once this is committed.
    await tx.addTask({
      id: randomUUID(),
      type: TASKS.policyApply,
      target: policy.uuid,
      payload: '{}',
      dueAt: 0,
    });
  }
}
