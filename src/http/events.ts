/**
 * The websocket notification stream (api-reference.md §5.11; docs/events.md): every committed
 * change of an announced resource becomes a frame `{"resource_type", "resource_uri", "object"?}`
 * on the sockets of the account that owns it, and of the accounts it is shared with (each with
 * the object as it sees it), and of no other account.
 *
 * The hub listens to `store.onCommit`, so with PostgreSQL it also hears other processes' commits;
 * those come without the rendered object, which is then read back (in commit order: frames never
 * overtake each other). A socket that does not read its frames is closed once its send buffer
 * passes a limit, so a slow client costs bounded memory and never delays the others. Sockets that
 * stop answering pings are dropped.
 *
 * `http/` knows no resource: which kinds are announced, and their URIs, come from `uriOf`.
 */

import { EventEmitter } from 'node:events';
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import fastifyWebsocket from '@fastify/websocket';
import { parse as parseCookies } from 'cookie';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import { errors } from '../errors.js';
import { isPlainObject } from '../model/json.js';
import { API_PREFIX } from '../model/refs.js';
import type { CommittedChange, Rendered, Store } from '../store/types.js';
import { ASYNC_COOKIE, type Authenticator, type Principal } from './auth.js';
import { errorBody } from './errors.js';
import { refuseForeignOrigin } from './origin.js';
import { authRequest } from './server.js';

/** Where the stream is served: CloudSigma's two spellings (§5.11, decision 16), and ours. */
export const WEBSOCKET_PATHS = ['/websocket', '/2.0/websocket', `${API_PREFIX}/websocket`];

/** A socket whose send buffer holds more than this many bytes is closed (1008). */
export const DEFAULT_MAX_BUFFERED = 4 * 1024 * 1024;
export const DEFAULT_HEARTBEAT_MS = 30_000;
/** Clients have nothing to say; what they send is read and ignored, up to this size a message. */
const MAX_INCOMING = 4096;

declare module 'fastify' {
  interface FastifyRequest {
    /** The account's credential version when its event stream was authenticated. */
    credVersion?: number | undefined;
  }
}
const OPEN = 1;
const JSON_TYPE = 'application/json; charset=utf-8';
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_SLOW_CONSUMER = 1008;

/** What the hub needs of a socket (a `ws` WebSocket is one). */
export interface Subscriber {
  readonly readyState: number;
  /** Bytes queued and not yet written to the network. */
  readonly bufferedAmount: number;
  send(frame: string): void;
  close(code: number, reason: string): void;
  ping(): void;
  terminate(): void;
  once(event: 'close', listener: () => void): unknown;
}

export interface EventHubOptions {
  /**
   * The `resource_uri` of an object of `kind`, used when a frame has no object that carries its
   * own (deletions, the profile); undefined when changes of `kind` are not announced.
   */
  uriOf: (kind: string, uuid: string) => string | undefined;
  /**
   * The other accounts an object is shown to (shared with them), each with the object as it
   * sees it, from the owner's rendered detail; none when it is shared with nobody.
   */
  sharedViews?: (kind: string, detail: Rendered) => readonly SharedView[];
  maxBufferedBytes?: number;
  /** Ping interval; a socket that has not answered the previous ping is dropped. 0: none. */
  heartbeatMs?: number;
  logger?: FastifyBaseLogger;
  /** Streams one account may hold open at once; more are refused (429). */
  maxPerAccount?: number;
  /**
   * Where an account's credential version is read: a stream closes (1008) once its account's
   * password changed or the account is gone, checked every `credentialCheckMs`.
   */
  credentials?: { credVersion(uuid: string): Promise<number | undefined> };
  credentialCheckMs?: number;
}

export const DEFAULT_STREAMS_PER_ACCOUNT = 16;
export const CLOSE_POLICY = 1008;

/** An object as another account it is shared with sees it. */
export interface SharedView {
  account: string;
  detail: Rendered;
}

/** One socket's registration: `alive` on each pong, `remove` when the socket closes. */
export interface Subscription {
  alive(): void;
  remove(): void;
}

interface Connection {
  socket: Subscriber;
  account: string;
  alive: boolean;
  /** The account's credential version when the stream opened (undefined: not checked). */
  credVersion: number | undefined;
}

