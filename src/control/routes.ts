/**
 * The test-control API on HTTP: routes under `/_sigmalite/` that only exist with `--control`,
 * guarded by a bearer token, outside the CloudSigma API and its authentication; and the two hooks
 * through which it acts on API requests (added latency, injected faults). Errors keep CloudSigma's
 * JSON error format. docs/control.md describes it for users.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { TRANSITION_NAMES } from '../drivers/transitions.js';
import { ApiError, type ErrorType, errors } from '../errors.js';
import { actionName } from '../http/actions.js';
import { pathOf, type Query } from '../http/query.js';
import { API_PREFIX } from '../model/refs.js';
import type { Control } from './control.js';
import { ERROR_TYPES } from './faults.js';
import {
  type Body,
  optionalBoolean,
  optionalInteger,
  optionalNumber,
  optionalString,
  optionalStrings,
  readBody,
  requiredInteger,
} from './input.js';
import { MAX_LATENCY_MS } from './latency.js';
import { apiPath } from './paths.js';
import { DEFAULT_DOWN_MS } from './servers.js';
import { DumpError } from './state.js';

export const CONTROL_PREFIX = '/_sigmalite';
const JSON_TYPE = 'application/json; charset=utf-8';
/** A state dump may be far larger than any API request. */
const STATE_BODY_LIMIT = 512 * 1024 * 1024;
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;
type Method = (typeof METHODS)[number];

export interface ControlOptions {
  /** The operations (the app makes one whether or not the routes are served). */
  control: Control;
  /** The bearer token; generated when undefined. */
  token?: string;
}

export interface ControlHandle {
  control: Control;
  token: string;
  /** The token was generated (the CLI prints it on stderr). */
  generatedToken: boolean;
}

interface Answer {
  status?: number;
  /** Sent as JSON; none: 204. */
  body?: unknown;
}

interface ControlRoute {
  path: string;
  bodyLimit?: number;
  handlers: Partial<Record<Method, (request: FastifyRequest) => Promise<Answer>>>;
}

/** Adds the control API to an HTTP server built by `buildHttpServer` (before it listens). */
export function installControl(http: FastifyInstance, options: ControlOptions): ControlHandle {
  const { token: given, control } = options;
  const token = given || randomBytes(24).toString('base64url');
  const expected = digest(token);
  const authorize = async (request: FastifyRequest) => {
    const header = request.headers.authorization;
    const match = typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header) : null;
    if (!match) {
      throw new ApiError(
        'permission',
        'The control API needs the header Authorization: Bearer TOKEN (SIGMALITE_CONTROL_TOKEN)',
        null,
        401,
        { 'www-authenticate': 'Bearer realm="sigmalite-control"' },
      );
    }
    if (!timingSafeEqual(digest(match[1]!), expected)) {
      throw new ApiError('permission', 'Wrong control token', null, 403);
    }
  };

  const routes = controlRoutes(control);
  for (const route of routes) {
    const allowed = Object.keys(route.handlers);
    http.route({
      method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
      url: CONTROL_PREFIX + route.path,
      ...(route.bodyLimit ? { bodyLimit: route.bodyLimit } : {}),
      onRequest: authorize,
      handler: async (request, reply) => {
        const handler = route.handlers[request.method as Method];
        if (!handler) throw errors.methodNotAllowed(request.method, pathOf(request.url), allowed);
        const answer = await handler(request);
        if (answer.body === undefined) return reply.code(answer.status ?? 204).send();
        return reply
          .code(answer.status ?? 200)
          .type(JSON_TYPE)
          .send(JSON.stringify(answer.body));
      },
    });
  }
  // Other control paths: the token first, then 404.
  http.route({
    method: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'],
    url: `${CONTROL_PREFIX}/*`,
    onRequest: authorize,
    handler: async (request) => {
      throw errors.noSuchPath(pathOf(request.url));
    },
  });

  // The lane answers GETs and POSTs before Fastify's hooks: it leaves them to Fastify while
  // latency or faults are set.
  http.lane.addGuard(() => control.latency.empty && control.faults.empty);
  // Latency comes before anything else of the request, authentication included.
  http.addHook('onRequest', async (request) => {
    if (control.latency.empty) return;
    const path = apiPath(request.url);
    const ms = path === undefined ? 0 : control.latency.delayFor(path);
    if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
  });
  // Faults come after authentication (a stranger's request uses none) and before the handler, so
  // a failed request has changed nothing.
  http.addHook('preHandler', async (request) => {
    if (control.faults.empty || request.method === 'OPTIONS') return;
    if (!request.routeOptions.url?.startsWith(`${API_PREFIX}/`)) return;
    const error = control.faults.take({
      method: request.method,
      path: apiPath(request.url) ?? '/',
      // As the action route reads it (jclouds appends `?avoid=...` to the action).
      action: actionName(request.query as Query),
      account: request.principal?.uuid,
    });
    if (error) throw error;
  });

  return { control, token, generatedToken: !given };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

