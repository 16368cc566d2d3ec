/**
 * Helpers for the lifecycle tests: apps on a stopped (manual) clock, polling for asynchronous
 * statuses, stepping the clock past the simulated transitions, forcing statuses no API reaches,
 * and small TCP clients for the VNC (RFB 3.8) and console tunnels.
 */
import { connect, type Socket } from 'node:net';
import type { App } from '../../src/app.js';
import { vncResponse } from '../../src/drivers/compute/simulated/rfb.js';
import { TRANSITION_PRESETS, type Transitions } from '../../src/drivers/transitions.js';
import { loadServer, saveServer } from '../../src/resources/objects.js';
import type { ServerStatus } from '../../src/resources/servers/model.js';
import type { Obj } from '../support/api.js';
import { type Client, startTestApp, type TestApp, type TestAppOptions } from '../support/app.js';

/** The `default` preset's transition times, which the tests step through. */
export const T: Transitions = TRANSITION_PRESETS.default!;

export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An app whose clock is stopped: transitions take `default` times and only move when a test
 * advances the clock. The client does not wait for the engine after writes.
 */
export async function startManualApp(options: TestAppOptions = {}): Promise<TestApp> {
  const t = await startTestApp({ settle: false, transitions: 'default', ...options });
  t.app.clock.setScale(0);
  return t;
}

/** Closes an app whose clock may be stopped: lets every transition under way finish first. */
export async function closeApp(t: TestApp | undefined): Promise<void> {
  if (!t) return;
  t.app.clock.setScale(100_000);
  await t.close();
}

/** Polls `probe` (every few real milliseconds) until it returns something other than undefined/false. */
export async function waitFor<V>(
  what: string,
  probe: () => Promise<V | undefined | false> | V | undefined | false,
  timeoutMs = 5000,
): Promise<V> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    last = value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last})`);
    await realSleep(3);
  }
}

/** GETs an object (asserting 200). */
export async function get(client: Client, path: string): Promise<Obj> {
  const res = await client.get(path);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status} ${res.text}`);
  return res.json as Obj;
}

/** Polls an object until its `status` is `status`; returns it. */
export async function waitStatus(
  client: Client,
  path: string,
  status: string,
  timeoutMs = 5000,
): Promise<Obj> {
  let seen = '';
  return waitFor(
    `${path} to be ${status}`,
    async () => {
      const obj = await get(client, path);
      seen = obj.status;
      return obj.status === status ? obj : undefined;
    },
    timeoutMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; status is ${seen}`);
  });
}

/** Waits until at least `n` sleepers wait on the app's clock (a transition has begun). */
export async function sleepers(app: App, n = 1): Promise<void> {
  await waitFor(`${n} clock sleepers`, () => app.clock.state().pending >= n);
}

/** Waits for `n` sleepers, then moves the stopped clock forward by `ms`. */
export async function advance(app: App, ms: number, n = 1): Promise<void> {
  await sleepers(app, n);
  app.clock.advance(ms);
}

/**
 * Steps the stopped clock forward (`stepMs` at a time) until the engine has no task left:
 * every transition under way, and those they lead to, finish.
 */
export async function drain(app: App, stepMs = 5000): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (app.engine.running === 0 && (await app.store.nextTaskDue()) === undefined) return;
    app.clock.advance(stepMs);
    await realSleep(2);
  }
  throw new Error('the engine did not settle');
}

/**
 * Writes a server status directly in the store. `paused` and `unavailable` exist in the state
 * diagram, but neither the API nor the simulated driver leads there.
 */
export async function forceStatus(app: App, uuid: string, status: ServerStatus): Promise<void> {
  await app.store.write(async (tx) => {
    const server = await loadServer(tx, uuid);
    if (!server) throw new Error(`no server ${uuid}`);
    server.doc.status = status;
    await saveServer(tx, server);
  });
}

/** The server's action URL. */
export const action = (uuid: string, what: string) => `/servers/${uuid}/action/?do=${what}`;

/** `vnc://HOST:PORT` or `csconsole://HOST:PORT` into its parts. */
export function tunnelAddress(url: string): { scheme: string; host: string; port: number } {
  const match = /^([a-z]+):\/\/([^:/]+):(\d+)$/.exec(url);
  if (!match) throw new Error(`not a tunnel URL: ${url}`);
  return { scheme: match[1]!, host: match[2]!, port: Number(match[3]) };
}

/** A TCP client that buffers what it receives and reads exact byte counts or lines from it. */
export class TcpClient {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;
  error: NodeJS.ErrnoException | undefined;
  readonly socket: Socket;
  readonly connected: Promise<void>;

  constructor(host: string, port: number) {
    this.socket = connect({ host, port });
    this.connected = new Promise<void>((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
    this.connected.catch(() => {});
    this.socket.on('error', (e: NodeJS.ErrnoException) => {
      this.error = e;
    });
    this.socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  private async until(done: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!done()) {
      if (this.closed) throw new Error(`connection closed while waiting for ${what}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Exactly `n` bytes. */
  async read(n: number, timeoutMs = 3000): Promise<Buffer> {
    await this.until(() => this.buffer.length >= n, `${n} bytes`, timeoutMs);
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** One line, with its `\r\n` or `\n`. */
  async line(timeoutMs = 3000): Promise<string> {
    await this.until(() => this.buffer.includes(0x0a), 'a line', timeoutMs);
    const end = this.buffer.indexOf(0x0a) + 1;
    const out = this.buffer.subarray(0, end).toString('utf8');
    this.buffer = this.buffer.subarray(end);
    return out;
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /** Resolves once the peer has closed the connection. */
  async closedByPeer(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('the peer did not close the connection');
      await realSleep(5);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }

  /**
   * RFB 3.8 up to the SecurityResult: version, security type 2 (VNC Authentication), the DES
   * response to the challenge. Returns the result (0 is OK) and, on failure, the reason string.
   */
  async vncAuthenticate(password: string): Promise<{ result: number; reason?: string }> {
    const version = (await this.read(12)).toString('latin1');
    if (version !== 'RFB 003.008\n') throw new Error(`unexpected RFB version ${version}`);
    this.write('RFB 003.008\n');
    const count = (await this.read(1))[0]!;
    const types = [...(await this.read(count))];
    if (!types.includes(2)) throw new Error(`no VNC authentication among ${types}`);
    this.write(Buffer.from([2]));
    const challenge = await this.read(16);
    this.write(vncResponse(password, challenge));
    const result = (await this.read(4)).readUInt32BE(0);
    if (result === 0) return { result };
    const length = (await this.read(4)).readUInt32BE(0);
    return { result, reason: (await this.read(length)).toString('utf8') };
  }

  /** ClientInit (shared), then the ServerInit's size and desktop name. */
  async vncInit(): Promise<{ width: number; height: number; name: string }> {
    this.write(Buffer.from([1]));
    const head = await this.read(24);
    const name = (await this.read(head.readUInt32BE(20))).toString('utf8');
    return { width: head.readUInt16BE(0), height: head.readUInt16BE(2), name };
  }
}

/** Whether a TCP connection to host:port is refused (nothing listens there). */
export async function refused(host: string, port: number): Promise<boolean> {
  const client = new TcpClient(host, port);
  try {
    await client.connected;
    client.destroy();
    return false;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ECONNREFUSED';
  }
}
