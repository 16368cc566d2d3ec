/**
 * Subscriptions (api-reference.md §5.5, subscriptions.rst): bought with `POST /subscriptions/`,
 * priced from the catalogue, charged to the balance. Buying `ip` or `vlan` with amount N makes N
 * subscriptions and their IP or VLAN objects; other resources are recorded (they count as
 * `subscribed` in `/currentusage/`). `extend` chains a new subscription after the last of a
 * chain; at the chain's end an engine task renews it (auto_renew) or lets it expire, taking its
 * IP or VLAN away.
 */

import type { EngineModule, TaskHandler } from '../../engine/engine.js';
import { ApiError, errors } from '../../errors.js';
import type { ResourceDef } from '../../model/fields.js';
import { readInteger } from '../../model/input.js';
import { isPlainObject } from '../../model/json.js';
import type { Random } from '../../model/random.js';
import { resourceUri } from '../../model/refs.js';
import type { ObjectRecord, ReadTx, WriteTx } from '../../store/types.js';
import { type DocKind, parseDoc, toRecord, toUpdate } from '../common.js';
import { ExhaustedError } from '../networking/pool.js';
import {
  createSubscribedIp,
  createVlan,
  type NetworkSettings,
  removeSubscribedObject,
} from '../networking/service.js';
import { TASKS } from '../tasks.js';
import { cost, DISCOUNTS, PRICES, subscribable } from './catalogue.js';
import { type BillingSettings, charge, checkFunds, nextId } from './ledger.js';
import { formatMoney, type Money, money, times, ZERO } from './money.js';
import {
  addPeriod,
  isoTime,
  nextNoon,
  type Period,
  parsePeriod,
  parseTime,
  previousNoon,
  timedeltaText,
} from './periods.js';
import { modelField as model } from './schemas.js';

export const SUBSCRIPTION_STATUSES = ['active', 'inactive', 'expired'] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

/** At most this many subscriptions in one purchase (subscriptions.rst). */
export const MAX_PER_REQUEST = 500;

export const TASK_SUBSCRIPTION_END = TASKS.subscriptionEnd;

export interface SubscriptionDoc {
  /** Integer-like id (also the store uuid). */
  id: string;
  uuid: string;
  owner: string;
  resource: string;
  amount: string;
  start: number;
  /** Null for transfer (`tx`): depleted, not timed. */
  end: number | null;
  /** The period asked for, parsed again for an extension; null when bought with an end_time. */
  period: string | null;
  auto_renew: boolean;
  price: string;
  discount_amount: string;
  discount_percent: string;
  discounts: Record<string, string>;
  /** The IP address or VLAN uuid bought with it. */
  subscribed_object: string | null;
  /** The first subscription of its chain (its own id unless it extends another). */
  root: string;
  /** On a chain's first subscription: the extensions, in order. */
  descendants: string[];
}

/** As `response_subscription_schema` renders it (a tastypie model resource). */
export const SUBSCRIPTIONS: ResourceDef = {
  kind: 'subscriptions',
  allowedListMethods: ['get', 'post'],
  allowedDetailMethods: ['get', 'post'],
  schemaOmitsRequired: true,
  filtering: { subscribed_object: ['exact'] },
  fields: {
    amount: model('string', 'Subscription amount', { default: 1 }),
    auto_renew: model('boolean', 'States if the subscription will auto renew on expire', {
      default: true,
    }),
    descendants: model('related', 'Subscriptions that have been extended from the current one', {
      nullable: true,
      readonly: true,
      shape: 'many',
      output: {
        fields: {
          id: { type: 'integer', help: 'Id of the subscription' },
          resource_uri: { type: 'string', help: 'URI of the subscription' },
        },
      },
    }),
    discount_amount: model('decimal', 'Amount of discount', { blank: true, nullable: true }),
    discount_percent: model('decimal', 'Percent of discount', { blank: true, nullable: true }),
    discounts: model('dict', 'All discounts for this subscription', {
      blank: true,
      nullable: true,
      readonly: true,
    }),
    // Null for transfer (`tx`): depleted, not timed.
    end_time: model('datetime', 'End time of subscription', {
      nullable: true,
      output: { nullable: true },
    }),
    free_tier: model('boolean', 'Boolean data. Ex: True', { default: false }),
    id: model('string', 'Unicode string data. Ex: "Hello World"', { default: '', unique: true }),
    period: model('string', 'Duration of the subscription'),
    price: model('decimal', 'Subscription price', { default: 0 }),
    remaining: model('string', 'Amount remaining', { nullable: true }),
    resource: model('string', 'Name of resource associated with the subscription'),
    resource_uri: model('string', 'Unicode string data. Ex: "Hello World"', { readonly: true }),
    start_time: model('datetime', 'Start time of subscription', {
      default: '2015-03-19T13:55:01.236421+00:00',
    }),
    status: model('string', 'Status of the subscription', {
      readonly: true,
      output: { choices: SUBSCRIPTION_STATUSES },
    }),
    subscribed_object: model(
      'string',
      'Subscribed object - the target of this subscription, if applicable',
      { nullable: true, output: { nullable: true } },
    ),
    uuid: model('string', 'Unicode string data. Ex: "Hello World"', {
      nullable: true,
      unique: true,
    }),
    was_billed: model('boolean', 'Boolean data. Ex: True', { default: false }),
  },
};

