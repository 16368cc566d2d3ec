/**
 * `/balance/`: the account's balance. Billing is not enforced by default (api-reference.md §5.5),
 * so every account shows the configured starting balance.
 */
import type { RouteSpec } from '../../http/api.js';
import type { ResourceDef } from '../../model/fields.js';
import { renderSchema } from '../../model/schema.js';
import type { ResourceEnv } from '../env.js';

export const BALANCE: ResourceDef = {
  kind: 'balance',
  allowedListMethods: ['get'],
  allowedDetailMethods: [],
  filtering: { name: 'exact', name__contains: 'exact', tag: 'exact', uuid: 'exact' },
  fields: {
    balance: { type: 'decimal', help: 'Fixed precision numeric data. Ex: 26.73', readonly: true },
    credit_limit: {
      type: 'decimal',
      help: 'Fixed precision numeric data. Ex: 26.73',
      readonly: true,
    },
    currency: { type: 'string', help: 'Unicode string data. Ex: "Hello World"', readonly: true },
  },
};

export function balanceRoutes(env: ResourceEnv & { balance: string }): RouteSpec[] {
  return [
    {
      path: '/balance/',
      handlers: {
        GET: async () => ({
          type: 'value',
          body: { balance: env.balance, credit_limit: null, currency: 'EUR' },
        }),
      },
    },
    {
      path: '/balance/schema/',
      handlers: { GET: async () => ({ type: 'value', body: renderSchema(BALANCE) }) },
    },
  ];
}
