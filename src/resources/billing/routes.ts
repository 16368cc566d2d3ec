/**
 * The billing endpoints (api-reference.md §5.5): `/subscriptions/` (list, buy, extend,
 * auto_renew), `/subscriptioncalculator/`, `/groupedsubscriptions/`, and the read-only
 * `/pricing/`, `/discount/`, `/ledger/` and `/licenses/`.
 */

import { errors } from '../../errors.js';
import { dispatchAction } from '../../http/actions.js';
import type { ApiContext, ApiResult, RouteSpec } from '../../http/api.js';
import { all, last, readPaging, splitValues } from '../../http/query.js';
import type { Fields, ResourceDef } from '../../model/fields.js';
import { canonicalJson } from '../../model/json.js';
import { resourceUri } from '../../model/refs.js';
import { renderSchema } from '../../model/schema.js';
import { loadVisible, noteUnknownObjects, readObjects } from '../common.js';
import type { ResourceEnv } from '../env.js';
import type { NetworkSettings } from '../networking/service.js';
import { DISCOUNTS, LEVEL, LICENSES, PRICES } from './catalogue.js';
import { type BillingSettings, LEDGER_KIND, recordUuid } from './ledger.js';
import { formatMoney, money, ZERO } from './money.js';
import { parseTime } from './periods.js';
import { DISCOUNT, LEDGER, LICENSES_DEF, PRICING } from './schemas.js';
import {
  calculate,
  calculateExtension,
  extend,
  purchase,
  renderSubscription,
  SUBSCRIPTIONS,
  type SubscriptionDoc,
  type SubscriptionEnv,
  setAutoRenew,
  statusAt,
  subscriptionsOf,
} from './subscriptions.js';

export type BillingEnv = ResourceEnv & { net: NetworkSettings; billing: BillingSettings };

const schemaRoute = (def: ResourceDef): RouteSpec => ({
  path: `/${def.kind}/schema/`,
  handlers: { GET: async () => ({ type: 'value', body: renderSchema(def) }) },
});

/** A page of objects rendered here (not stored), in the list envelope. */
function page(
  ctx: ApiContext,
  def: ResourceDef,
  objects: readonly unknown[],
): Extract<ApiResult, { type: 'list' }> {
  const paging = readPaging(ctx.query, def.defaultLimit ?? 20);
  const end = paging.limit === 0 ? undefined : paging.offset + paging.limit;
  return {
    type: 'list',
    total: objects.length,
    ...paging,
    items: objects.slice(paging.offset, end).map((o) => canonicalJson(o)),
  };
}

/** Values of a comma-list filter (`?resource=ip,vlan`, repeated parameters ANDed). */
function anyOf(ctx: ApiContext, name: string): ((value: string) => boolean) | undefined {
  const groups = all(ctx.query, name).map((text) => new Set(splitValues(text)));
  if (groups.length === 0) return undefined;
  return (value) => groups.every((group) => group.has(value));
}

const STATUS_FILTERS = ['active', 'inactive', 'expired', 'all', 'notexpired'];

/** Subscription lists and purchases also answer their total price. */
const TOTAL: Fields = { price: { type: 'decimal', help: 'Total price of the subscriptions' } };

/** `/pricing/` also answers the burst level of each resource, now and next. */
const LEVELS: Fields = {
  current: { type: 'dict', help: 'The price level of each resource now' },
  next: { type: 'dict', help: 'The price level of each resource next' },
};

