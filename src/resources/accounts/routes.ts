/**
 * `POST /accounts/action/?do=login|logout|check_login|authenticate_asynchronous`: session login
 * with `sessionid` and `csrftoken` cookies, and the websocket's `async_auth` cookie
 * (api-reference.md §1.3). The route is public; every action but login authenticates itself.
 */
import { serialize } from 'cookie';
import { errors } from '../../errors.js';
import { dispatchAction } from '../../http/actions.js';
import type { ApiResult, RequestInfo, RouteSpec } from '../../http/api.js';
import {
  ASYNC_COOKIE,
  type Authenticator,
  CSRF_COOKIE,
  CSRF_MAX_AGE,
  SESSION_COOKIE,
} from '../../http/auth.js';
import { authRequest } from '../../http/server.js';
import { isPlainObject } from '../../model/json.js';

export function accountRoutes(authenticator: Authenticator): RouteSpec[] {
  const actions: Record<string, (ctx: RequestInfo) => Promise<ApiResult>> = {
    login: async (ctx) => {
      const body = isPlainObject(ctx.body) ? ctx.body : {};
      const { username, password } = body;
      if (typeof username !== 'string' || username === '') throw errors.required('username');
      if (typeof password !== 'string') throw errors.required('password');
      const session = await authenticator.login(username, password);
      const secure = ctx.origin.startsWith('https:');
      return {
        type: 'value',
        body: { uuid: session.principal.uuid },
        headers: {
          'set-cookie': [
            serialize(SESSION_COOKIE, session.sessionId, {
              httpOnly: true,
              maxAge: session.maxAgeSeconds,
              path: '/',
              sameSite: 'lax',
              secure,
            }),
            serialize(CSRF_COOKIE, session.csrfToken, {
              maxAge: CSRF_MAX_AGE,
              path: '/',
              sameSite: 'lax',
              secure,
            }),
          ],
        },
      };
    },
    logout: async (ctx) => {
      const request = sessionOnly(ctx);
      await authenticator.authenticate(request);
      await authenticator.logout(request.sessionId!);
      return {
        type: 'value',
        body: {},
        headers: {
          'set-cookie': [
            serialize(SESSION_COOKIE, '', { maxAge: 0, path: '/' }),
            serialize(CSRF_COOKIE, '', { maxAge: 0, path: '/' }),
          ],
        },
      };
    },
    check_login: async (ctx) => {
      await authenticator.authenticate(sessionOnly(ctx));
      return { type: 'value', body: {} };
    },
    // Any scheme will do (Basic, Digest, or a session with its CSRF token).
    authenticate_asynchronous: async (ctx) => {
      const principal = await authenticator.authenticate(authRequest(ctx));
      const { token, maxAgeSeconds } = await authenticator.issueAsyncToken(principal);
      return {
        type: 'value',
        body: {},
        headers: {
          'set-cookie': serialize(ASYNC_COOKIE, token, {
            httpOnly: true,
            maxAge: maxAgeSeconds,
            path: '/',
            sameSite: 'lax',
            secure: ctx.origin.startsWith('https:'),
          }),
        },
      };
    },
  };
  return [
    {
      path: '/accounts/action/',
      public: true,
      handlers: {
        POST: dispatchAction(actions),
      },
      // The cookies are the answer; the bodies say little.
      actions: {
        login: {
          as: 'fields',
          status: 200,
          fields: { uuid: { type: 'string', help: 'UUID of the account logged in' } },
        },
        logout: { as: 'fields', status: 200, fields: {} },
        check_login: { as: 'fields', status: 200, fields: {} },
        authenticate_asynchronous: { as: 'fields', status: 200, fields: {} },
      },
    },
  ];
}

/** logout and check_login are about the session: other credentials do not count. */
function sessionOnly(ctx: RequestInfo) {
  return { ...authRequest(ctx), authorization: undefined };
}
