import { connect, type Socket } from 'node:net';
import { Duplex, PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CONSOLE_MAX_LINE,
  type ConsoleServer,
  type ConsoleServerOptions,
  echoConsole,
  startConsoleServer,
} from './console.js';

/** A test client that collects everything the server sends. */
class Client {
  received = '';
  closed = false;
  private wake: (() => void) | undefined;
  readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('error', () => {});
    this.socket.on('data', (chunk: Buffer) => {
      this.received += chunk.toString('latin1');
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
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.received)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Waits until the received text contains `text`. */
  async see(text: string, timeoutMs = 3000): Promise<void> {
    await this.until(() => this.received.includes(text), JSON.stringify(text), timeoutMs);
  }

  /** Waits until the server has closed the connection. */
  async closedByServer(timeoutMs = 3000): Promise<void> {
    await this.until(() => this.closed, 'the server to close', timeoutMs);
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }
}

let servers: ConsoleServer[] = [];
let clients: Client[] = [];
/** Every console stream opened, in order. */
let opened: Duplex[] = [];

async function start(overrides: Partial<ConsoleServerOptions> = {}): Promise<ConsoleServer> {
  const server = await startConsoleServer({
    host: '127.0.0.1',
    port: 0,
    password: 'Pa55word',
    open: () => {
      const stream = echoConsole('web-01');
      opened.push(stream);
      return stream;
    },
    ...overrides,
  });
  servers.push(server);
  return server;
}

function client(server: ConsoleServer): Client {
  const c = new Client(server.port);
  clients.push(c);
  return c;
}

const tick = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

afterEach(async () => {
  for (const c of clients) c.socket.destroy();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
  opened = [];
});

describe('console server', () => {
  it('relays both ways after the right password', async () => {
    const server = await start();
    const c = client(server);
    c.write('Pa55word\n');
    await c.see('sigmalite console for web-01\r\n');
    expect(c.received.startsWith('OK\r\nsigmalite console for web-01\r\n')).toBe(true);
    c.write('hello\r\n');
    await c.see('> hello\r\n');
    c.write('uname -a\n');
    await c.see('> uname -a\r\n');
    expect(server.connections()).toBe(1);
    expect(opened).toHaveLength(1);
  });

  it('accepts CRLF after the password and relays bytes sent in the same packet', async () => {
    const server = await start();
    const c = client(server);
    c.write('Pa55word\r\nfirst\r\nsec');
    await c.see('> first\r\n');
    c.write('ond\n');
    await c.see('> second\r\n');
    expect(c.received).toBe('OK\r\nsigmalite console for web-01\r\n> first\r\n> second\r\n');
  });

  it('accepts a password line that arrives in pieces', async () => {
    const server = await start();
    const c = client(server);
    for (const piece of ['Pa', '55w', 'ord\r', '\nhi\n']) {
      c.write(piece);
      await tick(5);
    }
    await c.see('> hi\r\n');
  });

  it('refuses a wrong password and closes without opening the console', async () => {
    const server = await start();
    for (const wrong of ['Pa55wor\n', 'Pa55word2\n', 'pa55word\n', '\n', 'Pa55word \n']) {
      const c = client(server);
      c.write(wrong);
      await c.closedByServer();
      expect(c.received, wrong).toBe('ERROR authentication failed\r\n');
    }
    expect(opened).toHaveLength(0);
    expect(server.connections()).toBe(0);
  });

  it('closes a connection that sends no complete line in time', async () => {
    const server = await start({ authTimeoutMs: 100 });
    const silent = client(server);
    const partial = client(server);
    partial.write('Pa55wo');
    const started = Date.now();
    await silent.closedByServer();
    await partial.closedByServer();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(silent.received).toBe('ERROR timeout\r\n');
    expect(opened).toHaveLength(0);
  });

  it('keeps an authenticated connection past the timeout', async () => {
    const server = await start({ authTimeoutMs: 100 });
    const c = client(server);
    c.write('Pa55word\n');
    await c.see('OK\r\n');
    await tick(200);
    c.write('still here\n');
    await c.see('> still here\r\n');
    expect(c.closed).toBe(false);
  });

  it('closes on a first line longer than 1 KiB, with or without its newline', async () => {
    const long = 'x'.repeat(CONSOLE_MAX_LINE);
    const server = await start({ password: long });
    const endless = client(server);
    endless.write('y'.repeat(64 * 1024));
    await endless.closedByServer();
    expect(endless.received).toBe('ERROR line too long\r\n');

    const tooLong = client(server);
    tooLong.write(`${long}x\r\n`);
    await tooLong.closedByServer();
    expect(tooLong.received).toBe('ERROR line too long\r\n');

    // Exactly 1 KiB is still a line, and with CRLF split from it.
    const longest = client(server);
    longest.write(`${long}\r`);
    await tick(20);
    longest.write('\nping\n');
    await longest.see('> ping\r\n');
    expect(opened).toHaveLength(1);
  });

  it('close() stops listening and drops connected clients and their consoles', async () => {
    const server = await start();
    const attached = client(server);
    attached.write('Pa55word\n');
    await attached.see('OK\r\n');
    const waiting = client(server);
    await tick(20);
    expect(server.connections()).toBe(2);

    await server.close();
    await attached.closedByServer();
    await waiting.closedByServer();
    expect(server.connections()).toBe(0);
    expect(opened[0]!.destroyed).toBe(true);
    await server.close(); // idempotent

    const refused = new Client(server.port);
    await refused.closedByServer();
    expect(refused.received).toBe('');
  });

  it('destroys the console when the client leaves, and hangs up when the console ends', async () => {
    const server = await start();
    const leaving = client(server);
    leaving.write('Pa55word\n');
    await leaving.see('OK\r\n');
    leaving.socket.destroy();
    await tick(50);
    expect(opened[0]!.destroyed).toBe(true);

    // The console's output ending, and the console destroyed without ending it.
    for (const [index, hangUp] of [
      [1, (s: Duplex) => s.end()],
      [2, (s: Duplex) => s.destroy()],
    ] as const) {
      const stays = client(server);
      stays.write('Pa55word\n');
      await stays.see('for web-01\r\n');
      hangUp(opened[index]!);
      await stays.closedByServer();
    }
    expect(server.connections()).toBe(0);
  });

  it('answers a failing open() with an error line and reports it', async () => {
    const errors: Error[] = [];
    const server = await start({
      open: () => {
        throw new Error('guest is stopped');
      },
      onError: (e) => errors.push(e),
    });
    const c = client(server);
    c.write('Pa55word\n');
    await c.closedByServer();
    expect(c.received).toBe('ERROR console unavailable\r\n');
    expect(errors.map((e) => e.message)).toEqual(['guest is stopped']);
  });

  it('relays raw bytes unchanged to any console stream', async () => {
    const toGuest = new PassThrough();
    const fromGuest = new PassThrough();
    const chunks: Buffer[] = [];
    toGuest.on('data', (chunk: Buffer) => chunks.push(chunk));
    const server = await start({
      open: () => Duplex.from({ writable: toGuest, readable: fromGuest }),
    });
    const c = client(server);
    const bytes = Buffer.from([0, 1, 2, 0xff, 0x1b, 0x5b, 0x41, 0x0d]);
    c.write(Buffer.concat([Buffer.from('Pa55word\n'), bytes]));
    await c.see('OK\r\n');
    fromGuest.write(Buffer.from([0x1b, 0x5b, 0x32, 0x4a, 0x80]));
    await c.see('\x1b[2J\x80');
    await tick(20);
    expect(Buffer.concat(chunks)).toEqual(bytes);
  });
});

describe('echoConsole', () => {
  async function run(writes: string[]): Promise<string> {
    const stream = echoConsole('db\r\n01');
    let out = '';
    stream.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    for (const w of writes) stream.write(w);
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    return out;
  }

  it('greets on one line and echoes lines ended by LF, CRLF or CR, split anywhere', async () => {
    expect(await run(['a\r', '\nb\n', 'c\rd\r\n\r\n', 'tail'])).toBe(
      'sigmalite console for db??01\r\n> a\r\n> b\r\n> c\r\n> d\r\n> \r\n> tail\r\n',
    );
  });

  it('holds up a writer whose echo is not being read', async () => {
    const stream = echoConsole('x');
    const line = `${'z'.repeat(1000)}\n`;
    let accepted = 0;
    for (let i = 0; i < 1000; i++) if (stream.write(line)) accepted++;
    await tick(20);
    // The readable side stops taking echoes once full; writes then queue on the writable side.
    expect(stream.readableLength).toBeLessThan(64 * 1024);
    expect(accepted).toBeLessThan(100);
    let echoed = 0;
    stream.on('data', (chunk: Buffer) => {
      echoed += chunk.length;
    });
    stream.end();
    await new Promise((resolve) => stream.on('end', resolve));
    expect(echoed).toBe('sigmalite console for x\r\n'.length + 1000 * (line.length + 3));
  });
});
