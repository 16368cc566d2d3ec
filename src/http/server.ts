/**
 * The protocol layer on Fastify: routing with optional trailing slashes, authentication, content
 * negotiation, JSON bodies, the list envelope and `fields=`, request ids, OPTIONS and 405, and the
 * one place where errors become CloudSigma's `[{error_point, error_type, error_message}]`.
 */

import { randomUUID } from 'node:crypto';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerOptions,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { parse as parseCookies } from 'cookie';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { cloudSigmaEndpointOf, pathShape } from '../docs/cloudsigma-endpoints.js';
import { ApiError, errors } from '../errors.js';
import { canonicalJson } from '../model/json.js';
import { API_PREFIX } from '../model/refs.js';
import type { Rendered } from '../store/types.js';
import { type Body, bodyLength, flatBody, piecesOf } from './answer-body.js';
import type {
  ApiContext,
  ApiHandler,
  ApiOutcome,
  ApiResult,
  Method,
  OutcomeListener,
  RequestInfo,
  ResultHeaders,
  RouteSpec,
} from './api.js';
import { type Authenticator, type AuthRequest, type Principal, SESSION_COOKIE } from './auth.js';
import { type BodyLimits, DEFAULT_BODY_LIMITS, parseJsonBody } from './body.js';
import {
  ConnectionGuard,
  type ConnectionLimits,
  DEFAULT_CONNECTION_LIMITS,
} from './connections.js';
import { disconnectSignal } from './disconnect.js';
import { errorBody } from './errors.js';
import { gzipPieces } from './gzip.js';
import { createLane, type Lane } from './lane.js';
import { last, pathOf, type Query, readProjection } from './query.js';
import { RequestLog } from './request-log.js';

export interface HttpOptions {
  routes: RouteSpec[];
  authenticator: Authenticator;
  logger: FastifyBaseLogger;
  bodyLimit: number;
  /** Overrides the origin taken from the request's Host header. */
  publicUrl?: string;
  https?: { cert: Buffer; key: Buffer };
  /** Hears how each authenticated request but reads ended (the audit log); awaited if it asks. */
  onOutcome?: OutcomeListener;
  /** Refuse unknown body fields (400) instead of ignoring and logging them. */
  strict?: boolean;
  /** `/readyz`, `/metrics` and per-request measurements; none: `/healthz` only. */
  operations?: Operations;
  /** Connection caps and body timeouts (`connections.ts`); the defaults when absent. */
  connections?: ConnectionLimits;
  /** Lists and strings of JSON bodies. */
  bodyLimits?: BodyLimits;
  /** Milliseconds a client has to send a request's headers. */
  headersTimeoutMs?: number;
}

