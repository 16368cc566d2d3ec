/**
 * `--driver libvirt`: the compute and storage drivers on the libvirt hosts of the process
 * (`--hosts`; each host's URI, pool and network from its host record, else the `--libvirt-*`
 * settings). Connecting a host makes what it needs if it is absent (the pool, the public network,
 * the socket directory: `bootstrapLibvirt`), decides the accelerator, starts its event stream
 * (waiting until it is proven subscribed, so no event of a re-adopted machine is missed) and
 * listens again on the serial ports of the machines that already run there. Several hosts are
 * one `LibvirtCluster`, and either share one storage pool (a directory every host reaches) or have
 * a pool each, between which volumes move (`poolLayout`).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { NamedHost } from '../engine/hosts.js';
import { type BootstrapOptions, bootstrapLibvirt } from './compute/libvirt/bootstrap.js';
import { LibvirtCluster } from './compute/libvirt/cluster.js';
import type { Accelerator } from './compute/libvirt/domain-xml.js';
import { LibvirtCompute } from './compute/libvirt/driver.js';
import { LibvirtHost } from './compute/libvirt/host.js';
import { claimLibvirtHost, type HostClaim } from './compute/libvirt/host-claim.js';
import { probeAccelerator } from './compute/libvirt/probe.js';
import type { VirshRunner } from './compute/libvirt/virsh-shell.js';
import type { DriverEnv, Drivers } from './env.js';
import type { LibvirtSettings } from './libvirt-settings.js';
import { LibvirtStorage } from './storage/libvirt/driver.js';
import {
  HostPoolsStorage,
  VOLUME_LOCATIONS_STATE,
  VOLUME_MOVES_STATE,
} from './storage/libvirt/host-pools.js';
import { VolumeImageStore } from './storage/libvirt/image-volumes.js';
import { LibvirtVolumes } from './storage/libvirt/volumes.js';

/** How long the event stream may take to prove it is subscribed. */
const EVENTS_READY_MS = 30_000;
/**
 * The event stream's keepalive: a daemon that stops answering is given up after about 3-4 s (a
 * daemon that goes away ends the stream at once), and its host reported down.
 */
const EVENT_KEEPALIVE = { intervalS: 1, count: 3 };
/** Reconnecting a host that went away: from 250 ms, doubling, up to 1 s between attempts. */
const EVENT_BACKOFF = { initialMs: 250, maxMs: 1_000 };
/** Several hosts: one that cannot be connected at start is down, and tried again this often. */
const CONNECT_RETRY_MS = 5_000;

const execFileP = promisify(execFile);

/** A host's settings: its record's, else the process's `--libvirt-*`. */
export interface HostSettings {
  name: string;
  uri: string;
  pool: string;
  /** The pool's directory, absolute. */
  poolPath: string;
  /** Whether the pool's directory is shared storage every host reaches. */
  sharedPool: boolean;
  network: string;
  bridge: string;
  /** Where its machines' VNC servers listen on TCP; null: unix sockets (`HostRecord.vncListen`). */
  vncListen: string | null;
}

export function hostSettings(env: DriverEnv, host: NamedHost): HostSettings {
  const settings = env.libvirt;
  return {
    name: host.name,
    uri: host.uri ?? settings.uri,
    pool: host.pool ?? settings.pool,
    poolPath: resolve(host.poolPath ?? join(env.dataDir, 'libvirt', 'pool')),
    sharedPool: host.sharedPool === true,
    network: host.network ?? settings.network,
    bridge: host.bridge ?? settings.bridge,
    vncListen: host.vncListen ?? null,
  };
}

/**
 * How the hosts' drives are stored: `one` host's pool; one pool that several hosts reach
 * (`shared`: the same directory, on shared storage or on this machine); or a pool of each host's
 * own (`per-host`: a volume is on one host, and moves when a server using it starts elsewhere).
 */
export type PoolLayout = 'one' | 'shared' | 'per-host';

/**
 * The hosts' pool layout, or why they cannot be served together: each host needs its own
 * libvirt, and either every host reaches one pool (declared shared, or on this machine's
 * filesystem: hosts whose URI is local), or none is declared shared and each has its own (hosts
 * on this machine in directories of their own).
 */
