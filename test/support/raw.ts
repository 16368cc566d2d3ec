/**
 * Test support below fetch: `node:http` requests that show the bytes on the wire (fetch decodes
 * gzip and refuses some headers), assertions on CloudSigma error bodies, and the route list of a
 * running Fastify instance.
 */
import { type IncomingHttpHeaders, request } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import type { Response } from './app.js';

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  /** The body exactly as received (still compressed if the server compressed it). */
  body: Buffer;
}

export interface RawRequest {
  method: string;
  /** Absolute path, e.g. `/api/2.0/servers/`. */
  path: string;
  /** Header values may carry latin1 bytes (`\xff`), which fetch refuses to send. */
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Send the body with `Transfer-Encoding: chunked` (no Content-Length). */
  chunked?: boolean;
}

export function rawRequest(origin: string, options: RawRequest): Promise<RawResponse> {
  const url = new URL(options.path, origin);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: options.method, headers: options.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) {
      if (options.chunked) {
        // Two writes without a Content-Length make Node send the body chunked.
        const bytes = Buffer.from(options.body);
        const half = Math.floor(bytes.length / 2);
        req.write(bytes.subarray(0, half));
        req.write(bytes.subarray(half));
      } else {
        req.setHeader('content-length', Buffer.byteLength(options.body));
        req.write(options.body);
      }
    }
    req.end();
  });
}

export function basicAuth(email: string, password: string): string {
  return `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;
}

export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

export interface ExpectedError {
  status: number;
  type: string;
  /** Omit to accept any point; null asserts a null point. */
  point?: string | null;
  /** A substring (or pattern) of the message. */
  message?: string | RegExp;
}

/**
 * Asserts a CloudSigma error: the status, a JSON content type, and a body that is an array of
 * `{error_point, error_type, error_message}` objects with exactly those keys, the first matching.
 */
export function expectApiError(
  res: Pick<Response, 'status' | 'headers' | 'text'>,
  expected: ExpectedError,
): void {
  expect(res.status, res.text).toBe(expected.status);
  expect(res.headers.get('content-type')).toBe(JSON_CONTENT_TYPE);
  const body = JSON.parse(res.text) as unknown;
  expect(Array.isArray(body), res.text).toBe(true);
  const items = body as Record<string, unknown>[];
  expect(items.length).toBeGreaterThan(0);
  for (const item of items) {
    expect(Object.keys(item).sort()).toEqual(['error_message', 'error_point', 'error_type']);
    expect(typeof item.error_message).toBe('string');
    expect((item.error_message as string).length).toBeGreaterThan(0);
    expect(item.error_point === null || typeof item.error_point === 'string').toBe(true);
  }
  const first = items[0]!;
  expect(first.error_type).toBe(expected.type);
  if (expected.point !== undefined) expect(first.error_point).toBe(expected.point);
  if (typeof expected.message === 'string') {
    expect(first.error_message).toContain(expected.message);
  } else if (expected.message) {
    expect(first.error_message).toMatch(expected.message);
  }
}

/** Adapts a raw response to what `expectApiError` reads. */
export function asResponse(res: RawResponse): Pick<Response, 'status' | 'headers' | 'text'> {
  const headers = new Headers();
  for (const [name, value] of Object.entries(res.headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
  }
  return { status: res.status, headers, text: res.body.toString('utf8') };
}

export interface RouteEntry {
  /** Full path as registered, without the trailing slash, e.g. `/api/2.0/servers/:uuid`. */
  path: string;
  methods: string[];
}

/**
 * Every route a running Fastify instance has, read from `printRoutes({commonPrefix: false})`:
 * a tree whose lines are `<indent>├── <segment> (<METHODS>)`, each segment continuing its
 * parent's path. Lines without methods are inner nodes of the radix tree.
 */
export function listRoutes(http: FastifyInstance): RouteEntry[] {
  const text = http.printRoutes({ commonPrefix: false });
  const routes: RouteEntry[] = [];
  const stack: string[] = [];
  for (const line of text.split('\n')) {
    const match = /^((?:│ {3}| {4})*)(?:├── |└── )(\S+)(?: \(([A-Z, ]+)\))?\s*$/.exec(line);
    if (!match) {
      if (line.trim() !== '') throw new Error(`Unexpected printRoutes line: ${line}`);
      continue;
    }
    const depth = [...match[1]!].length / 4;
    stack.length = depth;
    const path = (stack[depth - 1] ?? '') + match[2]!;
    stack.push(path);
    if (match[3]) routes.push({ path, methods: match[3].split(',').map((m) => m.trim()) });
  }
  return routes;
}
