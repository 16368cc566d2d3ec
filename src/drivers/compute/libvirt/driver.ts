/**
 * The libvirt compute driver: sigmalite's machines as persistent libvirt domains of one host,
 * named by their server's uuid. A start resolves the `MachineSpec` into a `DomainSpec` (volumes,
 * the public network or a VLAN's, firewall filters, DHCP reservations, the serial ports this
 * process listens on), defines the domain and starts it; libvirt's lifecycle events become
 * machine events; counters come from `domstats`, addresses from the network's DHCP leases.
 *
 * Which domains are sigmalite's is kept in the store (`MachineTable`, one record per machine
 * started, with the time it started): a libvirt host may run other domains, and another
 * sigmalite's, which this one neither lists nor stops. The record also keeps `active_since`
 * across a restart of sigmalite: a re-adopted machine keeps its start time, and its serial ports
 * are listened on again at the ports its XML names (QEMU reconnects by itself).
 */
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { Clock } from '../../../engine/clock.js';
import { DriverError } from '../../errors.js';
import type { LibvirtVolumes } from '../../storage/libvirt/volumes.js';
import { startConsoleServer } from '../simulated/console.js';
import type { MachineTable } from '../simulated/driver.js';
import { type TcpListener, tunnelInfos } from '../simulated/tcp-listener.js';
import type {
  ComputeDriver,
  DriverProbe,
  MachineCounters,
  MachineEvent,
  MachineEventReason,
  MachineFirewallPolicy,
  MachineInfo,
  MachineNic,
  MachineSpec,
  MachineState,
  MachineStatus,
  TunnelInfo,
} from '../types.js';
import type { Accelerator, DomainDrive, DomainNic, DomainSpec, VncListen } from './domain-xml.js';
import { domainXml } from './domain-xml.js';
import { type DomainEvent, isLifecycle } from './events.js';
import { GuestPorts } from './guest-ports.js';
import type { LibvirtHost } from './host.js';
import type { HostClaim } from './host-claim.js';
import { defineFilter, ensureNetwork, removeFilter, setDhcpHost } from './networks.js';
import { isNotFound, VirshError, VirshTimeoutError } from './virsh-command.js';
import { runUnlessMissing } from './virsh-shell.js';
import { startVncRelay, type VncRelayOptions } from './vnc-relay.js';

export interface LibvirtComputeOptions {
  /** The name sigmalite gives the host (`--hosts`). */
  hostName: string;
  /** This process's claim on the host (no shared store), given back at close. */
  claim?: HostClaim | undefined;
  host: LibvirtHost;
  /** The pool's volumes, to check each drive's image and read its format. */
  volumes: LibvirtVolumes;
  clock: Clock;
  /** sigmalite's records of the machines it started on this host. */
  machines: MachineTable;
  accelerator: Accelerator;
  acceleratorWarning: string | null;
  /** The host's MHz per core, for CPU quotas. */
  hostMhz: number;
  /** What the host offers servers (MHz of all its cores, memory bytes), for the probe. */
  capacity?: { mhz: number; memory: number };
  /** The public network (made by the bootstrap). */
  publicNetwork: string;
  /** The pool's directory (a qcow2's base image must be in it). */
  poolPath: string;
  /** Where QEMU puts the VNC sockets (when it listens on no address). */
  socketDir: string;
  /**
   * An address of the host, reachable from this process, where QEMU's VNC servers listen on
   * TCP instead (the host's `vncListen`: a host on another machine); null: unix sockets.
   */
  vncListen: string | null;
  /** The address QEMU's serial ports connect to. */
  serialHost: string;
  /** The address VNC and console tunnels listen on. */
  tunnelHost: string;
  /** Serves a server's context on a connection from its context port; returns what stops it. */
  serveContext: (server: string, socket: Socket) => () => void;
  onError: (error: Error, context: Record<string, unknown>) => void;
}

interface MachineRecord {
  /** Clock milliseconds when it started running. */
  since: number;
}

