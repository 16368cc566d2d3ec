/**
 * `/balance/`: the account's balance: the configured starting balance (`--balance`), less what it
 * bought (subscriptions, `billing/ledger.ts`). Purchases the balance cannot cover are refused only
 * when billing is enforced (`--enforce-billing`, api-reference.md §5.5).
 */
import type { RouteSpec } from '../../http/api.js';
import type { ResourceDef } from '../../model/fields.js';
import { renderSchema } from '../../model/schema.js';
import { type BillingSettings, balanceText } from '../billing/ledger.js';
import type { ResourceEnv } from '../env.js';

export const BALANCE: ResourceDef = {
  kind: 'balance',
  allowedListMethods: ['get'],
  allowedDetailMethods: ['get'],
  filtering: { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' },
  // As fixtures/response_balance_schema renders them.
  fields: {
    balance: {
      type: 'decimal',
      help: 'Amount of money in account',
      readonly: true,
      required: true,
    },
    credit_limit: {
      type: 'string',
      help: 'Credit limit applied to the account, if present',
      readonly: true,
      required: true,
      // None here.
      output: { nullable: true },
    },
    currency: { type: 'string', help: 'Currency of the account', readonly: true, required: true },
  },
};

export function balanceRoutes(env: ResourceEnv & { billing: BillingSettings }): RouteSpec[] {
  return [
    {
      path: '/balance/',
      resource: { def: BALANCE, as: 'object' },
      handlers: {
        GET: async (ctx) => ({
          type: 'value',
          body: {
            balance: await env.store.read((tx) => balanceText(tx, ctx.principal.uuid, env.billing)),
            credit_limit: null,
            currency: 'EUR',
          },
        }),
      },
    },
    {
      path: '/balance/schema/',
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(BALANCE) }) },
    },
  ];
}
