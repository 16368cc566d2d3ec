/**
 * Test support: a sigmalite app on a real socket (port 0, in-memory store, silent logs) with two
 * accounts, and a small HTTP client that speaks Basic auth.
 */
import pino, { type Logger } from 'pino';
import { type App, createApp } from '../../src/app.js';
import { type Config, DEFAULTS } from '../../src/config.js';
import type { Store } from '../../src/store/types.js';
import { openTestStore } from './stores.js';

export interface User {
  email: string;
  password: string;
}

export const ALICE: User = { email: 'alice@example.com', password: 'alice-secret' };
export const BOB: User = { email: 'bob@example.com', password: 'bob-secret' };

export interface Response {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body; undefined when it is empty or not JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests walk response bodies freely and assert on them.
  json: any;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as is instead of JSON-encoding `body`. */
  raw?: string | Uint8Array;
  headers?: Record<string, string>;
  /** Override the credentials (null: none). */
  auth?: User | null;
}

export class Client {
  constructor(
    /** `http://127.0.0.1:PORT` */
    readonly origin: string,
    readonly user: User | null,
    /** Runs after every request that may change something (waits for the engine to settle). */
    private readonly afterWrite: () => Promise<void> = async () => {},
  ) {}

  /** `path` is relative to `/api/2.0` unless it starts with `/api/`, `/healthz` or `/console`. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const url = this.origin + (/^\/(api\/|healthz|console)/.test(path) ? path : `/api/2.0${path}`);
    const headers: Record<string, string> = { ...options.headers };
    const user = options.auth === undefined ? this.user : options.auth;
    if (user && !hasHeader(headers, 'authorization')) {
      headers.authorization = `Basic ${Buffer.from(`${user.email}:${user.password}`).toString('base64')}`;
    }
    let body: string | Uint8Array | undefined;
    if (options.raw !== undefined) body = options.raw;
    else if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined && !hasHeader(headers, 'content-type'))
      headers['content-type'] = 'application/json';
    const response = await fetch(url, { method, headers, body });
    const text = await response.text();
    if (method !== 'GET' && method !== 'HEAD') await this.afterWrite();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  get(path: string, options?: RequestOptions) {
    return this.request('GET', path, options);
  }
  post(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('POST', path, { ...options, body });
  }
  put(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('PUT', path, { ...options, body });
  }
  delete(path: string, body?: unknown, options?: RequestOptions) {
    return this.request('DELETE', path, { ...options, body });
  }
}

function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((key) => key.toLowerCase() === name);
}

export interface TestApp {
  app: App;
  origin: string;
  alice: Client;
  bob: Client;
  anonymous: Client;
  close(): Promise<void>;
}

export interface TestAppOptions extends Partial<Config> {
  /**
   * After each request that may change something, wait until the lifecycle engine has finished
   * every task (default true, with instant transitions): tests of definitions then see stable
   * statuses. Lifecycle tests turn it off to watch `starting` or `creating`.
   */
  settle?: boolean;
  /** The app's logger (default: silent). */
  logger?: Logger;
  /** A store of the test's own (default: a fresh one, in memory or a schema of its own). */
  withStore?: Store;
}

export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const { settle = true, logger, withStore, ...overrides } = options;
  const config: Config = {
    ...DEFAULTS,
    memory: true,
    port: 0,
    transitions: 'instant',
    users: [ALICE, BOB].map((u) => `${u.email}:${u.password}`).join(','),
    ...overrides,
  };
  const store: Store | undefined = withStore ?? (config.memory ? await openTestStore() : undefined);
  const app = await createApp(config, { logger: logger ?? pino({ level: 'silent' }), store });
  const origin = new URL(app.url).origin;
  const afterWrite = settle ? () => app.engine.settled() : undefined;
  return {
    app,
    origin,
    alice: new Client(origin, ALICE, afterWrite),
    bob: new Client(origin, BOB, afterWrite),
    anonymous: new Client(origin, null, afterWrite),
    close: () => app.close(),
  };
}

/** A minimal valid server definition. */
export function serverBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'test-server',
    cpu: 1000,
    mem: 536870912,
    vnc_password: 'testserver',
    ...overrides,
  };
}

/** A minimal valid drive definition. */
export function driveBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { name: 'test-drive', size: 1073741824, media: 'disk', ...overrides };
}
