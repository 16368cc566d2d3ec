/**
 * The lane: plain GETs of the API, and POSTs of a JSON body (creates, actions), answered on
 * Node's request and response before Fastify sees them. They are most of an API's traffic, and
 * Fastify's request and reply objects, hooks and promise chain are a large share of a small
 * request's cost (docs/benchmarks.md). The lane answers exactly as the Fastify route would, bytes
 * and headers alike (test/http/lane.test.ts compares the two): the same router library and
 * options, authenticator, body parser, handlers, audit log, rendering, errors, request ids, log
 * line and metrics. Whatever it does not handle goes to Fastify untouched: other methods, a POST
 * whose body is not plainly `Content-Type: application/json` (`; charset=utf-8` allowed) with a
 * `Content-Length` within the limit, `fields=`, `format=`, `%00`, an `Accept` that needs negotiating, public routes, unknown
 * paths, and everything at log level trace (the trace line needs Fastify's hooks).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import FindMyWay from 'find-my-way';
import { type ApiError, errors } from '../errors.js';
import { type Body, bodyLength, isChunks } from './answer-body.js';
import type { ApiContext, ApiHandler, ApiResult, ResultHeaders, RouteSpec } from './api.js';
import type { Authenticator, AuthRequest, Principal } from './auth.js';
import { disconnectSignal } from './disconnect.js';
import { pathOf, type Query } from './query.js';
import type { RequestLog } from './request-log.js';

/** What the lane shares with the Fastify side of the server (`server.ts`). */
export interface LaneDeps {
  routes: readonly RouteSpec[];
  apiPrefix: string;
  /** Fastify's router options, so that both route a URL alike. */
  routerOptions: {
    ignoreTrailingSlash: boolean;
    ignoreDuplicateSlashes: boolean;
    maxParamLength: number;
  };
  authenticator: Authenticator;
  logger: FastifyBaseLogger;
  requestLog: RequestLog;
  nextRequestId: () => string;
  publicUrl: string | undefined;
  toApiError(error: unknown): ApiError;
  authRequest(request: IncomingMessage): AuthRequest;
  bodyLimit: number;
  /** The body parser Fastify's routes use. */
  parseBody(raw: Buffer): unknown;
  /** Refuse unknown body fields (400) instead of ignoring them (`--strict`). */
  strict: boolean;
  /** Runs the handler of a request that acts: the audit log hears how it ended. */
  act(handler: ApiHandler, ctx: ApiContext, path: string): Promise<ApiResult>;
  /** A result as sent: its headers (content type last), the body gzipped if the client asks. */
  answer(result: ApiResult, acceptEncoding: string | undefined): Promise<WireAnswer>;
  errorAnswer(error: ApiError): WireAnswer;
}

/** A response but for the request id (first) and the length (last), which the lane adds. */
export interface WireAnswer {
  status: number;
  headers: ResultHeaders;
  body: Body | undefined;
}

interface LaneRoute {
  /** The pattern as Fastify knows it (prefix included), for the log line and metrics. */
  route: string;
  /** The pattern below the prefix, as the audit log knows it. */
  path: string;
  /** Undefined when the lane leaves the route to Fastify. */
  handler: ApiHandler | undefined;
}

export interface Lane {
  /** Answers the request and returns true, or returns false and leaves it to Fastify. */
  take(req: IncomingMessage, res: ServerResponse): boolean;
  /** How many requests it took (tests check that the lane, not Fastify, answered). */
  readonly taken: number;
  /**
   * What hooks into every API request through Fastify (the control API's latency and faults)
   * says here when it needs to: the lane takes requests only while every guard returns true.
   */
  addGuard(guard: () => boolean): void;
}

const LANE_METHODS = ['GET', 'POST'] as const;
const JSON_UTF8 = /^application\/json\s*;\s*charset="?utf-8"?$/i;

export function createLane(deps: LaneDeps): Lane {
  const router = FindMyWay<FindMyWay.HTTPVersion.V1>(deps.routerOptions);
  // Every route, so that a URL finds the route Fastify finds; those without the method the lane
  // serves (public ones, or where it is a 405) are left to Fastify.
  for (const spec of deps.routes) {
    for (const method of LANE_METHODS) {
      // Routes that stream their body (image uploads and downloads) are Fastify's alone.
      const handler =
        spec.public === true || spec.streamsBody === true ? undefined : spec.handlers[method];
      const store: LaneRoute = { route: deps.apiPrefix + spec.path, path: spec.path, handler };
      router.on(method, deps.apiPrefix + spec.path, () => {}, store);
    }
  }

  const guards: (() => boolean)[] = [];
  let taken = 0;
  const take = (req: IncomingMessage, res: ServerResponse): boolean => {
    const method = req.method;
    if (method !== 'GET' && (method !== 'POST' || !plainJsonBody(req, deps.bodyLimit))) {
      return false;
    }
    for (const guard of guards) if (!guard()) return false;
    const url = req.url ?? '';
    const accept = req.headers.accept;
    if (accept !== undefined && accept !== '*/*' && accept !== 'application/json') return false;
    if (url.includes('format=') || url.includes('%00') || url.includes('fields=')) return false;
    if (deps.logger.level === 'trace') return false;
    const found = router.find(method, url);
    const route = found?.store as LaneRoute | undefined;
    if (!found || !route?.handler) return false;
    taken++;
    serve(
      deps,
      req,
      res,
      method,
      url,
      route,
      route.handler,
      found.params as Record<string, string>,
      found.searchParams as Query,
    ).catch((err: unknown) => {
      // Only writing the answer can fail here (handlers' errors are answers): drop the socket
      // rather than leave the client waiting.
      deps.logger.error({ err, url }, 'request failed');
      res.destroy();
    });
    return true;
  };
  return {
    take,
    get taken() {
      return taken;
    },
    addGuard: (guard) => guards.push(guard),
  };
}

