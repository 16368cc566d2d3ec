/**
 * Robustness test support: a seeded PRNG, requests over `node:http` (one connection each, so a
 * server that closes after an error never breaks the next request), raw bytes over `node:net` for
 * what no HTTP client will send, and the CloudSigma error-body check every answer goes through.
 */
import { request } from 'node:http';
import { connect } from 'node:net';

/** mulberry32: small, fast and deterministic; good enough to pick fuzz cases. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }
  bool(p = 0.5): boolean {
    return this.next() < p;
  }
  /** `k` distinct items in random order. */
  sample<T>(items: readonly T[], k: number): T[] {
    const copy = [...items];
    for (let i = copy.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    return copy.slice(0, k);
  }
}

export interface WireResponse {
  status: number;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface WireRequest {
  method: string;
  /** Path and query exactly as sent (node:http refuses spaces and control characters). */
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** One request on a connection of its own (`Connection: close`). */
export function send(origin: string, req: WireRequest): Promise<WireResponse> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const r = request(
      {
        host: url.hostname,
        port: url.port,
        method: req.method,
        path: req.path,
        headers: req.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) {
            if (value !== undefined)
              headers[name] = Array.isArray(value) ? value.join(', ') : value;
          }
          resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks) });
        });
        res.on('error', reject);
      },
    );
    r.on('error', reject);
    if (req.body !== undefined) {
      if (!Object.keys(req.headers).some((h) => h.toLowerCase() === 'transfer-encoding')) {
        r.setHeader('content-length', req.body.length);
      }
      r.write(req.body);
    }
    r.end();
  });
}

/**
 * Writes `bytes` on a fresh TCP connection and parses the one HTTP/1.1 answer. Null when the
 * server closed the connection without answering.
 */
export function sendBytes(
  origin: string,
  bytes: Buffer,
  timeoutMs = 5_000,
): Promise<WireResponse | null> {
  const url = new URL(origin);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    let received = Buffer.alloc(0);
    let done = false;
    const finish = (value: WireResponse | null, error?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (error) reject(error);
      else resolve(value);
    };
    const timer = setTimeout(
      () => finish(null, new Error(`no complete answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const parsed = parseResponse(received, false);
      if (parsed) finish(parsed);
    });
    const end = () => finish(received.length === 0 ? null : parseResponse(received, true));
    socket.on('end', end);
    socket.on('close', end);
    // A reset after the answer was read is the server closing hard; before it, no answer.
    socket.on('error', () => end());
    socket.write(bytes);
  });
}

/** The complete response in `data`, or null if more bytes are needed (unless `atEnd`). */
function parseResponse(data: Buffer, atEnd: boolean): WireResponse | null {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) {
    if (atEnd) throw new Error(`truncated response head: ${data.toString('latin1')}`);
    return null;
  }
  const lines = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusMatch = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
  if (!statusMatch) throw new Error(`not an HTTP response: ${lines[0]}`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  const rest = data.subarray(headEnd + 4);
  const status = Number(statusMatch[1]);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length < length) {
      if (atEnd) throw new Error('truncated response body');
      return null;
    }
    return { status, headers, body: rest.subarray(0, length) };
  }
  if (headers['transfer-encoding']?.toLowerCase() === 'chunked') {
    const chunks: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lineEnd = rest.indexOf('\r\n', at);
      if (lineEnd < 0) return atEnd ? fail('truncated chunk') : null;
      const size = Number.parseInt(rest.subarray(at, lineEnd).toString('latin1'), 16);
      if (size === 0) return { status, headers, body: Buffer.concat(chunks) };
      if (rest.length < lineEnd + 2 + size + 2) return atEnd ? fail('truncated chunk') : null;
      chunks.push(rest.subarray(lineEnd + 2, lineEnd + 2 + size));
      at = lineEnd + 2 + size + 2;
    }
  }
  if (status === 204 || status === 304) return { status, headers, body: Buffer.alloc(0) };
  return atEnd ? { status, headers, body: rest } : null;
}

function fail(message: string): never {
  throw new Error(message);
}

export const ERROR_TYPES = [
  'validation',
  'notexist',
  'backend',
  'permission',
  'database',
  'concurrency',
  'billing',
  'payment',
] as const;

export const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * What is wrong with an error answer (api-reference.md §1.6), or undefined: the JSON content
 * type, and a non-empty array of objects with exactly `error_point` (null or a string),
 * `error_type` (one of the documented types) and `error_message` (a non-empty string).
 */
export function errorBodyProblem(res: WireResponse, method: string): string | undefined {
  if (res.headers['content-type'] !== JSON_TYPE) {
    return `content-type ${JSON.stringify(res.headers['content-type'])}`;
  }
  if (method === 'HEAD') return res.body.length === 0 ? undefined : 'HEAD answer with a body';
  let body: unknown;
  try {
    body = JSON.parse(res.body.toString('utf8'));
  } catch {
    return `body is not JSON: ${res.body.toString('utf8').slice(0, 200)}`;
  }
  if (!Array.isArray(body) || body.length === 0) return 'body is not a non-empty array';
  for (const item of body as unknown[]) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      return 'an error is not an object';
    }
    const error = item as Record<string, unknown>;
    const keys = Object.keys(error).sort().join(',');
    if (keys !== 'error_message,error_point,error_type') return `error keys ${keys}`;
    if (!(ERROR_TYPES as readonly unknown[]).includes(error.error_type)) {
      return `error_type ${JSON.stringify(error.error_type)}`;
    }
    if (error.error_point !== null && typeof error.error_point !== 'string') {
      return `error_point ${JSON.stringify(error.error_point)}`;
    }
    if (typeof error.error_message !== 'string' || error.error_message === '') {
      return `error_message ${JSON.stringify(error.error_message)}`;
    }
  }
  return undefined;
}

/** The first error's type, if the body is a CloudSigma error. */
export function firstErrorType(res: WireResponse): string | undefined {
  try {
    const body = JSON.parse(res.body.toString('utf8')) as { error_type?: string }[];
    return Array.isArray(body) ? body[0]?.error_type : undefined;
  } catch {
    return undefined;
  }
}