export function poolLayout(hosts: readonly HostSettings[]): PoolLayout | { problem: string } {
  const uris = new Map<string, string>();
  for (const host of hosts) {
    const other = uris.get(host.uri);
    if (other !== undefined) {
      return {
        problem: `libvirt hosts ${other} and ${host.name} both name ${host.uri}: give each host the URI of its own libvirt`,
      };
    }
    uris.set(host.uri, host.name);
  }
  if (hosts.length < 2) return 'one';
  const [first] = hosts as [HostSettings, ...HostSettings[]];
  const samePool = hosts.every(
    (host) => host.pool === first.pool && host.poolPath === first.poolPath,
  );
  const declared = hosts.filter((host) => host.sharedPool);
  // One directory on this machine is one pool, whether declared shared or not.
  const allLocal = hosts.every((host) => isLocalUri(host.uri));
  if (declared.length === hosts.length || (declared.length === 0 && samePool && allLocal)) {
    if (!samePool) {
      const other = hosts.find((h) => h.pool !== first.pool || h.poolPath !== first.poolPath)!;
      return {
        problem: `libvirt hosts ${first.name} and ${other.name} declare a shared pool but name different ones (${first.pool} on ${first.poolPath}, ${other.pool} on ${other.poolPath}): a shared pool is one pool every host defines on one directory (docs/libvirt.md, "Several hosts in one process")`,
      };
    }
    return 'shared';
  }
  if (declared.length > 0) {
    const shared = declared.map((host) => host.name).join(', ');
    const own = hosts.filter((host) => !host.sharedPool).map((host) => host.name);
    return {
      problem: `libvirt hosts ${shared} declare a shared pool and ${own.join(', ')} do not: either every host reaches one shared pool, or each has its own (docs/libvirt.md, "Several hosts in one process")`,
    };
  }
  const local = new Map<string, string>();
  for (const host of hosts.filter((h) => isLocalUri(h.uri))) {
    const other = local.get(host.poolPath);
    if (other !== undefined) {
      return {
        problem: `libvirt hosts ${other} and ${host.name} are on this machine with their pools in one directory (${host.poolPath}) while other hosts have pools of their own: give each a directory of its own, or every host the same shared pool (docs/libvirt.md, "Several hosts in one process")`,
      };
    }
    local.set(host.poolPath, host.name);
  }
  return 'per-host';
}

/** Why these hosts cannot be served together, or undefined (`poolLayout`'s problem). */
export function clusterProblem(hosts: readonly HostSettings[]): string | undefined {
  const layout = poolLayout(hosts);
  return typeof layout === 'string' ? undefined : layout.problem;
}

/** Whether a libvirt URI reaches a daemon on this machine (its files are this machine's). */
function isLocalUri(uri: string): boolean {
  try {
    const url = new URL(uri);
    return url.host === '' && (url.protocol === 'qemu:' || url.protocol === 'qemu+unix:');
  } catch {
    return false;
  }
}

export async function createLibvirtDrivers(env: DriverEnv): Promise<Drivers> {
  const hosts = env.hosts.map((name) =>
    hostSettings(env, { ...(env.hostRecords?.get(name) ?? {}), name }),
  );
  const layout = poolLayout(hosts);
  if (typeof layout !== 'string') throw new Error(layout.problem);
  const first = hosts[0]!;
  // A pool per host: volumes are recorded where placement reads them, and move between hosts.
  const perHost =
    layout === 'per-host'
      ? new HostPoolsStorage({
          pools: new Map(),
          locations: env.state(VOLUME_LOCATIONS_STATE),
          moves: env.state(VOLUME_MOVES_STATE),
          defaultHost: first.name,
        })
      : undefined;
  const cluster: LibvirtCluster = new LibvirtCluster({
    clock: env.clock,
    connect: async (named, report) => {
      const settings = hostSettings(env, named);
      // A host added while running must fit the pools of those served.
      const served = cluster.records().filter((record) => record.name !== named.name);
      const grown = poolLayout([...served.map((r) => hostSettings(env, r)), settings]);
      if (typeof grown !== 'string') throw new Error(grown.problem);
      const expected = layout === 'one' ? 'shared' : layout;
      if (served.length > 0 && grown !== expected) {
        throw new Error(
          `libvirt host ${named.name} would make the pools ${grown} where this process keeps them ${expected}: restart it to change (docs/libvirt.md, "Several hosts in one process")`,
        );
      }
      const connected = await connectHost(
        env,
        settings,
        report,
        layout === 'shared' || (layout === 'one' && served.length > 0),
      );
      await perHost?.addPool(settings.name, {
        volumes: connected.volumes,
        path: connected.poolPath,
      });
      return connected;
    },
    onUnreachable: (host, error) =>
      env.log(
        'warn',
        { host, err: error },
        `libvirt host ${host} cannot be connected: ${error.message}`,
      ),
  });
  const several = hosts.length > 1;
  try {
    await perHost?.load();
    for (const host of env.hosts) {
      const named = { ...env.hostRecords?.get(host), name: host };
      // One host is the process's whole purpose: it must connect. Of several, those that answer
      // are served, the others are down until they can be connected.
      if (several) await cluster.serveWhenReachable(named, CONNECT_RETRY_MS);
      else await cluster.addHost(named);
    }
    if (cluster.hosts.length === 0) {
      throw new Error(`none of the libvirt hosts ${env.hosts.join(', ')} can be connected`);
    }
  } catch (error) {
    await cluster.close();
    throw error;
  }
  const root = join(env.dataDir, 'libvirt', 'uploads');
  if (perHost) {
    return {
      name: 'libvirt',
      compute: cluster,
      storage: perHost,
      probe: await cluster.probe(),
      simulated: undefined,
      images: new VolumeImageStore({ volumesOf: (drive) => perHost.volumesOf(drive), root }),
    };
  }
  // One host: its pool, through its virsh. Shared: the one pool, through any host that answers
  // (whichever one the call comes to: each call asks again).
  let virsh: VirshRunner;
  let uri: string | (() => string);
  if (several) {
    virsh = {
      run: async (args, options) => cluster.answering().shell.run(args, options),
      runWithFile: async (content, args, options) =>
        cluster.answering().shell.runWithFile(content, args, options),
    };
    uri = () => cluster.answering().uri;
  } else {
    const host = cluster.answering();
    virsh = host.shell;
    uri = host.uri;
  }
  const volumes = new LibvirtVolumes({ virsh, uri, pool: first.pool, shared: several });
  return {
    name: 'libvirt',
    compute: cluster,
    storage: new LibvirtStorage({
      volumes,
      poolPath: first.poolPath,
      host: several ? null : first.name,
    }),
    probe: await cluster.probe(),
    simulated: undefined,
    images: new VolumeImageStore({ volumesOf: () => volumes, root }),
  };
}