/** What the process tells its operators, apart from the API. */
export interface Operations {
  /**
   * Whether the app can serve (store reachable, engine running), with a word per check, and what
   * runs the guests (the drivers' probe) and the hosts served now, up or down, shown by
   * `/readyz?verbose`.
   */
  readiness(): Promise<{
    ready: boolean;
    checks: Record<string, string>;
    drivers?: unknown;
    hosts?: Record<string, string>;
  }>;
  /** The Prometheus exposition. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** One API request done: its method, route pattern (bounded labels) and status. */
  observe(method: string, route: string, status: number, seconds: number): void;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const ROUTER_OPTIONS = {
  ignoreTrailingSlash: true,
  ignoreDuplicateSlashes: true,
  maxParamLength: 500,
};
const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

declare module 'fastify' {
  interface FastifyInstance {
    /** The plain GETs and JSON POSTs answered before Fastify (`lane.ts`). */
    lane: Lane;
    /** Connection caps and body rates (`connections.ts`). */
    connectionGuard: ConnectionGuard;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** Body fields ignored as unknown (lenient mode), for the request's log line. */
    ignoredFields?: readonly string[];
    /** Query parameters nothing read, for the request's log line. */
    ignoredParameters?: readonly string[];
    /** The answer's body, kept for the trace log line (only at log level trace). */
    tracePayload?: unknown;
  }
}

/** What the authenticator needs of a request. */
export function authRequest(request: {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  socket?: { remoteAddress?: string | undefined; encrypted?: boolean };
}): AuthRequest {
  const header = (name: string) => {
    const value = request.headers[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const cookies = parseCookies(header('cookie') ?? '');
  return {
    method: request.method,
    url: request.url,
    authorization: header('authorization'),
    sessionId: cookies[SESSION_COOKIE],
    csrfHeader: header('x-csrftoken'),
    xhr: header('x-requested-with')?.toLowerCase() === 'xmlhttprequest',
    address: request.socket?.remoteAddress,
    encrypted: request.socket?.encrypted === true,
  };
}

export async function buildHttpServer(options: HttpOptions): Promise<FastifyInstance> {
  const bodyLimits = options.bodyLimits ?? DEFAULT_BODY_LIMITS;
  const requestLog = new RequestLog(API_PREFIX, options.logger, options.operations?.observe);
  const nextRequestId = requestIds();
  const lane = createLane({
    routes: options.routes,
    apiPrefix: API_PREFIX,
    routerOptions: ROUTER_OPTIONS,
    authenticator: options.authenticator,
    logger: options.logger,
    requestLog,
    nextRequestId,
    publicUrl: options.publicUrl,
    toApiError: (error) => toApiError(error as FastifyError, options.bodyLimit),
    authRequest: (request) =>
      authRequest({
        method: request.method ?? 'GET',
        url: request.url ?? '',
        headers: request.headers,
        socket: request.socket,
      }),
    bodyLimit: options.bodyLimit,
    parseBody: (raw) => parseJsonBody(raw, bodyLimits),
    strict: options.strict === true,
    act: (handler, ctx, path) =>
      options.onOutcome
        ? observed(handler, ctx, path, options.onOutcome, options.logger, options.bodyLimit)
        : handler(ctx),
    answer: async (result, acceptEncoding) => {
      const answer = renderResult(result, undefined);
      const headers: ResultHeaders = { ...answer.headers, 'content-type': answer.type };
      if (answer.body === undefined || !shouldGzip(answer.body, acceptEncoding)) {
        return { status: answer.status, headers, body: answer.body };
      }
      headers['content-encoding'] = 'gzip';
      headers.vary = 'accept-encoding';
      return { status: answer.status, headers, body: await gzipPieces(piecesOf(answer.body)) };
    },
    errorAnswer: (error) => ({
      status: error.status,
      headers: { ...error.headers, 'content-type': JSON_TYPE },
      body: errorBody(error),
    }),
  });
  const guard = new ConnectionGuard(options.connections ?? DEFAULT_CONNECTION_LIMITS);
  // The https option changes Fastify's server type parameter; the routes do not care which it is.
  const app = Fastify({
    loggerInstance: options.logger,
    logController: requestLog,
    childLoggerFactory: (logger) => logger,
    bodyLimit: options.bodyLimit,
    exposeHeadRoutes: false,
    routerOptions: ROUTER_OPTIONS,
    genReqId: nextRequestId,
    // Node's server as Fastify makes it, with the lane in front of Fastify's handler.
    serverFactory: (handler, factoryOptions) => {
      // Fastify's own settings, with its defaults (lib/server.js does the same with them).
      const opts = factoryOptions as {
        http?: ServerOptions;
        keepAliveTimeout?: number;
        requestTimeout?: number;
        connectionTimeout?: number;
        maxRequestsPerSocket?: number;
      };
      const listener = (req: IncomingMessage, res: ServerResponse) => {
        guard.watch(req, res);
        if (!lane.take(req, res)) handler(req, res);
      };
      // Node checks the header timeout only this often (30 s by default).
      const checking = { connectionsCheckingInterval: 1000 };
      const server = options.https
        ? createHttpsServer({ ...options.https, ...checking }, listener)
        : createHttpServer({ ...opts.http, ...checking }, listener);
      server.headersTimeout = options.headersTimeoutMs ?? 20_000;
      guard.attach(server, options.https !== undefined);
      server.keepAliveTimeout = opts.keepAliveTimeout ?? 72_000;
      server.requestTimeout = opts.requestTimeout ?? 0;
      server.setTimeout(opts.connectionTimeout ?? 0);
      if ((opts.maxRequestsPerSocket ?? 0) > 0)
        server.maxRequestsPerSocket = opts.maxRequestsPerSocket!;
      return server;
    },
    // Malformed URLs (bad %-escapes, over-long parameters) never reach the hooks below.
    frameworkErrors: (error, request, reply) => {
      reply.header('X-REQUEST-ID', request.id);
      sendError(reply, toApiError(error, options.bodyLimit));
    },
    clientErrorHandler: answerClientError,
    ...(options.https ? { https: options.https } : {}),
  }) as unknown as FastifyInstance;

  app.decorate('lane', lane);
  app.decorate('connectionGuard', guard);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as Buffer, bodyLimits));
    } catch (e) {
      done(e as Error, undefined);
    }
  });

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('X-REQUEST-ID', request.id);
    // Routes that read their own body bound it themselves (shared-conventions: streamsBody).
    if ((request.routeOptions.config as { streamsBody?: boolean } | undefined)?.streamsBody) {
      guard.exempt(request.raw);
    }
    done();
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    const apiError = toApiError(error, options.bodyLimit);
    if (apiError.status >= 500) {
      request.log.error({ request_id: request.id, err: error }, 'request failed');
    }
    sendError(reply, apiError);
  });

  app.setNotFoundHandler(async (request, reply) => {
    // Unknown API paths answer like known ones to strangers: credentials first, then 404.
    const path = pathOf(request.url);
    if (path.startsWith(`${API_PREFIX}/`) || path === API_PREFIX) {
      checkAcceptable(request);
      if (request.method !== 'OPTIONS')
        await options.authenticator.authenticate(authRequest(request));
    }
    const below = path.slice(API_PREFIX.length);
    sendError(
      reply,
      path.startsWith(`${API_PREFIX}/`) && cloudSigmaEndpointOf(below)
        ? errors.notImplemented(path)
        : errors.noSuchPath(path),
    );
  });

  app.route({
    method: ['GET', 'HEAD'],
    url: '/healthz',
    handler: async (_request, reply) => reply.type(JSON_TYPE).send('{"status":"ok"}'),
  });
  if (options.operations) installOperations(app, options.operations);
  if (options.logger.level === 'trace') {
    app.addHook('onSend', async (request, _reply, payload) => {
      request.tracePayload = payload;
      return payload;
    });
  }

  for (const spec of options.routes) {
    if (!streamsBody(spec)) registerRoute(app, spec, options);
  }
  // Routes that read their body themselves live in a context whose parser reads nothing: the
  // handler gets the request stream as it arrives (no JSON parsing, no --body-limit).
  const streaming = options.routes.filter(streamsBody);
  if (streaming.length > 0) {
    app.register(async (child) => {
      child.removeAllContentTypeParsers();
      child.addContentTypeParser('*', (_request, _payload, done) => done(null, undefined));
      // An answer given before the body was read to its end (a refusal) closes the connection:
      // what is left of the body would otherwise be read as the next request.
      child.addHook('onSend', async (request, reply, payload) => {
        if (!request.raw.complete) reply.header('connection', 'close');
        return payload;
      });
      for (const spec of streaming) registerRoute(child, spec, options);
    });
  }
  return app;
}