const body = (request: FastifyRequest, keys: readonly string[]): Body =>
  readBody(request.body, keys);
const param = (request: FastifyRequest, name: string): string =>
  (request.params as Record<string, string>)[name]!;

function controlRoutes(control: Control): ControlRoute[] {
  const routes: ControlRoute[] = [
    {
      path: '/',
      handlers: {
        GET: async () => ({
          body: {
            endpoints: routes.flatMap((route) =>
              Object.keys(route.handlers).map(
                (method) => `${method} ${CONTROL_PREFIX}${route.path}`,
              ),
            ),
          },
        }),
      },
    },
    {
      path: '/reset',
      handlers: {
        POST: async (request) => {
          const id = optionalString(body(request, ['account']), 'account');
          if (id === undefined) {
            await control.resetAll();
            return { body: { reset: 'all' } };
          }
          const account = await control.account(id);
          const removed = await control.resetAccount(account);
          return { body: { reset: 'account', account: account.uuid, removed } };
        },
      },
    },
    {
      path: '/clock',
      handlers: {
        GET: async () => ({ body: control.clock() }),
        PUT: async (request) => {
          const input = body(request, ['scale', 'time']);
          const scale = optionalNumber(input, 'scale', 0, 1_000_000);
          const time = readTime(input.time);
          if (time !== undefined) control.setClockTime(time);
          if (scale !== undefined) control.setClockScale(scale);
          return { body: control.clock() };
        },
      },
    },
    {
      path: '/clock/advance',
      handlers: {
        POST: async (request) => {
          control.advanceClock(requiredInteger(body(request, ['ms']), 'ms', 0));
          return { body: control.clock() };
        },
      },
    },
    {
      path: '/transitions',
      handlers: {
        GET: async () => ({ body: control.transitions() }),
        PUT: async (request) => {
          const names = TRANSITION_NAMES;
          const input = body(request, ['spec', ...names]);
          const values: Partial<Record<(typeof names)[number], number>> = {};
          for (const name of names) {
            const value = optionalInteger(input, name, 0, 3_600_000);
            if (value !== undefined) values[name] = value;
          }
          return { body: control.setTransitions(optionalString(input, 'spec'), values) };
        },
      },
    },
    {
      path: '/guest-acpi',
      handlers: {
        PUT: async (request) => {
          const input = body(request, ['answers', 'server']);
          const answers = optionalBoolean(input, 'answers');
          if (answers === undefined) throw errors.required('answers');
          const server = optionalString(input, 'server');
          control.setGuestAcpi(answers, server);
          return { body: { answers, server: server ?? null } };
        },
      },
    },
    {
      path: '/faults',
      handlers: {
        GET: async () => ({ body: { objects: control.faults.list() } }),
        POST: async (request) => ({
          status: 201,
          body: control.faults.add(await readFault(control, request)),
        }),
        DELETE: async () => {
          control.faults.clear();
          return {};
        },
      },
    },
    {
      path: '/faults/:id',
      handlers: {
        GET: async (request) => {
          const fault = control.faults.list().find((f) => f.id === param(request, 'id'));
          if (!fault) throw noFault(param(request, 'id'));
          return { body: fault };
        },
        DELETE: async (request) => {
          if (!control.faults.remove(param(request, 'id'))) throw noFault(param(request, 'id'));
          return {};
        },
      },
    },
    {
      path: '/latency',
      handlers: {
        GET: async () => ({ body: { objects: control.latency.list() } }),
        PUT: async (request) => {
          const input = body(request, ['ms', 'prefix']);
          const ms = requiredInteger(input, 'ms', 0, MAX_LATENCY_MS);
          control.latency.set(optionalString(input, 'prefix') ?? '', ms);
          return { body: { objects: control.latency.list() } };
        },
        DELETE: async () => {
          control.latency.clear();
          return {};
        },
      },
    },
    {
      path: '/host-crash',
      handlers: {
        POST: async (request) => {
          const input = body(request, ['servers', 'account', 'down_ms']);
          const downMs = optionalInteger(input, 'down_ms', 0) ?? DEFAULT_DOWN_MS;
          const id = optionalString(input, 'account');
          const account = id === undefined ? undefined : (await control.account(id)).uuid;
          const servers = await control.crashHost({
            servers: optionalStrings(input, 'servers'),
            account,
            downMs,
          });
          const recoverAt = new Date(control.clock().now + downMs).toISOString();
          return { body: { servers, down_ms: downMs, recover_at: recoverAt } };
        },
      },
    },
    {
      path: '/servers/:uuid/pause',
      handlers: {
        POST: async (request) => {
          body(request, []);
          await control.pause(param(request, 'uuid'));
          return { body: { uuid: param(request, 'uuid'), status: 'paused' } };
        },
      },
    },
    {
      path: '/servers/:uuid/revive',
      handlers: {
        POST: async (request) => {
          body(request, []);
          await control.revive(param(request, 'uuid'));
          return { body: { uuid: param(request, 'uuid'), status: 'stopped' } };
        },
      },
    },
    {
      path: '/state',
      bodyLimit: STATE_BODY_LIMIT,
      handlers: {
        GET: async () => ({ body: await control.exportState() }),
        PUT: async (request) => {
          try {
            return { body: await control.importState(request.body) };
          } catch (e) {
            if (e instanceof DumpError) {
              throw errors.invalid(e.point, e.reason);
            }
            throw e;
          }
        },
      },
    },
  ];
  return routes;
}