/** Fans committed changes out, per account, to the sockets connected for it. */
export class EventHub {
  private readonly accounts = new Map<string, Set<Connection>>();
  private readonly stopListening: () => void;
  private readonly heartbeat: NodeJS.Timeout | undefined;
  private readonly credentialCheck: NodeJS.Timeout | undefined;
  private readonly maxBuffered: number;
  readonly maxPerAccount: number;
  /** Changes waiting behind a read of another process's object, so that order is kept. */
  private backlog = 0;
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly store: Pick<Store, 'onCommit' | 'getDetail'>,
    private readonly options: EventHubOptions,
  ) {
    this.maxBuffered = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED;
    this.maxPerAccount = options.maxPerAccount ?? DEFAULT_STREAMS_PER_ACCOUNT;
    if (options.credentials) {
      this.credentialCheck = setInterval(() => {
        this.checkCredentials().catch((err: unknown) =>
          options.logger?.error({ err }, 'websocket credential check failed'),
        );
      }, options.credentialCheckMs ?? 5_000);
      this.credentialCheck.unref();
    }
    this.stopListening = store.onCommit((changes) => {
      // A listener runs outside any request: nothing it throws may reach the store.
      try {
        this.publish(changes);
      } catch (err) {
        options.logger?.error({ err }, 'websocket events failed');
      }
    });
    const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    if (heartbeatMs > 0) {
      this.heartbeat = setInterval(() => this.beat(), heartbeatMs);
      this.heartbeat.unref();
    }
  }

  /** Connected sockets, of every account. */
  get size(): number {
    let n = 0;
    for (const connections of this.accounts.values()) n += connections.size;
    return n;
  }

  /** Streams open for `account`. */
  count(account: string): number {
    return this.accounts.get(account)?.size ?? 0;
  }

  /**
   * Sends `account`'s frames to `socket` from now on; `credVersion` is the account's credential
   * version as authenticated (the stream closes once it changes).
   */
  add(account: string, socket: Subscriber, credVersion?: number): Subscription {
    const connection: Connection = { socket, account, alive: true, credVersion };
    if (this.closed) {
      socket.close(CLOSE_GOING_AWAY, 'server shutting down');
      return { alive: () => {}, remove: () => {} };
    }
    let connections = this.accounts.get(account);
    if (!connections) {
      connections = new Set();
      this.accounts.set(account, connections);
    }
    if (connections.size >= this.maxPerAccount) {
      // Upgrades are counted before they happen; this catches those that raced each other.
      safely(() =>
        socket.close(CLOSE_POLICY, `too many streams (limit: ${this.maxPerAccount} per account)`),
      );
      return { alive: () => {}, remove: () => {} };
    }
    connections.add(connection);
    return {
      alive: () => {
        connection.alive = true;
      },
      remove: () => this.forget(connection),
    };
  }

  /**
   * Stops listening, closes every socket (1001) and waits up to `graceMs` for the closing
   * handshakes before cutting the rest.
   */
  async close(graceMs = 1000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopListening();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.credentialCheck) clearInterval(this.credentialCheck);
    const sockets = [...this.accounts.values()].flatMap((set) => [...set].map((c) => c.socket));
    this.accounts.clear();
    const closing = sockets.map((socket) => {
      const closed = new Promise<void>((resolve) => socket.once('close', resolve));
      safely(() => socket.close(CLOSE_GOING_AWAY, 'server shutting down'));
      return closed;
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([Promise.all(closing), timeout]);
    clearTimeout(timer);
    for (const socket of sockets) safely(() => socket.terminate());
    await this.tail;
  }

  private publish(changes: readonly CommittedChange[]): void {
    for (const change of changes) {
      if (change.op === 'task' || change.owner === null || !this.anyoneFor(change)) continue;
      const uri = this.options.uriOf(change.kind, change.uuid);
      if (uri === undefined) continue;
      const needsRead = change.op === 'put' && change.detail === undefined;
      if (!needsRead && this.backlog === 0) {
        this.deliver(change, uri, change.op === 'put' ? change.detail : undefined);
        continue;
      }
      this.backlog++;
      this.tail = this.tail
        .then(() => this.deliverLater(change, uri))
        .catch((err: unknown) => this.options.logger?.error({ err }, 'websocket event failed'))
        .finally(() => {
          this.backlog--;
        });
    }
  }

  private async deliverLater(change: CommittedChange, uri: string): Promise<void> {
    if (change.op === 'task') return;
    if (change.op === 'remove' || change.detail !== undefined) {
      this.deliver(change, uri, change.op === 'put' ? change.detail : undefined);
      return;
    }
    if (!this.anyoneFor(change)) return;
    const view = await this.store.getDetail(change.uuid);
    // Gone (a removal follows) or no longer the object the change was about.
    if (!view || view.kind !== change.kind || view.owner !== change.owner) return;
    this.deliver(change, uri, view.detail);
  }

  /**
   * Whether a connected account may hear of a change: its owner, an account a removed object was
   * shared with, or (for a put, whose audience its detail tells) any other account.
   */
  private anyoneFor(change: Exclude<CommittedChange, { op: 'task' }>): boolean {
    if (this.accounts.has(change.owner!)) return true;
    if (change.op === 'remove') return (change.grantees ?? []).some((a) => this.accounts.has(a));
    return this.options.sharedViews !== undefined && this.accounts.size > 0;
  }

  private deliver(
    change: Exclude<CommittedChange, { op: 'task' }>,
    uri: string,
    detail: Rendered | undefined,
  ): void {
    const owner = change.owner!;
    const frame = renderFrame(change.kind, uri, detail);
    if (frame === undefined) {
      this.options.logger?.warn({ uuid: change.uuid }, 'websocket event: unreadable object');
      return;
    }
    this.send(owner, frame);
    if (change.op === 'remove') {
      for (const grantee of change.grantees ?? []) if (grantee !== owner) this.send(grantee, frame);
      return;
    }
    const others = this.accounts.size - (this.accounts.has(owner) ? 1 : 0);
    if (detail === undefined || others === 0 || !this.options.sharedViews) return;
    for (const view of this.options.sharedViews(change.kind, detail)) {
      if (view.account === owner || !this.accounts.has(view.account)) continue;
      const shared = renderFrame(change.kind, uri, view.detail);
      if (shared !== undefined) this.send(view.account, shared);
    }
  }

  private send(account: string, frame: string): void {
    const connections = this.accounts.get(account);
    if (!connections) return;
    for (const connection of connections) {
      const { socket } = connection;
      if (socket.readyState !== OPEN) continue;
      safely(() => socket.send(frame));
      if (socket.bufferedAmount > this.maxBuffered) {
        this.forget(connection);
        safely(() => socket.close(CLOSE_SLOW_CONSUMER, 'slow consumer: too many unread frames'));
      }
    }
  }

  private beat(): void {
    for (const connections of this.accounts.values()) {
      for (const connection of connections) {
        if (!connection.alive) {
          this.forget(connection);
          safely(() => connection.socket.terminate());
          continue;
        }
        connection.alive = false;
        safely(() => connection.socket.ping());
      }
    }
  }

  /** Closes the streams of accounts whose password changed, or that are gone. */
  private async checkCredentials(): Promise<void> {
    const credentials = this.options.credentials;
    if (!credentials) return;
    for (const [account, connections] of [...this.accounts]) {
      const version = await credentials.credVersion(account);
      for (const connection of [...connections]) {
        if (connection.credVersion === undefined || connection.credVersion === version) continue;
        this.forget(connection);
        safely(() =>
          connection.socket.close(
            CLOSE_POLICY,
            version === undefined ? 'account removed' : 'credentials changed',
          ),
        );
      }
    }
  }

  private forget(connection: Connection): void {
    const connections = this.accounts.get(connection.account);
    if (!connections?.delete(connection)) return;
    if (connections.size === 0) this.accounts.delete(connection.account);
  }
}

