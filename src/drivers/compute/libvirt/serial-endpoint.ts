/**
 * The host's end of a guest's serial port. QEMU connects out to it over TCP (`<serial
 * type='tcp'><source mode='connect'>` with reconnect), so it works the same when the libvirt host
 * is another machine. QEMU holds one connection per port and connects again when it loses it
 * (measured: 0.7 s after the endpoint comes up; what the guest wrote meanwhile is lost), so the
 * newest connection is the guest and replaces any older one.
 *
 * `listenSerial` is the listener. `SerialConsole` is what the first port (the console) needs on
 * top: recent output kept for late readers, several readers at once, and writes to the guest.
 * The second port (the context) is served per connection by the caller (docs/context.md).
 */
import type { Socket } from 'node:net';
import { listenTcp, type TcpListener } from '../simulated/tcp-listener.js';

export interface SerialEndpoint {
  /** The port listened on (for the domain XML's `service`). */
  readonly port: number;
  /** Whether QEMU is connected now. */
  connected(): boolean;
  /** Stops listening and drops the connection. */
  close(): Promise<void>;
}

export interface SerialEndpointOptions {
  /** An address of this machine that the libvirt host can reach (127.0.0.1 for a local one). */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Each new connection from QEMU (the previous one is already closed). */
  onConnection: (socket: Socket) => void;
  onError?: (error: Error) => void;
}

export async function listenSerial(options: SerialEndpointOptions): Promise<SerialEndpoint> {
  let current: Socket | undefined;
  const listener: TcpListener = await listenTcp(
    { host: options.host, port: options.port, onError: options.onError ?? (() => {}) },
    (socket) => {
      current?.destroy();
      current = socket;
      socket.setNoDelay(true);
      socket.on('error', (error) => options.onError?.(error));
      socket.on('close', () => {
        if (current === socket) current = undefined;
      });
      options.onConnection(socket);
    },
  );
  return {
    port: listener.port,
    connected: () => current !== undefined && !current.destroyed,
    close: () => listener.close(),
  };
}

/** A guest's console: output kept and fanned out, input passed on. */
export class SerialConsole {
  private socket: Socket | undefined;
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private readonly readers = new Set<(chunk: Buffer) => void>();

  /** Keeps the last `scrollbackBytes` of output for readers that attach later; default 64 KiB. */
  constructor(private readonly scrollbackBytes = 64 * 1024) {}

  /** Takes QEMU's connection (for `listenSerial`'s `onConnection`). */
  attach(socket: Socket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.output(chunk));
    socket.on('close', () => {
      if (this.socket === socket) this.socket = undefined;
    });
  }

  /** The output kept so far. */
  scrollback(): Buffer {
    return Buffer.concat(this.kept);
  }

  /** Calls `reader` with all later output; returns what detaches it. */
  subscribe(reader: (chunk: Buffer) => void): () => void {
    this.readers.add(reader);
    return () => this.readers.delete(reader);
  }

  /** Types into the guest's console; false when QEMU is not connected (the bytes are dropped). */
  write(data: string | Buffer): boolean {
    const socket = this.socket;
    if (!socket || socket.destroyed) return false;
    socket.write(data);
    return true;
  }

  /**
   * Resolves with the first line of output (kept or later) that matches `pattern`, without its
   * line end; rejects after `timeoutMs`.
   */
  waitForLine(pattern: RegExp | string, timeoutMs: number): Promise<string> {
    const matches = (line: string) =>
      typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line);
    return new Promise((resolve, reject) => {
      let pending = '';
      const scan = (chunk: Buffer) => {
        pending += chunk.toString('latin1');
        const lines = pending.split(/\r?\n/);
        pending = lines.pop() ?? '';
        const found = lines.find(matches);
        if (found === undefined) return false;
        done();
        resolve(found.replace(/\r$/, ''));
        return true;
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no console line matching ${pattern} within ${timeoutMs} ms`));
      }, timeoutMs);
      const unsubscribe = this.subscribe(scan);
      const done = () => {
        clearTimeout(timer);
        unsubscribe();
      };
      scan(this.scrollback());
    });
  }

  private output(chunk: Buffer): void {
    this.kept.push(chunk);
    this.keptBytes += chunk.length;
    while (this.keptBytes - (this.kept[0]?.length ?? 0) >= this.scrollbackBytes) {
      this.keptBytes -= this.kept.shift()!.length;
    }
    for (const reader of this.readers) reader(chunk);
  }
}
