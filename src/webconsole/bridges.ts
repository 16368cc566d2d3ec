/**
 * The websocket ends of the console's two tunnels. Each opens the server's tunnel the way the
 * API's `open_vnc` and `open_console` do (the engine's `Tunnels`), connects to it, speaks the
 * tunnel's handshake with the server's `vnc_password`, and then joins the tunnel and the browser's
 * websocket byte for byte, with backpressure both ways.
 *
 * Like `open_vnc`, an open replaces the server's previous tunnel (whose connections end). The
 * bridge closes the tunnel it opened when the browser leaves, unless the tunnel ended first (then
 * it may already be someone else's).
 */
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import { createWebSocketStream, type WebSocket } from 'ws';
import type { Tunnels } from '../engine/engine.js';
import { ApiError } from '../errors.js';
import { readLine } from './reader.js';
import {
  admitViewer,
  authenticateUpstream,
  greetViewer,
  RfbHandshakeError,
  refuseViewer,
} from './rfb-bridge.js';

/** What the bridges need of the engine: the API's own tunnels. */
export type TunnelOpener = Tunnels;

/** The server a tunnel is for, as the caller may see it. */
export interface TunnelTarget {
  uuid: string;
  name: string;
  vncPassword: string;
  /** Who opens the tunnel (its cap counts it). */
  account: string;
}

export interface BridgeOptions {
  tunnels: TunnelOpener;
  /** Where the tunnels listen (`--host`; a wildcard address means this machine). */
  tunnelHost: string;
  logger: FastifyBaseLogger;
  /** Both handshakes must be done by then. */
  handshakeTimeoutMs?: number;
}

/** Websocket close code for a tunnel that could not be opened (RFC 6455: server error). */
export const CLOSE_TUNNEL_FAILED = 1011;
const HANDSHAKE_TIMEOUT_MS = 30_000;
/** The console protocol's answer line is short; anything longer is not that protocol. */
const MAX_ANSWER = 1024;

/** The address to connect to for a listener bound to `host`. */
export function reachable(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::' || host === '[::]') return '::1';
  return host.replace(/^\[(.*)\]$/, '$1');
}

function connectTo(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: reachable(host), port });
    socket.once('connect', () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** A websocket close reason fits in 123 bytes. */
function closeReason(message: string): string {
  let text = message;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  return text;
}

/**
 * Joins the tunnel and the websocket once both handshakes are done. When the browser leaves
 * first, `closeTunnel` runs (the tunnel is still the one this bridge opened).
 */
function join(
  ws: WebSocket,
  browser: Duplex,
  tunnel: Socket,
  closeTunnel: () => Promise<void>,
  logger: FastifyBaseLogger,
): void {
  const closeQuietly = () =>
    closeTunnel().catch((err: unknown) => logger.warn({ err }, 'console: closing a tunnel failed'));
  if (ws.readyState !== ws.OPEN) {
    // The browser left during the handshakes.
    tunnel.destroy();
    void closeQuietly();
    return;
  }
  let tunnelEnded = false;
  tunnel.once('close', () => {
    tunnelEnded = true;
  });
  // Plain pipes, not pipeline(): the websocket is closed below with a code and a reason, never
  // destroyed (terminated) along with the tunnel.
  tunnel.pipe(browser, { end: false });
  browser.pipe(tunnel);
  ws.once('close', () => {
    tunnel.destroy();
    if (!tunnelEnded) void closeQuietly();
  });
  tunnel.once('close', () => {
    if (ws.readyState === ws.OPEN) ws.close(1000, 'the tunnel closed');
  });
}

/** A watchdog over the handshakes: the websocket closes if they take too long. */
function deadline(ws: WebSocket, ms: number, sockets: () => (Socket | undefined)[]) {
  const timer = setTimeout(() => {
    for (const socket of sockets()) socket?.destroy();
    ws.close(CLOSE_TUNNEL_FAILED, 'handshake timeout');
  }, ms);
  timer.unref();
  return () => clearTimeout(timer);
}

/** The server's screen, for noVNC: RFB with security type None towards the browser. */
export async function bridgeScreen(
  ws: WebSocket,
  target: TunnelTarget,
  options: BridgeOptions,
): Promise<void> {
  const browser = createWebSocketStream(ws);
  browser.on('error', () => {});
  let tunnel: Socket | undefined;
  const done = deadline(ws, options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS, () => [tunnel]);
  const upstream = (async () => {
    const { port, host } = await options.tunnels.openVnc(
      target.uuid,
      target.vncPassword,
      target.name,
      target.account,
    );
    tunnel = await connectTo(host ?? options.tunnelHost, port);
    tunnel.on('error', () => {});
    await authenticateUpstream(tunnel, target.vncPassword);
    return tunnel;
  })();
  // Failures are read below, after the viewer's greeting; never unhandled meanwhile.
  upstream.catch(() => {});
  let minor: 3 | 7 | 8;
  try {
    minor = await greetViewer(browser);
  } catch {
    done();
    tunnel?.destroy();
    ws.terminate();
    return;
  }
  let ready: Socket;
  try {
    ready = await upstream;
  } catch (err) {
    done();
    tunnel?.destroy();
    const told = err instanceof RfbHandshakeError || err instanceof ApiError;
    const reason = told ? err.message : 'the server screen could not be reached';
    if (!told) options.logger.warn({ err }, 'console: screen tunnel');
    refuseViewer(browser, minor, reason);
    ws.close(CLOSE_TUNNEL_FAILED, closeReason(reason));
    return;
  }
  try {
    await admitViewer(browser, minor);
  } catch {
    done();
    ready.destroy();
    ws.close(CLOSE_TUNNEL_FAILED, 'RFB handshake failed');
    return;
  }
  done();
  join(ws, browser, ready, () => options.tunnels.closeVnc(target.uuid), options.logger);
}

/** The console tunnel answered something other than `OK`. */
class ConsoleRefusedError extends Error {}

/** The server's serial console (docs/console.md), as binary websocket messages both ways. */
export async function bridgeSerial(
  ws: WebSocket,
  target: TunnelTarget,
  options: BridgeOptions,
): Promise<void> {
  const browser = createWebSocketStream(ws);
  browser.on('error', () => {});
  let tunnel: Socket | undefined;
  const done = deadline(ws, options.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS, () => [tunnel]);
  try {
    const { port, host } = await options.tunnels.openConsole(
      target.uuid,
      target.vncPassword,
      target.name,
      target.account,
    );
    tunnel = await connectTo(host ?? options.tunnelHost, port);
    tunnel.on('error', () => {});
    tunnel.write(`${target.vncPassword}\n`);
    const answer = await readLine(tunnel, MAX_ANSWER, 'the console');
    if (answer !== 'OK') {
      throw new ConsoleRefusedError(
        answer.startsWith('ERROR ') ? `console: ${answer.slice(6)}` : 'console: unexpected answer',
      );
    }
  } catch (err) {
    done();
    tunnel?.destroy();
    const refused = err instanceof ConsoleRefusedError || err instanceof ApiError;
    if (!refused) options.logger.warn({ err }, 'console: serial tunnel');
    const reason = refused ? err.message : 'the serial console could not be reached';
    if (ws.readyState === ws.OPEN) ws.close(CLOSE_TUNNEL_FAILED, closeReason(reason));
    return;
  }
  done();
  join(ws, browser, tunnel, () => options.tunnels.closeConsole(target.uuid), options.logger);
}