function streamsBody(spec: RouteSpec): boolean {
  return spec.public !== true && spec.streamsBody === true;
}

function registerRoute(app: FastifyInstance, spec: RouteSpec, options: HttpOptions): void {
  const allowed = Object.keys(spec.handlers) as Method[];
  const allowHeader = [...allowed, 'OPTIONS'].join(',');
  const isPublic = spec.public === true;
  const streams = streamsBody(spec);
  app.route({
    method: [...ALL_METHODS],
    url: API_PREFIX + spec.path,
    config: { streamsBody: streams },
    onRequest: async (request) => {
      checkAcceptable(request);
      if (request.method === 'OPTIONS') return;
      if (!isPublic) {
        request.principal = await options.authenticator.authenticate(authRequest(request));
      }
      checkBodyType(request);
    },
    handler: async (request, reply) => {
      if (request.method === 'OPTIONS') {
        return reply
          .code(200)
          .header('allow', allowHeader)
          .type('text/plain; charset=utf-8')
          .send(allowed.join(','));
      }
      // A NUL can only come percent-encoded (the HTTP parser refuses raw ones).
      if (request.url.includes('%00')) {
        rejectNul(request.params as Query);
        rejectNul(request.query as Query);
      }
      const method = (request.method === 'HEAD' ? 'GET' : request.method) as Method;
      const info = requestInfo(request, method, options);
      if (streams) info.bodyStream = request.raw;
      info.clientSignal = disconnectSignal(reply.raw);
      let result: ApiResult;
      if (spec.public) {
        const handler = spec.handlers[method];
        if (!handler) throw refusedMethod(request, spec, allowed);
        result = await handler(info);
      } else {
        const handler = spec.handlers[method];
        if (!handler) throw refusedMethod(request, spec, allowed);
        const ctx: ApiContext = {
          ...info,
          principal: request.principal!,
          noteUnknownFields: (points) => noteUnknownFields(request, points, options.strict),
          noteIgnoredParameters: (names) => {
            if (names.length > 0) request.ignoredParameters = names;
          },
        };
        // The audit log hears what acts or changes: reads are not outcomes.
        result =
          options.onOutcome && method !== 'GET'
            ? await observed(
                handler,
                ctx,
                spec.path,
                options.onOutcome,
                request.log,
                options.bodyLimit,
              )
            : await handler(ctx);
      }
      return sendResult(request, reply, result, info);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Outcomes (the audit log): told after the handler, before the answer is sent

/**
 * Runs a handler and tells `listener` how it ended. The answer waits for what the listener
 * writes (a client reading `/logs/` next sees its entry); a failing listener is logged, never
 * the request's failure.
 */
async function observed(
  handler: ApiHandler,
  ctx: ApiContext,
  route: string,
  listener: OutcomeListener,
  log: FastifyBaseLogger,
  bodyLimit: number,
): Promise<ApiResult> {
  const tell = (outcome: Omit<ApiOutcome, 'ctx' | 'route'>): Promise<void> | undefined => {
    const failed = (err: unknown) => log.error({ err }, 'outcome listener failed');
    try {
      return listener({ ctx, route, ...outcome })?.catch(failed);
    } catch (err) {
      failed(err);
      return undefined;
    }
  };
  let result: ApiResult;
  try {
    result = await handler(ctx);
  } catch (e) {
    const told = tell({ error: toApiError(e as FastifyError, bodyLimit) });
    if (told) await told;
    throw e;
  }
  const told = tell({ result });
  if (told) await told;
  return result;
}

/**
 * A method the route does not serve: 405, unless the path is really another CloudSigma endpoint
 * that sigmalite does not implement (`POST /drives/upload/` reaches `/drives/:uuid/`).
 */
function refusedMethod(request: FastifyRequest, spec: RouteSpec, allowed: string[]): ApiError {
  const path = pathOf(request.url);
  const endpoint = cloudSigmaEndpointOf(path.slice(API_PREFIX.length));
  if (endpoint && pathShape(endpoint.path) !== pathShape(spec.path)) {
    return errors.notImplemented(path);
  }
  return errors.methodNotAllowed(request.method, path, allowed);
}

/** Unknown body fields: refused in strict mode, else remembered for the log line. */
function noteUnknownFields(
  request: FastifyRequest,
  points: readonly string[],
  strict: boolean | undefined,
): void {
  if (points.length === 0) return;
  if (strict) throw errors.unknownFields(points);
  request.ignoredFields = [...(request.ignoredFields ?? []), ...points];
}

/**
 * `/readyz` (200 or 503 with the checks) and `/metrics`, unauthenticated like `/healthz` (bind to
 * a private address to keep them private). API requests are measured by the request log.
 */
function installOperations(app: FastifyInstance, operations: Operations): void {
  app.route({
    method: ['GET', 'HEAD'],
    url: '/readyz',
    handler: async (request, reply) => {
      const { ready, checks, drivers, hosts } = await operations.readiness();
      const verbose = Object.hasOwn(request.query as object, 'verbose');
      const answer = { status: ready ? 'ready' : 'not ready', checks };
      return reply
        .code(ready ? 200 : 503)
        .type(JSON_TYPE)
        .send(JSON.stringify(verbose ? { ...answer, drivers, hosts } : answer));
    },
  });
  app.route({
    method: ['GET', 'HEAD'],
    url: '/metrics',
    handler: async (_request, reply) => {
      const { contentType, text } = await operations.metrics();
      return reply.type(contentType).send(text);
    },
  });
}

/** `\0` in any string is refused (api-reference.md decisions): in the URL as in bodies. */
function rejectNul(values: Query): void {
  for (const [key, value] of Object.entries(values)) {
    const texts = value === undefined ? [] : Array.isArray(value) ? value : [value];
    if (key.includes('\0')) throw errors.nullCharacter(null);
    if (texts.some((text) => text.includes('\0'))) throw errors.nullCharacter(key);
  }
}

/**
 * Requests Node's HTTP parser refuses (a malformed request line or header, headers over the size
 * limit) get a CloudSigma error too, then the connection closes (Fastify's default answers its own
 * JSON shape).
 */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'Request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'Request timeout']
        : [400, 'Malformed HTTP request'];
  const body = errorBody(new ApiError('validation', message, null, status));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/**
 * Request ids: 32 hex digits like CloudSigma's, a random prefix per server and a counter, so ids
 * from several processes sharing a store stay distinct; cheaper than a UUID per request.
 */
function requestIds(): () => string {
  const prefix = randomUUID().replaceAll('-', '').slice(0, 20);
  let counter = 0;
  return () => prefix + (counter++).toString(16).padStart(12, '0');
}

/** The request as routes see it (a plain object: routes spread it). */
function requestInfo(request: FastifyRequest, method: Method, options: HttpOptions): RequestInfo {
  return {
    params: request.params as Record<string, string>,
    query: request.query as Query,
    body: request.body,
    origin: options.publicUrl ?? `${request.protocol}://${request.host}`,
    method,
    path: pathOf(request.url),
    url: request.url,
    headers: request.headers,
    address: request.socket.remoteAddress,
  };
}

function sendResult(
  request: FastifyRequest,
  reply: FastifyReply,
  result: ApiResult,
  ctx: RequestInfo,
): Promise<FastifyReply> | FastifyReply {
  if (result.type === 'raw') return sendRaw(request, reply, result);
  const answer = renderResult(result, ctx.method === 'GET' ? readProjection(ctx.query) : undefined);
  reply.code(answer.status).headers(answer.headers).type(answer.type);
  if (answer.body === undefined) return reply.send();
  if (!shouldGzip(answer.body, request.headers['accept-encoding'])) {
    return reply.send(flatBody(answer.body));
  }
  return gzipPieces(piecesOf(answer.body)).then((zipped) =>
    reply
      .header('content-encoding', 'gzip')
      .header('vary', 'accept-encoding')
      .send(Buffer.concat(zipped)),
  );
}

/** Bytes as they are: a stream is piped (and dropped unread for a HEAD). */
function sendRaw(
  request: FastifyRequest,
  reply: FastifyReply,
  result: Extract<ApiResult, { type: 'raw' }>,
): FastifyReply {
  reply
    .code(result.status ?? 200)
    .headers(result.headers ?? NO_HEADERS)
    .type(result.contentType);
  if (result.length !== undefined) reply.header('content-length', String(result.length));
  if (request.method === 'HEAD' && result.body instanceof Readable) {
    result.body.destroy();
    return reply.send();
  }
  return reply.send(result.body);
}

/** An answer as status, headers, content type and body, whichever way it is then sent. */
export interface Answer {
  status: number;
  headers: ResultHeaders;
  type: string;
  /** Undefined for an empty answer. */
  body: Body | undefined;
}

const NO_HEADERS: ResultHeaders = {};

/** What a handler's result is on the wire (before compression), `fields=` applied. */
export function renderResult(result: ApiResult, projection: readonly string[] | undefined): Answer {
  switch (result.type) {
    case 'list': {
      const head = `{"meta":{"limit":${result.limit},"offset":${result.offset},"total_count":${result.total}},"objects":[`;
      if (result.joined) {
        // The list handler asks the store for a join only when `fields=` does not pick.
        if (projection) throw new Error('a joined list cannot be projected');
        const body = [Buffer.from(head), result.joined, LIST_TAIL];
        return { status: 200, headers: NO_HEADERS, type: JSON_TYPE, body };
      }
      const items = projection
        ? result.items.map((item) => project(item, projection))
        : result.items;
      return { status: 200, headers: NO_HEADERS, type: JSON_TYPE, body: splice(head, items, ']}') };
    }
    case 'object':
      return {
        status: result.status ?? 200,
        headers: result.headers ?? NO_HEADERS,
        type: JSON_TYPE,
        body: projection ? project(result.json, projection) : result.json,
      };
    case 'value':
      return {
        status: result.status ?? 200,
        headers: result.headers ?? NO_HEADERS,
        type: JSON_TYPE,
        body: canonicalJson(result.body),
      };
    case 'raw':
      if (result.body instanceof Readable) throw new Error('a stream is sent by sendRaw');
      return {
        status: result.status ?? 200,
        headers: result.headers ?? NO_HEADERS,
        type: result.contentType,
        body: result.body,
      };
    case 'empty':
      // CloudSigma's 204s carry this content type (fixtures); the body is empty.
      return {
        status: result.status ?? 204,
        headers: NO_HEADERS,
        type: 'text/html; charset=utf-8',
        body: undefined,
      };
  }
}

const GZIP_THRESHOLD = 1024;

/** JSON is gzipped when the client accepts gzip and the body is worth compressing. */
export function shouldGzip(body: Body, acceptEncoding: string | undefined): boolean {
  return bodyLength(body) >= GZIP_THRESHOLD && acceptsGzip(acceptEncoding);
}

/** Whether an Accept-Encoding header allows gzip (`gzip` or `*`, with a q-value above 0). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  for (const part of header.split(',')) {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== 'x-gzip' && coding !== '*') continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    if (!q || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

/**
 * `head item,item,... tail`. Stores may keep rendered objects as UTF-8 bytes; a page of them is
 * then joined as bytes, without decoding and encoding again.
 */
/**
 * The envelope around its items: text for text, or the bytes as chunks, sent from where they are
 * kept (a long list's slices are megabytes each: copying them into one buffer would hold the
 * event loop for as long as reading them did).
 */
function splice(head: string, items: readonly Rendered[], tail: string): Body {
  if (items.length === 0 || typeof items[0] === 'string') return `${head}${items.join(',')}${tail}`;
  const chunks: Buffer[] = [Buffer.from(head)];
  for (let i = 0; i < items.length; i++) {
    if (i > 0) chunks.push(COMMA);
    const item = items[i]!;
    chunks.push(typeof item === 'string' ? Buffer.from(item) : item);
  }
  chunks.push(Buffer.from(tail));
  return chunks;
}

const COMMA = Buffer.from(',');
const LIST_TAIL = Buffer.from(']}');

function project(json: Rendered, names: readonly string[]): string {
  const source = JSON.parse(json.toString()) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const name of names) if (Object.hasOwn(source, name)) out[name] = source[name];
  return canonicalJson(out);
}

function sendError(reply: FastifyReply, error: ApiError): void {
  reply.code(error.status).headers(error.headers).type(JSON_TYPE).send(errorBody(error));
}

function toApiError(error: FastifyError | ApiError, bodyLimit: number): ApiError {
  if (error instanceof ApiError) return error;
  // The process is out of file descriptors (too many sockets, tunnels, files): a condition that
  // passes, not a fault of the request, and never a 500.
  if (error.code === 'EMFILE' || error.code === 'ENFILE') return errors.outOfDescriptors();
  if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return errors.bodyTooLarge(bodyLimit);
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) {
    return errors.invalid(null, error.message);
  }
  return errors.backend();
}

/**
 * `Accept` and `?format=`: JSON or anything (`*\/*`) is served; a request that accepts only other
 * types (XML, which CloudSigma documents but no client uses) gets 406.
 */
function checkAcceptable(request: FastifyRequest): void {
  const accept = request.headers.accept;
  const fast = accept === undefined || accept === '*/*' || accept === 'application/json';
  if (fast && !request.url.includes('format=')) return;
  const format = last(queryOf(request.url), 'format');
  if (format !== undefined) {
    if (format !== 'json') throw errors.notAcceptable(`format "${format}"`);
    return;
  }
  if (!accept) return;
  const types = accept.split(',').map((part) => {
    const [type, ...params] = part.trim().toLowerCase().split(';');
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return { type: type!.trim(), q: q ? Number(q.slice(2)) : 1 };
  });
  const ok = types.some(
    (t) =>
      t.q > 0 &&
      (t.type === 'application/json' ||
        t.type === '*/*' ||
        t.type === 'application/*' ||
        t.type.endsWith('+json')),
  );
  if (!ok) throw errors.notAcceptable(accept);
}

/**
 * A request body must be declared JSON (`application/json` or a `+json` type): a form post or
 * `text/plain` is a request a browser sends cross-site without asking, with the Basic credentials
 * it holds, so it is refused (415) rather than read as JSON. Empty bodies are fine; routes that
 * read their own body (`streamsBody`) are not concerned.
 */
function checkBodyType(request: FastifyRequest): void {
  const length = request.headers['content-length'];
  const hasBody =
    request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  if (!hasBody) return;
  if ((request.routeOptions.config as { streamsBody?: boolean } | undefined)?.streamsBody) return;
  const type = request.headers['content-type'];
  if (type !== undefined && declaresJson(type)) return;
  throw errors.unsupportedMediaType(type);
}

/** `application/json` or `something/x+json`, whatever its parameters, in any case. */
export function declaresJson(contentType: string): boolean {
  const media = contentType.split(';', 1)[0]!.trim().toLowerCase();
  return media === 'application/json' || /^[a-z0-9.+-]+\/[a-z0-9.+-]+\+json$/.test(media);
}

function queryOf(url: string): Query {
  const q = url.indexOf('?');
  if (q < 0) return {};
  // No prototype: `?__proto__=x` or `?constructor=x` are parameters like any other.
  const out = Object.create(null) as Record<string, string[]>;
  for (const [key, value] of new URLSearchParams(url.slice(q + 1))) {
    const values = out[key] ?? [];
    values.push(value);
    out[key] = values;
  }
  return out;
}
