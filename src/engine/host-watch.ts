/**
 * The live host set of a process started with `--hosts '*'`: it serves every host of the
 * registry, and follows `sigmalite host add|remove` (from any process) while it runs, by polling
 * the registry every second.
 *
 * The served list is ONE array, changed in place: the engine's context holds the very same array
 * (task leasing, machine events, tunnels and reconciliation read it on every use), so changing it
 * here changes what the engine serves, with no getter to thread through. A host is pushed only
 * once the driver serves it, and spliced out before the driver lets it go, so the engine never
 * leases a task for a host the driver does not know.
 */
import type { FastifyBaseLogger } from 'fastify';
import type { ComputeDriver } from '../drivers/compute/types.js';
import { DEFAULT_HOST } from '../drivers/registry.js';
import type { Store } from '../store/types.js';
import { type HostRecord, listHosts, type NamedHost } from './hosts.js';

/** How often the registry is read. */
export const HOST_POLL_MS = 1_000;

export interface HostWatchOptions {
  store: Store;
  compute: ComputeDriver;
  /** The hosts this process serves: the engine's own array (`EngineContext.hosts`). */
  served: string[];
  logger: FastifyBaseLogger;
  /** After the served set changed (the engine looks for the new hosts' tasks). */
  onChange?: () => void;
  pollMs?: number;
}

/** What the driver connects a host with: a change of these makes it serve the host anew. */
function connectionOf(host: HostRecord): string {
  const { uri, pool, poolPath, sharedPool, network, bridge, vncListen } = host;
  return JSON.stringify({ uri, pool, poolPath, sharedPool, network, bridge, vncListen });
}

export class HostWatch {
  private timer: NodeJS.Timeout | undefined;
  /** The refresh under way, if any: one at a time. */
  private running: Promise<void> | undefined;
  /** The connection fields each served host was served with. */
  private readonly connections = new Map<string, string>();
  /** Why a host could not be served, by name: logged once per reason, tried again each poll. */
  private readonly refused = new Map<string, string>();

  constructor(private readonly options: HostWatchOptions) {}

  /** Polls the registry until `stop()`. Idempotent. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), this.options.pollMs ?? HOST_POLL_MS);
    this.timer.unref();
  }

  /** Stops polling and waits for a refresh under way. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /**
   * Makes the served set the registry's now (the poll's work; after a refresh under way). Errors
   * (a store that does not answer) are logged: the next poll tries again.
   */
  refresh(): Promise<void> {
    const previous = this.running ?? Promise.resolve();
    const run = previous.then(() =>
      this.follow().catch((e: unknown) => {
        this.options.logger.error({ err: e }, 'hosts: reading the host registry failed');
      }),
    );
    const tail = run.finally(() => {
      if (this.running === tail) this.running = undefined;
    });
    this.running = tail;
    return run;
  }

  private async follow(): Promise<void> {
    const { store, served } = this.options;
    const listed = await store.read((tx) => listHosts(tx));
    // As at the start: an empty registry means `local`, where `place()` then puts every server.
    const registry = listed.length > 0 ? listed : [{ name: DEFAULT_HOST }];
    const wanted = new Map(registry.map((host) => [host.name, host]));
    let changed = false;
    for (const name of [...served]) {
      const host = wanted.get(name);
      if (!host) {
        changed = (await this.drop(name, 'removed from the registry')) || changed;
        continue;
      }
      const connection = connectionOf(host);
      const before = this.connections.get(name);
      // Hosts served since the start: their declaration is what they were served with.
      if (before === undefined) this.connections.set(name, connection);
      else if (before !== connection) changed = (await this.reconnect(host)) || changed;
    }
    for (const host of registry) {
      if (!served.includes(host.name)) changed = (await this.add(host)) || changed;
    }
    for (const name of this.refused.keys()) {
      if (!wanted.has(name) && !served.includes(name)) this.refused.delete(name);
    }
    if (changed) this.options.onChange?.();
  }

  private async add(host: NamedHost): Promise<boolean> {
    const { compute, served, logger } = this.options;
    if (!compute.addHost) {
      this.refuse(
        host.name,
        `the ${compute.name} driver cannot serve hosts added while it runs; restart this process to serve it`,
      );
      return false;
    }
    try {
      await compute.addHost(host);
    } catch (e) {
      this.refuse(host.name, `the ${compute.name} driver cannot serve it: ${messageOf(e)}`);
      return false;
    }
    this.refused.delete(host.name);
    this.connections.set(host.name, connectionOf(host));
    served.push(host.name);
    logger.info({ host: host.name }, 'hosts: serving a host added to the registry');
    return true;
  }

  /** Stops serving `name`; false if the driver cannot let it go (it is then still served). */
  private async drop(name: string, why: string): Promise<boolean> {
    const { compute, served, logger } = this.options;
    if (!compute.removeHost) {
      this.refuse(
        name,
        `${why}, but the ${compute.name} driver cannot stop serving a host while it runs; restart this process`,
      );
      return false;
    }
    const at = served.indexOf(name);
    if (at >= 0) served.splice(at, 1);
    this.connections.delete(name);
    try {
      await compute.removeHost(name);
    } catch (e) {
      logger.warn({ host: name, err: e }, 'hosts: the driver failed to let a host go');
    }
    logger.info({ host: name }, `hosts: no longer serving a host (${why})`);
    return true;
  }

  /** A served host's connection was declared anew: the driver serves it with the new one. */
  private async reconnect(host: NamedHost): Promise<boolean> {
    const { compute } = this.options;
    if (!compute.addHost || !compute.removeHost) {
      this.refuse(
        host.name,
        `its declaration changed, but the ${compute.name} driver cannot serve it anew while it runs; restart this process`,
      );
      // Said once: the new declaration counts as seen.
      this.connections.set(host.name, connectionOf(host));
      return false;
    }
    await this.drop(host.name, 'its declaration changed');
    await this.add(host);
    return true;
  }

  private refuse(name: string, reason: string): void {
    if (this.refused.get(name) === reason) return;
    this.refused.set(name, reason);
    this.options.logger.warn({ host: name }, `hosts: ${name}: ${reason}`);
  }
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