export function statusAt(doc: Pick<SubscriptionDoc, 'start' | 'end'>, now: number) {
  if (now < doc.start) return 'inactive';
  if (doc.end !== null && now >= doc.end) return 'expired';
  return 'active';
}

function subscriptionLinkTo(id: string): { id: number; resource_uri: string } {
  return { id: Number(id), resource_uri: resourceUri('subscriptions', id) };
}

/** The subscription as clients see it at `now` (its status depends on the time). */
export function renderSubscription(doc: SubscriptionDoc, now: number): Record<string, unknown> {
  return {
    ...renderTerms(doc),
    auto_renew: doc.auto_renew,
    descendants: doc.descendants.map(subscriptionLinkTo),
    id: doc.id,
    remaining: doc.amount,
    resource_uri: resourceUri('subscriptions', doc.id),
    status: statusAt(doc, now),
    subscribed_object: doc.subscribed_object,
    uuid: doc.uuid,
  };
}

/** What the calculator answers: the terms and the price of a purchase, without buying it. */
function renderTerms(terms: Terms): Record<string, unknown> {
  return {
    amount: terms.amount,
    discount_amount: terms.discount_amount,
    discount_percent: terms.discount_percent,
    discounts: terms.discounts,
    end_time: terms.end === null ? null : isoTime(terms.end),
    free_tier: false,
    period: terms.end === null ? '' : timedeltaText(terms.end - terms.start),
    price: terms.price,
    resource: terms.resource,
    start_time: isoTime(terms.start),
    was_billed: true,
  };
}

/** Rendered at write time (events carry it); reads render again, with the status of the moment. */
export function subscriptionKind(now: () => number): DocKind<SubscriptionDoc> {
  return {
    def: SUBSCRIPTIONS,
    uuid: (d) => d.id,
    owner: (d) => d.owner,
    name: (d) => d.resource,
    status: (d) => statusAt(d, now()),
    render: (d) => renderSubscription(d, now()),
  };
}

// --- Purchases -------------------------------------------------------------------------------

type Terms = Pick<
  SubscriptionDoc,
  | 'resource'
  | 'amount'
  | 'start'
  | 'end'
  | 'period'
  | 'price'
  | 'discount_amount'
  | 'discount_percent'
  | 'discounts'
>;

interface Purchase {
  resource: string;
  amount: bigint;
  autoRenew: boolean;
  startTime?: number;
  endTime?: number;
  period?: { text: string; parsed: Period };
}

const TIME_POINTS = ['start_time', 'end_time'] as const;