/**
 * Connects one host: claims it (no shared store), makes what it needs, starts its event stream
 * and re-adopts its running machines. `report` hears when it stops and starts answering.
 */
async function connectHost(
  env: DriverEnv,
  settings: HostSettings,
  report: (up: boolean, reason?: string) => void,
  sharedPool: boolean,
): Promise<{
  compute: LibvirtCompute;
  libvirt: LibvirtHost;
  /** The host's pool (a pool per host: this host's own). */
  volumes: LibvirtVolumes;
  poolPath: string;
}> {
  const hostName = settings.name;
  const uri = settings.uri;
  let compute: LibvirtCompute | undefined;
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const bootstrap: BootstrapOptions = {
    dataDir: env.dataDir,
    pool: { name: settings.pool, path: settings.poolPath },
    network: {
      name: settings.network,
      bridge: settings.bridge,
      forward: env.libvirt.forward,
      ipv4: {
        address: env.publicNetwork.gateway,
        prefix: env.publicNetwork.prefix,
        dhcp: env.publicNetwork.dhcp,
      },
    },
  };
  /** Whether the event stream was connected before (a later connection follows an outage). */
  let connectedBefore = false;
  const host: LibvirtHost = new LibvirtHost({
    uri,
    eventKeepalive: EVENT_KEEPALIVE,
    eventBackoff: EVENT_BACKOFF,
    onEvent: (event) => compute?.domainEvent(event),
    onConnected: () => {
      connected();
      env.log('info', { host: hostName, uri }, 'libvirt events flow');
      if (!connectedBefore) {
        connectedBefore = true;
        return report(true);
      }
      // Back after an outage: a host reinstalled meanwhile lacks the pool and the network
      // (making what is there already changes nothing); up once that is done, or tried.
      void bootstrapLibvirt(host, bootstrap)
        .catch((error: Error) =>
          env.log(
            'warn',
            { host: hostName, uri, err: error },
            `libvirt host ${hostName}: ${error.message}`,
          ),
        )
        .finally(() => report(true));
    },
    onDisconnected: (reason) => {
      env.log('warn', { host: hostName, uri, reason }, 'libvirt events stopped');
      report(false, reason);
    },
    onNotice: (message) => env.log('warn', { host: hostName, uri }, message),
  });
  let claim: HostClaim | undefined;
  try {
    // Before anything is made or adopted there: a second process must change nothing.
    if (!env.sharedStore) {
      claim = await claimLibvirtHost(await hostIdentity(host, uri), uri, {
        pid: process.pid,
        dataDir: env.dataDir,
      });
    }
    const boot = await bootstrapLibvirt(host, bootstrap);
    const node = await host.nodeInfo();
    const accelerator = await decideAccelerator(host, env.libvirt.accelerator, env);
    const volumes = new LibvirtVolumes({
      virsh: host.shell,
      uri,
      pool: boot.pool.name,
      shared: sharedPool,
    });
    compute = new LibvirtCompute({
      hostName,
      claim,
      host,
      volumes,
      clock: env.clock,
      machines: env.state(`libvirt.machines.${hostName}`),
      accelerator: accelerator.accelerator,
      acceleratorWarning: accelerator.warning,
      hostMhz: node.mhz,
      capacity: { mhz: node.mhz * node.cpus, memory: node.memoryKiB * 1024 },
      publicNetwork: settings.network,
      poolPath: boot.pool.path,
      socketDir: boot.socketDir,
      vncListen: settings.vncListen,
      serialHost: env.serialHost,
      tunnelHost: env.tunnelHost,
      serveContext: env.serveContext,
      onError: (error, context) =>
        env.log('warn', { ...context, host: hostName, err: error }, error.message),
    });
    host.open();
    // The timer is what keeps the process alive meanwhile: virsh's processes are unref'd.
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`libvirt at ${uri} sent no events within 30 s`)),
            EVENTS_READY_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    const adopted = await compute.adopt();
    if (adopted.length > 0) {
      env.log('info', { host: hostName, machines: adopted }, 'libvirt: re-adopted machines');
    }
    return { compute, libvirt: host, volumes, poolPath: boot.pool.path };
  } catch (error) {
    await host.close();
    await claim?.release();
    throw error;
  }
}

