/**
 * The serial-console tunnel behind `open_console` (`csconsole://HOST:PORT`).
 *
 * CloudSigma does not document its console protocol, so this one is ours (docs/console.md):
 *
 * 1. The client connects over TCP and sends the server's `vnc_password` as its first line,
 *    ended by `\n` or `\r\n`.
 * 2. On a match the server answers `OK\r\n` and from then on relays bytes both ways, unchanged,
 *    between the socket and the server's serial console. Bytes the client sent after the
 *    password line, even in the same packet, go to the console.
 * 3. On a mismatch it answers `ERROR authentication failed\r\n` and closes.
 * 4. A first line longer than 1 KiB (`\r\n` not counted) gets `ERROR line too long\r\n`, and no
 *    complete first line within 10 s gets `ERROR timeout\r\n`; both close the connection.
 *
 * Passwords are compared in constant time (as SHA-256 digests, so the length leaks nothing
 * either). Either side hanging up ends the other: the client leaving destroys its console
 * stream, the console ending closes the client's connection.
 */

import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { GuessLockout } from './lockout.js';
import { listenTcp, type TcpListener } from './tcp-listener.js';

export interface ConsoleServerOptions {
  /** Address to listen on. */
  host: string;
  /** Port to listen on; 0 picks a free one (read it back from `ConsoleServer.port`). */
  port: number;
  /** The server's `vnc_password`, compared whole (unlike VNC, no 8-character cut). */
  password: string;
  /** Opens the server's serial console once a client has authenticated. */
  open(): Duplex;
  /** How long a client has to send its first line; default 10 s. */
  authTimeoutMs?: number;
  /** Called with errors no client sees: listener errors, a throwing `open`, console stream errors. */
  onError?: (error: Error) => void;
}

/** Live connections count whether authenticated or not. */
export type ConsoleServer = TcpListener;

/** The longest accepted first line, in bytes, without its line ending. */
export const CONSOLE_MAX_LINE = 1024;

const LF = 0x0a;
const CR = 0x0d;
const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest();

/** Serves one client: reads the password line, then joins the socket to a fresh console. */
function serve(
  socket: Socket,
  options: ConsoleServerOptions,
  lockout: GuessLockout,
  onError: (e: Error) => void,
): void {
  socket.setNoDelay(true);
  // ECONNRESET and the like: the 'close' that follows is all the cleanup needed.
  socket.on('error', () => {});
  // Once the server has ended its side, a client that never closes its own must not linger.
  socket.on('finish', () => socket.destroy());
  const expected = sha256(options.password);
  let input: Buffer = Buffer.alloc(0);

  const hangUp = (message: string) => {
    socket.off('data', onData);
    clearTimeout(timer);
    socket.end(message);
  };
  const timer = setTimeout(() => hangUp('ERROR timeout\r\n'), options.authTimeoutMs ?? 10_000);
  socket.on('close', () => clearTimeout(timer));

  function onData(chunk: Buffer): void {
    input = input.length === 0 ? chunk : Buffer.concat([input, chunk]);
    const newline = input.indexOf(LF);
    if (newline === -1) {
      // One byte of slack: a line of the full length may be waiting for the LF after its CR.
      if (input.length > CONSOLE_MAX_LINE + 1) hangUp('ERROR line too long\r\n');
      return;
    }
    let line = input.subarray(0, newline);
    if (line.at(-1) === CR) line = line.subarray(0, -1);
    if (line.length > CONSOLE_MAX_LINE) {
      hangUp('ERROR line too long\r\n');
      return;
    }
    if (lockout.locked()) {
      hangUp('ERROR too many authentication failures; try again later\r\n');
      return;
    }
    if (!timingSafeEqual(sha256(line), expected)) {
      lockout.failed();
      hangUp('ERROR authentication failed\r\n');
      return;
    }
    lockout.succeeded();
    socket.off('data', onData);
    clearTimeout(timer);
    attach(input.subarray(newline + 1));
  }
  socket.on('data', onData);

  function attach(early: Buffer): void {
    let serial: Duplex;
    try {
      serial = options.open();
    } catch (error) {
      onError(error instanceof Error ? error : new Error(String(error)));
      socket.end('ERROR console unavailable\r\n');
      return;
    }
    socket.write('OK\r\n');
    if (early.length > 0) serial.write(early);
    // pipe() carries backpressure both ways and ends each side when the other ends.
    socket.pipe(serial);
    serial.pipe(socket);
    serial.on('error', (error) => {
      onError(error);
      socket.destroy();
    });
    // A console destroyed without ending its output still hangs up on the client.
    serial.on('close', () => {
      if (!socket.destroyed) socket.end();
    });
    socket.on('close', () => serial.destroy());
  }
}

/** Starts a console server; resolves once it listens. */
export async function startConsoleServer(options: ConsoleServerOptions): Promise<ConsoleServer> {
  const onError = options.onError ?? (() => {});
  const lockout = new GuessLockout();
  return listenTcp({ host: options.host, port: options.port, onError }, (socket) =>
    serve(socket, options, lockout, onError),
  );
}

/** A partial line longer than this is echoed as it is rather than buffered further. */
const ECHO_MAX_LINE = 64 * 1024;

/**
 * The simulated guest's console: greets with `sigmalite console for NAME\r\n`, then answers
 * every line it receives (ended by `\r\n`, `\n` or a lone `\r`, as a terminal in raw mode sends)
 * with `> line\r\n`. Ending its input echoes any unfinished line and ends its output. A reader
 * that does not read holds up the writer (backpressure), so the echo never queues without bound.
 */
export function echoConsole(name: string): Duplex {
  let partial: Buffer[] = [];
  let partialLength = 0;
  /** The previous byte was a CR: an LF right after it ends no second line. */
  let afterCr = false;
  /** A write waiting for the reader to catch up. */
  let blocked: (() => void) | undefined;

  const stream = new Duplex({
    read() {
      const resume = blocked;
      blocked = undefined;
      resume?.();
    },
    write(chunk: Buffer, _encoding, callback) {
      let room = true;
      let start = 0;
      for (let i = 0; i < chunk.length; i++) {
        const byte = chunk[i];
        if (afterCr) {
          afterCr = false;
          if (byte === LF) {
            start = i + 1;
            continue;
          }
        }
        if (byte === LF || byte === CR) {
          partial.push(chunk.subarray(start, i));
          room = echo() && room;
          start = i + 1;
          afterCr = byte === CR;
        }
      }
      if (start < chunk.length) {
        partial.push(chunk.subarray(start));
        partialLength += chunk.length - start;
        if (partialLength > ECHO_MAX_LINE) room = echo() && room;
      }
      if (room) callback();
      else blocked = () => callback();
    },
    final(callback) {
      if (partialLength > 0) echo();
      stream.push(null);
      callback();
    },
  });

  function echo(): boolean {
    const line = Buffer.concat([Buffer.from('> '), ...partial, Buffer.from('\r\n')]);
    partial = [];
    partialLength = 0;
    return stream.push(line);
  }

  // Control characters in a name would break the greeting's one line.
  stream.push(`sigmalite console for ${name.replace(/\p{Cc}/gu, '?')}\r\n`);
  return stream;
}
