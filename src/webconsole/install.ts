/**
 * The web console on sigmalite's own HTTP server (docs/web-console.md):
 *
 * - `GET /console/...`: the static build (`static.ts`);
 * - `POST /console/tokens/`: a single-use token for one server's screen or serial console,
 *   issued to whoever the API's authenticator accepts (the console's login session, with its
 *   CSRF token), with the permission `open_vnc` needs;
 * - websockets `/console/ws/screen/{uuid}?token=` and `/console/ws/serial/{uuid}?token=`: the
 *   bridges (`bridges.ts`), opened only with such a token.
 *
 * It depends on the rest of sigmalite through what it is handed: the authenticator, the store's
 * sessions (tokens), the tunnels of the engine and a function that says whether an account may
 * open a server's tunnels.
 */

import type { IncomingMessage } from 'node:http';
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WebSocketServer } from 'ws';
import { ApiError, errors } from '../errors.js';
import type { Authenticator, Principal } from '../http/auth.js';
import { errorBody } from '../http/errors.js';
import { refuseForeignOrigin } from '../http/origin.js';
import { pathOf } from '../http/query.js';
import { authRequest } from '../http/server.js';
import { isPlainObject } from '../model/json.js';
import type { AccountRepo, SessionRepo } from '../store/types.js';
import { bridgeScreen, bridgeSerial, type TunnelOpener, type TunnelTarget } from './bridges.js';
import { defaultConsoleDir, loadConsoleFiles, PAGE_HEADERS, type StaticFile } from './static.js';
import { ConsoleTokens, TUNNEL_KINDS, type TunnelKind } from './tokens.js';

export const CONSOLE_PREFIX = '/console';

export interface ConsoleOptions {
  authenticator: Authenticator;
  /** Where tokens are kept (any process sharing the store redeems them). */
  sessions: Pick<SessionRepo, 'create' | 'take'>;
  accounts: Pick<AccountRepo, 'byUuid'>;
  tunnels: TunnelOpener;
  /** Where the tunnels listen (`--host`). */
  tunnelHost: string;
  /**
   * The server if `principal` may open its tunnels now (`open_vnc`'s permission, running);
   * throws the API's 404 or 403 otherwise.
   */
  target(principal: Principal, uuid: string, kind: TunnelKind): Promise<TunnelTarget>;
  logger: FastifyBaseLogger;
  /** `--public-url`: the API's own origin, when set (else the request's scheme and Host). */
  publicUrl?: string | undefined;
  /** `--allowed-origins`: pages of these origins may open the websockets too. */
  allowedOrigins?: readonly string[];
  /** Websockets (screens and serial consoles) one account may hold open at once. */
  maxSocketsPerAccount?: number;
  /** The build to serve; default `dist/console/` of this package. */
  dir?: string;
}

