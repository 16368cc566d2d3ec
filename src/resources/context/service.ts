/**
 * Server contexts for the drivers: the composition root builds one `ServerContexts` and hands it
 * to whoever connects guests' context serial ports (the QEMU driver: `serve` on its chardev
 * socket; tests and the simulated driver: `open`, an in-memory port).
 */
import type { Duplex } from 'node:stream';
import type { Store } from '../../store/types.js';
import { buildContext, type ContextDoc, type DynamicNetwork } from './build.js';
import { contextChannel, serveContext } from './protocol.js';

export class ServerContexts {
  constructor(private readonly env: { store: Store; ips?: DynamicNetwork }) {}

  /** The context of a server as it is stored now; undefined when there is no such server. */
  build(server: string): Promise<ContextDoc | undefined> {
    return this.env.store.read((tx) => buildContext(tx, server, this.env.ips));
  }

  /** The guest's end of `server`'s context port, in memory. */
  open(server: string): Duplex {
    return contextChannel(() => this.build(server));
  }

  /** Serves `server`'s context on a real port; returns a function that stops. */
  serve(server: string, port: Duplex): () => void {
    return serveContext(port, () => this.build(server));
  }
}
