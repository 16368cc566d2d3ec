/**
 * One libvirt host as sigmalite drives it: its interactive virsh (commands), its event stream
 * (lifecycle events, with disconnects reported so the caller resyncs), a lock per domain, and
 * the domain operations the compute driver needs, each one virsh command. Operations that must
 * not interleave on one domain run under `locks.run(domain, ...)`, which the caller takes.
 */

import { DomainLocks } from './domain-locks.js';
import {
  type DomainDescription,
  type HostCapabilities,
  readCapabilities,
  readDomain,
} from './domain-read.js';
import { type VncListen, vncGraphics } from './domain-xml.js';
import { type DomainStats, parseDomstats } from './domstats.js';
import { type DomainEvent, DomainEventStream, EVENT_PROBE_PREFIX } from './events.js';
import {
  type DhcpLease,
  type ListedDomain,
  type NodeInfo,
  parseDhcpLeases,
  parseDomainList,
  parseDomainState,
  parseNodeInfo,
} from './tables.js';
import { isNotFound, isNotRunning } from './virsh-command.js';
import { VirshShell } from './virsh-shell.js';
import { buildXml } from './xml.js';

export interface LibvirtHostOptions {
  /** `qemu:///system` (default) or a remote URI (`qemu+tls://host/system`). */
  uri?: string;
  /** The virsh executable; default `virsh`. */
  binary?: string;
  /** Per command; default 30 s. */
  commandTimeoutMs?: number;
  /** Restarts of the event stream: doubling from `initialMs` up to `maxMs`; 250 ms, 30 s. */
  eventBackoff?: { initialMs: number; maxMs: number };
  /**
   * The event stream's keepalive (interval in s, missed answers before it gives the connection
   * up): how soon a hung daemon is noticed; default 5 and 3.
   */
  eventKeepalive?: { intervalS: number; count: number };
  onEvent?: (event: DomainEvent) => void;
  /** Events flow (again): resync every domain's state now. */
  onConnected?: () => void;
  /** Events stopped: states are unknown until `onConnected`. */
  onDisconnected?: (reason: string) => void;
  /** What virsh reports outside any command (a lost connection, a process killed). */
  onNotice?: (message: string) => void;
}

export class LibvirtHost {
  readonly uri: string;
  readonly shell: VirshShell;
  readonly events: DomainEventStream;
  readonly locks = new DomainLocks();
  /** Whether probes left by others have been looked for (once, at the first connection). */
  private swept = false;

  constructor(options: LibvirtHostOptions = {}) {
    this.uri = options.uri ?? 'qemu:///system';
    this.shell = new VirshShell({
      uri: this.uri,
      binary: options.binary,
      timeoutMs: options.commandTimeoutMs,
      onNotice: options.onNotice,
    });
    this.events = new DomainEventStream({
      uri: this.uri,
      binary: options.binary,
      backoff: options.eventBackoff,
      ...(options.eventKeepalive ? { keepalive: options.eventKeepalive } : {}),
      confirm: (name) => this.touch(name),
      onEvent: options.onEvent ?? (() => {}),
      onConnected: options.onConnected ?? (() => {}),
      onDisconnected: options.onDisconnected ?? (() => {}),
    });
  }

  /** Starts the event stream (commands need no start). */
  open(): this {
    this.events.start();
    return this;
  }

  async close(): Promise<void> {
    await this.events.stop();
    await this.shell.close();
  }

  /** Defines (or redefines) a persistent domain from its XML. */
  async define(xml: string): Promise<void> {
    await this.shell.runWithFile(xml, (path) => ['define', path]);
  }

  /** Starts a transient domain that disappears when it stops (probes). */
  async createTransient(xml: string): Promise<void> {
    await this.shell.runWithFile(xml, (path) => ['create', path]);
  }

  /** Removes a domain's definition; one that does not exist is no error. */
  async undefine(name: string): Promise<void> {
    await ignoring(isNotFound, this.shell.run(['undefine', name]));
  }

  async start(name: string): Promise<void> {
    await this.shell.run(['start', name]);
  }

