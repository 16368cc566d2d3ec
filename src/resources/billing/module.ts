import type { ResourceModule } from '../module.js';
import { billingRoutes } from './routes.js';
import { subscriptionLifecycle } from './subscriptions.js';

/** Subscriptions, prices, discounts, the ledger; subscriptions' ends are engine tasks. */
export const billingModule: ResourceModule = {
  name: 'billing',
  routes: (env) => billingRoutes(env),
  engine: (deps) =>
    subscriptionLifecycle({ net: deps.net, billing: deps.billing, random: deps.random }),
};
