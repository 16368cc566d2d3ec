/**
 * The hypervisor hosts of the cloud: what the operator declared of each (`HostRecord`: the
 * configuration's `[[host]]` tables and `sigmalite host add|remove|drain`), and what the process
 * serving it last saw (`HostStatus`: up or down, its capacity as the hypervisor reports it). Both
 * are component state, so that every process sharing a store sees the same hosts.
 *
 * A record's absent field means "not declared": the libvirt driver then takes the process's
 * `--libvirt-*` setting, placement the capacity the host reports (unbounded when none does).
 * Records written before hosts had fields (`{}`) read as a host with nothing declared.
 */
import type { ReadTx, WriteTx } from '../store/types.js';

/** Component state: one record per host, key its name. */
export const HOSTS_STATE = 'engine.hosts';
/** Component state: the serving process's view of each host, key its name. */
export const HOST_STATUS_STATE = 'engine.host-status';

/** What the operator declared of a host. */
export interface HostRecord {
  /** libvirt's URI for it (`qemu+tls://h1/system`); absent: `--libvirt-uri`. */
  uri?: string;
  /** CPU capacity in MHz for all its cores; absent: as the host reports it. */
  mhz?: number;
  /** Memory in bytes servers may take; absent: as the host reports it. */
  memory?: number;
  /** The libvirt storage pool's name; absent: `--libvirt-pool`. */
  pool?: string;
  /**
   * The pool's directory on the host; absent: `<data>/libvirt/pool`. Hosts naming the same
   * directory with `sharedPool` reach the same volumes (shared storage).
   */
  poolPath?: string;
  /** Whether the pool's directory is shared storage every host reaches. */
  sharedPool?: boolean;
  /** The public network's name and bridge there; absent: `--libvirt-network`, `--libvirt-bridge`. */
  network?: string;
  bridge?: string;
  /**
   * An address of the host, reachable from sigmalite, where its machines' VNC servers listen on
   * TCP (QEMU's ports from 5900); absent: on unix sockets in the data directory (a host on this
   * machine, or sharing its filesystem).
   */
  vncListen?: string;
  /** No new server is placed on it; those running there stay (`sigmalite host drain`). */
  drained?: boolean;
}

export interface NamedHost extends HostRecord {
  name: string;
}

/** What the process serving a host last saw of it. */
export interface HostStatus {
  /** Whether its hypervisor answers. */
  up: boolean;
  /** Since when (clock milliseconds) it is up or down. */
  since: number;
  /** Its capacity as the hypervisor reports it (MHz of all cores, memory bytes), if known. */
  mhz?: number;
  memory?: number;
  /** Why it is down, when it is. */
  reason?: string;
}

/** Host names: letters, digits, dots and dashes, at most 63 (as `--hosts`). */
export const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9.-]{0,62}$/;

/** A stored record; fields of the wrong type are dropped, so that old or odd rows still read. */
export function parseHostRecord(text: string): HostRecord {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return {};
  }
  if (typeof value !== 'object' || value === null) return {};
  const row = value as Record<string, unknown>;
  const record: HostRecord = {};
  for (const key of ['uri', 'pool', 'poolPath', 'network', 'bridge', 'vncListen'] as const) {
    if (typeof row[key] === 'string') record[key] = row[key];
  }
  for (const key of ['mhz', 'memory'] as const) {
    const n = row[key];
    if (typeof n === 'number' && Number.isFinite(n) && n > 0) record[key] = n;
  }
  if (row.sharedPool === true) record.sharedPool = true;
  if (row.drained === true) record.drained = true;
  return record;
}

export function parseHostStatus(text: string): HostStatus | undefined {
  try {
    const value = JSON.parse(text) as Partial<HostStatus>;
    if (typeof value.up !== 'boolean' || typeof value.since !== 'number') return undefined;
    return value as HostStatus;
  } catch {
    return undefined;
  }
}

/** Every declared host, by name. */
export async function listHosts(tx: ReadTx): Promise<NamedHost[]> {
  const rows = await tx.listState(HOSTS_STATE);
  return rows
    .map((row) => ({ name: row.key, ...parseHostRecord(row.value) }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export async function getHost(tx: ReadTx, name: string): Promise<HostRecord | undefined> {
  const text = await tx.getState(HOSTS_STATE, name);
  return text === undefined ? undefined : parseHostRecord(text);
}

export async function putHost(tx: WriteTx, name: string, record: HostRecord): Promise<void> {
  await tx.putState(HOSTS_STATE, name, JSON.stringify(record));
}

export async function removeHost(tx: WriteTx, name: string): Promise<void> {
  await tx.deleteState(HOSTS_STATE, name);
  await tx.deleteState(HOST_STATUS_STATE, name);
}

/** Every host's last seen status, by name (hosts no process serves have none). */
export async function hostStatuses(tx: ReadTx): Promise<Map<string, HostStatus>> {
  const out = new Map<string, HostStatus>();
  for (const row of await tx.listState(HOST_STATUS_STATE)) {
    const status = parseHostStatus(row.value);
    if (status) out.set(row.key, status);
  }
  return out;
}

export async function putHostStatus(tx: WriteTx, name: string, status: HostStatus): Promise<void> {
  await tx.putState(HOST_STATUS_STATE, name, JSON.stringify(status));
}
