/**
 * `--driver libvirt`: the compute and storage drivers on one libvirt host (`--libvirt-uri`).
 * Building them connects to libvirt, makes what the host needs if it is absent (the pool, the
 * public network, the socket directory: `bootstrapLibvirt`), decides the accelerator, starts the
 * event stream (waiting until it is proven subscribed, so no event of a re-adopted machine is
 * missed) and listens again on the serial ports of the machines that already run.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { bootstrapLibvirt } from './compute/libvirt/bootstrap.js';
import type { Accelerator } from './compute/libvirt/domain-xml.js';
import { LibvirtCompute } from './compute/libvirt/driver.js';
import { LibvirtHost } from './compute/libvirt/host.js';
import { claimLibvirtHost, type HostClaim } from './compute/libvirt/host-claim.js';
import { probeAccelerator } from './compute/libvirt/probe.js';
import type { DriverEnv, Drivers } from './env.js';
import type { LibvirtSettings } from './libvirt-settings.js';
import { LibvirtStorage } from './storage/libvirt/driver.js';
import { VolumeImageStore } from './storage/libvirt/image-volumes.js';
import { LibvirtVolumes } from './storage/libvirt/volumes.js';

/** How long the event stream may take to prove it is subscribed. */
const EVENTS_READY_MS = 30_000;

const execFileP = promisify(execFile);

export async function createLibvirtDrivers(env: DriverEnv): Promise<Drivers> {
  const settings = env.libvirt;
  if (env.hosts.length !== 1) {
    throw new Error(
      `--driver libvirt serves one host per process (--hosts names ${env.hosts.length}): run a process per libvirt host`,
    );
  }
  const hostName = env.hosts[0]!;
  let compute: LibvirtCompute | undefined;
  let connected!: () => void;
  const ready = new Promise<void>((resolve) => {
    connected = resolve;
  });
  const host = new LibvirtHost({
    uri: settings.uri,
    onEvent: (event) => compute?.domainEvent(event),
    onConnected: () => {
      connected();
      env.log('info', { uri: settings.uri }, 'libvirt events flow');
    },
    onDisconnected: (reason) =>
      env.log('warn', { uri: settings.uri, reason }, 'libvirt events stopped'),
    onNotice: (message) => env.log('warn', { uri: settings.uri }, message),
  });
  let claim: HostClaim | undefined;
  try {
    // Before anything is made or adopted there: a second process must change nothing.
    if (!env.sharedStore) {
      claim = await claimLibvirtHost(await hostIdentity(host, settings.uri), settings.uri, {
        pid: process.pid,
        dataDir: env.dataDir,
      });
    }
    const boot = await bootstrapLibvirt(host, {
      dataDir: env.dataDir,
      pool: { name: settings.pool },
      network: {
        name: settings.network,
        bridge: settings.bridge,
        forward: settings.forward,
        ipv4: {
          address: env.publicNetwork.gateway,
          prefix: env.publicNetwork.prefix,
          dhcp: env.publicNetwork.dhcp,
        },
      },
    });
    const { mhz } = await host.nodeInfo();
    const accelerator = await decideAccelerator(host, settings.accelerator, env);
    const volumes = new LibvirtVolumes({
      virsh: host.shell,
      uri: settings.uri,
      pool: boot.pool.name,
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
      hostMhz: mhz,
      publicNetwork: settings.network,
      poolPath: boot.pool.path,
      socketDir: boot.socketDir,
      serialHost: env.serialHost,
      tunnelHost: env.tunnelHost,
      serveContext: env.serveContext,
      onError: (error, context) => env.log('warn', { ...context, err: error }, error.message),
    });
    host.open();
    // The timer is what keeps the process alive meanwhile: virsh's processes are unref'd.
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        ready,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`libvirt at ${settings.uri} sent no events within 30 s`)),
            EVENTS_READY_MS,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
    const adopted = await compute.adopt();
    if (adopted.length > 0) env.log('info', { machines: adopted }, 'libvirt: re-adopted machines');
    return {
      name: 'libvirt',
      compute,
      storage: new LibvirtStorage({ volumes, poolPath: boot.pool.path, host: hostName }),
      probe: await compute.probe(),
      simulated: undefined,
      images: new VolumeImageStore({
        volumes,
        virsh: host.shell,
        root: join(env.dataDir, 'libvirt', 'uploads'),
      }),
    };
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
    path = new URL(uri).pathname;
  } catch {
    // An URI URL cannot read: the host name alone.
  }
  return `${name}:${path}`;
}
