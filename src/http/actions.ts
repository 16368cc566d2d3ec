/**
 * `POST .../action/?do=NAME` dispatch, shared by every resource with actions.
 */

import { errors } from '../errors.js';
import type { ApiResult, RequestInfo } from './api.js';
import { all, last, type Query } from './query.js';

/**
 * The action a request names. jclouds sends `?do=start?avoid=a&avoid=b`: what follows a second
 * `?` is not part of the name.
 */
export function actionName(query: Query): string | undefined {
  return last(query, 'do')?.split('?', 1)[0];
}

/**
 * The values of an action's list parameter (`avoid`), in the order the URL gives them: repeated
 * parameters and comma-separated lists alike, and jclouds' `?do=start?avoid=a&avoid=b`, where
 * the first one hides in `do`. Empty items are dropped.
 */
export function actionList(query: Query, name: string): string[] {
  const values: string[] = [];
  const action = last(query, 'do');
  const hidden = action === undefined ? -1 : action.indexOf('?');
  if (action !== undefined && hidden >= 0) {
    values.push(...new URLSearchParams(action.slice(hidden + 1)).getAll(name));
  }
  values.push(...all(query, name));
  return values
    .flatMap((value) => value.split(','))
    .map((item) => item.trim())
    .filter(Boolean);
}

/** An action route's handler, which also tells the docs which actions it knows. */
export type ActionDispatcher<C> = ((ctx: C) => Promise<ApiResult>) & {
  readonly actionNames: readonly string[];
};

/** A handler that runs `actions[do]`; an unknown or missing `do` is 400 with point `do`. */
export function dispatchAction<C extends RequestInfo>(
  actions: Readonly<Record<string, (ctx: C) => Promise<ApiResult>>>,
): ActionDispatcher<C> {
  const dispatch = (ctx: C): Promise<ApiResult> => {
    const action = actionName(ctx.query);
    // Own keys only: `do=constructor` or `do=__proto__` must not reach Object.prototype.
    const run =
      action !== undefined && Object.hasOwn(actions, action) ? actions[action] : undefined;
    if (!run) throw errors.unknownAction(action);
    return run(ctx);
  };
  return Object.assign(dispatch, { actionNames: Object.keys(actions) });
}

/** The actions a route handler dispatches, if it is an action dispatcher. */
export function actionNamesOf(handler: unknown): readonly string[] | undefined {
  if (typeof handler !== 'function' || !('actionNames' in handler)) return undefined;
  const names: unknown = handler.actionNames;
  return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : undefined;
}
