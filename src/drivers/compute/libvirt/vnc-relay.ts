/**
 * The VNC tunnel of a libvirt machine: a TCP listener whose every connection is joined, byte for
 * byte, to QEMU's own VNC server (on the domain's unix socket, or at its host's address and the
 * domain's port when the host is another machine). QEMU does the RFB handshake and
 * the password check itself (VNC authentication: the password's first 8 bytes), so a client sees
 * the guest's real screen and QEMU's real answers.
 */
import { connect, type Socket } from 'node:net';
import { listenTcp, type TcpListener } from '../simulated/tcp-listener.js';

export interface VncRelayOptions {
  /** The address the tunnel listens on (`--host`). */
  host: string;
  /** QEMU's VNC server: its unix socket, or its TCP address and port on the host. */
  target: { path: string } | { host: string; port: number };
  onError: (error: Error) => void;
}

export function startVncRelay(options: VncRelayOptions): Promise<TcpListener> {
  return listenTcp({ host: options.host, port: 0, onError: options.onError }, (client) => {
    client.setNoDelay(true);
    const qemu: Socket = connect(options.target);
    const end = () => {
      client.destroy();
      qemu.destroy();
    };
    client.on('error', end);
    qemu.on('error', (error) => {
      options.onError(error);
      end();
    });
    client.on('close', end);
    qemu.on('close', end);
    client.pipe(qemu);
    qemu.pipe(client);
  });
}
