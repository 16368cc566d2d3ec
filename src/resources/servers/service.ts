/** Server definitions: create, update (PUT merge), delete (with `recurse`). */
import { randomUUID } from 'node:crypto';
import { hostOf, unplace } from '../../engine/placement.js';
import { errors } from '../../errors.js';
import { readInput } from '../../model/input.js';
import type { Random } from '../../model/random.js';
import type { ObjectRecord, WriteTx } from '../../store/types.js';
import { accessOf, allows, notGranted } from '../acls/access.js';
import { mapInSlices, parseDoc, toRecord, toUpdate } from '../common.js';
import type { Created } from '../crud.js';
import type { DriveDoc } from '../drives/model.js';
import { deleteDrives } from '../drives/service.js';
import type { ResourceEnv } from '../env.js';
import { applyMounts, checkAttachments } from '../mounts.js';
import { TASKS } from '../tasks.js';
import {
  type AttachmentDoc,
  type IpConf,
  type NicDoc,
  SERVERS,
  type ServerDoc,
  serverKind,
} from './model.js';
import { checkServerReferences, syncServerRelations } from './relations.js';
import { checkServer, defaultSmp } from './rules.js';
import { wrongState } from './states.js';

const MAC_NAMESPACE = 'mac';

/** A NIC as the client described it; `mac` null means a new NIC that needs one. */
export type NicDraft = Omit<NicDoc, 'mac'> & { mac: string | null };

/** A checked server definition whose NICs have no MAC yet (`newServer`, `insertServer`). */
export interface ServerDraft {
  doc: ServerDoc;
  nics: NicDraft[];
}

/** Validates and stores new servers, all or nothing. */
export async function createServers(
  env: ResourceEnv,
  owner: string,
  items: unknown[],
  signal?: AbortSignal,
): Promise<Created[]> {
  const drafts = await mapInSlices(items, (item) => newServer(env, owner, item), signal);
  return env.store.write(async (tx) => {
    const out: Created[] = [];
    for (const draft of drafts) {
      out.push({ uuid: draft.doc.uuid, detail: await insertServer(env, tx, draft) });
    }
    // The client went away meanwhile: the transaction rolls back.
    signal?.throwIfAborted();
    return out;
  });
}

/**
 * Stores a server `newServer` made, inside `tx`: checks its references (tags, keys, what its NICs
 * and drives point to), gives its NICs their MACs, mounts its drives. Returns its rendered detail.
 */
export async function insertServer(
  env: ResourceEnv,
  tx: WriteTx,
  draft: ServerDraft,
): Promise<string> {
  const { doc, nics } = draft;
  await checkServerReferences(tx, { ...doc, nics });
  doc.nics = await assignMacs(tx, env.random, doc.uuid, [], nics);
  await checkAttachments(tx, doc.owner, doc.uuid, doc.drives);
  const record = toRecord(serverKind, doc);
  await tx.insert(record);
  await applyMounts(tx, doc.uuid, [], doc.drives);
  await syncServerRelations(tx, null, doc);
  // Tags may share it: then its grantees were written after it.
  return doc.tags.length > 0 ? ((await tx.get(doc.uuid))?.detail ?? record.detail) : record.detail;
}

/**
 * Reads and checks a server definition (a POST body's object) into a draft for `insertServer`.
 * Its uuid is `uuid` when given (a seed file's), else a new one.
 */
export function newServer(
  env: ResourceEnv,
  owner: string,
  item: unknown,
  uuid?: string,
): ServerDraft {
  // Checked against the declaration, declared defaults applied: test/architecture/declarations.
  const v = readInput(SERVERS.fields, item, { requireAll: true, defaults: true })
    .values as ServerInput;
  const cpuType = v.cpu_type ?? env.defaultCpuType;
  const nics = v.nics.map(readNic);
  const doc: ServerDoc = {
    uuid: uuid ?? env.random.uuid(),
    owner,
    name: v.name,
    cpu: v.cpu,
    mem: v.mem,
    smp: v.smp ?? defaultSmp(v.cpu, { cpu_type: cpuType }, env.capabilities),
    vnc_password: v.vnc_password,
    cpu_type: cpuType,
    hypervisor: v.hypervisor,
    cpu_model: v.cpu_model,
    context: v.context,
    cpus_instead_of_cores: v.cpus_instead_of_cores,
    enable_numa: v.enable_numa,
    hv_relaxed: v.hv_relaxed,
    hv_tsc: v.hv_tsc,
    auto_start: v.auto_start,
    is_grey: v.is_grey,
    allocation_pool: v.allocation_pool,
    requirements: v.requirements,
    meta: v.meta,
    tags: [...new Set(v.tags)],
    pubkeys: [...new Set(v.pubkeys)],
    nics: [],
    drives: v.drives.map(readAttachment),
    gpus: v.gpus.map((g) => ({ model: g.model })),
    epcs: v.epcs.map((e) => ({ size: e.size })),
    status: 'stopped',
    runtime: null,
    jobs: [],
  };
  checkServer({ ...doc, nics: nics.map((n) => ({ ...n, mac: n.mac ?? '' })) }, env.capabilities);
  return { doc, nics };
}