/**
 * A frame: the object's own `resource_uri` wins over the kind's (clients match it byte for byte);
 * the object is spliced in as stored. Undefined when the stored detail is not a JSON object.
 */
export function renderFrame(
  kind: string,
  uri: string,
  detail: Rendered | undefined,
): string | undefined {
  const head = `{"resource_type":${JSON.stringify(kind)},"resource_uri":`;
  if (detail === undefined) return `${head}${JSON.stringify(uri)}}`;
  const text = typeof detail === 'string' ? detail : detail.toString('utf8');
  let object: unknown;
  try {
    object = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isPlainObject(object)) return undefined;
  const own = typeof object.resource_uri === 'string' ? object.resource_uri : uri;
  return `${head}${JSON.stringify(own)},"object":${text}}`;
}

function safely(fn: () => void): void {
  try {
    fn();
  } catch {
    // A socket that fails here is closing anyway; its 'close' event cleans up.
  }
}

export interface EventsOptions extends EventHubOptions {
  store: Pick<Store, 'onCommit' | 'getDetail'>;
  authenticator: Authenticator;
  /**
   * Origins (`https://console.example`) a browser page may open a stream from with cookies; the
   * API's own origin (the request's Host, or `publicUrl`) always may.
   */
  allowedOrigins?: readonly string[];
  publicUrl?: string | undefined;
  /**
   * Other websockets of the same server (the web console's): takes an upgrade of its own paths
   * and answers true, or false for any other path.
   */
  otherUpgrades?: (request: IncomingMessage, socket: Duplex, head: Buffer) => boolean;
}

/**
 * Serves the stream on WEBSOCKET_PATHS of `http` (before it listens) and returns its hub. An
 * upgrade is authenticated before it happens: by the `async_auth` cookie, else as any API request
 * (Basic, Digest, session); otherwise it gets the API's 401 and no websocket.
 */