function readPurchase(item: unknown): Purchase {
  if (!isPlainObject(item)) throw errors.invalid(null, 'Expected a JSON object');
  if (item.resource === undefined || item.resource === null || item.resource === '') {
    throw errors.required('resource');
  }
  if (typeof item.resource !== 'string') throw errors.invalid('resource', 'Expected a string');
  const resource = subscribable(item.resource);
  if (!resource) {
    const offered = [...new Set(PRICES.map((p) => p.resource)), 'hdd'].join(', ');
    throw errors.invalid(
      'resource',
      `"${item.resource}" cannot be subscribed to. Resources: ${offered}`,
    );
  }
  const amount = item.amount === undefined ? 1 : readInteger(item.amount, 'amount');
  if (amount < 1) throw errors.invalid('amount', 'The amount must be 1 or more');
  if (item.auto_renew !== undefined && typeof item.auto_renew !== 'boolean') {
    throw errors.invalid('auto_renew', 'Expected true or false');
  }
  const purchase: Purchase = {
    resource,
    amount: BigInt(amount),
    autoRenew: item.auto_renew !== false,
  };
  for (const point of TIME_POINTS) {
    const value = item[point];
    if (value === undefined || value === null) continue;
    const time = typeof value === 'string' ? parseTime(value) : undefined;
    if (time === undefined) {
      throw errors.invalid(point, 'Expected an ISO 8601 time, e.g. 2015-03-19T13:55:00+00:00');
    }
    if (point === 'start_time') purchase.startTime = time;
    else purchase.endTime = time;
  }
  if (item.period !== undefined && item.period !== null) {
    const parsed = typeof item.period === 'string' ? parsePeriod(item.period) : undefined;
    if (!parsed) {
      throw errors.invalid(
        'period',
        'Expected a period such as "1 month", "30 days" or "1 year 2 months"',
      );
    }
    purchase.period = { text: item.period as string, parsed };
  }
  return purchase;
}

/**
 * Start and end by subscriptions.rst's table: two of start_time, end_time and period (or an
 * end_time or a period alone, from now); the end rounds up to noon UTC, the start to the later of
 * now and the previous noon. Transfer is not timed.
 */
function timesOf(
  purchase: Purchase,
  now: number,
): { start: number; end: number | null; period: string | null } {
  if (purchase.resource === 'tx') return { start: now, end: null, period: null };
  const { startTime, endTime, period } = purchase;
  if (startTime !== undefined && endTime !== undefined && period) {
    throw errors.invalid('period', 'Ambiguous: give two of start_time, end_time and period');
  }
  if (endTime === undefined && !period) {
    throw errors.invalid(
      'period',
      'Not specific enough: give a period or an end_time (with a start_time if not from now)',
    );
  }
  const startFrom = (time: number) => Math.max(now, previousNoon(time));
  let start: number;
  let end: number;
  if (endTime !== undefined) {
    end = nextNoon(endTime);
    if (startTime !== undefined) start = startFrom(startTime);
    else if (period) start = startFrom(addPeriod(end, period.parsed, -1));
    else start = now;
  } else {
    start = startTime === undefined ? now : startFrom(startTime);
    end = nextNoon(addPeriod(start, period!.parsed));
  }
  if (end <= start) throw errors.invalid('end_time', 'The subscription would end before it starts');
  return { start, end, period: endTime === undefined ? period!.text : null };
}

/** The price of an amount of a resource between two times, less the longest period discount. */
function priced(
  resource: string,
  amount: bigint,
  start: number,
  end: number | null,
): Pick<Terms, 'price' | 'discount_amount' | 'discount_percent' | 'discounts'> {
  const gross = cost(resource, amount, end === null ? 0 : (end - start) / 1000);
  let rate: Money = ZERO;
  let rateText = '0';
  if (end !== null) {
    for (const discount of DISCOUNTS) {
      if (addPeriod(start, parsePeriod(discount.period)!) <= end) {
        rate = money(discount.value);
        rateText = discount.value;
      }
    }
  }
  const discount = times(gross, rate);
  return {
    price: formatMoney(gross - discount),
    discount_amount: formatMoney(discount),
    discount_percent: rateText,
    discounts: rate === ZERO ? {} : { period: rateText },
  };
}

function quote(purchase: Purchase, amount: bigint, now: number): Terms {
  const { start, end, period } = timesOf(purchase, now);
  return {
    resource: purchase.resource,
    amount: amount.toString(),
    start,
    end,
    period,
    ...priced(purchase.resource, amount, start, end),
  };
}