/**
 * A server definition as a create reads it from `SERVERS`, with the declared defaults: the
 * document's own fields, but `cpu_type` and `smp` (dynamic defaults) and the nested lists,
 * which are read again below.
 */
export type ServerInput = Omit<
  ServerDoc,
  | 'uuid'
  | 'owner'
  | 'status'
  | 'runtime'
  | 'jobs'
  | 'cpu_type'
  | 'smp'
  | 'nics'
  | 'drives'
  | 'gpus'
  | 'epcs'
> & {
  cpu_type?: string;
  smp?: number | null;
  nics: Record<string, unknown>[];
  drives: Record<string, unknown>[];
  gpus: { model: string }[];
  epcs: { size: number }[];
};

/** A list of references without repeats, in the order given. */
function uniqueRefs(value: unknown): string[] {
  return [...new Set((value as string[] | undefined) ?? [])];
}

function readNic(input: Record<string, unknown>): NicDraft {
  return {
    mac: (input.mac as string | null | undefined) ?? null,
    model: (input.model as NicDoc['model'] | null | undefined) ?? 'virtio',
    boot_order: (input.boot_order as number | null | undefined) ?? null,
    vlan: (input.vlan as string | null | undefined) ?? null,
    firewall_policy: (input.firewall_policy as string | null | undefined) ?? null,
    ip_v4_conf: readIpConf(input.ip_v4_conf),
    ip_v6_conf: readIpConf(input.ip_v6_conf),
    runtime: null,
  };
}

function readIpConf(value: unknown): IpConf | null {
  if (value === undefined || value === null) return null;
  const conf = value as Record<string, unknown>;
  return {
    conf: (conf.conf as IpConf['conf'] | undefined) ?? null,
    ip: (conf.ip as string | null | undefined) ?? null,
  };
}

function readAttachment(input: Record<string, unknown>): AttachmentDoc {
  return {
    drive: input.drive as string,
    device: input.device as AttachmentDoc['device'],
    dev_channel: input.dev_channel as string,
    boot_order: (input.boot_order as number | null | undefined) ?? null,
    runtime: null,
  };
}

/**
 * Gives every NIC its MAC: a NIC sent with the MAC of an existing NIC replaces it (keeping the
 * MAC); a NIC without one gets a new `22:xx:xx:xx:xx:xx`, unique in the cloud; an unknown MAC is an
 * error. MACs of NICs that are gone are released.
 */
export async function assignMacs(
  tx: WriteTx,
  random: Random,
  serverUuid: string,
  existing: readonly NicDoc[],
  drafts: readonly NicDraft[],
): Promise<NicDoc[]> {
  const known = new Set(existing.map((n) => n.mac.toLowerCase()));
  const kept = new Set<string>();
  drafts.forEach((draft, i) => {
    if (draft.mac === null) return;
    const mac = draft.mac.toLowerCase();
    if (!known.has(mac)) {
      throw errors.invalid(`nics.${i}.mac`, `No NIC with MAC ${draft.mac} exists on this server`);
    }
    if (kept.has(mac)) throw errors.invalid(`nics.${i}.mac`, `MAC ${draft.mac} is given twice`);
    kept.add(mac);
  });
  // A new server holds no MACs yet.
  if (existing.length > 0) await tx.releaseAll(MAC_NAMESPACE, serverUuid);
  const nics: NicDoc[] = [];
  for (const draft of drafts) {
    let mac = draft.mac?.toLowerCase();
    if (mac === undefined) {
      do mac = newMac(random);
      while (!(await tx.claim(MAC_NAMESPACE, mac, serverUuid)));
    } else {
      await tx.claim(MAC_NAMESPACE, mac, serverUuid);
    }
    nics.push({ ...draft, mac });
  }
  return nics;
}

/** The next MAC of each source of randomness (a seeded one makes them reproducible). */
const nextMacs = new WeakMap<Random, number>();
const MAC_SPACE = 2 ** 40;

/**
 * A new MAC: `22:` and 40 bits that count up from a random start. Consecutive MACs keep the
 * claims' index appending at one leaf, where random ones each dirtied a page of their own in the
 * commit (the claim, which makes them unique, is what a create writes most after its row).
 */
function newMac(random: Random): string {
  let next = nextMacs.get(random);
  if (next === undefined) next = random.bytes(5).readUIntBE(0, 5);
  nextMacs.set(random, (next + 1) % MAC_SPACE);
  const hex = next.toString(16).padStart(10, '0');
  return `22:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}:${hex.slice(6, 8)}:${hex.slice(8)}`;
}

/** On a server that is not stopped only these change; the rest of a PUT is ignored (§2.4). */
/**
 * What a PUT changes on a server that is not stopped. `vnc_password` too: its tunnels then close,
 * so that the old password stops working and a new open uses the new one.
 */
const LIVE_FIELDS = new Set(['name', 'meta', 'tags', 'vnc_password']);

