/**
 * What an account uses and what it subscribed to (api-reference.md §5.4): `/currentusage/`
 * shows both per resource, with the part used beyond the subscriptions as `burst`; a start is
 * refused (402, when billing is enforced) if the balance cannot pay 5 days of that burst.
 */
import type { ReadTx } from '../../store/types.js';
import { parseDoc } from '../common.js';
import { DRIVE_STATUSES, type DriveDoc } from '../drives/model.js';
import type { ServerDoc, ServerStatus } from '../servers/model.js';
import { cost, LICENSES } from './catalogue.js';
import { type BillingSettings, checkFunds } from './ledger.js';
import { type Money, ZERO } from './money.js';
import { statusAt, subscriptionsOf } from './subscriptions.js';

/** Servers count from the moment a start is accepted until they are stopped. */
export const USING: readonly ServerStatus[] = [
  'starting',
  'running',
  'stopping',
  'paused',
  'unavailable',
];

/** Always reported, even at zero (clients read e.g. `intel_cpu`), as the fixture lists them. */
const BASE_KEYS = [
  'cpu',
  'mem',
  'amd_cpu',
  'amd_mem',
  'intel_cpu',
  'intel_mem',
  'sparc_t4_cpu',
  'sparc_t4_mem',
  'dssd',
  'ssd',
  'zadara',
  'nvme',
  'ip',
  'vlan',
  'vlan_ecx',
  'tx',
  'sms',
  ...LICENSES.map((l) => l.name),
];

export interface UsageEntry {
  burst: number;
  subscribed: number;
  using: number;
}

/** Per resource: what runs and is stored now, what active subscriptions cover, and the burst. */
export async function currentUsage(
  tx: ReadTx,
  owner: string,
  now: number,
): Promise<Record<string, UsageEntry>> {
  const usage: Record<string, UsageEntry> = {};
  const entry = (key: string) => {
    usage[key] ??= { burst: 0, subscribed: 0, using: 0 };
    return usage[key];
  };
  for (const key of BASE_KEYS) entry(key);
  const [servers, drives, ips, vlans, subscriptions] = await Promise.all([
    tx.byStatus('servers', USING, owner),
    tx.byStatus('drives', DRIVE_STATUSES, owner),
    tx.byStatus('ips', ['subscribed'], owner),
    tx.byStatus('vlans', ['subscribed'], owner),
    subscriptionsOf(tx, owner),
  ]);
  for (const record of servers) {
    const server = parseDoc<ServerDoc>(record);
    entry('cpu').using += server.cpu;
    entry('mem').using += server.mem;
    entry(`${server.cpu_type}_cpu`).using += server.cpu;
    entry(`${server.cpu_type}_mem`).using += server.mem;
  }
  for (const record of drives) {
    const drive = parseDoc<DriveDoc>(record);
    entry(drive.storage_type).using += drive.size;
  }
  entry('ip').using += ips.length;
  entry('vlan').using += vlans.length;
  for (const subscription of subscriptions) {
    if (statusAt(subscription, now) !== 'active') continue;
    const amount = Number(subscription.amount);
    entry(subscription.resource).subscribed += amount;
    // Plain cpu and mem are the AMD hosts' (the fixture shows them under amd_* too).
    if (subscription.resource === 'cpu' || subscription.resource === 'mem') {
      entry(`amd_${subscription.resource}`).subscribed += amount;
    }
  }
  for (const value of Object.values(usage)) {
    value.burst = Math.max(0, value.using - value.subscribed);
  }
  return usage;
}

const BURST_CHECK_SECONDS = 5 * 24 * 3600;

/**
 * A start needs funds for 5 days of the burst it makes (§2.3): refused with 402 when billing is
 * enforced and the balance cannot pay them.
 */
export async function checkStartFunds(
  tx: ReadTx,
  settings: BillingSettings,
  server: ServerDoc,
  now: number,
): Promise<void> {
  if (!settings.enforce) return;
  const usage = await currentUsage(tx, server.owner, now);
  let needed: Money = ZERO;
  for (const [key, added] of [
    ['cpu', server.cpu],
    ['mem', server.mem],
  ] as const) {
    const { using, subscribed } = usage[key]!;
    const burst = Math.max(0, using + added - subscribed);
    needed += cost(key, BigInt(burst), BURST_CHECK_SECONDS);
  }
  await checkFunds(
    tx,
    server.owner,
    settings,
    needed,
    `5 days of burst usage of server ${server.uuid}`,
  );
}