export async function installEvents(
  http: FastifyInstance,
  options: EventsOptions,
): Promise<EventHub> {
  const hub = new EventHub(options.store, options);
  // The plugin hears only the upgrades routed to it: every other URL keeps answering plain HTTP.
  const upgrades = new EventEmitter();
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (isWebsocketPath(request.url)) upgrades.emit('upgrade', request, socket, head);
    else if (!options.otherUpgrades?.(request, socket, head)) {
      answerPlainly(http, request, socket as Socket);
    }
  };
  // Encapsulated: the plugin's hooks run for these routes only, not on every API request.
  await http.register(async (scope) => {
    await scope.register(fastifyWebsocket, {
      options: { server: upgrades as never, maxPayload: MAX_INCOMING },
      errorHandler: (err, socket, request) => {
        request.log.debug({ err }, 'websocket error');
        socket.terminate();
      },
    });
    scope.addHook('preClose', (done) => {
      http.server.off('upgrade', onUpgrade);
      done();
    });
    for (const url of WEBSOCKET_PATHS) {
      scope.route({
        method: 'GET',
        url,
        onRequest: async (request) => {
          const principal = await authenticateUpgrade(options.authenticator, request);
          checkOrigin(request, principal, options);
          if (hub.count(principal.uuid) >= hub.maxPerAccount) {
            throw errors.tooManyEventStreams(hub.maxPerAccount);
          }
          request.principal = principal;
          request.credVersion = options.credentials
            ? await options.credentials.credVersion(principal.uuid)
            : undefined;
        },
        handler: async (request) => {
          throw errors.upgradeRequired(request.url.split('?', 1)[0]!);
        },
        wsHandler: (socket, request) => {
          const subscription = hub.add(request.principal!.uuid, socket, request.credVersion);
          socket.on('pong', subscription.alive);
          socket.on('close', subscription.remove);
        },
      });
    }
  });
  http.server.on('upgrade', onUpgrade);
  return hub;
}

async function authenticateUpgrade(
  authenticator: Authenticator,
  request: FastifyRequest,
): Promise<Principal> {
  const cookie = request.headers.cookie;
  const token = cookie ? parseCookies(cookie)[ASYNC_COOKIE] : undefined;
  if (token) {
    const principal = await authenticator.fromAsyncToken(token);
    if (principal) return principal;
  }
  return authenticator.authenticate(authRequest(request));
}

/**
 * A browser opens a websocket to any site with that site's cookies, whatever page it is on: an
 * upgrade authenticated by a cookie (session or `async_auth`) or by credentials a browser may
 * hold (Basic, Digest) must come from the API's own origin or an allowed one. A stream opened
 * with an API token (a header no page can make a browser send) is not concerned; nor a client
 * that sends no Origin (not a browser).
 */
function checkOrigin(request: FastifyRequest, principal: Principal, options: EventsOptions): void {
  if (principal.via === 'token') return;
  const own = options.publicUrl ?? `${request.protocol}://${request.host}`;
  refuseForeignOrigin(
    request.headers.origin,
    { own, allowed: options.allowedOrigins },
    'open an event stream',
  );
}

function isWebsocketPath(url: string | undefined): boolean {
  const path = (url ?? '/').split('?', 1)[0]!.replace(/\/{2,}/g, '/');
  return WEBSOCKET_PATHS.includes(path.length > 1 ? path.replace(/\/$/, '') : path);
}

/**
 * An upgrade asked of any other URL (curl's or Java's `Upgrade: h2c`, say) is answered as plain
 * HTTP, as before the websocket existed; the connection then closes, since Node has handed it
 * over. Node has also stopped parsing at the headers, so a body cannot be read: such a request is
 * refused with a 400 rather than run without its body.
 */
function answerPlainly(http: FastifyInstance, request: IncomingMessage, socket: Socket): void {
  socket.on('error', () => socket.destroy());
  const response = new ServerResponse(request);
  response.shouldKeepAlive = false;
  response.assignSocket(socket);
  response.on('finish', () => {
    response.detachSocket(socket);
    socket.end();
  });
  const length = request.headers['content-length'];
  if (request.headers['transfer-encoding'] !== undefined || (length && length !== '0')) {
    const body = errorBody(
      errors.invalid(
        null,
        `Only ${WEBSOCKET_PATHS.join(', ')} can be upgraded: send the request without an Upgrade header`,
      ),
    );
    response.writeHead(400, {
      'content-type': JSON_TYPE,
      'content-length': Buffer.byteLength(body),
    });
    response.end(body);
    return;
  }
  http.routing(request, response);
}