function noFault(id: string): ApiError {
  return new ApiError('notexist', `No fault with id ${id}`, null);
}

/** Milliseconds since the epoch, or an ISO 8601 time. */
function readTime(value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  const time =
    typeof value === 'number' ? value : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(time)) {
    throw errors.invalid('time', 'Expected milliseconds since the epoch or an ISO 8601 time');
  }
  return time;
}

/** The usual error type of a status. */
function typeFor(status: number): ErrorType {
  if (status === 401 || status === 403 || status === 429) return 'permission';
  if (status === 402) return 'billing';
  if (status === 404) return 'notexist';
  if (status === 503) return 'concurrency';
  return status < 500 ? 'validation' : 'backend';
}

async function readFault(control: Control, request: FastifyRequest) {
  const input = body(request, [
    'method',
    'path',
    'action',
    'account',
    'count',
    'type',
    'status',
    'message',
    'point',
  ]);
  const method = optionalString(input, 'method')?.toUpperCase();
  if (method !== undefined && !['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'].includes(method)) {
    throw errors.invalid('method', `Unknown method "${method}"`);
  }
  const status = optionalInteger(input, 'status', 400, 599);
  const type = optionalString(input, 'type');
  if (type !== undefined && !(ERROR_TYPES as readonly string[]).includes(type)) {
    throw errors.invalid('type', `Expected one of ${ERROR_TYPES.join(', ')}`);
  }
  const id = optionalString(input, 'account');
  return {
    method,
    path: optionalString(input, 'path'),
    action: optionalString(input, 'action'),
    account: id === undefined ? undefined : (await control.account(id)).uuid,
    count: optionalInteger(input, 'count', 1, 1_000_000) ?? 1,
    type: (type as ErrorType | undefined) ?? (status === undefined ? 'backend' : typeFor(status)),
    status,
    message: optionalString(input, 'message') ?? 'Injected fault (sigmalite test control)',
    point: optionalString(input, 'point') ?? null,
  };
}
