import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  desktopPixel,
  type RfbInputEvent,
  type RfbServer,
  type RfbServerOptions,
  startRfbServer,
  vncResponse,
} from './rfb.js';

/** A test client: buffers what the server sends and reads exact byte counts from it. */
class Client {
  private buffer = Buffer.alloc(0);
  private wake: (() => void) | undefined;
  closed = false;
  readonly socket: Socket;

  constructor(port: number) {
    this.socket = connect({ host: '127.0.0.1', port });
    this.socket.on('error', () => {});
    this.socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.wake?.();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.wake?.();
    });
  }

  /** Exactly `n` bytes; rejects if the connection closes first or nothing comes in time. */
  async read(n: number, timeoutMs = 3000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length < n) {
      if (this.closed) throw new Error(`closed after ${this.buffer.length} of ${n} bytes`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out with ${this.buffer.length} of ${n} bytes`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** Bytes received and not yet read. */
  pending(): number {
    return this.buffer.length;
  }

  async u32(): Promise<number> {
    return (await this.read(4)).readUInt32BE(0);
  }

  /** Resolves once the server has closed the connection. */
  async closedByServer(timeoutMs = 3000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('the server did not close the connection');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  /**
   * Version, security type, challenge and response (3.8). Returns the SecurityResult, or throws
   * if the server closed without sending one.
   */
  async authenticate(password: string): Promise<number> {
    expect((await this.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    this.write('RFB 003.008\n');
    expect([...(await this.read(2))]).toEqual([1, 2]);
    this.write(Buffer.from([2]));
    const challenge = await this.read(16);
    this.write(vncResponse(password, challenge));
    return this.u32();
  }

  /** Authenticates, sends ClientInit and returns the parsed ServerInit. */
  async init(password: string) {
    expect(await this.authenticate(password)).toBe(0);
    this.write(Buffer.from([1]));
    const head = await this.read(24);
    const name = (await this.read(head.readUInt32BE(20))).toString('utf8');
    return {
      width: head.readUInt16BE(0),
      height: head.readUInt16BE(2),
      pixelFormat: head.subarray(4, 20),
      name,
    };
  }

  /** Reads one FramebufferUpdate with at most one Raw rectangle of `bytesPerPixel` pixels. */
  async update(bytesPerPixel = 4) {
    const head = await this.read(4);
    expect(head[0]).toBe(0);
    const count = head.readUInt16BE(2);
    if (count === 0) return null;
    expect(count).toBe(1);
    const rect = await this.read(12);
    const width = rect.readUInt16BE(4);
    const height = rect.readUInt16BE(6);
    expect(rect.readInt32BE(8)).toBe(0);
    return {
      x: rect.readUInt16BE(0),
      y: rect.readUInt16BE(2),
      width,
      height,
      pixels: await this.read(width * height * bytesPerPixel),
    };
  }

  destroy(): void {
    this.socket.destroy();
  }
}

const updateRequest = (incremental: boolean, x: number, y: number, w: number, h: number) => {
  const out = Buffer.alloc(10);
  out[0] = 3;
  out[1] = incremental ? 1 : 0;
  out.writeUInt16BE(x, 2);
  out.writeUInt16BE(y, 4);
  out.writeUInt16BE(w, 6);
  out.writeUInt16BE(h, 8);
  return out;
};

const setPixelFormat = (format: number[]) => Buffer.from([0, 0, 0, 0, ...format]);
/** 16 bpp, depth 16, big-endian, RGB565. */
const RGB565_BE = [16, 16, 1, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0];
/** 8 bpp colour map. */
const COLOUR_MAP = [8, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

const rgb565 = (rgb: number) =>
  (Math.round((((rgb >> 16) & 0xff) * 31) / 255) << 11) |
  (Math.round((((rgb >> 8) & 0xff) * 63) / 255) << 5) |
  Math.round(((rgb & 0xff) * 31) / 255);

let servers: RfbServer[] = [];
let clients: Client[] = [];

async function start(overrides: Partial<RfbServerOptions> = {}): Promise<RfbServer> {
  const server = await startRfbServer({
    host: '127.0.0.1',
    port: 0,
    password: 'secret12',
    desktopName: 'web-01',
    ...overrides,
  });
  servers.push(server);
  return server;
}

function client(server: RfbServer): Client {
  const c = new Client(server.port);
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
});

describe('vncResponse', () => {
  it('matches the known answer checked against QEMU', () => {
    const challenge = Buffer.from([...Array(16).keys()]);
    expect(vncResponse('testserv', challenge).toString('hex')).toBe(
      '7cb209b1d67e4b414c374fe3b37e55d7',
    );
  });

  it('uses only the first 8 bytes of the password, NUL-padded', () => {
    const challenge = Buffer.from('0123456789abcdef');
    expect(vncResponse('testservXYZ', challenge)).toEqual(vncResponse('testserv', challenge));
    expect(vncResponse('testser', challenge)).toEqual(vncResponse('testser\0', challenge));
    expect(vncResponse('testser', challenge)).not.toEqual(vncResponse('testserv', challenge));
  });

  it('refuses a challenge that is not whole DES blocks', () => {
    expect(() => vncResponse('x', Buffer.alloc(15))).toThrow(RangeError);
  });
});

describe('RFB server', () => {
  it('completes the 3.8 handshake and serves the framebuffer in Raw', async () => {
    const server = await start({ width: 320, height: 200, desktopName: 'web-01 ✓' });
    const c = client(server);
    const init = await c.init('secret12');
    expect(init).toMatchObject({ width: 320, height: 200, name: 'web-01 ✓' });
    expect([...init.pixelFormat]).toEqual([
      32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0,
    ]);
    expect(server.connections()).toBe(1);

    c.write(updateRequest(false, 0, 0, 320, 200));
    const full = (await c.update())!;
    expect(full).toMatchObject({ x: 0, y: 0, width: 320, height: 200 });
    for (const [x, y] of [
      [0, 0],
      [319, 0],
      [100, 100],
      [0, 199],
      [319, 199],
    ] as const) {
      const pixel = full.pixels.readUInt32LE((y * 320 + x) * 4);
      expect(pixel, `pixel ${x},${y}`).toBe(desktopPixel(x, y, 320, 200));
    }
    // The desktop is not one flat colour.
    expect(new Set([0, 40, 100, 199].map((y) => full.pixels.readUInt32LE(y * 320 * 4))).size).toBe(
      3,
    );

    // A sub-rectangle, and one running off the screen (clipped).
    c.write(updateRequest(false, 10, 20, 5, 3));
    const part = (await c.update())!;
    expect(part).toMatchObject({ x: 10, y: 20, width: 5, height: 3 });
    expect(part.pixels.readUInt32LE((2 * 5 + 4) * 4)).toBe(desktopPixel(14, 22, 320, 200));
    c.write(updateRequest(false, 300, 190, 100, 100));
    expect(await c.update()).toMatchObject({ x: 300, y: 190, width: 20, height: 10 });
    c.write(updateRequest(false, 400, 400, 10, 10));
    expect(await c.update()).toBeNull();

    // Nothing changed since the full update: an incremental request waits.
    c.write(updateRequest(true, 0, 0, 320, 200));
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(c.pending()).toBe(0);
    expect(c.closed).toBe(false);
  });

  it('answers the first incremental request of a client that has nothing yet', async () => {
    const server = await start({ width: 16, height: 16 });
    const c = client(server);
    await c.init('secret12');
    c.write(updateRequest(true, 0, 0, 16, 16));
    expect(await c.update()).toMatchObject({ width: 16, height: 16 });
  });

  it('refuses a wrong password with a reason and closes', async () => {
    const server = await start();
    const c = client(server);
    expect(await c.authenticate('secret13')).toBe(1);
    const length = await c.u32();
    expect((await c.read(length)).toString('utf8')).toBe('Authentication failed');
    await c.closedByServer();
    expect(server.connections()).toBe(0);
  });

  it('counts only the first 8 characters of the password', async () => {
    const server = await start({ password: 'abcdefghIJKL' });
    expect(await client(server).authenticate('abcdefgh')).toBe(0);
    expect(await client(server).authenticate('abcdefghZZZZ')).toBe(0);
    expect(await client(server).authenticate('abcdefgX')).toBe(1);
  });

  it('speaks 3.3 and 3.7 to clients that ask for them, and reads unknown versions as 3.3', async () => {
    const server = await start();
    for (const version of ['003.003', '003.005']) {
      const ok = client(server);
      await ok.read(12);
      ok.write(`RFB ${version}\n`);
      expect(await ok.u32()).toBe(2); // 3.3: the server picks VNC authentication
      ok.write(vncResponse('secret12', await ok.read(16)));
      expect(await ok.u32()).toBe(0);
    }

    const bad33 = client(server);
    await bad33.read(12);
    bad33.write('RFB 003.003\n');
    expect(await bad33.u32()).toBe(2);
    bad33.write(vncResponse('wrong', await bad33.read(16)));
    expect(await bad33.u32()).toBe(1);
    await bad33.closedByServer();
    expect(bad33.pending()).toBe(0); // no reason string before 3.8

    const v37 = client(server);
    await v37.read(12);
    v37.write('RFB 003.007\n');
    expect([...(await v37.read(2))]).toEqual([1, 2]);
    v37.write(Buffer.from([2]));
    v37.write(vncResponse('wrong', await v37.read(16)));
    expect(await v37.u32()).toBe(1);
    await v37.closedByServer();
    expect(v37.pending()).toBe(0);
  });

  it('handles a handshake and messages written one byte at a time', async () => {
    const events: RfbInputEvent[] = [];
    const server = await start({ width: 8, height: 6, onInput: (e) => events.push(e) });
    const c = client(server);
    const slowly = async (data: Buffer | string) => {
      for (const byte of Buffer.from(data)) {
        c.write(Buffer.from([byte]));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
    };
    await c.read(12);
    await slowly('RFB 003.008\n');
    await c.read(2);
    await slowly(Buffer.from([2]));
    await slowly(vncResponse('secret12', await c.read(16)));
    expect(await c.u32()).toBe(0);
    await slowly(Buffer.from([0]));
    await c.read(24 + 6);
    await slowly(Buffer.from([4, 1, 0, 0, 0, 0, 0xff, 0x0d]));
    await slowly(updateRequest(false, 0, 0, 8, 6));
    expect(await c.update()).toMatchObject({ width: 8, height: 6 });
    expect(events).toEqual([{ type: 'key', down: true, keysym: 0xff0d }]);
  });

  it('handles messages coalesced in one write, honouring SetPixelFormat', async () => {
    const events: RfbInputEvent[] = [];
    const server = await start({ width: 40, height: 30, onInput: (e) => events.push(e) });
    const c = client(server);
    await c.read(12);
    c.write('RFB 003.008\n\x02');
    await c.read(2);
    const cutText = Buffer.concat([Buffer.from([6, 0, 0, 0, 0, 0, 0, 5]), Buffer.from('hello')]);
    c.write(
      Buffer.concat([
        vncResponse('secret12', await c.read(16)),
        Buffer.from([1]), // ClientInit
        setPixelFormat(RGB565_BE),
        Buffer.from([2, 0, 0, 2, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x21]), // SetEncodings: Raw, DesktopSize
        Buffer.from([4, 0, 0, 0, 0, 0, 0, 0x61]), // KeyEvent: 'a' released
        Buffer.from([5, 1, 0, 7, 0, 9]), // PointerEvent: button 1 at 7,9
        cutText,
        updateRequest(false, 0, 0, 40, 30),
        updateRequest(false, 39, 29, 1, 1),
      ]),
    );
    expect(await c.u32()).toBe(0);
    const head = await c.read(24);
    await c.read(head.readUInt32BE(20));
    const full = (await c.update(2))!;
    expect(full.pixels.length).toBe(40 * 30 * 2);
    for (const [x, y] of [
      [0, 0],
      [39, 0],
      [20, 15],
      [39, 29],
    ] as const) {
      expect(full.pixels.readUInt16BE((y * 40 + x) * 2), `pixel ${x},${y}`).toBe(
        rgb565(desktopPixel(x, y, 40, 30)),
      );
    }
    const corner = (await c.update(2))!;
    expect(corner.pixels.readUInt16BE(0)).toBe(rgb565(desktopPixel(39, 29, 40, 30)));
    expect(events).toEqual([
      { type: 'key', down: false, keysym: 0x61 },
      { type: 'pointer', buttons: 1, x: 7, y: 9 },
    ]);
  });

  it('sends a colour map to colour-map clients and indexes it', async () => {
    const server = await start({ width: 16, height: 12 });
    const c = client(server);
    await c.init('secret12');
    c.write(Buffer.concat([setPixelFormat(COLOUR_MAP), updateRequest(false, 0, 0, 16, 12)]));
    const head = await c.read(6);
    expect([...head]).toEqual([1, 0, 0, 0, 1, 0]); // SetColourMapEntries, first 0, 256 colours
    const palette = await c.read(256 * 6);
    const full = (await c.update(1))!;
    for (const [x, y] of [
      [0, 0],
      [15, 0],
      [8, 6],
      [15, 11],
    ] as const) {
      const index = full.pixels[y * 16 + x]!;
      const expected = desktopPixel(x, y, 16, 12);
      const [r, g, b] = [0, 2, 4].map((o) => palette.readUInt16BE(index * 6 + o) >> 8);
      // 3-3-2 levels are within a step of the true colour.
      expect(Math.abs(r! - ((expected >> 16) & 0xff))).toBeLessThan(37);
      expect(Math.abs(g! - ((expected >> 8) & 0xff))).toBeLessThan(37);
      expect(Math.abs(b! - (expected & 0xff))).toBeLessThan(86);
    }
  });

  it('skips a large ClientCutText that arrives in pieces', async () => {
    const server = await start({ width: 4, height: 4 });
    const c = client(server);
    await c.init('secret12');
    const text = Buffer.alloc(1_000_000, 0x78);
    const message = Buffer.concat([
      Buffer.from([6, 0, 0, 0]),
      Buffer.alloc(4),
      text,
      updateRequest(false, 0, 0, 4, 4),
    ]);
    message.writeUInt32BE(text.length, 4);
    for (let offset = 0; offset < message.length; offset += 65_521) {
      c.write(message.subarray(offset, offset + 65_521));
    }
    expect(await c.update()).toMatchObject({ width: 4, height: 4 });
  });

  it('stops reading requests while a client is not reading its frames', async () => {
    const server = await start({ width: 512, height: 512 });
    const c = client(server);
    await c.init('secret12');
    c.socket.pause();
    const frames = 100; // 1 MiB each
    c.write(
      Buffer.concat(Array.from({ length: frames }, () => updateRequest(false, 0, 0, 512, 512))),
    );
    const before = process.memoryUsage().arrayBuffers;
    await new Promise((resolve) => setTimeout(resolve, 300));
    // Without backpressure the server would have queued all 100 MiB by now.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(32 * 2 ** 20);
    c.socket.resume();
    for (let i = 0; i < frames; i++) expect((await c.update())!.pixels.length).toBe(512 * 512 * 4);
  });

  it('closes only the connection that sends garbage', async () => {
    const server = await start({ width: 4, height: 4 });
    const good = client(server);
    await good.init('secret12');

    const noVersion = client(server);
    await noVersion.read(12);
    noVersion.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await noVersion.closedByServer();

    const badType = client(server);
    await badType.read(12);
    badType.write('RFB 003.008\n\x01');
    await badType.read(2);
    expect(await badType.u32()).toBe(1);
    expect((await badType.read(await badType.u32())).toString()).toBe('Unsupported security type');
    await badType.closedByServer();

    const unknownMessage = client(server);
    await unknownMessage.init('secret12');
    unknownMessage.write(Buffer.from([0xff, 1, 2, 3]));
    await unknownMessage.closedByServer();

    const badFormat = client(server);
    await badFormat.init('secret12');
    badFormat.write(setPixelFormat([24, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]));
    await badFormat.closedByServer();

    const overflowingFormat = client(server);
    await overflowingFormat.init('secret12');
    overflowingFormat.write(
      setPixelFormat([16, 16, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]),
    );
    await overflowingFormat.closedByServer();

    const random = client(server);
    random.write(Buffer.from([...Array(4096).keys()].map((i) => (i * 7919) & 0xff)));
    await random.closedByServer();

    good.write(updateRequest(false, 0, 0, 4, 4));
    expect(await good.update()).toMatchObject({ width: 4, height: 4 });
    expect(server.connections()).toBe(1);
    expect(await client(server).authenticate('secret12')).toBe(0);
  });

  it('drops a client that does not finish the handshake in time, and only such a client', async () => {
    const server = await start({ handshakeTimeoutMs: 100, width: 4, height: 4 });
    const slow = client(server);
    await slow.read(12);
    const ready = client(server);
    await ready.init('secret12');
    await slow.closedByServer();
    await new Promise((resolve) => setTimeout(resolve, 150));
    ready.write(updateRequest(false, 0, 0, 4, 4));
    expect(await ready.update()).toMatchObject({ width: 4, height: 4 });
  });

  it('reports a throwing onInput and drops that connection only', async () => {
    const errors: Error[] = [];
    const server = await start({
      width: 4,
      height: 4,
      onInput: () => {
        throw new Error('boom');
      },
      onError: (e) => errors.push(e),
    });
    const c = client(server);
    await c.init('secret12');
    c.write(Buffer.from([5, 0, 0, 1, 0, 1]));
    await c.closedByServer();
    expect(errors.map((e) => e.message)).toEqual(['boom']);
    expect(await client(server).authenticate('secret12')).toBe(0);
  });

  it('close() stops listening and drops connected clients', async () => {
    const server = await start();
    const ready = client(server);
    await ready.init('secret12');
    const handshaking = client(server);
    await handshaking.read(12);
    expect(server.connections()).toBe(2);

    await server.close();
    await ready.closedByServer();
    await handshaking.closedByServer();
    expect(server.connections()).toBe(0);
    await server.close(); // idempotent

    const refused = new Client(server.port);
    await refused.closedByServer();
    await expect(refused.read(1)).rejects.toThrow(/closed/);
  });

  it('refuses impossible dimensions', async () => {
    await expect(start({ width: 0 })).rejects.toThrow(RangeError);
    await expect(start({ height: 70_000 })).rejects.toThrow(RangeError);
  });

  it('reports a port already in use', async () => {
    const server = await start();
    await expect(start({ port: server.port })).rejects.toThrow(/EADDRINUSE/);
  });
});
