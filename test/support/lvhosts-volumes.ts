/**
 * Independent libvirt "hosts" on this machine for storage tests (`scripts/lvhost.sh`): each its
 * own libvirtd in its own network and mount namespace, with a directory pool of its own outside
 * the bind-mounted libvirt directories (so that the test sees the hosts' files at the same paths).
 * No guest runs on them here: they hold volumes only.
 *
 * They need root (namespaces, bind mounts). The tests skip, with a message, where that or
 * libvirtd is missing, except with `SIGMALITE_REQUIRE_LIBVIRT=1`: there they run and fail.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe } from 'vitest';
import { VirshShell } from '../../src/drivers/compute/libvirt/virsh-shell.js';
import { ensurePool } from '../../src/drivers/storage/libvirt/pool.js';
import { LibvirtVolumes } from '../../src/drivers/storage/libvirt/volumes.js';
import { libvirt } from './libvirt.js';

const LVHOST = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'lvhost.sh');

/** Where the hosts' libvirt directories are (lvhost.sh's `LVHOSTS`). */
const LVHOSTS = '/var/lib/sld-lvhosts';
/** Where their pools' directories are. */
const POOLS = '/var/lib/sld-pools';
/**
 * The pool's name on every host: none the system libvirtd has (a lab host starts with a copy of its
 * configuration, pools included).
 */
export const LAB_POOL = 'sld-volumes';

const required = process.env.SIGMALITE_REQUIRE_LIBVIRT === '1';

function status(): { available: boolean; reason: string } {
  if (process.getuid?.() !== 0) return { available: false, reason: 'lab hosts need root' };
  if (!libvirt.available) return libvirt;
  for (const tool of ['ip', 'unshare', 'nsenter', 'taskset', 'libvirtd', 'virtlogd']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) {
      return { available: false, reason: `${tool} is missing` };
    }
  }
  return { available: true, reason: '' };
}

const lab = status();
if (!lab.available && !required) console.warn(`lab host tests skipped: ${lab.reason}`);

/** `describe` for tests on lab hosts: skipped where they cannot run, unless required. */
export const describeLabHosts = (
  lab.available || required ? describe : describe.skip
) as typeof describe;

export interface LabHost {
  name: string;
  uri: string;
  shell: VirshShell;
  /** The host's pool, through its own virsh. */
  volumes: LibvirtVolumes;
  /** The pool's directory (the same path inside and outside the host's namespaces). */
  poolPath: string;
}

function lvhost(command: 'start' | 'destroy', name: string): string {
  return execFileSync('bash', [LVHOST, command, name], {
    encoding: 'utf8',
    env: { ...process.env, LVHOSTS },
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
}

/** Starts the hosts afresh (whatever an earlier run left is destroyed first), each with its pool. */
export async function startLabHosts(names: readonly string[]): Promise<LabHost[]> {
  if (!lab.available) throw new Error(`lab hosts are required here: ${lab.reason}`);
  const hosts: LabHost[] = [];
  try {
    for (const name of names) {
      const uri = startAfresh(name);
      const shell = new VirshShell({ uri });
      const poolPath = join(POOLS, name);
      mkdirSync(POOLS, { recursive: true, mode: 0o711 });
      hosts.push({
        name,
        uri,
        shell,
        volumes: new LibvirtVolumes({ virsh: shell, uri, pool: LAB_POOL }),
        poolPath,
      });
      await ensurePool(shell, { name: LAB_POOL, path: poolPath });
    }
  } catch (error) {
    await stopLabHosts(hosts);
    throw error;
  }
  return hosts;
}

/** Ends the hosts' virsh shells, kills everything in their namespaces, removes their directories. */
export async function stopLabHosts(hosts: readonly LabHost[]): Promise<void> {
  for (const host of hosts) {
    await host.shell.close();
    destroyLabHost(host.name);
  }
}

/**
 * A new host of that name. The first start copies the system libvirtd's directories, in which
 * other tests' guests come and go: a file gone during the copy fails it, so it is tried again.
 */
function startAfresh(name: string): string {
  for (let attempt = 1; ; attempt++) {
    destroyLabHost(name);
    try {
      return lvhost('start', name);
    } catch (error) {
      if (attempt === 3) throw error;
    }
  }
}

function destroyLabHost(name: string): void {
  spawnSync('bash', [LVHOST, 'destroy', name], {
    env: { ...process.env, LVHOSTS },
    stdio: 'ignore',
  });
  rmSync(join(POOLS, name), { recursive: true, force: true });
}
