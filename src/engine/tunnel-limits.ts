/**
 * Caps on the VNC and console tunnels of this process (docs/operations.md, "Limits"): each is a
 * listening socket and its connections, so one account opening them without end would take the
 * process's file descriptors from everyone. Counted here, above the drivers, so that every driver
 * is capped alike: per account (who opened each tunnel last) and in total; and a tunnel no client
 * has been connected to for `idleMs` is closed as `close_vnc` or `close_console` would.
 *
 * The drivers are the authority on which tunnels are open (a server that stops loses its
 * tunnels there): what is counted here is pruned against their list before every count.
 */
import type { ComputeDriver, TunnelInfo } from '../drivers/compute/types.js';
import { errors } from '../errors.js';

export interface TunnelLimits {
  /** Tunnels one account may hold open. */
  perAccount: number;
  /** Tunnels of this process, all accounts together. */
  total: number;
  /** Milliseconds a tunnel may go with no client connected before it closes; 0: never. */
  idleMs: number;
}

export const DEFAULT_TUNNEL_LIMITS: TunnelLimits = {
  perAccount: 64,
  total: 1024,
  idleMs: 600_000,
};

type Kind = TunnelInfo['kind'];

interface Opener {
  account: string;
  /** Opens of this tunnel under way (the driver does not list it yet). */
  opening: number;
}

export class TunnelLedger {
  /** Who opened each tunnel (`kind:uuid`) last. */
  private readonly openers = new Map<string, Opener>();

  constructor(
    private readonly compute: Pick<ComputeDriver, 'tunnels' | 'closeVnc' | 'closeConsole'>,
    private readonly hosts: readonly string[],
    readonly limits: TunnelLimits,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Counts a tunnel `account` is opening, or throws the API's 429 (the account's cap) or 503
   * (the process's). Reopening a tunnel that is open replaces it: that is no new one. The
   * function returned must be called once the open is over, whether it succeeded or not.
   */
  reserve(kind: Kind, uuid: string, account: string): () => void {
    const live = this.prune();
    const key = `${kind}:${uuid}`;
    let mine = 0;
    for (const [other, opener] of this.openers) {
      if (other !== key && opener.account === account) mine += 1;
    }
    if (mine >= this.limits.perAccount) {
      throw errors.tooManyTunnels('VNC and console tunnels', this.limits.perAccount);
    }
    const all = new Set([...live, ...this.openers.keys()]);
    all.delete(key);
    if (all.size >= this.limits.total) throw errors.tunnelsExhausted(this.limits.total);
    const opener = { account, opening: (this.openers.get(key)?.opening ?? 0) + 1 };
    this.openers.set(key, opener);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      opener.opening -= 1;
    };
  }

  /** A tunnel closed on request. */
  closed(kind: Kind, uuid: string): void {
    const key = `${kind}:${uuid}`;
    if ((this.openers.get(key)?.opening ?? 0) === 0) this.openers.delete(key);
  }

  /** Tunnels counted for `account` now (tests, metrics). */
  count(account: string): number {
    this.prune();
    let n = 0;
    for (const opener of this.openers.values()) if (opener.account === account) n += 1;
    return n;
  }

  /** Closes the tunnels no client has been connected to for `idleMs`. */
  async closeIdle(): Promise<void> {
    if (this.limits.idleMs <= 0) return;
    const now = this.now();
    for (const host of this.hosts) {
      for (const tunnel of this.compute.tunnels(host)) {
        const key = `${tunnel.kind}:${tunnel.uuid}`;
        if (tunnel.idleSince === null || now - tunnel.idleSince < this.limits.idleMs) continue;
        // An open under way replaces this listener with a fresh one: not idle.
        if ((this.openers.get(key)?.opening ?? 0) > 0) continue;
        if (tunnel.kind === 'vnc') await this.compute.closeVnc(host, tunnel.uuid);
        else await this.compute.closeConsole(host, tunnel.uuid);
        this.closed(tunnel.kind, tunnel.uuid);
      }
    }
  }

  /** Forgets the tunnels the drivers no longer hold; returns those they hold. */
  private prune(): Set<string> {
    const live = new Set<string>();
    for (const host of this.hosts) {
      for (const tunnel of this.compute.tunnels(host)) live.add(`${tunnel.kind}:${tunnel.uuid}`);
    }
    for (const [key, opener] of this.openers) {
      if (opener.opening === 0 && !live.has(key)) this.openers.delete(key);
    }
    return live;
  }
}