  /** Powers a domain off at once; one that does not run (or exist) is no error. */
  async destroy(name: string): Promise<void> {
    await ignoring((e) => isNotRunning(e) || isNotFound(e), this.shell.run(['destroy', name]));
  }

  /** Presses the ACPI power button once (the guest decides). */
  async powerButton(name: string): Promise<void> {
    await this.shell.run(['shutdown', name, '--mode', 'acpi']);
  }

  /** `running`, `shut off`, ... with libvirt's reason (`booted`, `destroyed`, `shutdown`). */
  async state(name: string): Promise<{ state: string; reason: string }> {
    return parseDomainState(await this.shell.run(['domstate', name, '--reason']));
  }

  /** Every domain, running or not. */
  async list(): Promise<ListedDomain[]> {
    return parseDomainList(await this.shell.run(['list', '--all']));
  }

  /** State, CPU, disk and NIC counters of the named domains (all when none are named). */
  async stats(names: readonly string[] = []): Promise<DomainStats[]> {
    return parseDomstats(
      await this.shell.run([
        'domstats',
        '--raw',
        '--state',
        '--cpu-total',
        '--block',
        '--interface',
        ...names,
      ]),
    );
  }

  async describe(name: string): Promise<DomainDescription> {
    return readDomain(await this.shell.run(['dumpxml', name]));
  }

  /**
   * Changes the VNC password (the first 8 bytes count) of a domain's screen listening at
   * `listen` (libvirt refuses to move a running screen: it must be where the domain's is): live
   * on a running domain (new connections need the new one) and in its definition.
   */
  async setVncPassword(name: string, listen: VncListen, password: string): Promise<void> {
    const xml = buildXml({ graphics: vncGraphics({ ...listen, password }) });
    try {
      await this.shell.runWithFile(xml, (path) => [
        'update-device',
        name,
        path,
        '--live',
        '--config',
      ]);
    } catch (error) {
      if (!isNotRunning(error)) throw error;
      await this.shell.runWithFile(xml, (path) => ['update-device', name, path, '--config']);
    }
  }

  /** Grows a disk of a running domain (`target`: `vda`, `hdb`); the guest sees it at once. */
  async blockResize(name: string, target: string, bytes: number): Promise<void> {
    await this.shell.run(['blockresize', name, target, `${bytes}B`]);
  }

  async nodeInfo(): Promise<NodeInfo> {
    return parseNodeInfo(await this.shell.run(['nodeinfo']));
  }

  async capabilities(): Promise<HostCapabilities> {
    return readCapabilities(await this.shell.run(['capabilities']));
  }

  /** The network's current DHCP leases. */
  async leases(network: string): Promise<DhcpLease[]> {
    return parseDhcpLeases(await this.shell.run(['net-dhcp-leases', network]));
  }

  /**
   * Makes a lifecycle event happen for a domain named `name`: defines and undefines a domain
   * that never runs (the event stream's proof that it is subscribed).
   */
  private async touch(name: string): Promise<void> {
    if (!this.swept) {
      await this.sweepProbes(name);
      this.swept = true;
    }
    await this.define(
      buildXml({
        domain: {
          '@type': 'qemu',
          name,
          memory: { '@unit': 'MiB', '#text': 16 },
          os: { type: { '@arch': 'x86_64', '#text': 'hvm' } },
        },
      }),
    );
    await this.undefine(name);
  }

  /**
   * Undefines the probes a process left when it died between defining and undefining one (`name`
   * is this stream's own). Another process's probe under way may go too: its event has come
   * already, and its undefine ignores a domain that is gone.
   */
  private async sweepProbes(name: string): Promise<void> {
    for (const domain of await this.list()) {
      if (domain.name.startsWith(EVENT_PROBE_PREFIX) && domain.name !== name) {
        await this.undefine(domain.name);
      }
    }
  }
}

async function ignoring(
  expected: (error: unknown) => boolean,
  work: Promise<unknown>,
): Promise<void> {
  try {
    await work;
  } catch (error) {
    if (!expected(error)) throw error;
  }
}