export function billingRoutes(env: BillingEnv): RouteSpec[] {
  const subEnv = (): SubscriptionEnv => ({
    net: env.net,
    billing: env.billing,
    random: env.random,
    now: () => env.clock.now(),
  });

  /** The account's subscriptions a list query selects, newest first, rendered now. */
  const selected = async (ctx: ApiContext, grouped: boolean) => {
    const status = last(ctx.query, 'status') ?? 'all';
    if (!STATUS_FILTERS.includes(status)) {
      throw errors.invalid('status', `status must be one of ${STATUS_FILTERS.join(', ')}`);
    }
    const resource = anyOf(ctx, 'resource');
    const object = anyOf(ctx, 'subscribed_object');
    const now = env.clock.now();
    const docs = await env.store.read((tx) => subscriptionsOf(tx, ctx.principal.uuid));
    const byId = new Map(docs.map((d) => [d.id, d]));
    const shown: SubscriptionDoc[] = [];
    for (const doc of docs) {
      let view = doc;
      if (grouped) {
        // The first of each chain, with the end of its last.
        if (doc.root !== doc.id) continue;
        const lastId = doc.descendants.at(-1);
        const lastDoc = lastId === undefined ? undefined : byId.get(lastId);
        if (lastDoc) view = { ...doc, end: lastDoc.end };
      }
      const state = statusAt(view, now);
      if (status === 'notexpired' ? state === 'expired' : status !== 'all' && state !== status) {
        continue;
      }
      if (resource && !resource(view.resource)) continue;
      if (object && !object(view.subscribed_object ?? '')) continue;
      shown.push(view);
    }
    return shown.map((doc) => renderSubscription(doc, now));
  };

  const listSubscriptions = (grouped: boolean) => async (ctx: ApiContext) => {
    const result = page(ctx, SUBSCRIPTIONS, await selected(ctx, grouped));
    const objects = result.items.map((item) => JSON.parse(item as string) as { price: string });
    return {
      type: 'value' as const,
      body: {
        meta: { limit: result.limit, offset: result.offset, total_count: result.total },
        objects,
        price: formatMoney(objects.reduce((sum, o) => sum + money(o.price), ZERO)),
      },
    };
  };

  const subscriptionAction = (
    run: (
      env: SubscriptionEnv,
      tx: Parameters<typeof extend>[1],
      record: Parameters<typeof extend>[2],
      body: unknown,
    ) => Promise<Record<string, unknown>>,
  ) => {
    return async (ctx: ApiContext): Promise<ApiResult> => {
      const body = await env.store.write(async (tx) => {
        const record = await loadVisible(tx, 'subscriptions', ctx.params.uuid!, ctx);
        return run(subEnv(), tx, record, ctx.body);
      });
      return { type: 'value', body };
    };
  };

  return [
    {
      path: '/subscriptions/',
      resource: { def: SUBSCRIPTIONS, as: 'list', envelope: TOTAL },
      handlers: {
        GET: listSubscriptions(false),
        POST: async (ctx) => {
          const items = readObjects(ctx.body);
          noteUnknownObjects(ctx, SUBSCRIPTIONS.fields, items);
          const bought = await env.store.write((tx) =>
            purchase(subEnv(), tx, ctx.principal.uuid, items),
          );
          return { type: 'value', status: 201, body: bought };
        },
      },
    },
    {
      path: '/subscriptions/detail/',
      handlers: { GET: listSubscriptions(false) },
      resource: { def: SUBSCRIPTIONS, as: 'list', envelope: TOTAL },
    },
    schemaRoute(SUBSCRIPTIONS),
    {
      path: '/subscriptions/:uuid/',
      resource: { def: SUBSCRIPTIONS, as: 'object' },
      handlers: {
        GET: async (ctx) => {
          const record = await loadVisible(env.store, 'subscriptions', ctx.params.uuid!, ctx);
          return {
            type: 'value',
            body: renderSubscription(JSON.parse(record.doc) as SubscriptionDoc, env.clock.now()),
          };
        },
      },
    },
    {
      path: '/subscriptions/:uuid/action/',
      handlers: {
        POST: dispatchAction({
          extend: subscriptionAction(extend),
          auto_renew: subscriptionAction(setAutoRenew),
        }),
      },
      actions: {
        extend: { as: 'object', def: SUBSCRIPTIONS, status: 200 },
        auto_renew: { as: 'object', def: SUBSCRIPTIONS, status: 200 },
      },
    },
    {
      path: '/groupedsubscriptions/',
      handlers: { GET: listSubscriptions(true) },
      resource: { def: SUBSCRIPTIONS, as: 'list', envelope: TOTAL },
    },
    {
      path: '/subscriptioncalculator/',
      handlers: {
        POST: async (ctx) => ({
          type: 'value',
          body: calculate(readObjects(ctx.body), env.clock.now()),
        }),
      },
    },
    {
      path: '/subscriptioncalculator/:uuid/action/',
      handlers: {
        POST: dispatchAction({
          extend: async (ctx) => ({
            type: 'value',
            body: await env.store.read((tx) =>
              calculateExtension(tx, ctx.principal.uuid, ctx.params.uuid!, ctx.body),
            ),
          }),
        }),
      },
      // The terms and price of the extension, as a subscription shows them.
      actions: { extend: { as: 'object', def: SUBSCRIPTIONS, status: 200 } },
    },

    // --- the catalogue ---
    {
      path: '/pricing/',
      resource: { def: PRICING, as: 'list', envelope: LEVELS },
      handlers: {
        GET: async (ctx) => {
          const levels = all(ctx.query, 'level').flatMap(splitValues);
          const prices = PRICES.filter(
            (p) => levels.length === 0 || levels.includes(String(p.level)),
          ).map(({ timed: _timed, ...price }) => ({
            ...price,
            price: formatMoney(money(price.price)),
          }));
          const result = page(ctx, PRICING, prices);
          const current = Object.fromEntries(PRICES.map((p) => [p.resource, LEVEL]));
          return {
            type: 'value',
            body: {
              current,
              meta: { limit: result.limit, offset: result.offset, total_count: result.total },
              next: current,
              objects: result.items.map((item) => JSON.parse(item as string)),
            },
          };
        },
      },
    },
    schemaRoute(PRICING),
    {
      path: '/discount/',
      handlers: { GET: async (ctx) => page(ctx, DISCOUNT, DISCOUNTS) },
      resource: { def: DISCOUNT, as: 'list' },
    },
    schemaRoute(DISCOUNT),
    {
      path: '/licenses/',
      handlers: { GET: async (ctx) => page(ctx, LICENSES_DEF, LICENSES.map(renderLicense)) },
      resource: { def: LICENSES_DEF, as: 'list' },
    },
    {
      path: '/licenses/:uuid/',
      resource: { def: LICENSES_DEF, as: 'object' },
      handlers: {
        GET: async (ctx) => {
          const license = LICENSES.find((l) => l.id === ctx.params.uuid);
          if (!license) throw errors.notExist(ctx.params.uuid!);
          return { type: 'value', body: renderLicense(license) };
        },
      },
    },
    schemaRoute(LICENSES_DEF),
    {
      path: '/ledger/',
      resource: { def: LEDGER, as: 'list' },
      handlers: {
        GET: async (ctx) => {
          const entries = await env.store.read((tx) =>
            tx.list({
              kind: LEDGER_KIND,
              owner: ctx.principal.uuid,
              filters: [],
              limit: 0,
              offset: 0,
              view: 'detail',
            }),
          );
          const wanted = ledgerFilter(ctx);
          const objects = entries.items
            .map((item) => JSON.parse(item.toString()) as Record<string, unknown>)
            .filter(wanted)
            .reverse();
          return page(ctx, LEDGER, objects);
        },
      },
    },
    {
      path: '/ledger/:uuid/',
      resource: { def: LEDGER, as: 'object' },
      handlers: {
        GET: async (ctx) => {
          const uuid = recordUuid('ledger', ctx.params.uuid!);
          const view = await env.store.getDetail(uuid);
          if (view?.kind !== LEDGER_KIND || view.owner !== ctx.principal.uuid) {
            throw errors.notExist(ctx.params.uuid!);
          }
          return { type: 'object', json: view.detail };
        },
      },
    },
    schemaRoute(LEDGER),
  ];
}