/** The subscriptions a request buys: `ip` and `vlan` with amount N are N subscriptions of one. */
function quotes(items: unknown[], now: number): { terms: Terms; autoRenew: boolean }[] {
  const out: { terms: Terms; autoRenew: boolean }[] = [];
  for (const item of items) {
    const purchase = readPurchase(item);
    const single = purchase.resource === 'ip' || purchase.resource === 'vlan';
    const count = single ? purchase.amount : 1n;
    if (BigInt(out.length) + count > BigInt(MAX_PER_REQUEST)) {
      throw errors.invalid(
        'objects',
        `At most ${MAX_PER_REQUEST} subscriptions can be bought in one request`,
      );
    }
    for (let i = 0n; i < count; i++) {
      out.push({
        terms: quote(purchase, single ? 1n : purchase.amount, now),
        autoRenew: purchase.autoRenew,
      });
    }
  }
  return out;
}

function totalOf(prices: readonly string[]): string {
  return formatMoney(prices.reduce((sum, p) => sum + money(p), ZERO));
}

export interface SubscriptionEnv {
  net: NetworkSettings;
  billing: BillingSettings;
  random: Random;
  now: () => number;
}

/** `POST /subscriptioncalculator/`: what the purchase would cost. */
export function calculate(items: unknown[], now: number): Record<string, unknown> {
  const bought = quotes(items, now);
  return {
    objects: bought.map(({ terms }) => renderTerms(terms)),
    price: totalOf(bought.map(({ terms }) => terms.price)),
  };
}

/**
 * `POST /subscriptions/`: buys, all or nothing; returns the rendered subscriptions and the total.
 * `wanted`: the IP address or VLAN uuid each bought subscription (by index) gets instead of a free
 * one (seed files; never from a client).
 */
export async function purchase(
  env: SubscriptionEnv,
  tx: WriteTx,
  owner: string,
  items: unknown[],
  wanted: readonly (string | undefined)[] = [],
): Promise<{ objects: Record<string, unknown>[]; price: string }> {
  const now = env.now();
  const bought = quotes(items, now);
  const kind = subscriptionKind(env.now);
  const objects: Record<string, unknown>[] = [];
  for (const [i, { terms, autoRenew }] of bought.entries()) {
    const uuid = env.random.uuid();
    const id = await nextId(tx, 'subscriptions', uuid);
    const doc: SubscriptionDoc = {
      ...terms,
      id,
      uuid,
      owner,
      auto_renew: autoRenew,
      subscribed_object: await createObject(env, tx, owner, terms.resource, id, wanted[i]),
      root: id,
      descendants: [],
    };
    await charge(tx, env.billing, owner, {
      amount: money(doc.price),
      reason: reasonOf(doc),
      resourceAmount: doc.amount,
      time: now,
      key: env.random.uuid(),
    });
    await tx.insert(toRecord(kind, doc));
    if (doc.end !== null) await scheduleEnd(tx, env.random, id, doc.end);
    objects.push(renderSubscription(doc, now));
  }
  return { objects, price: totalOf(bought.map(({ terms }) => terms.price)) };
}

async function createObject(
  env: SubscriptionEnv,
  tx: WriteTx,
  owner: string,
  resource: string,
  id: string,
  wanted: string | undefined,
): Promise<string | null> {
  try {
    if (resource === 'ip') return await createSubscribedIp(tx, env.net, owner, id, wanted);
    if (resource === 'vlan') return await createVlan(tx, env.net, env.random, owner, id, wanted);
  } catch (e) {
    if (e instanceof ExhaustedError) {
      throw errors.outOfCapacity(
        resource === 'ip'
          ? 'No free address is left in the IP pool (--ip-pool)'
          : 'No free VLAN is left (--vlan-tags)',
      );
    }
    throw e;
  }
  return null;
}

function reasonOf(doc: SubscriptionDoc): string {
  const until = doc.end === null ? '' : ` until ${isoTime(doc.end)}`;
  const target = doc.subscribed_object === null ? '' : ` (${doc.subscribed_object})`;
  return `Subscription ${doc.id}: ${doc.amount} of ${doc.resource}${target}${until}`;
}