/**
 * A POST the lane reads as Fastify's parser would: `application/json` (with or without
 * `; charset=utf-8`, which some clients send) and a `Content-Length` within the limit (Fastify
 * answers the rest: chunked bodies, other types, 413).
 */
function plainJsonBody(req: IncomingMessage, bodyLimit: number): boolean {
  const length = req.headers['content-length'];
  const type = req.headers['content-type'];
  return (
    (type === 'application/json' || (type !== undefined && JSON_UTF8.test(type))) &&
    length !== undefined &&
    /^[1-9][0-9]{0,11}$/.test(length) &&
    Number(length) <= bodyLimit &&
    req.headers['transfer-encoding'] === undefined
  );
}

/** The request's body; rejects if the client goes away before sending it all. */
function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('The request body was not sent whole'));
    });
  });
}

async function serve(
  deps: LaneDeps,
  req: IncomingMessage,
  res: ServerResponse,
  method: 'GET' | 'POST',
  url: string,
  route: LaneRoute,
  handler: ApiHandler,
  params: Record<string, string>,
  query: Query,
): Promise<void> {
  const start = performance.now();
  const id = deps.nextRequestId();
  let principal: Principal | undefined;
  let ignoredParameters: readonly string[] | undefined;
  let ignoredFields: readonly string[] | undefined;
  // As Fastify after a body it could not read: the client may send more, so the socket closes.
  let closeAfter = false;
  let answer: WireAnswer;
  try {
    principal = await deps.authenticator.authenticate(deps.authRequest(req));
    let body: unknown;
    if (method === 'POST') {
      try {
        body = deps.parseBody(await readBody(req));
      } catch (e) {
        closeAfter = true;
        // A stream error is the client's (Fastify's parser gives it status 400 too).
        if (e instanceof Error && !('status' in e)) Object.assign(e, { statusCode: 400 });
        throw e;
      }
    }
    const ctx: ApiContext = {
      params,
      query,
      body,
      origin:
        deps.publicUrl ?? `${isEncrypted(req) ? 'https' : 'http'}://${req.headers.host ?? ''}`,
      method,
      path: pathOf(url),
      url,
      headers: req.headers,
      address: req.socket.remoteAddress,
      clientSignal: disconnectSignal(res),
      principal,
      noteUnknownFields: (points) => {
        if (points.length === 0) return;
        if (deps.strict) throw errors.unknownFields(points);
        ignoredFields = [...(ignoredFields ?? []), ...points];
      },
      noteIgnoredParameters: (names) => {
        if (names.length > 0) ignoredParameters = names;
      },
    };
    const result = method === 'GET' ? await handler(ctx) : await deps.act(handler, ctx, route.path);
    answer = await deps.answer(result, header(req, 'accept-encoding'));
  } catch (e) {
    const error = deps.toApiError(e);
    if (error.status >= 500) deps.logger.error({ request_id: id, err: e }, 'request failed');
    answer = deps.errorAnswer(error);
  }
  const head: Record<string, string | string[] | number> = {
    'x-request-id': id,
    ...(closeAfter ? { connection: 'close' } : {}),
    ...answer.headers,
  };
  const { body } = answer;
  if (body !== undefined) head['content-length'] = bodyLength(body);
  res.writeHead(answer.status, head);
  if (body === undefined || !isChunks(body)) res.end(body);
  else {
    // One writev of them all, each chunk sent from where it is kept.
    res.cork();
    for (let i = 0; i < body.length - 1; i++) res.write(body[i]);
    res.end(body.at(-1));
    res.uncork();
  }
  deps.requestLog.completed(
    {
      id,
      account: principal?.email,
      method,
      url,
      route: route.route,
      status: answer.status,
      ms: performance.now() - start,
      ignoredFields,
      ignoredParameters,
    },
    deps.logger,
  );
}

function isEncrypted(req: IncomingMessage): boolean {
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