function renderLicense(license: (typeof LICENSES)[number]): Record<string, unknown> {
  return {
    burstable: license.burstable,
    long_name: license.long_name,
    name: license.name,
    resource_uri: resourceUri('licenses', license.id),
    type: license.type,
    user_metric: license.user_metric,
  };
}

/** `time`, `time__gt`, `time__gte`, `time__lt`, `time__lte` and `billing_cycle` (ours are null). */
function ledgerFilter(ctx: ApiContext): (entry: Record<string, unknown>) => boolean {
  const tests: ((time: number, cycle: unknown) => boolean)[] = [];
  const ops: Record<string, (a: number, b: number) => boolean> = {
    time: (a, b) => a === b,
    time__gt: (a, b) => a > b,
    time__gte: (a, b) => a >= b,
    time__lt: (a, b) => a < b,
    time__lte: (a, b) => a <= b,
  };
  for (const [name, op] of Object.entries(ops)) {
    for (const text of all(ctx.query, name)) {
      const bound = parseTime(text);
      if (bound === undefined) throw errors.invalid(name, 'Expected an ISO 8601 time');
      tests.push((time) => op(time, bound));
    }
  }
  for (const text of all(ctx.query, 'billing_cycle')) {
    const values = splitValues(text);
    tests.push((_, cycle) => values.includes(cycle === null ? 'null' : String(cycle)));
  }
  return (entry) => {
    const time = parseTime(String(entry.time)) ?? 0;
    return tests.every((test) => test(time, entry.billing_cycle));
  };
}
