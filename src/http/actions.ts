/**
 * `POST .../action/?do=NAME` dispatch, shared by every resource with actions.
 */
import type { ApiResult, RequestInfo } from './api.js';
import { errors } from './errors.js';
import { last, type Query } from './query.js';

/**
 * The action a request names. jclouds sends `?do=start?avoid=a&avoid=b`: what follows a second
 * `?` is not part of the name.
 */
export function actionName(query: Query): string | undefined {
  return last(query, 'do')?.split('?', 1)[0];
}

/** A handler that runs `actions[do]`; an unknown or missing `do` is 400 with point `do`. */
export function dispatchAction<C extends RequestInfo>(
  actions: Readonly<Record<string, (ctx: C) => Promise<ApiResult>>>,
): (ctx: C) => Promise<ApiResult> {
  return (ctx) => {
    const action = actionName(ctx.query);
    // Own keys only: `do=constructor` or `do=__proto__` must not reach Object.prototype.
    const run =
      action !== undefined && Object.hasOwn(actions, action) ? actions[action] : undefined;
    if (!run) throw errors.unknownAction(action);
    return run(ctx);
  };
}