/** PUT: a top-level merge; lists and `meta` are replaced whole. Returns the rendered detail. */
export async function updateServer(
  env: ResourceEnv,
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
  caller?: string,
): Promise<string> {
  const { values } = readInput(SERVERS.fields, body, { requireAll: false });
  const doc = parseDoc<ServerDoc>(record);
  const liveOnly = doc.status !== 'stopped';
  const next: ServerDoc = { ...doc };
  let nicDrafts: NicDraft[] | undefined;
  for (const [key, value] of Object.entries(values)) {
    if (liveOnly && !LIVE_FIELDS.has(key)) continue;
    switch (key) {
      case 'nics':
        nicDrafts = (value as Record<string, unknown>[]).map(readNic);
        break;
      case 'drives':
        next.drives = (value as Record<string, unknown>[]).map(readAttachment);
        break;
      case 'gpus':
        next.gpus = (value as Record<string, unknown>[]).map((g) => ({ model: g.model as string }));
        break;
      case 'epcs':
        next.epcs = (value as Record<string, unknown>[]).map((e) => ({ size: e.size as number }));
        break;
      case 'smp':
        next.smp = (value as number | null) ?? defaultSmp(next.cpu, next, env.capabilities);
        break;
      case 'tags':
      case 'pubkeys':
        next[key] = uniqueRefs(value);
        break;
      default:
        (next as unknown as Record<string, unknown>)[key] = value;
    }
  }
  const nicsToCheck = nicDrafts ? nicDrafts.map((n) => ({ ...n, mac: n.mac ?? '' })) : next.nics;
  checkServer({ ...next, nics: nicsToCheck }, env.capabilities);
  await checkServerReferences(tx, { ...next, nics: nicsToCheck });
  if (nicDrafts) next.nics = await assignMacs(tx, env.random, doc.uuid, doc.nics, nicDrafts);
  await checkAttachments(tx, doc.owner, doc.uuid, next.drives, {
    caller,
    attached: doc.drives.map((a) => a.drive),
  });
  const updated = toUpdate(serverKind, record, next);
  await tx.update(updated);
  await applyMounts(tx, doc.uuid, doc.drives, next.drives);
  await syncServerRelations(tx, doc, next);
  if (next.vnc_password !== doc.vnc_password) {
    // The old password must stop opening anything: the server's tunnels close, here and on its
    // host's process (a new open_vnc or open_console gives ones keyed by the new password).
    await env.tunnels.closeVnc(doc.uuid, tx);
    await env.tunnels.closeConsole(doc.uuid, tx);
  }
  return updated.detail;
}

export const RECURSE_OPTIONS = ['all_drives', 'disks', 'cdroms'] as const;
export type Recurse = (typeof RECURSE_OPTIONS)[number];

/**
 * Deletes stopped servers; with `recurse`, also the drives of the chosen media (detached from any
 * other server first). Drives that stay are unmounted. When `caller` is given, a drive it does
 * not own (of a server shared with it) goes only if it was granted DELETE on it too.
 */
export async function deleteServers(
  tx: WriteTx,
  records: readonly ObjectRecord[],
  recurse: Recurse | undefined,
  caller?: string,
): Promise<void> {
  const deleting = new Set(records.map((r) => r.uuid));
  const doomedDrives = new Map<string, ObjectRecord>();
  for (const record of records) {
    const server = parseDoc<ServerDoc>(record);
    if (server.status !== 'stopped') throw wrongState('delete', server.status);
    if (!recurse) continue;
    for (const attachment of server.drives) {
      const drive = await tx.get(attachment.drive);
      if (drive?.kind !== 'drives' || drive.owner !== server.owner) continue;
      const media = parseDoc<DriveDoc>(drive).media;
      if (recurse === 'all_drives' || (recurse === 'disks') === (media === 'disk')) {
        if (caller !== undefined && drive.owner !== caller) {
          const access = await accessOf(tx, drive, caller);
          if (!access || !allows(access, 'DELETE'))
            throw notGranted('drives', drive.uuid, 'DELETE');
        }
        doomedDrives.set(drive.uuid, drive);
      }
    }
  }
  for (const record of records) {
    const server = parseDoc<ServerDoc>(record);
    const current = await tx.get(record.uuid);
    if (!current) continue;
    await applyMounts(tx, server.uuid, server.drives, []);
    await tx.releaseAll(MAC_NAMESPACE, server.uuid);
    // Its host forgets its machine (libvirt: the domain's definition), once this is committed;
    // the task's id is its own, never shown (so not taken from `--seed`'s sequence).
    await tx.addTask({
      id: randomUUID(),
      type: TASKS.serverForget,
      target: server.uuid,
      payload: '{}',
      dueAt: 0,
      host: await hostOf(tx, server.uuid),
    });
    // Its host holds nothing of it any more.
    await unplace(tx, server.uuid);
    await syncServerRelations(tx, server, null);
    await tx.remove(current);
  }
  await deleteDrives(tx, [...doomedDrives.values()], deleting);
}