/** The engine task that ends (renews or expires) a chain, due when its last subscription ends. */
async function scheduleEnd(tx: WriteTx, random: Random, root: string, at: number): Promise<void> {
  for (const task of await tx.tasksOf(root)) {
    if (task.type === TASK_SUBSCRIPTION_END) await tx.removeTask(task.id);
  }
  await tx.addTask({
    id: random.uuid(),
    type: TASK_SUBSCRIPTION_END,
    target: root,
    payload: '{}',
    dueAt: at,
  });
}

// --- Chains: extend, auto_renew --------------------------------------------------------------

interface Loaded {
  record: ObjectRecord;
  doc: SubscriptionDoc;
}

async function loadSubscription(tx: ReadTx, id: string): Promise<Loaded | undefined> {
  const record = await tx.get(id);
  if (record?.kind !== 'subscriptions') return undefined;
  return { record, doc: parseDoc<SubscriptionDoc>(record) };
}

/** The chain `doc` belongs to: its first subscription and its last. */
async function chainOf(tx: ReadTx, doc: SubscriptionDoc): Promise<{ root: Loaded; last: Loaded }> {
  const root = (await loadSubscription(tx, doc.root))!;
  const lastId = root.doc.descendants.at(-1);
  const last = lastId === undefined ? root : ((await loadSubscription(tx, lastId)) ?? root);
  return { root, last };
}

/**
 * The terms of an extension of a chain: from the end of its last subscription, for the period or
 * until the end_time given, else as long as the last one (a period bought is parsed again from
 * the new start; an interval bought with an end_time is repeated exactly).
 */
function extensionTerms(last: SubscriptionDoc, body: unknown): Terms {
  if (last.end === null) {
    throw errors.permission(
      `Subscription ${last.id} (${last.resource}) is not timed: it cannot be extended`,
    );
  }
  if (body !== undefined && body !== null && !isPlainObject(body)) {
    throw errors.invalid(null, 'Expected a JSON object');
  }
  const given = (body ?? {}) as Record<string, unknown>;
  const start = last.end;
  let end: number;
  let period: string | null;
  if (given.period !== undefined && given.period !== null) {
    const parsed = typeof given.period === 'string' ? parsePeriod(given.period) : undefined;
    if (!parsed) throw errors.invalid('period', 'Expected a period such as "1 month"');
    period = given.period as string;
    end = nextNoon(addPeriod(start, parsed));
  } else if (given.end_time !== undefined && given.end_time !== null) {
    const time = typeof given.end_time === 'string' ? parseTime(given.end_time) : undefined;
    if (time === undefined) throw errors.invalid('end_time', 'Expected an ISO 8601 time');
    period = null;
    end = nextNoon(time);
  } else if (last.period !== null) {
    period = last.period;
    end = nextNoon(addPeriod(start, parsePeriod(last.period)!));
  } else {
    period = null;
    end = start + (last.end - last.start);
  }
  if (end <= start) throw errors.invalid('end_time', 'The extension would end before it starts');
  return {
    resource: last.resource,
    amount: last.amount,
    start,
    end,
    period,
    ...priced(last.resource, BigInt(last.amount), start, end),
  };
}

/** `?do=extend` on the calculator: the price of extending, without buying. */
export async function calculateExtension(
  tx: ReadTx,
  owner: string,
  id: string,
  body: unknown,
): Promise<Record<string, unknown>> {
  const loaded = await loadSubscription(tx, id);
  if (!loaded || loaded.doc.owner !== owner) throw errors.notExist(id);
  const { last } = await chainOf(tx, loaded.doc);
  return renderTerms(extensionTerms(last.doc, body));
}

