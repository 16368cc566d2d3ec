/**
 * Test support for the test-control API: a client that sends the bearer token, and polling for a
 * state the engine reaches asynchronously.
 */
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { type Config, DEFAULTS } from '../../src/config.js';
import type { Store } from '../../src/store/types.js';
import { ALICE, BOB, Client, type Response, type TestApp } from './app.js';
import { openTestStore, type TestStoreKind } from './stores.js';

export class ControlClient {
  constructor(
    /** `http://127.0.0.1:PORT` */
    readonly origin: string,
    /** null: no Authorization header. */
    readonly token: string | null,
  ) {}

  /** `path` is relative to `/_sigmalite` unless it starts with `/`. */
  async request(method: string, path: string, body?: unknown): Promise<Response> {
    const url = this.origin + (path.startsWith('/') ? path : `/_sigmalite/${path}`);
    const headers: Record<string, string> = {};
    if (this.token !== null) headers.authorization = `Bearer ${this.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, text, json };
  }

  get(path: string) {
    return this.request('GET', path);
  }
  post(path: string, body?: unknown) {
    return this.request('POST', path, body);
  }
  put(path: string, body?: unknown) {
    return this.request('PUT', path, body);
  }
  delete(path: string, body?: unknown) {
    return this.request('DELETE', path, body);
  }

  /** Sends a request that must succeed (2xx) and returns its JSON. */
  // biome-ignore lint/suspicious/noExplicitAny: tests walk response bodies freely and assert on them.
  async ok(method: string, path: string, body?: unknown): Promise<any> {
    const res = await this.request(method, path, body);
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    }
    return res.json;
  }
}

/** The control client of an app started with `control: true`. */
export function controlOf(t: TestApp): ControlClient {
  if (!t.app.control) throw new Error('the app runs without --control');
  return new ControlClient(t.origin, t.app.control.token);
}

/** Polls `read` until `done` holds of its value; fails after `timeoutMs` with the last value. */
export async function waitFor<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  timeoutMs = 5_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > until) {
      throw new Error(`gave up waiting; last value: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The status of an object, as its owner sees it. */
export async function statusOf(client: Client, path: string): Promise<string> {
  const res = await client.get(path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text}`);
  return res.json.status as string;
}

/** Waits until an object shows `status`. */
export function waitForStatus(
  client: Client,
  path: string,
  status: string,
  timeoutMs?: number,
): Promise<string> {
  return waitFor(
    () => statusOf(client, path),
    (value) => value === status,
    timeoutMs,
  );
}

/** Lets the engine run for a while (to show that something does not happen). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * `startTestApp` on a store of the kind given (or one opened by the caller), whatever
 * SIGMALITE_TEST_STORE says: export/import tests move state between the kinds.
 */
export async function startTestAppOn(
  store: TestStoreKind | Store,
  options: Partial<Config> & { settle?: boolean } = {},
): Promise<TestApp> {
  const { settle = true, ...overrides } = options;
  const config: Config = {
    ...DEFAULTS,
    memory: true,
    port: 0,
    transitions: 'instant',
    users: [ALICE, BOB].map((u) => `${u.email}:${u.password}`).join(','),
    control: true,
    ...overrides,
  };
  const opened = typeof store === 'string' ? await openTestStore(store) : store;
  const app = await createApp(config, { logger: pino({ level: 'silent' }), store: opened });
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