export interface ConsoleHandle {
  /** Takes the websocket upgrades of the console's paths; false for any other path. */
  upgrade(request: IncomingMessage, socket: Duplex, head: Buffer): boolean;
  /** Closes the bridges' websockets (1001). */
  close(): Promise<void>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const WS_PATH = /^\/console\/ws\/(screen|serial)\/([^/?]*)\/?(?:\?(.*))?$/;
const NOT_BUILT =
  '<!doctype html><meta charset="utf-8"><title>sigmalite</title><p>The web console is not built: run <code>npm run build</code>.</p>';

/** Installs the console's routes on `http` (before it listens). */
export function installConsole(http: FastifyInstance, options: ConsoleOptions): ConsoleHandle {
  const files = loadConsoleFiles(options.dir ?? defaultConsoleDir());
  const tokens = new ConsoleTokens(options.sessions);
  const sockets = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const perAccount = new AccountCounter(
    options.maxSocketsPerAccount ?? DEFAULT_SOCKETS_PER_ACCOUNT,
  );

  const page = (request: FastifyRequest, reply: FastifyReply) => {
    const index = files.get('index.html');
    if (!index) {
      return reply.code(503).headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(NOT_BUILT);
    }
    return sendFile(request, reply, index, PAGE_HEADERS);
  };
  // The router ignores trailing slashes: this route hears `/console` and `/console/`.
  http.route({
    method: PAGE_METHODS,
    url: CONSOLE_PREFIX,
    handler: async (request, reply) => {
      readOnly(request);
      return pathOf(request.url) === CONSOLE_PREFIX
        ? reply.code(301).header('location', `${CONSOLE_PREFIX}/`).send()
        : page(request, reply);
    },
  });
  http.route({
    method: PAGE_METHODS,
    url: `${CONSOLE_PREFIX}/*`,
    handler: async (request, reply) => {
      const path = (request.params as { '*': string })['*'];
      readOnly(request);
      if (path === '' || path === 'index.html') return page(request, reply);
      const file = files.get(path);
      if (!file) throw errors.noSuchPath(request.url.split('?', 1)[0]!);
      return sendFile(request, reply, file, {});
    },
  });
  http.route({
    method: ['POST'],
    url: `${CONSOLE_PREFIX}/tokens/`,
    handler: async (request, reply) => {
      const principal = await options.authenticator.authenticate(authRequest(request));
      const { server, kind } = readTokenRequest(request.body);
      await options.target(principal, server, kind);
      const { token, expiresInSeconds } = await tokens.issue(principal.uuid, server, kind);
      return reply
        .code(201)
        .type(JSON_TYPE)
        .header('cache-control', 'no-store')
        .send(
          JSON.stringify({
            token,
            expires_in: expiresInSeconds,
            websocket: `${CONSOLE_PREFIX}/ws/${kind}/${server}/?token=${token}`,
          }),
        );
    },
  });

  const bridgeOptions = {
    tunnels: options.tunnels,
    tunnelHost: options.tunnelHost,
    logger: options.logger,
  };
  const upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): boolean => {
    const url = request.url ?? '';
    if (!url.startsWith(`${CONSOLE_PREFIX}/ws/`)) return false;
    socket.on('error', () => socket.destroy());
    // A request ws would refuse is refused before the token is spent, in the API's format.
    const malformed = malformedUpgrade(request);
    if (malformed) {
      refuseUpgrade(socket, malformed, options.logger);
      return true;
    }
    try {
      // A page of another site can make the browser open this websocket (with a token it
      // obtained somehow): only the console's own pages may.
      refuseForeignOrigin(
        request.headers.origin,
        { own: options.publicUrl ?? ownOrigin(request), allowed: options.allowedOrigins },
        'open a console websocket',
      );
    } catch (err) {
      refuseUpgrade(socket, err, options.logger);
      return true;
    }
    void admit(url)
      .then((admitted) => {
        // Reserved before the upgrade completes: parallel upgrades cannot pass the cap together.
        const release = perAccount.take(admitted.account);
        socket.once('close', release);
        sockets.handleUpgrade(request, socket, head, (ws) => {
          ws.on('error', () => ws.terminate());
          const bridge = admitted.kind === 'screen' ? bridgeScreen : bridgeSerial;
          bridge(ws, admitted.target, bridgeOptions).catch((err: unknown) => {
            options.logger.error({ err }, 'console: bridge failed');
            ws.terminate();
          });
        });
      })
      .catch((err: unknown) => refuseUpgrade(socket, err, options.logger));
    return true;
  };

  /** The websocket's server and kind, if its token is good and the account may open them. */
  const admit = async (
    url: string,
  ): Promise<{ kind: TunnelKind; target: TunnelTarget; account: string }> => {
    const match = WS_PATH.exec(url);
    if (!match) throw errors.noSuchPath(url.split('?', 1)[0]!);
    const kind = match[1] as TunnelKind;
    const uuid = match[2]!;
    const token = new URLSearchParams(match[3] ?? '').get('token') ?? '';
    const account = UUID.test(uuid) ? await tokens.redeem(uuid, kind, token) : undefined;
    const found = account === undefined ? undefined : await options.accounts.byUuid(account);
    if (!found) {
      throw errors.permission('The console token is unknown, used or expired: ask for a new one');
    }
    const principal: Principal = { uuid: found.uuid, email: found.email, via: 'session' };
    return { kind, target: await options.target(principal, uuid, kind), account: found.uuid };
  };

  return {
    upgrade,
    close: async () => {
      // ws waits up to 30 s for a peer's closing frame; a browser tab that went to sleep must
      // not hold the shutdown that long (the event stream gives the same grace).
      const closing = [...sockets.clients].map((ws) => {
        const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
        ws.close(1001, 'server shutting down');
        return closed;
      });
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(closing),
        new Promise<void>((resolve) => {
          grace = setTimeout(resolve, CLOSE_GRACE_MS);
        }),
      ]);
      clearTimeout(grace);
      for (const ws of sockets.clients) ws.terminate();
      await new Promise<void>((resolve) => sockets.close(() => resolve()));
    },
  };
}