/** The accelerator guests run under, with a warning when it is TCG on a host offering KVM. */
async function decideAccelerator(
  host: LibvirtHost,
  choice: LibvirtSettings['accelerator'],
  env: DriverEnv,
): Promise<{ accelerator: Accelerator; warning: string | null }> {
  if (choice === 'tcg') {
    return { accelerator: 'tcg', warning: 'guests run under TCG (--libvirt-accelerator tcg)' };
  }
  if (choice === 'kvm') return { accelerator: 'kvm', warning: null };
  const { domainTypes } = await host.capabilities();
  if (!domainTypes.includes('kvm')) {
    return {
      accelerator: 'tcg',
      warning:
        'libvirt offers no KVM on this host: guests run under TCG (emulated, many times slower)',
    };
  }
  // KVM is offered: it counts only if the tiny guest really boots under it (probe.ts).
  const guest = await probeGuest(env.dataDir).catch((error: Error) => error);
  if (guest instanceof Error) {
    return {
      accelerator: 'kvm',
      warning: `KVM is offered and was not tested (no test guest: ${guest.message}); --libvirt-accelerator tcg if guests hang`,
    };
  }
  return probeAccelerator(host, {
    guest: {
      kernel: guest.kernel,
      initrd: guest.initrd,
      cmdline: 'console=ttyS0,115200 quiet panic=5',
      marker: 'TINY-GUEST BOOT',
    },
    listenHost: env.serialHost,
  });
}

/** The tiny guest's kernel and initrd for the KVM probe, built once into the data directory. */
async function probeGuest(dataDir: string): Promise<{ kernel: string; initrd: string }> {
  const dir = join(dataDir, 'libvirt', 'probe-guest');
  const kernel = join(dir, 'vmlinuz');
  const initrd = join(dir, 'initrd.gz');
  if (existsSync(kernel) && existsSync(initrd)) return { kernel, initrd };
  // scripts/ sits beside src/ and dist/ alike.
  const here = dirname(fileURLToPath(import.meta.url));
  const script = join(here, '..', '..', 'scripts', 'tiny-guest', 'build.sh');
  if (!existsSync(script)) throw new Error(`${script} is missing`);
  await mkdir(dir, { recursive: true });
  await execFileP(script, [dir], { timeout: 120_000 });
  // QEMU runs as its own user.
  await Promise.all([chmod(kernel, 0o644), chmod(initrd, 0o644)]);
  return { kernel, initrd };
}

/**
 * What names a libvirt host for the claim: its host name and the URI's path (`vm:/system`), as
 * whatever URI reaches it. Not the host uuid of `virsh capabilities`: without SMBIOS (virtual
 * machines often have none) libvirt makes a new one at every start of the daemon.
 */
async function hostIdentity(host: LibvirtHost, uri: string): Promise<string> {
  const name = (await host.shell.run(['hostname'])).trim();
  let path = '';
  try {
    const url = new URL(uri);
    path = url.pathname;
    // Daemons of one machine on sockets of their own (test hosts in namespaces) are different hosts.
    const socket = url.searchParams.get('socket');
    if (socket !== null) path += `?socket=${socket}`;
  } catch {
    // An URI URL cannot read: the host name alone.
  }
  return `${name}:${path}`;
}
