/**
 * What this cloud sells and at what price (api-reference.md §5.5): a minimal, valid catalogue in
 * the account currency (EUR). `/pricing/`, `/discount/` and `/licenses/` show it; subscriptions are
 * priced from it. Prices are per unit per 30 days (`multiplier` turns them into a price per base
 * unit per second, as CloudSigma's do), except transfer, which is per GB.
 */
import { type Money, money, mulDiv, ZERO } from './money.js';

export const CURRENCY = 'EUR';
export const MONTH_SECONDS = 30 * 24 * 3600;
const GIB = 2 ** 30;

export interface Price {
  id: string;
  resource: string;
  unit: string;
  /** Base units (bytes, MHz, items) per price unit, times seconds per month when timed. */
  multiplier: number;
  price: string;
  level: number;
  currency: string;
  /** Priced per amount and time (false: per amount only, transfer). */
  timed: boolean;
}

interface Item {
  resource: string;
  unit: string;
  perUnit: number;
  price: string;
  timed?: boolean;
}

/** The licenses library drives may carry (the catalogue of `/licenses/`). */
export const LICENSES = [
  {
    id: '13',
    burstable: false,
    long_name: 'SQL Server Enterprise Edition',
    name: 'msft_7jq_00341',
    type: 'instance',
    user_metric: 'smp',
    price: '290.0',
  },
  {
    id: '14',
    burstable: false,
    long_name: 'SQL Server Standard Edition',
    name: 'msft_7nq_00302',
    type: 'instance',
    user_metric: 'smp',
    price: '75.0',
  },
  {
    id: '12',
    burstable: true,
    long_name: 'Windows Server',
    name: 'msft_p73_04837_core',
    type: 'instance',
    user_metric: 'smp',
    price: '2.5',
  },
  {
    id: '15',
    burstable: false,
    long_name: 'SQL Server Web',
    name: 'msft_tfa_00523',
    type: 'instance',
    user_metric: 'smp',
    price: '12.0',
  },
] as const;

const ITEMS: Item[] = [
  { resource: 'cpu', unit: 'GHz/month', perUnit: 1000, price: '5.5' },
  { resource: 'intel_cpu', unit: 'GHz/month', perUnit: 1000, price: '6.6' },
  { resource: 'mem', unit: 'GB/month', perUnit: GIB, price: '7.0' },
  { resource: 'intel_mem', unit: 'GB/month', perUnit: GIB, price: '7.7' },
  { resource: 'dssd', unit: 'GB/month', perUnit: GIB, price: '0.21' },
  { resource: 'ssd', unit: 'GB/month', perUnit: GIB, price: '0.21' },
  { resource: 'zadara', unit: 'GB/month', perUnit: GIB, price: '0.14' },
  { resource: 'nvme', unit: 'GB/month', perUnit: GIB, price: '0.25' },
  { resource: 'ip', unit: 'IP/month', perUnit: 1, price: '4.0' },
  { resource: 'vlan', unit: 'VLAN/month', perUnit: 1, price: '12.0' },
  { resource: 'tx', unit: 'GB', perUnit: GIB, price: '0.05', timed: false },
  ...LICENSES.map((l) => ({
    resource: l.name,
    unit: 'license/month',
    perUnit: 1,
    price: l.price,
  })),
];

/** The burst level every price here is at (`/pricing/` `current` and `next`). */
export const LEVEL = 1;

export const PRICES: readonly Price[] = ITEMS.map((item, i) => {
  const timed = item.timed ?? true;
  return {
    id: String(i + 1),
    resource: item.resource,
    unit: item.unit,
    multiplier: item.perUnit * (timed ? MONTH_SECONDS : 1),
    price: item.price,
    level: LEVEL,
    currency: CURRENCY,
    timed,
  };
});

const BY_RESOURCE = new Map(PRICES.map((p) => [p.resource, p]));

/** Resources a subscription may be bought for; `hdd` is an alias of `dssd` (being deprecated). */
export function subscribable(resource: string): string | undefined {
  const name = resource === 'hdd' ? 'dssd' : resource;
  return BY_RESOURCE.has(name) ? name : undefined;
}

export function priceOf(resource: string): Price | undefined {
  return BY_RESOURCE.get(resource);
}

/** The price of `amount` base units of `resource` for `seconds` (ignored for untimed ones). */
export function cost(resource: string, amount: bigint, seconds: number): Money {
  const price = BY_RESOURCE.get(resource);
  if (!price) return ZERO;
  const per = money(price.price) * amount;
  return price.timed
    ? mulDiv(per, BigInt(Math.round(seconds)), BigInt(price.multiplier))
    : mulDiv(per, 1n, BigInt(price.multiplier));
}

/** Discounts for long subscriptions (`/discount/`): the longest period covered applies. */
export const DISCOUNTS = [
  { period: '3 months', value: '0.0300000000' },
  { period: '6 months', value: '0.1000000000' },
  { period: '1 year', value: '0.2500000000' },
  { period: '2 years', value: '0.3500000000' },
  { period: '3 years', value: '0.4500000000' },
] as const;