/** Websockets per account unless configured (each holds one tunnel). */
const DEFAULT_SOCKETS_PER_ACCOUNT = 64;

/** Open websockets per account, capped: `take` throws the API's 429 beyond the cap. */
class AccountCounter {
  private readonly counts = new Map<string, number>();
  constructor(private readonly max: number) {}

  /** Counts one more for `account`; the function it returns gives it back (once). */
  take(account: string): () => void {
    const count = this.counts.get(account) ?? 0;
    if (count >= this.max) throw errors.tooManyTunnels('console websockets', this.max);
    this.counts.set(account, count + 1);
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const left = (this.counts.get(account) ?? 1) - 1;
      if (left === 0) this.counts.delete(account);
      else this.counts.set(account, left);
    };
  }
}

/** The origin a browser on the API's own pages sends: the scheme it was reached by and Host. */
function ownOrigin(request: IncomingMessage): string {
  const scheme = (request.socket as { encrypted?: boolean }).encrypted ? 'https' : 'http';
  return `${scheme}://${request.headers.host ?? ''}`;
}

/** How long a shutdown waits for the browsers' closing frames before cutting the sockets. */
const CLOSE_GRACE_MS = 1_000;

const PAGE_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

/** The page and its files are only read: any other method is the API's 405. */
function readOnly(request: FastifyRequest): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    throw errors.methodNotAllowed(request.method, pathOf(request.url), ['GET']);
  }
}

function readTokenRequest(body: unknown): { server: string; kind: TunnelKind } {
  if (!isPlainObject(body)) throw errors.invalid(null, 'Send a JSON object: {"server", "kind"}');
  const { server, kind } = body;
  if (server === undefined) throw errors.required('server');
  if (typeof server !== 'string' || !UUID.test(server)) {
    throw errors.invalid('server', 'Enter a valid server uuid');
  }
  if (kind === undefined) throw errors.required('kind');
  if (typeof kind !== 'string' || !(TUNNEL_KINDS as readonly string[]).includes(kind)) {
    throw errors.invalid(
      'kind',
      `Select a valid choice. ${String(kind)} is not one of the available choices (${TUNNEL_KINDS.join(', ')})`,
    );
  }
  return { server, kind: kind as TunnelKind };
}

function sendFile(
  request: FastifyRequest,
  reply: FastifyReply,
  file: StaticFile,
  extra: Readonly<Record<string, string>>,
): FastifyReply {
  reply
    .headers(extra)
    .header('etag', file.etag)
    .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
    .header('x-content-type-options', 'nosniff')
    .type(file.type);
  if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
  const gzip = file.gzipped && /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
  if (file.gzipped) reply.header('vary', 'accept-encoding');
  if (gzip) return reply.header('content-encoding', 'gzip').send(file.gzipped);
  return reply.send(file.body);
}

/** What makes an upgrade request one that `ws` cannot complete (RFC 6455 §4.2.1). */
function malformedUpgrade(request: IncomingMessage): ApiError | undefined {
  const key = request.headers['sec-websocket-key'];
  if (request.method !== 'GET') {
    return errors.methodNotAllowed(request.method ?? '', pathOf(request.url ?? ''), ['GET']);
  }
  if (String(request.headers.upgrade).toLowerCase() !== 'websocket') {
    return errors.invalid(null, 'Only a websocket upgrade (Upgrade: websocket) is served here');
  }
  if (typeof key !== 'string' || !/^[+/0-9A-Za-z]{22}==$/.test(key.trim())) {
    return errors.invalid(null, 'Missing or invalid Sec-WebSocket-Key');
  }
  if (request.headers['sec-websocket-version'] !== '13') {
    return errors.invalid(null, 'Unsupported websocket version: send Sec-WebSocket-Version: 13');
  }
  return undefined;
}

/** An upgrade refused before it happens: the API's error, then the connection closes. */
function refuseUpgrade(socket: Duplex, err: unknown, logger: FastifyBaseLogger): void {
  const error = err instanceof ApiError ? err : errors.backend();
  const { status } = error;
  if (status >= 500) logger.error({ err }, 'console: websocket upgrade failed');
  const body = errorBody(error);
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    `Content-Type: ${JSON_TYPE}`,
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...Object.entries(error.headers).map(([name, value]) => `${name}: ${value}`),
  ];
  if (socket.writable) socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
  else socket.destroy();
}