/** Appends an extension to the chain of `doc` and charges it; returns it. */
async function extendChain(
  env: SubscriptionEnv,
  tx: WriteTx,
  doc: SubscriptionDoc,
  body: unknown,
): Promise<SubscriptionDoc> {
  const { root, last } = await chainOf(tx, doc);
  const terms = extensionTerms(last.doc, body);
  // Before anything is written: the end of a chain that cannot pay expires instead.
  await checkFunds(
    tx,
    root.doc.owner,
    env.billing,
    money(terms.price),
    `extending subscription ${root.doc.id}`,
  );
  const uuid = env.random.uuid();
  const id = await nextId(tx, 'subscriptions', uuid);
  const extension: SubscriptionDoc = {
    ...terms,
    id,
    uuid,
    owner: root.doc.owner,
    auto_renew: last.doc.auto_renew,
    subscribed_object: root.doc.subscribed_object,
    root: root.doc.id,
    descendants: [],
  };
  await charge(tx, env.billing, extension.owner, {
    amount: money(extension.price),
    reason: reasonOf(extension),
    resourceAmount: extension.amount,
    time: env.now(),
    key: env.random.uuid(),
  });
  const kind = subscriptionKind(env.now);
  await tx.insert(toRecord(kind, extension));
  root.doc.descendants = [...root.doc.descendants, id];
  await tx.update(toUpdate(kind, root.record, root.doc));
  await scheduleEnd(tx, env.random, root.doc.id, extension.end!);
  return extension;
}

/** `POST /subscriptions/{id}/action/?do=extend`: the new subscription (200). */
export async function extend(
  env: SubscriptionEnv,
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<Record<string, unknown>> {
  const extension = await extendChain(env, tx, parseDoc<SubscriptionDoc>(record), body);
  return renderSubscription(extension, env.now());
}

/**
 * `?do=auto_renew`: sets the flag to the body's `auto_renew`, or toggles it; the whole chain
 * follows (its end renews when the flag is on).
 */
export async function setAutoRenew(
  env: SubscriptionEnv,
  tx: WriteTx,
  record: ObjectRecord,
  body: unknown,
): Promise<Record<string, unknown>> {
  const doc = parseDoc<SubscriptionDoc>(record);
  let value = !doc.auto_renew;
  if (isPlainObject(body) && body.auto_renew !== undefined) {
    if (typeof body.auto_renew !== 'boolean') {
      throw errors.invalid('auto_renew', 'Expected true or false');
    }
    value = body.auto_renew;
  }
  const kind = subscriptionKind(env.now);
  const { root } = await chainOf(tx, doc);
  let self = doc;
  for (const id of [root.doc.id, ...root.doc.descendants]) {
    const member = await loadSubscription(tx, id);
    if (!member) continue;
    member.doc.auto_renew = value;
    await tx.update(toUpdate(kind, member.record, member.doc));
    if (id === doc.id) self = member.doc;
  }
  return renderSubscription(self, env.now());
}

// --- The end of a chain ----------------------------------------------------------------------

/**
 * The task due when a chain's last subscription ends: renew (auto_renew, and funds if enforced)
 * or let it expire; an expired chain's IP or VLAN goes.
 */
export function subscriptionLifecycle(settings: {
  net: NetworkSettings;
  billing: BillingSettings;
  random: Random;
}): EngineModule {
  const end: TaskHandler = async (task, ctx) => {
    const env: SubscriptionEnv = { ...settings, now: () => ctx.clock.now() };
    await ctx.store.write(async (tx) => {
      await tx.removeTask(task.id);
      const root = await loadSubscription(tx, task.target);
      if (!root) return;
      const { last } = await chainOf(tx, root.doc);
      if (last.doc.end === null) return;
      if (last.doc.end > env.now()) {
        await scheduleEnd(tx, env.random, root.doc.id, last.doc.end);
        return;
      }
      if (last.doc.auto_renew) {
        try {
          await extendChain(env, tx, root.doc, undefined);
          return;
        } catch (e) {
          // Not enough funds (enforced): the chain expires instead.
          if (!(e instanceof ApiError && e.type === 'billing')) throw e;
        }
      }
      if (root.doc.subscribed_object !== null) {
        await removeSubscribedObject(tx, root.doc.subscribed_object);
      }
    });
  };
  return { name: 'subscriptions', tasks: { [TASK_SUBSCRIPTION_END]: end } };
}

/** Every subscription of an account (any status), newest first. */
export async function subscriptionsOf(tx: ReadTx, owner: string): Promise<SubscriptionDoc[]> {
  const records = await tx.byStatus('subscriptions', SUBSCRIPTION_STATUSES, owner);
  return records
    .map((record) => parseDoc<SubscriptionDoc>(record))
    .sort((a, b) => Number(b.id) - Number(a.id));
}
