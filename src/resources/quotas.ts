/**
 * Objects per account (`--max-objects-per-account`): which kinds an account creates through the
 * API, and how many of each it may own. The store enforces them (`Store.setQuotas`) on the count
 * row every insert updates anyway, so a create pays no query for it.
 */
import { ConfigError } from '../config.js';
import type { ObjectQuotas } from '../store/types.js';

/**
 * The kinds an account makes by asking. IPs and VLANs come with subscriptions (limited here) and
 * from bounded pools (`--ip-pool`, `--vlan-tags`); jobs, ledger entries and the audit log are
 * the cloud's doing, never refused for a quota.
 */
export const QUOTA_KINDS: readonly string[] = [
  'servers',
  'drives',
  'snapshots',
  'tags',
  'keypairs',
  'acls',
  'fwpolicies',
  'subscriptions',
];

/** Reads `N`, `KIND=N` and both, comma-separated: `200000,tags=5000`. */
export function parseQuotas(spec: string): ObjectQuotas {
  const quotas = new Map<string, number>();
  let all: number | undefined;
  for (const part of spec.split(',').map((p) => p.trim())) {
    if (part === '') continue;
    const [kind, value] = part.includes('=') ? part.split('=', 2) : [undefined, part];
    const n = Number(value?.trim());
    if (!Number.isSafeInteger(n) || n < 0 || value?.trim() === '') {
      throw new ConfigError(`--max-objects-per-account: "${part}" is not a whole number`);
    }
    if (kind === undefined) all = n;
    else if (!QUOTA_KINDS.includes(kind.trim())) {
      throw new ConfigError(
        `--max-objects-per-account: no quota for "${kind.trim()}" (kinds: ${QUOTA_KINDS.join(', ')})`,
      );
    } else quotas.set(kind.trim(), n);
  }
  if (all !== undefined)
    for (const kind of QUOTA_KINDS) if (!quotas.has(kind)) quotas.set(kind, all);
  return quotas;
}
