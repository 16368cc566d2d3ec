/**
 * `/currentusage/` (api-reference.md §5.4): what the account uses now and what its subscriptions
 * cover. CPU and memory count from the moment a start is accepted until the server is stopped,
 * per `cpu` and per `<cpu_type>_cpu`; drives count their size per storage type; IPs and VLANs
 * their number (`billing/usage.ts`).
 */
import type { RouteSpec } from '../../http/api.js';
import type { ResourceDef } from '../../model/fields.js';
import { renderSchema } from '../../model/schema.js';
import { type BillingSettings, balanceText } from '../billing/ledger.js';
import { currentUsage } from '../billing/usage.js';
import type { ResourceEnv } from '../env.js';

const DICT_HELP = "A dictionary of data. Ex: {'price': 26.73, 'name': 'Daniel'}";

/** As `response_currentusage_schema` renders it. */
export const CURRENT_USAGE: ResourceDef = {
  kind: 'currentusage',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  filtering: { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' },
  fields: {
    balance: {
      type: 'dict',
      help: DICT_HELP,
      required: true,
      output: {
        fields: {
          balance: { type: 'decimal', help: 'Amount of money in account' },
          currency: { type: 'string', help: 'Currency of the account' },
        },
      },
    },
    usage: {
      type: 'dict',
      help: DICT_HELP,
      required: true,
      output: {
        values: {
          burst: { type: 'integer', help: 'What is used beyond the subscriptions' },
          subscribed: { type: 'integer', help: 'What active subscriptions cover' },
          using: { type: 'integer', help: 'What is used now' },
        },
      },
    },
  },
};

export function usageRoutes(env: ResourceEnv & { billing: BillingSettings }): RouteSpec[] {
  return [
    {
      path: '/currentusage/',
      resource: { def: CURRENT_USAGE, as: 'object' },
      handlers: {
        GET: async (ctx) => {
          const owner = ctx.principal.uuid;
          const [usage, balance] = await env.store.read(async (tx) =>
            Promise.all([
              currentUsage(tx, owner, env.clock.now()),
              balanceText(tx, owner, env.billing),
            ]),
          );
          return { type: 'value', body: { balance: { balance, currency: 'EUR' }, usage } };
        },
      },
    },
    {
      path: '/currentusage/schema/',
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(CURRENT_USAGE) }) },
    },
  ];
}
