/**
 * A real RFB (VNC) server for the simulated hypervisor's `open_vnc` action (RFC 6143).
 *
 * It speaks protocol 3.8 and accepts clients answering 3.3, 3.7 or 3.8 (any other version is
 * read as 3.3, as section 7.1.1 asks). It offers one security type, VNC Authentication (2):
 * a random 16-byte challenge that the client encrypts with DES, keyed by the password. After
 * ClientInit it shows a fixed desktop (colour bars, a plain background, a grey ramp) and answers
 * FramebufferUpdateRequest with Raw rectangles in whatever pixel format the client asked for
 * (true colour of 8, 16 or 32 bits per pixel in either byte order, or an 8-bit colour map sent
 * as a 3-3-2 palette). KeyEvent and PointerEvent are parsed and handed to `onInput`;
 * SetEncodings and ClientCutText are read and ignored (Raw needs no negotiation).
 *
 * Input is buffered per connection, so messages may arrive split or coalesced; anything
 * malformed closes that one connection. Frame updates respect backpressure: while the socket's
 * write buffer is full the connection stops reading requests, so a client that asks for many
 * frames and reads none cannot make the server buffer them.
 */

import { createCipheriv, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { GuessLockout } from './lockout.js';
import { listenTcp, type TcpListener } from './tcp-listener.js';

export interface RfbServerOptions {
  /** Address to listen on. */
  host: string;
  /** Port to listen on; 0 picks a free one (read it back from `RfbServer.port`). */
  port: number;
  /**
   * VNC authentication password. Only its first 8 bytes (UTF-8) count, as in real VNC; an empty
   * password still requires the handshake (the DES key is then all zero).
   */
  password: string;
  /** Sent in ServerInit; viewers show it as the window title. */
  desktopName: string;
  /** Framebuffer width in pixels, 1..16384; default 1024. */
  width?: number;
  /** Framebuffer height in pixels, 1..16384; default 768. */
  height?: number;
  /** A client that has not finished the handshake (through ClientInit) by then is dropped; default 30 s. */
  handshakeTimeoutMs?: number;
  /** Called with every KeyEvent and PointerEvent from authenticated clients. */
  onInput?: (event: RfbInputEvent) => void;
  /** Called with errors that close no connection by themselves: listener errors, a throwing `onInput`. */
  onError?: (error: Error) => void;
}

/** Input from a VNC client. `keysym` is an X11 keysym; `buttons` is the RFB button mask. */
export type RfbInputEvent =
  | { type: 'key'; down: boolean; keysym: number }
  | { type: 'pointer'; buttons: number; x: number; y: number };

/** Live connections count whether authenticated or not. */
export type RfbServer = TcpListener;

/** An RFB PIXEL_FORMAT (RFC 6143 section 7.4). */
export interface PixelFormat {
  bitsPerPixel: number;
  depth: number;
  bigEndian: boolean;
  trueColour: boolean;
  redMax: number;
  greenMax: number;
  blueMax: number;
  redShift: number;
  greenShift: number;
  blueShift: number;
}

/** The format announced in ServerInit: 32 bpp, depth 24, little-endian, true colour, 16/8/0. */
export const SERVER_PIXEL_FORMAT: Readonly<PixelFormat> = Object.freeze({
  bitsPerPixel: 32,
  depth: 24,
  bigEndian: false,
  trueColour: true,
  redMax: 255,
  greenMax: 255,
  blueMax: 255,
  redShift: 16,
  greenShift: 8,
  blueShift: 0,
});

const PROTOCOL_VERSION = 'RFB 003.008\n';
const SECURITY_VNC_AUTH = 2;
const MAX_DIMENSION = 16_384;
/** Distinct client pixel formats whose full-screen encoding a server keeps (each up to 4 bytes a pixel). */
const MAX_CACHED_FORMATS = 4;

function reverseBits(byte: number): number {
  let reversed = 0;
  for (let bit = 0; bit < 8; bit++) if (byte & (1 << bit)) reversed |= 1 << (7 - bit);
  return reversed;
}

/**
 * The VNC Authentication response to `challenge` (a multiple of 8 bytes; 16 in the protocol).
 *
 * VNC encrypts with single DES in ECB mode, keyed by the password's first 8 bytes (NUL-padded),
 * each byte bit-reversed. OpenSSL 3 (Node 20) no longer offers `des-ecb`, but triple DES with
 * the same 8-byte key three times is single DES (encrypt, decrypt, encrypt with one key).
 */
export function vncResponse(password: string, challenge: Buffer): Buffer {
  if (challenge.length === 0 || challenge.length % 8 !== 0) {
    throw new RangeError('a VNC challenge is a non-empty multiple of 8 bytes');
  }
  const key = Buffer.alloc(8);
  Buffer.from(password, 'utf8').copy(key, 0, 0, 8);
  for (let i = 0; i < 8; i++) key[i] = reverseBits(key[i]!);
  const cipher = createCipheriv('des-ede3-ecb', Buffer.concat([key, key, key]), null);
  cipher.setAutoPadding(false);
  return Buffer.concat([cipher.update(challenge), cipher.final()]);
}

const BARS = [0xffffff, 0xffff00, 0x00ffff, 0x00ff00, 0xff00ff, 0xff0000, 0x0000ff, 0x000000];
const BACKGROUND = 0x1d3557;

/**
 * The simulated desktop's colour at (x, y) as 0xRRGGBB: eight colour bars over the top third, a
 * grey ramp (black to white, left to right) over the bottom sixth, a plain background between.
 */
export function desktopPixel(x: number, y: number, width: number, height: number): number {
  if (y < Math.floor(height / 3)) return BARS[Math.floor((x * BARS.length) / width)]!;
  if (y >= height - Math.floor(height / 6)) {
    const level = width > 1 ? Math.round((x * 255) / (width - 1)) : 0;
    return level * 0x010101;
  }
  return BACKGROUND;
}

/** The pixel value of `rgb` in `format`; colour-map formats use the 3-3-2 palette. */
function pixelValue(rgb: number, format: PixelFormat): number {
  const r = (rgb >>> 16) & 0xff;
  const g = (rgb >>> 8) & 0xff;
  const b = rgb & 0xff;
  if (!format.trueColour) return ((r >> 5) << 5) | ((g >> 5) << 2) | (b >> 6);
  // Validated formats keep every component inside the pixel, so the shifts stay within 32 bits;
  // >>> 0 reads bit 31 as a value rather than a sign.
  return (
    ((Math.round((r * format.redMax) / 255) << format.redShift) |
      (Math.round((g * format.greenMax) / 255) << format.greenShift) |
      (Math.round((b * format.blueMax) / 255) << format.blueShift)) >>>
    0
  );
}

function writePixel(out: Buffer, offset: number, value: number, format: PixelFormat): void {
  switch (format.bitsPerPixel) {
    case 8:
      out[offset] = value;
      return;
    case 16:
      if (format.bigEndian) out.writeUInt16BE(value, offset);
      else out.writeUInt16LE(value, offset);
      return;
    default:
      if (format.bigEndian) out.writeUInt32BE(value, offset);
      else out.writeUInt32LE(value, offset);
  }
}

function encodePixelFormat(format: PixelFormat): Buffer {
  const out = Buffer.alloc(16);
  out[0] = format.bitsPerPixel;
  out[1] = format.depth;
  out[2] = format.bigEndian ? 1 : 0;
  out[3] = format.trueColour ? 1 : 0;
  out.writeUInt16BE(format.redMax, 4);
  out.writeUInt16BE(format.greenMax, 6);
  out.writeUInt16BE(format.blueMax, 8);
  out[10] = format.redShift;
  out[11] = format.greenShift;
  out[12] = format.blueShift;
  return out;
}

/** Reads a client's PIXEL_FORMAT; null if this server cannot produce it. */
function decodePixelFormat(bytes: Buffer): PixelFormat | null {
  const format: PixelFormat = {
    bitsPerPixel: bytes[0]!,
    depth: bytes[1]!,
    bigEndian: bytes[2] !== 0,
    trueColour: bytes[3] !== 0,
    redMax: bytes.readUInt16BE(4),
    greenMax: bytes.readUInt16BE(6),
    blueMax: bytes.readUInt16BE(8),
    redShift: bytes[10]!,
    greenShift: bytes[11]!,
    blueShift: bytes[12]!,
  };
  const bpp = format.bitsPerPixel;
  if (bpp !== 8 && bpp !== 16 && bpp !== 32) return null;
  if (format.trueColour) {
    const components: [number, number][] = [
      [format.redMax, format.redShift],
      [format.greenMax, format.greenShift],
      [format.blueMax, format.blueShift],
    ];
    // Each component must fit in the pixel, or pixel values would not fit their bytes.
    for (const [max, shift] of components) {
      if (shift >= bpp || max * 2 ** shift >= 2 ** bpp) return null;
    }
  }
  return format;
}

/** SetColourMapEntries for the 3-3-2 palette that colour-map clients get. */
function colourMapEntries(): Buffer {
  const out = Buffer.alloc(6 + 256 * 6);
  out[0] = 1;
  out.writeUInt16BE(0, 2);
  out.writeUInt16BE(256, 4);
  for (let i = 0; i < 256; i++) {
    const offset = 6 + i * 6;
    out.writeUInt16BE(Math.round((((i >> 5) & 7) * 65535) / 7), offset);
    out.writeUInt16BE(Math.round((((i >> 2) & 7) * 65535) / 7), offset + 2);
    out.writeUInt16BE(Math.round(((i & 3) * 65535) / 3), offset + 4);
  }
  return out;
}

const u32 = (value: number) => {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(value);
  return out;
};

/** The desktop, rendered on first use and encoded once per client pixel format. */
class Screen {
  private rgb: Uint32Array | undefined;
  private readonly encoded = new Map<string, Buffer>();

  constructor(
    readonly width: number,
    readonly height: number,
  ) {}

  /** The whole screen in `format`, row after row. */
  pixels(format: PixelFormat): Buffer {
    const key = encodePixelFormat(format).toString('hex');
    const cached = this.encoded.get(key);
    if (cached) return cached;
    if (!this.rgb) {
      this.rgb = new Uint32Array(this.width * this.height);
      for (let y = 0; y < this.height; y++) {
        for (let x = 0; x < this.width; x++) {
          this.rgb[y * this.width + x] = desktopPixel(x, y, this.width, this.height);
        }
      }
    }
    const bytesPerPixel = format.bitsPerPixel / 8;
    const out = Buffer.allocUnsafe(this.rgb.length * bytesPerPixel);
    let lastRgb = -1;
    let lastValue = 0;
    for (let i = 0; i < this.rgb.length; i++) {
      const rgb = this.rgb[i]!;
      // The desktop is runs of one colour: convert once per run.
      if (rgb !== lastRgb) {
        lastRgb = rgb;
        lastValue = pixelValue(rgb, format);
      }
      writePixel(out, i * bytesPerPixel, lastValue, format);
    }
    if (this.encoded.size >= MAX_CACHED_FORMATS) {
      this.encoded.delete(this.encoded.keys().next().value!);
    }
    this.encoded.set(key, out);
    return out;
  }
}

type Phase = 'version' | 'security-type' | 'response' | 'client-init' | 'normal' | 'done';

interface ConnectionContext {
  screen: Screen;
  password: string;
  lockout: GuessLockout;
  serverInit: Buffer;
  handshakeTimeoutMs: number;
  onInput: ((event: RfbInputEvent) => void) | undefined;
  onError: (error: Error) => void;
}

/** One client: a state machine over a per-connection input buffer. */
class RfbConnection {
  private input: Buffer = Buffer.alloc(0);
  /** Bytes of a ClientCutText still to be discarded as they arrive. */
  private skipping = 0;
  private phase: Phase = 'version';
  private minor: 3 | 7 | 8 = 8;
  private readonly challenge = randomBytes(16);
  private format: PixelFormat = SERVER_PIXEL_FORMAT;
  /** The client holds the whole screen in its current format: incremental requests get nothing. */
  private upToDate = false;
  private waitingForDrain = false;
  private readonly handshakeTimer: NodeJS.Timeout;

  constructor(
    private readonly socket: Socket,
    private readonly context: ConnectionContext,
  ) {
    socket.setNoDelay(true);
    // ECONNRESET and the like: the 'close' that follows is all the cleanup needed.
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    // After a refusal the server half-closes; a client that never closes its half must not linger.
    socket.on('finish', () => socket.destroy());
    socket.on('close', () => {
      this.phase = 'done';
      clearTimeout(this.handshakeTimer);
    });
    this.handshakeTimer = setTimeout(() => this.abort(), context.handshakeTimeoutMs);
    socket.write(PROTOCOL_VERSION);
  }

  private receive(chunk: Buffer): void {
    if (this.phase === 'done') return;
    let data = chunk;
    if (this.skipping > 0) {
      const skipped = Math.min(this.skipping, data.length);
      this.skipping -= skipped;
      data = data.subarray(skipped);
    }
    this.input = this.input.length === 0 ? data : Buffer.concat([this.input, data]);
    this.process();
  }

  /** Handles every complete message in the buffer, unless waiting for the socket to drain. */
  private process(): void {
    try {
      while (this.phase !== 'done' && !this.waitingForDrain && this.input.length > 0) {
        const used = this.step();
        if (used === 0) break;
        this.input = this.input.subarray(used);
      }
    } catch (error) {
      this.abort();
      this.context.onError(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** Consumes one message at the head of the input; 0 if it is incomplete (or the connection ended). */
  private step(): number {
    const input = this.input;
    switch (this.phase) {
      case 'version': {
        if (input.length < 12) return 0;
        const match = /^RFB (\d{3})\.(\d{3})\n$/.exec(input.toString('latin1', 0, 12));
        if (!match) return this.abort();
        const version = `${match[1]}.${match[2]}`;
        this.minor = version === '003.008' ? 8 : version === '003.007' ? 7 : 3;
        if (this.minor === 3) {
          // 3.3: the server decides the security type and goes straight on to the challenge.
          this.socket.write(Buffer.concat([u32(SECURITY_VNC_AUTH), this.challenge]));
          this.phase = 'response';
        } else {
          this.socket.write(Buffer.from([1, SECURITY_VNC_AUTH]));
          this.phase = 'security-type';
        }
        return 12;
      }
      case 'security-type':
        if (input[0] !== SECURITY_VNC_AUTH) return this.refuse('Unsupported security type');
        this.socket.write(this.challenge);
        this.phase = 'response';
        return 1;
      case 'response': {
        if (input.length < 16) return 0;
        if (this.context.lockout.locked()) return this.refuse('Too many authentication failures');
        const expected = vncResponse(this.context.password, this.challenge);
        if (!timingSafeEqual(input.subarray(0, 16), expected)) {
          this.context.lockout.failed();
          return this.refuse('Authentication failed');
        }
        this.context.lockout.succeeded();
        this.socket.write(u32(0));
        this.phase = 'client-init';
        return 16;
      }
      case 'client-init':
        // The shared flag is moot: every client gets its own view of one unchanging desktop.
        clearTimeout(this.handshakeTimer);
        this.socket.write(this.context.serverInit);
        this.phase = 'normal';
        return 1;
      case 'normal':
        return this.message();
      default:
        return 0;
    }
  }

  private message(): number {
    const input = this.input;
    switch (input[0]) {
      case 0: {
        // SetPixelFormat: type, 3 padding, PIXEL_FORMAT.
        if (input.length < 20) return 0;
        const format = decodePixelFormat(input.subarray(4, 20));
        if (!format) return this.abort();
        this.format = format;
        this.upToDate = false;
        if (!format.trueColour) this.socket.write(colourMapEntries());
        return 20;
      }
      case 2: {
        // SetEncodings: type, padding, count, count x S32. Raw needs no negotiation.
        if (input.length < 4) return 0;
        const size = 4 + 4 * input.readUInt16BE(2);
        return input.length < size ? 0 : size;
      }
      case 3:
        // FramebufferUpdateRequest: type, incremental, x, y, width, height.
        if (input.length < 10) return 0;
        this.update(
          input[1] !== 0,
          input.readUInt16BE(2),
          input.readUInt16BE(4),
          input.readUInt16BE(6),
          input.readUInt16BE(8),
        );
        return 10;
      case 4:
        // KeyEvent: type, down, 2 padding, keysym.
        if (input.length < 8) return 0;
        this.context.onInput?.({
          type: 'key',
          down: input[1] !== 0,
          keysym: input.readUInt32BE(4),
        });
        return 8;
      case 5:
        // PointerEvent: type, button mask, x, y.
        if (input.length < 6) return 0;
        this.context.onInput?.({
          type: 'pointer',
          buttons: input[1]!,
          x: input.readUInt16BE(2),
          y: input.readUInt16BE(4),
        });
        return 6;
      case 6: {
        // ClientCutText: type, 3 padding, length, text. The text may be large: skip it as it
        // streams past rather than buffer it.
        if (input.length < 8) return 0;
        const size = 8 + input.readUInt32BE(4);
        if (input.length >= size) return size;
        this.skipping = size - input.length;
        return input.length;
      }
      default:
        return this.abort();
    }
  }

  private update(incremental: boolean, x: number, y: number, width: number, height: number): void {
    // The desktop never changes, so an incremental request is answered only until the client
    // holds the whole screen; after that it waits, as it would on an idle real desktop.
    if (incremental && this.upToDate) return;
    const screen = this.context.screen;
    const left = Math.min(x, screen.width);
    const top = Math.min(y, screen.height);
    const right = Math.min(x + width, screen.width);
    const bottom = Math.min(y + height, screen.height);
    const rectWidth = right - left;
    const rectHeight = bottom - top;
    const empty = rectWidth <= 0 || rectHeight <= 0;
    if (empty && incremental) return;
    const bytesPerPixel = this.format.bitsPerPixel / 8;
    const out = Buffer.allocUnsafe(empty ? 4 : 16 + rectWidth * rectHeight * bytesPerPixel);
    out[0] = 0;
    out[1] = 0;
    // A non-incremental request outside the screen still gets its answer: zero rectangles.
    out.writeUInt16BE(empty ? 0 : 1, 2);
    if (!empty) {
      out.writeUInt16BE(left, 4);
      out.writeUInt16BE(top, 6);
      out.writeUInt16BE(rectWidth, 8);
      out.writeUInt16BE(rectHeight, 10);
      out.writeInt32BE(0, 12); // Raw
      const pixels = screen.pixels(this.format);
      const rowBytes = rectWidth * bytesPerPixel;
      for (let row = 0; row < rectHeight; row++) {
        const start = ((top + row) * screen.width + left) * bytesPerPixel;
        pixels.copy(out, 16 + row * rowBytes, start, start + rowBytes);
      }
      if (rectWidth === screen.width && rectHeight === screen.height) this.upToDate = true;
    }
    if (!this.socket.write(out)) {
      this.waitingForDrain = true;
      this.socket.pause();
      this.socket.once('drain', () => {
        this.waitingForDrain = false;
        this.socket.resume();
        this.process();
      });
    }
  }

  /** Sends a failed SecurityResult (with the reason in 3.8) and hangs up. Returns 0. */
  private refuse(reason: string): number {
    this.phase = 'done';
    clearTimeout(this.handshakeTimer);
    const text = Buffer.from(reason, 'utf8');
    this.socket.end(this.minor === 8 ? Buffer.concat([u32(1), u32(text.length), text]) : u32(1));
    return 0;
  }

  /** Drops the connection at once. Returns 0. */
  private abort(): number {
    this.phase = 'done';
    clearTimeout(this.handshakeTimer);
    this.socket.destroy();
    return 0;
  }
}

/** Starts an RFB server; resolves once it listens. */
export async function startRfbServer(options: RfbServerOptions): Promise<RfbServer> {
  const width = options.width ?? 1024;
  const height = options.height ?? 768;
  for (const [name, value] of [
    ['width', width],
    ['height', height],
  ] as const) {
    if (!Number.isInteger(value) || value < 1 || value > MAX_DIMENSION) {
      throw new RangeError(`${name} must be an integer from 1 to ${MAX_DIMENSION}`);
    }
  }
  const name = Buffer.from(options.desktopName, 'utf8');
  const serverInit = Buffer.alloc(24 + name.length);
  serverInit.writeUInt16BE(width, 0);
  serverInit.writeUInt16BE(height, 2);
  encodePixelFormat(SERVER_PIXEL_FORMAT).copy(serverInit, 4);
  serverInit.writeUInt32BE(name.length, 20);
  name.copy(serverInit, 24);

  const onError = options.onError ?? (() => {});
  const context: ConnectionContext = {
    screen: new Screen(width, height),
    password: options.password,
    lockout: new GuessLockout(),
    serverInit,
    handshakeTimeoutMs: options.handshakeTimeoutMs ?? 30_000,
    onInput: options.onInput,
    onError,
  };
  return listenTcp({ host: options.host, port: options.port, onError }, (socket) => {
    new RfbConnection(socket, context);
  });
}