/** How often ACPI's power button is pressed again while a shutdown waits (CloudSigma: 1 s). */
const ACPI_REPEAT_MS = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class LibvirtCompute implements ComputeDriver {
  readonly name = 'libvirt';
  readonly hosts: readonly string[];
  private readonly listeners = new Set<(event: MachineEvent) => void>();
  private readonly ports = new Map<string, GuestPorts>();
  private readonly vnc = new Map<string, TcpListener>();
  private readonly consoles = new Map<string, TcpListener>();
  /** Machines sigmalite is powering off: their `Destroyed` event is no crash. */
  private readonly stopping = new Set<string>();

  constructor(private readonly options: LibvirtComputeOptions) {
    this.hosts = [options.hostName];
  }

  /** Listens on the serial ports of the machines that run already (a restart of sigmalite). */
  async adopt(): Promise<string[]> {
    const adopted: string[] = [];
    for (const machine of await this.machines(this.options.hostName)) {
      if (machine.state !== 'running' && machine.state !== 'paused') continue;
      await this.guestPorts(machine.uuid);
      adopted.push(machine.uuid);
    }
    return adopted;
  }

  /** libvirt's events for the host (`LibvirtHost`'s `onEvent`). */
  domainEvent(event: DomainEvent): void {
    if (!isLifecycle(event) || !UUID.test(event.domain)) return;
    const uuid = event.domain;
    let state: MachineState;
    let reason: MachineEventReason = 'requested';
    switch (event.event) {
      case 'Started':
      case 'Resumed':
        state = 'running';
        break;
      case 'Suspended':
        state = 'paused';
        break;
      case 'Stopped':
      case 'Crashed':
        state = 'stopped';
        if (event.detail === 'Shutdown') reason = 'guest';
        else if (event.detail !== 'Destroyed' || !this.stopping.has(uuid)) reason = 'crashed';
        this.releaseStopped(uuid);
        break;
      default:
        return;
    }
    const machineEvent: MachineEvent = {
      host: this.options.hostName,
      uuid,
      state,
      reason,
      at: this.options.clock.now(),
    };
    for (const listener of this.listeners) listener(machineEvent);
  }

  /**
   * A machine that stopped on its own: its listeners and tunnels go, unless it runs again by
   * then. Events come on a stream of their own, so a stop's event may arrive after the next
   * start has begun (a restart): only the ports of the run that stopped are closed.
   */
  private releaseStopped(uuid: string): void {
    const ports = this.ports.get(uuid);
    if (!ports) return;
    void this.options.host.locks
      .run(uuid, async () => {
        if (this.ports.get(uuid) !== ports) return;
        if ((await this.domainState(uuid)) !== 'stopped') return;
        await this.closeTunnels(uuid);
        await this.closePorts(uuid);
      })
      .catch((error: Error) => this.options.onError(error, { server: uuid }));
  }

  private checkHost(host: string): void {
    if (host !== this.options.hostName) {
      throw new DriverError(`this process serves no libvirt host "${host}"`, false);
    }
  }

  async probe(): Promise<DriverProbe> {
    return {
      driver: this.name,
      hosts: [
        {
          name: this.options.hostName,
          accelerator: this.options.accelerator,
          warning: this.options.acceleratorWarning,
          ...(this.options.capacity ? { capacity: this.options.capacity } : {}),
        },
      ],
      features: ['events', 'counters', 'vnc', 'console'],
    };
  }

  private async record(uuid: string): Promise<MachineRecord | undefined> {
    const text = await this.options.machines.get(uuid);
    return text === undefined ? undefined : (JSON.parse(text) as MachineRecord);
  }

  async start(host: string, spec: MachineSpec): Promise<{ activeSince: number }> {
    this.checkHost(host);
    const { host: libvirt } = this.options;
    return libvirt.locks.run(spec.uuid, async () => {
      const state = await this.domainState(spec.uuid);
      const record = await this.record(spec.uuid);
      if (state === 'running' && record) {
        await this.guestPorts(spec.uuid);
        return { activeSince: record.since };
      }
      if (state === 'paused') await libvirt.destroy(spec.uuid);
      await this.closePorts(spec.uuid);
      const ports = await GuestPorts.listen({
        host: this.options.serialHost,
        consolePort: 0,
        contextPort: spec.context ? 0 : null,
        serveContext: (socket) => this.options.serveContext(spec.uuid, socket),
        onError: (error) => this.options.onError(error, { server: spec.uuid, port: 'serial' }),
      });
      this.ports.set(spec.uuid, ports);
      try {
        const domain = await this.domainSpec(spec, ports);
        await driverCall(`libvirt refused the definition of ${spec.uuid}`, () =>
          libvirt.define(domainXml(domain)),
        );
        // Recorded before it runs: a crash between the two leaves a machine sigmalite knows.
        const since = this.options.clock.now();
        await this.options.machines.put(spec.uuid, JSON.stringify({ since } as MachineRecord));
        await driverCall(`libvirt could not start ${spec.uuid}`, () => libvirt.start(spec.uuid));
        return { activeSince: since };
      } catch (error) {
        await this.closePorts(spec.uuid);
        throw error;
      }
    });
  }

  /** The domain a machine is: drives' images checked, networks and filters made. */
  private async domainSpec(spec: MachineSpec, ports: GuestPorts): Promise<DomainSpec> {
    const { volumes } = this.options;
    const drives: DomainDrive[] = [];
    for (const drive of spec.drives) {
      const volume = await driverCall(`cannot read the image of drive ${drive.uuid}`, () =>
        volumes.info(drive.volume.name),
      );
      if (!volume) {
        throw new DriverError(`drive ${drive.uuid} has no image on the host`, true);
      }
      // An image libvirt does not read as qcow2 (an ISO, a raw disk, a VMDK) is raw bytes to
      // the guest (docs/libvirt.md, "Image checks"); a qcow2 may only stand on this pool's images.
      const format = volume.format === 'qcow2' ? 'qcow2' : 'raw';
      if (volume.backing !== null && !volume.backing.startsWith(`${this.options.poolPath}/`)) {
        throw new DriverError(
          `drive ${drive.uuid} is a qcow2 image standing on ${volume.backing}, outside the pool`,
          true,
        );
      }
      drives.push({
        bus: drive.device,
        channel: drive.devChannel,
        media: drive.media,
        source: { pool: volumes.pool, volume: volume.name },
        format,
        bootOrder: drive.bootOrder,
      });
    }
    const nics: DomainNic[] = [];
    for (const nic of spec.nics) nics.push(await this.domainNic(nic));
    return {
      uuid: spec.uuid,
      name: spec.uuid,
      title: spec.name,
      accelerator: this.options.accelerator,
      cpu: {
        mhz: spec.cpuMhz,
        hostMhz: this.options.hostMhz,
        smp: spec.smp,
        model: spec.cpuModel,
        socketsInsteadOfCores: spec.socketsInsteadOfCores,
        numa: spec.enableNuma,
        hvRelaxed: spec.hvRelaxed,
        hvTsc: spec.hvTsc,
      },
      memBytes: spec.memBytes,
      drives,
      nics,
      vnc: { ...this.vncListen(spec.uuid), password: spec.vncPassword },
      console: { host: this.options.serialHost, port: ports.consolePort },
      context:
        ports.contextPort === null
          ? null
          : { host: this.options.serialHost, port: ports.contextPort },
      serialReconnectS: 1,
    };
  }

  /** The NIC's network (the public one, with its address reserved; a VLAN's) and filter. */
  private async domainNic(nic: MachineNic): Promise<DomainNic> {
    const { host } = this.options;
    let network = this.options.publicNetwork;
    if (nic.network.kind === 'vlan') {
      const id = nic.network.vlan.replaceAll('-', '').slice(0, 8);
      network = `sigmalite-vlan-${nic.network.vlan}`;
      await driverCall(`cannot make the network of VLAN ${nic.network.vlan}`, () =>
        ensureNetwork(host.shell, { name: network, bridge: `slv${id}`, forward: 'isolated' }),
      );
    } else if (nic.ipv4 !== null && nic.ipv4Conf !== 'manual') {
      const ip = nic.ipv4;
      await driverCall(`cannot reserve ${ip} for ${nic.mac}`, () =>
        setDhcpHost(host.shell, network, { mac: nic.mac, ip }),
      );
    }
    let filter: string | null = null;
    const policy = nic.firewallPolicy;
    if (policy) {
      filter = filterName(policy.uuid);
      const name = filter;
      await driverCall(`cannot apply firewall policy ${policy.uuid}`, () =>
        defineFilter(host.shell, { name, uuid: policy.uuid, rules: policy.rules }),
      );
    }
    return { mac: nic.mac, model: nic.model, network, filter, bootOrder: nic.bootOrder };
  }

  /** Where a machine started now has its VNC server. */
  private vncListen(uuid: string): VncListen {
    const address = this.options.vncListen;
    return address === null ? { socket: join(this.options.socketDir, `${uuid}.vnc`) } : { address };
  }

  /**
   * Where a running machine's VNC server is, as its live definition says: a machine started
   * before its host had its `vncListen` (or another one) keeps its screen where it was, and a TCP
   * screen's port is known only once QEMU runs (re-adopted machines alike).
   */
  private async liveScreen(
    uuid: string,
  ): Promise<{ listen: VncListen; target: VncRelayOptions['target'] }> {
    const description = await driverCall(`cannot read the screen of ${uuid}`, () =>
      this.options.host.describe(uuid),
    );
    const graphics = description.graphics.find((g) => g.type === 'vnc');
    if (graphics?.socket) {
      return { listen: { socket: graphics.socket }, target: { path: graphics.socket } };
    }
    if (graphics?.address && graphics.port !== null && graphics.port > 0) {
      return {
        listen: { address: graphics.address },
        target: { host: graphics.address, port: graphics.port },
      };
    }
    throw new DriverError(
      graphics
        ? `machine ${uuid} is not running: its VNC server has no port`
        : `machine ${uuid} has no VNC screen`,
      false,
    );
  }

  async stop(host: string, uuid: string): Promise<void> {
    this.checkHost(host);
    await this.options.host.locks.run(uuid, () => this.destroy(uuid));
  }

  /** Powers the domain off; its `Destroyed` event is then sigmalite's doing. */
  private async destroy(uuid: string): Promise<void> {
    this.stopping.add(uuid);
    try {
      await driverCall(`libvirt could not power ${uuid} off`, () =>
        this.options.host.destroy(uuid),
      );
    } finally {
      // Its event follows the command within milliseconds; the set must not keep it for ever.
      setTimeout(() => this.stopping.delete(uuid), 5000).unref();
    }
    await this.closeTunnels(uuid);
    await this.closePorts(uuid);
  }

  async applyPolicy(host: string, policy: MachineFirewallPolicy): Promise<void> {
    this.checkHost(host);
    const name = filterName(policy.uuid);
    // A policy no NIC of this host was started with has no filter here: it is made at a start.
    const existing = await driverCall(`cannot read the filter of policy ${policy.uuid}`, () =>
      runUnlessMissing(this.options.host.shell, ['nwfilter-dumpxml', name]),
    );
    if (existing === null) return;
    // Redefining a filter applies it to the running NICs that use it (docs/libvirt.md).
    await driverCall(`cannot apply firewall policy ${policy.uuid}`, () =>
      defineFilter(this.options.host.shell, { name, uuid: policy.uuid, rules: policy.rules }),
    );
  }

  async removePolicy(host: string, policy: string): Promise<void> {
    this.checkHost(host);
    await driverCall(`cannot remove the filter of policy ${policy}`, () =>
      removeFilter(this.options.host.shell, filterName(policy)),
    );
  }

  async forget(host: string, uuid: string, options?: { onlyStopped?: boolean }): Promise<void> {
    this.checkHost(host);
    await this.options.host.locks.run(uuid, async () => {
      if ((await this.domainState(uuid)) !== 'stopped') {
        if (options?.onlyStopped) return;
        await this.destroy(uuid);
      }
      await driverCall(`libvirt could not undefine ${uuid}`, () =>
        this.options.host.undefine(uuid),
      );
      await this.options.machines.delete(uuid);
    });
  }

  async shutdown(host: string, uuid: string, timeoutMs: number): Promise<boolean> {
    this.checkHost(host);
    const { host: libvirt, clock } = this.options;
    return libvirt.locks.run(uuid, async () => {
      const deadline = clock.now() + timeoutMs;
      for (;;) {
        const state = await this.domainState(uuid);
        if (state === 'stopped') {
          await this.closeTunnels(uuid);
          await this.closePorts(uuid);
          return true;
        }
        if (clock.now() >= deadline) return false;
        try {
          await libvirt.powerButton(uuid);
        } catch (error) {
          // It powered off between the state and the button.
          if ((await this.domainState(uuid)) !== 'stopped') throw wrap(error, 'ACPI shutdown');
        }
        await clock.sleep(Math.min(ACPI_REPEAT_MS, Math.max(0, deadline - clock.now())));
      }
    });
  }

  async kill(host: string, uuid: string): Promise<void> {
    this.checkHost(host);
    await this.destroy(uuid);
  }

  async pause(host: string, uuid: string): Promise<void> {
    this.checkHost(host);
    await this.options.host.locks.run(uuid, async () => {
      if ((await this.domainState(uuid)) !== 'running') return;
      await driverCall(`libvirt could not pause ${uuid}`, () =>
        this.options.host.shell.run(['suspend', uuid]),
      );
      await this.closeTunnels(uuid);
    });
  }

  /** The machine's state as libvirt has it (a domain that does not exist is stopped). */
  private async domainState(uuid: string): Promise<MachineState> {
    try {
      const { state } = await this.options.host.state(uuid);
      return machineState(state);
    } catch (error) {
      if (isNotFound(error)) return 'stopped';
      throw wrap(error, 'domain state');
    }
  }

  async status(host: string, uuid: string): Promise<MachineStatus> {
    this.checkHost(host);
    const state = await this.domainState(uuid);
    if (state === 'stopped') return { state, since: 0 };
    const record = await this.record(uuid);
    return { state, since: record?.since ?? this.options.clock.now() };
  }

  async machines(host: string): Promise<MachineInfo[]> {
    this.checkHost(host);
    const mine = new Map(
      (await this.options.machines.list()).map((row) => [
        row.key,
        JSON.parse(row.value) as MachineRecord,
      ]),
    );
    const listed = await driverCall('cannot list the domains', () => this.options.host.list());
    const machines: MachineInfo[] = [];
    for (const domain of listed) {
      const record = mine.get(domain.name);
      if (!record) continue;
      const state = machineState(domain.state);
      if (state === 'stopped') continue;
      machines.push({ uuid: domain.name, state, since: record.since });
    }
    return machines;
  }

  async counters(host: string, uuid: string): Promise<MachineCounters | null> {
    this.checkHost(host);
    const { host: libvirt } = this.options;
    let description: Awaited<ReturnType<LibvirtHost['describe']>>;
    let stats: Awaited<ReturnType<LibvirtHost['stats']>>;
    try {
      if ((await this.domainState(uuid)) !== 'running') return null;
      description = await libvirt.describe(uuid);
      stats = await libvirt.stats([uuid]);
    } catch (error) {
      if (isNotFound(error)) return null;
      throw wrap(error, 'counters');
    }
    const domain = stats[0];
    if (!domain) return null;
    const counters: MachineCounters = { drives: {}, nics: {} };
    for (const block of domain.blocks) {
      const disk = description.disks.find((d) => d.target === block.name);
      const drive = disk?.volume ?? baseName(disk?.path ?? block.path);
      if (!drive) continue;
      counters.drives[drive] = {
        bytesRead: block.rd.bytes,
        bytesWritten: block.wr.bytes,
        countFlush: block.fl.reqs,
        countRead: block.rd.reqs,
        countWritten: block.wr.reqs,
        totalTimeNsFlush: block.fl.times,
        totalTimeNsRead: block.rd.times,
        totalTimeNsWrite: block.wr.times,
      };
    }
    const leases = await libvirt.leases(this.options.publicNetwork).catch(() => []);
    for (const net of domain.nets) {
      const nic = description.interfaces.find((i) => i.device === net.name);
      if (!nic) continue;
      const lease = leases.find((l) => l.mac === nic.mac && l.protocol === 'ipv4');
      // libvirt counts from the guest's side: its tx is what the guest sent.
      counters.nics[nic.mac] = {
        bytesRecv: net.rx.bytes,
        bytesSent: net.tx.bytes,
        packetsRecv: net.rx.pkts,
        packetsSent: net.tx.pkts,
        ipv4: lease?.address ?? null,
      };
    }
    return counters;
  }

  onEvent(listener: (event: MachineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The machine's serial ports, listened on again if this process does not yet (a machine that
   * ran before sigmalite restarted): at the ports its running definition names.
   */
  private async guestPorts(uuid: string): Promise<GuestPorts> {
    const known = this.ports.get(uuid);
    if (known) return known;
    const description = await this.options.host.describe(uuid);
    const port = (n: number) =>
      description.serials.find((s) => s.port === n && s.type === 'tcp')?.service ?? null;
    const consolePort = port(0);
    if (consolePort === null) throw new DriverError(`machine ${uuid} has no console port`, false);
    const ports = await GuestPorts.listen({
      host: this.options.serialHost,
      consolePort,
      contextPort: port(1),
      serveContext: (socket) => this.options.serveContext(uuid, socket),
      onError: (error) => this.options.onError(error, { server: uuid, port: 'serial' }),
    });
    // Another call may have listened meanwhile: keep the first.
    const raced = this.ports.get(uuid);
    if (raced) {
      await ports.close();
      return raced;
    }
    this.ports.set(uuid, ports);
    return ports;
  }

  /** The guest's console (tests and the benchmark read its markers). */
  async console(uuid: string): Promise<GuestPorts['console']> {
    return (await this.guestPorts(uuid)).console;
  }

  private async closePorts(uuid: string): Promise<void> {
    const ports = this.ports.get(uuid);
    this.ports.delete(uuid);
    await ports?.close();
  }

  async openVnc(host: string, uuid: string, password: string): Promise<{ port: number }> {
    this.checkHost(host);
    const screen = await this.liveScreen(uuid);
    // The server's password may have changed since it started: new connections need the new one.
    await driverCall(`cannot set the VNC password of ${uuid}`, () =>
      this.options.host.setVncPassword(uuid, screen.listen, password),
    );
    const relay = await startVncRelay({
      host: this.options.tunnelHost,
      target: screen.target,
      onError: (error) => this.options.onError(error, { server: uuid, tunnel: 'vnc' }),
    });
    const previous = this.vnc.get(uuid);
    this.vnc.set(uuid, relay);
    await previous?.close();
    return { port: relay.port };
  }

  async closeVnc(host: string, uuid: string): Promise<void> {
    this.checkHost(host);
    const relay = this.vnc.get(uuid);
    this.vnc.delete(uuid);
    await relay?.close();
  }

  async openConsole(host: string, uuid: string, password: string): Promise<{ port: number }> {
    this.checkHost(host);
    const ports = await this.guestPorts(uuid);
    const server = await startConsoleServer({
      host: this.options.tunnelHost,
      port: 0,
      password,
      open: () => ports.open(),
      onError: (error) => this.options.onError(error, { server: uuid, tunnel: 'console' }),
    });
    const previous = this.consoles.get(uuid);
    this.consoles.set(uuid, server);
    await previous?.close();
    return { port: server.port };
  }

  async closeConsole(host: string, uuid: string): Promise<void> {
    this.checkHost(host);
    const server = this.consoles.get(uuid);
    this.consoles.delete(uuid);
    await server?.close();
  }

  tunnels(host: string): TunnelInfo[] {
    this.checkHost(host);
    return tunnelInfos(this.vnc, this.consoles);
  }

  private async closeTunnels(uuid: string): Promise<void> {
    const vnc = this.vnc.get(uuid);
    const console = this.consoles.get(uuid);
    this.vnc.delete(uuid);
    this.consoles.delete(uuid);
    await Promise.all([vnc?.close(), console?.close()]);
  }

  /** Stops listening; the machines keep running (a later sigmalite re-adopts them). */
  async close(): Promise<void> {
    this.listeners.clear();
    const uuids = new Set([...this.vnc.keys(), ...this.consoles.keys(), ...this.ports.keys()]);
    await Promise.all([...uuids].map((uuid) => this.closeTunnels(uuid)));
    await Promise.all([...this.ports.keys()].map((uuid) => this.closePorts(uuid)));
    await this.options.host.close();
    await this.options.claim?.release();
  }
}

/** A libvirt state word as a machine state. */
function machineState(state: string): MachineState {
  switch (state) {
    case 'running':
    case 'idle':
    case 'in shutdown':
    case 'blocked':
      return 'running';
    case 'paused':
    case 'pmsuspended':
      return 'paused';
    default:
      return 'stopped';
  }
}

function baseName(path: string | null | undefined): string | null {
  if (!path) return null;
  return path.slice(path.lastIndexOf('/') + 1) || null;
}

/**
 * A libvirt failure as the engine's `DriverError`: what libvirt refused (a definition, an image
 * it cannot open) fails for good; no answer in time (a hung daemon) is worth retrying.
 */
function wrap(error: unknown, what: string): DriverError {
  if (error instanceof DriverError) return error;
  if (error instanceof VirshTimeoutError)
    return new DriverError(`${what}: ${error.message}`, false);
  if (error instanceof VirshError) {
    // A lost connection is the daemon's state, not the request's: worth retrying.
    const lost = /connect|end of file|broken pipe|cannot recv|cannot write/i.test(error.message);
    return new DriverError(`${what}: ${error.message}`, !lost);
  }
  return new DriverError(`${what}: ${(error as Error).message}`, false);
}

async function driverCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw wrap(error, what);
  }
}

/** The nwfilter a firewall policy is on a host. */
function filterName(policy: string): string {
  return `sigmalite-fw-${policy}`;
}
