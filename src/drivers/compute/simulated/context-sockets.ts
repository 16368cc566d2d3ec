/**
 * `--context-dir DIR`: the guest's end of each running server's context serial port as a unix
 * socket `DIR/<server uuid>.sock` (issue 15 item 7), so guest-side tools (cloud-init's CloudSigma
 * datasource, `cepko`) can be tested against the simulated driver through a pty linked to it
 * (`socat PTY,link=...,raw,echo=0 UNIX-CONNECT:DIR/<uuid>.sock`). Every connection speaks the
 * context protocol of docs/context.md, as the second serial port of a real guest would.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';

/** Serves one server's context on a connected byte stream; answers a function that stops. */
export type ServeContext = (server: string, port: Duplex) => () => void;

/** What the simulated driver asks of the guests' context ports. */
export interface GuestContextPorts {
  /** Exposes `server`'s port (idempotent); resolves once it accepts connections. */
  open(server: string): Promise<void>;
  /** Removes it: the socket file goes, live connections are cut (idempotent). */
  close(server: string): Promise<void>;
  /** Removes every port (shutdown). */
  closeAll(): Promise<void>;
}

interface Listener {
  server: Server;
  sockets: Set<Socket>;
  /** Settles once it listens (or failed to). */
  ready: Promise<void>;
}

export class ContextSockets implements GuestContextPorts {
  private readonly listeners = new Map<string, Listener>();

  constructor(
    private readonly dir: string,
    private readonly serve: ServeContext,
    /** Errors of a listener that already listens (they must not crash the process). */
    private readonly onError: (error: Error) => void = () => {},
  ) {
    mkdirSync(dir, { recursive: true });
  }

  /** The socket file of `server`'s context port. */
  path(server: string): string {
    return join(this.dir, `${server}.sock`);
  }

  async open(server: string): Promise<void> {
    const existing = this.listeners.get(server);
    if (existing) return existing.ready;
    const sockets = new Set<Socket>();
    const listener = createServer((socket) => {
      sockets.add(socket);
      const stop = this.serve(server, socket);
      // A guest that goes away mid-answer is no error of ours.
      socket.on('error', () => {});
      socket.on('close', () => {
        stop();
        sockets.delete(socket);
      });
    });
    const path = this.path(server);
    // A file left by a process that was killed would make listen() fail with EADDRINUSE.
    rmSync(path, { force: true });
    const ready = new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(path, () => {
        listener.off('error', reject);
        listener.on('error', this.onError);
        resolve();
      });
    });
    this.listeners.set(server, { server: listener, sockets, ready });
    try {
      await ready;
    } catch (e) {
      this.listeners.delete(server);
      throw e;
    }
  }

  async close(server: string): Promise<void> {
    const listener = this.listeners.get(server);
    if (!listener) return;
    this.listeners.delete(server);
    await listener.ready.catch(() => {});
    for (const socket of listener.sockets) socket.destroy();
    // Closing a listening unix server unlinks its socket file.
    await new Promise<void>((resolve) => listener.server.close(() => resolve()));
    rmSync(this.path(server), { force: true });
  }

  async closeAll(): Promise<void> {
    await Promise.all([...this.listeners.keys()].map((server) => this.close(server)));
  }
}
