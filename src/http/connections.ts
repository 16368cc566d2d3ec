/**
 * Slow and greedy clients: connections are capped per client address and in total, and a request
 * body must arrive at a minimum rate and within a time limit, so that nobody holds sockets and
 * memory open by trickling (headers are bounded by Node's `headersTimeout`, set by the server).
 *
 * Bodies are watched by one sweep a second over the requests still receiving one, not by Node's
 * `requestTimeout`: that would also cut the image routes (`config: { streamsBody: true }`), which
 * read their own bodies and bound themselves (`exempt`).
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { type ApiError, errors } from '../errors.js';
import { errorBody } from './errors.js';
import { addressBlock } from './throttle.js';

export interface ConnectionLimits {
  /** Open connections from one client address (IPv6: per /64). */
  perAddress: number;
  /** Open connections in total. */
  total: number;
  /** Milliseconds a request body may take in all. */
  bodyTimeoutMs: number;
  /** Bytes a second a body must average once `graceMs` have passed. */
  minBodyRate: number;
  graceMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  perAddress: 256,
  total: 8192,
  bodyTimeoutMs: 300_000,
  minBodyRate: 1024,
  graceMs: 10_000,
};

interface Receiving {
  req: IncomingMessage;
  res: ServerResponse;
  start: number;
  startBytes: number;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export class ConnectionGuard {
  private readonly open = new Map<string, number>();
  private total = 0;
  private readonly receiving = new Map<IncomingMessage, Receiving>();
  private sweeper: NodeJS.Timeout | undefined;
  /** Connections refused and bodies cut (tests and metrics read them). */
  refused = 0;
  cut = 0;

  constructor(
    readonly limits: ConnectionLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts `server`'s connections, refusing those over the caps. */
  attach(server: Server, encrypted: boolean): void {
    server.on('connection', (socket: Socket) => this.admit(socket, encrypted));
    server.once('close', () => this.stop());
  }

  private admit(socket: Socket, encrypted: boolean): void {
    const block = addressBlock(socket.remoteAddress ?? '');
    const fromThere = this.open.get(block) ?? 0;
    const refusal =
      this.total >= this.limits.total
        ? errors.tooManyConnections(this.limits.total)
        : fromThere >= this.limits.perAddress
          ? errors.tooManyConnectionsFromAddress(this.limits.perAddress)
          : undefined;
    if (refusal) {
      this.refused++;
      // A TLS socket cannot be answered before its handshake: it is only closed.
      if (encrypted) socket.destroy();
      else refuseRaw(socket, refusal);
      return;
    }
    this.total++;
    this.open.set(block, fromThere + 1);
    socket.once('close', () => {
      this.total--;
      const left = (this.open.get(block) ?? 1) - 1;
      if (left <= 0) this.open.delete(block);
      else this.open.set(block, left);
    });
  }

  /** Watches the body of `req`, if it has one, until it has arrived whole. */
  watch(req: IncomingMessage, res: ServerResponse): void {
    const hasBody =
      req.headers['transfer-encoding'] !== undefined ||
      (req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0');
    if (!hasBody || req.complete) return;
    this.receiving.set(req, { req, res, start: this.now(), startBytes: req.socket.bytesRead });
    req.once('close', () => this.receiving.delete(req));
    this.sweeper ??= setInterval(() => this.sweep(), 1000).unref();
  }

  /** A route that reads and bounds its own body (`streamsBody`). */
  exempt(req: IncomingMessage): void {
    this.receiving.delete(req);
  }

  private sweep(): void {
    const now = this.now();
    for (const [req, entry] of this.receiving) {
      if (req.complete || req.socket.destroyed) {
        this.receiving.delete(req);
        continue;
      }
      const elapsed = now - entry.start;
      if (elapsed > this.limits.bodyTimeoutMs) {
        this.close(
          entry,
          `The request body took too long (limit: ${this.limits.bodyTimeoutMs / 1000} seconds)`,
        );
      } else if (elapsed >= this.limits.graceMs) {
        const rate = ((req.socket.bytesRead - entry.startBytes) * 1000) / elapsed;
        if (rate < this.limits.minBodyRate) {
          this.close(
            entry,
            `The request body arrives too slowly (limit: at least ${this.limits.minBodyRate} bytes a second)`,
          );
        }
      }
    }
    if (this.receiving.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private close(entry: Receiving, message: string): void {
    this.receiving.delete(entry.req);
    this.cut++;
    const { res } = entry;
    if (!res.headersSent) {
      const body = errorBody(errors.requestTimeout(message));
      res.writeHead(408, {
        'content-type': JSON_TYPE,
        'content-length': Buffer.byteLength(body),
        connection: 'close',
      });
      res.end(body);
    }
    // The rest of the body is never read: the socket goes once the answer is out.
    const socket = entry.req.socket;
    setTimeout(() => socket.destroy(), 100).unref();
  }

  stop(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.receiving.clear();
  }
}

/** Answers a connection refused before any request, then closes it. */
function refuseRaw(socket: Socket, error: ApiError): void {
  const body = errorBody(error);
  const reason = error.status === 429 ? 'Too Many Requests' : 'Service Unavailable';
  socket.end(
    `HTTP/1.1 ${error.status} ${reason}\r\nContent-Type: ${JSON_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}
