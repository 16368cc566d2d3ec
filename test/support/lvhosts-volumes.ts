/**
 * Independent libvirt "hosts" on this machine for storage tests (`lvhost.ts`): each its
 * own libvirtd in its own network and mount namespace, with a directory pool of its own outside
 * the bind-mounted libvirt directories (so that the test sees the hosts' files at the same paths).
 * No guest runs on them here: they hold volumes only.
 *
 * They need root (namespaces, bind mounts). The tests skip, with a message, where that or
 * libvirtd is missing, except with `SIGMALITE_REQUIRE_LIBVIRT=1`: there they run and fail.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe } from 'vitest';
import { VirshShell } from '../../src/drivers/compute/libvirt/virsh-shell.js';
import { ensurePool } from '../../src/drivers/storage/libvirt/pool.js';
import { LibvirtVolumes } from '../../src/drivers/storage/libvirt/volumes.js';
import { libvirt } from './libvirt.js';
import { LvHost, lvhostProblem } from './lvhost.js';

/** Where their pools' directories are. */
const POOLS = '/var/lib/sld-pools';
/** The pool's name on every host: none the system libvirtd has. */
export const LAB_POOL = 'sld-volumes';

const required = process.env.SIGMALITE_REQUIRE_LIBVIRT === '1';

function status(): { available: boolean; reason: string } {
  if (!libvirt.available) return libvirt;
  const problem = lvhostProblem();
  return problem ? { available: false, reason: problem } : { available: true, reason: '' };
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
  host: LvHost;
}

/** Starts the hosts afresh (whatever an earlier run left is destroyed first), each with its pool. */
export async function startLabHosts(names: readonly string[]): Promise<LabHost[]> {
  if (!lab.available) throw new Error(`lab hosts are required here: ${lab.reason}`);
  const hosts: LabHost[] = [];
  try {
    for (const name of names) {
      rmSync(join(POOLS, name), { recursive: true, force: true });
      const host = LvHost.start(name);
      const shell = new VirshShell({ uri: host.uri });
      const poolPath = join(POOLS, name);
      mkdirSync(POOLS, { recursive: true, mode: 0o711 });
      hosts.push({
        name,
        uri: host.uri,
        shell,
        volumes: new LibvirtVolumes({ virsh: shell, uri: host.uri, pool: LAB_POOL }),
        poolPath,
        host,
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
  for (const { shell, host, poolPath } of hosts) {
    await shell.close();
    host.destroy();
    rmSync(poolPath, { recursive: true, force: true });
  }
}
