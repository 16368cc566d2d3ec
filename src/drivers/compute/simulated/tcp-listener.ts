/**
 * A TCP listener that keeps its connections, for the VNC and console servers: `close()` stops
 * listening, destroys every live connection and resolves once each has run its 'close' handlers,
 * so `connections()` is 0 when it resolves.
 */
import { createServer, type Socket } from 'node:net';
import type { TunnelInfo } from '../types.js';

export interface TcpListener {
  /** The port actually listened on. */
  port: number;
  /** Stops listening and destroys live connections; resolves once all are closed. Idempotent. */
  close(): Promise<void>;
  /** Live client connections. */
  connections(): number;
  /**
   * Since when (`Date.now()`) no client has been connected: the listen, or the last
   * connection's end; null while a client is connected.
   */
  idleSince(): number | null;
}

export interface TcpListenerOptions {
  host: string;
  /** 0 picks a free one. */
  port: number;
  /** Listener errors after it listens (EMFILE and the like), which must not crash the process. */
  onError: (error: Error) => void;
}

/** Listens and hands each new connection to `accept`; resolves once it listens. */
export async function listenTcp(
  options: TcpListenerOptions,
  accept: (socket: Socket) => void,
): Promise<TcpListener> {
  const sockets = new Set<Socket>();
  let idleSince = Date.now();
  let closing: Promise<void> | undefined;
  const server = createServer((socket) => {
    // A connection accepted just as close() began would otherwise outlive it.
    if (closing) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on('close', () => {
      sockets.delete(socket);
      if (sockets.size === 0) idleSince = Date.now();
    });
    accept(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', options.onError);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('not a TCP listener');

  return {
    port: address.port,
    close() {
      closing ??= (async () => {
        // A connection's 'close' handlers run a tick after the listener's own close.
        const closed = [...sockets].map((s) => new Promise((resolve) => s.once('close', resolve)));
        const stopped = new Promise((resolve) => server.close(resolve));
        for (const socket of sockets) socket.destroy();
        await Promise.all([stopped, ...closed]);
      })();
      return closing;
    },
    connections: () => sockets.size,
    idleSince: () => (sockets.size > 0 ? null : idleSince),
  };
}

/** A host's tunnels as the engine sees them, from its listeners by server uuid. */
export function tunnelInfos(
  vnc: ReadonlyMap<string, TcpListener>,
  consoles: ReadonlyMap<string, TcpListener>,
): TunnelInfo[] {
  const info = (kind: TunnelInfo['kind'], [uuid, listener]: [string, TcpListener]) => ({
    uuid,
    kind,
    idleSince: listener.idleSince(),
  });
  return [
    ...[...vnc].map((entry) => info('vnc', entry)),
    ...[...consoles].map((entry) => info('console', entry)),
  ];
}
