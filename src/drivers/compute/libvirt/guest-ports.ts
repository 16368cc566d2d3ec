/**
 * The host's ends of one machine's serial ports while it runs: the console (kept and fanned out
 * by a `SerialConsole`, read by the console tunnel) and the server context (served per
 * connection by the caller's context protocol). QEMU connects out to both and again whenever it
 * loses them, so a sigmalite restarted with the machine running listens on the same ports again
 * (read back from the domain's XML) and QEMU finds it within its reconnect delay.
 */
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { listenSerial, SerialConsole, type SerialEndpoint } from './serial-endpoint.js';

export interface GuestPortsOptions {
  /** The address QEMU connects to (one of this machine's that the libvirt host reaches). */
  host: string;
  /** The ports to listen on (a re-adopted machine's); 0 picks free ones. */
  consolePort: number;
  /** null: the machine has no context port. */
  contextPort: number | null;
  /** Serves the server context on QEMU's connection; returns what stops it. */
  serveContext: (socket: Socket) => () => void;
  onError: (error: Error) => void;
}

export class GuestPorts {
  private constructor(
    readonly console: SerialConsole,
    private readonly consoleEndpoint: SerialEndpoint,
    private readonly contextEndpoint: SerialEndpoint | null,
  ) {}

  static async listen(options: GuestPortsOptions): Promise<GuestPorts> {
    const ports = new SerialConsole();
    const consoleEndpoint = await listenSerial({
      host: options.host,
      port: options.consolePort,
      onConnection: (socket) => ports.attach(socket),
      onError: options.onError,
    });
    let contextEndpoint: SerialEndpoint | null = null;
    try {
      if (options.contextPort !== null) {
        contextEndpoint = await listenSerial({
          host: options.host,
          port: options.contextPort,
          onConnection: (socket) => {
            const stop = options.serveContext(socket);
            socket.on('close', stop);
          },
          onError: options.onError,
        });
      }
    } catch (error) {
      await consoleEndpoint.close();
      throw error;
    }
    return new GuestPorts(ports, consoleEndpoint, contextEndpoint);
  }

  get consolePort(): number {
    return this.consoleEndpoint.port;
  }

  get contextPort(): number | null {
    return this.contextEndpoint?.port ?? null;
  }

  /**
   * A stream joined to the guest's console for one tunnel client: what the guest wrote recently
   * first (a late reader sees the login prompt), then all later output; what the client writes
   * is typed into the console. Destroying it detaches it.
   */
  open(): Duplex {
    const console = this.console;
    let unsubscribe: (() => void) | undefined;
    const stream = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        console.write(chunk);
        callback();
      },
      destroy(error, callback) {
        unsubscribe?.();
        callback(error);
      },
    });
    const kept = console.scrollback();
    if (kept.length > 0) stream.push(kept);
    unsubscribe = console.subscribe((chunk) => stream.push(chunk));
    return stream;
  }

  async close(): Promise<void> {
    await Promise.all([this.consoleEndpoint.close(), this.contextEndpoint?.close()]);
  }
}
