/**
 * An account's money: its balance (the configured starting balance, less what it bought) and the
 * ledger of every charge (api-reference.md §5.5). A purchase that the balance cannot cover answers
 * 402 `billing` only when enforcement is on (`--enforce-billing`); otherwise the balance may go
 * below zero.
 */
import { errors } from '../../errors.js';
import type { ResourceDef } from '../../model/fields.js';
import type { ReadTx, WriteTx } from '../../store/types.js';
import { parseDoc, toRecord, toUpdate } from '../common.js';
import { CURRENCY } from './catalogue.js';
import { formatMoney, type Money, money } from './money.js';
import { isoTime } from './periods.js';

export interface BillingSettings {
  /** What every account starts with (`--balance`). */
  startingBalance: string;
  /** Refuse (402) what the balance cannot pay for (`--enforce-billing`). */
  enforce: boolean;
}

// --- Integer ids -----------------------------------------------------------------------------

const HINTS = 'billing.next';

/**
 * The next integer id of a sequence (subscriptions, ledger entries), unique in the cloud: a claim
 * by `holder` (a fresh uuid, so that a claim answers for one transaction only), searched from the
 * last one handed out. Ids are never handed out again.
 */
export async function nextId(
  tx: WriteTx,
  sequence: 'subscriptions' | 'ledger',
  holder: string,
): Promise<string> {
  const hint = Number((await tx.getState(HINTS, sequence)) ?? 1);
  for (let n = Number.isSafeInteger(hint) && hint > 0 ? hint : 1; ; n++) {
    const id = String(n);
    if (await tx.claim(`billing.id.${sequence}`, id, holder)) {
      await tx.putState(HINTS, sequence, String(n + 1));
      return id;
    }
  }
}

/** The store uuid of an object with an integer id (ledger ids live apart from subscriptions'). */
export function recordUuid(sequence: 'subscriptions' | 'ledger', id: string): string {
  return sequence === 'ledger' ? `ledger-${id}` : id;
}

// --- Balance ---------------------------------------------------------------------------------

interface BalanceDoc {
  owner: string;
  balance: string;
}

const BALANCES: ResourceDef = {
  kind: 'balance',
  allowedListMethods: [],
  allowedDetailMethods: [],
  fields: {},
};

const balanceKind = {
  def: BALANCES,
  uuid: (d: BalanceDoc) => `balance-${d.owner}`,
  owner: (d: BalanceDoc) => d.owner,
  name: () => '',
  status: () => null,
  render: (d: BalanceDoc) => ({ balance: d.balance, credit_limit: null, currency: CURRENCY }),
};

/** The account's balance as `/balance/` shows it: the starting balance until it buys something. */
export async function balanceText(
  tx: ReadTx,
  owner: string,
  settings: BillingSettings,
): Promise<string> {
  const record = await tx.get(`balance-${owner}`);
  return record?.kind === 'balance'
    ? parseDoc<BalanceDoc>(record).balance
    : settings.startingBalance;
}

export async function balanceOf(
  tx: ReadTx,
  owner: string,
  settings: BillingSettings,
): Promise<Money> {
  return money(await balanceText(tx, owner, settings));
}

/** Refuses (402) what the balance cannot cover, when enforcement is on. */
export async function checkFunds(
  tx: ReadTx,
  owner: string,
  settings: BillingSettings,
  amount: Money,
  what: string,
): Promise<void> {
  if (!settings.enforce || amount <= 0n) return;
  const balance = await balanceOf(tx, owner, settings);
  if (balance < amount) {
    throw errors.notEnoughFunds(
      `Not enough funds for ${what}: it needs ${formatMoney(amount, 2)} ${CURRENCY}, the balance is ${formatMoney(balance, 2)} ${CURRENCY}`,
    );
  }
}

// --- The ledger ------------------------------------------------------------------------------

export interface LedgerDoc {
  id: string;
  owner: string;
  time: number;
  amount: string;
  initial: string;
  end: string;
  reason: string;
  resource_amount: string;
}

export const LEDGER_KIND = 'ledger';

const LEDGER_DEF: ResourceDef = {
  kind: LEDGER_KIND,
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  fields: {},
};

export const ledgerKind = {
  def: LEDGER_DEF,
  uuid: (d: LedgerDoc) => recordUuid('ledger', d.id),
  owner: (d: LedgerDoc) => d.owner,
  name: () => '',
  status: () => null,
  render: (d: LedgerDoc) => ({
    amount: d.amount,
    billing_cycle: null,
    end: d.end,
    human_interval: null,
    id: d.id,
    initial: d.initial,
    interval: null,
    poll_time: isoTime(d.time),
    reason: d.reason,
    resource_amount: d.resource_amount,
    time: isoTime(d.time),
  }),
};

/**
 * Takes `amount` from the balance and writes the ledger entry, in the caller's transaction
 * (refused with 402 first when enforcement is on and the balance cannot cover it).
 */
export async function charge(
  tx: WriteTx,
  settings: BillingSettings,
  owner: string,
  entry: { amount: Money; reason: string; resourceAmount: string; time: number; key: string },
): Promise<void> {
  await checkFunds(tx, owner, settings, entry.amount, entry.reason);
  // Every caller took an id first (`nextId` writes its hint row), so concurrent purchases reach
  // this point one after another: the first one's balance object is there for the next.
  const uuid = `balance-${owner}`;
  const record = await tx.get(uuid);
  const initial =
    record?.kind === 'balance' ? parseDoc<BalanceDoc>(record).balance : settings.startingBalance;
  const end = formatMoney(money(initial) - entry.amount);
  const doc: BalanceDoc = { owner, balance: end };
  if (record) await tx.update(toUpdate(balanceKind, record, doc));
  else await tx.insert(toRecord(balanceKind, doc));
  const id = await nextId(tx, 'ledger', entry.key);
  await tx.insert(
    toRecord(ledgerKind, {
      id,
      owner,
      time: entry.time,
      amount: formatMoney(entry.amount),
      initial: formatMoney(money(initial)),
      end,
      reason: entry.reason,
      resource_amount: entry.resourceAmount,
    }),
  );
}
