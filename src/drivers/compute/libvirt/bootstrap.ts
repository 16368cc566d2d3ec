/**
 * What sigmalite needs in a libvirt host before its first server starts, made on every start if
 * absent and reused otherwise: the storage pool for drives (by default a directory under the
 * data directory), the public network, and the directory of VNC sockets, which QEMU (running as
 * its own user, `libvirt-qemu` on Debian) creates and sigmalite connects to.
 *
 * The directories are on this machine: the pool's and the sockets' paths are local paths, as
 * they are for `qemu:///system`. (A remote host keeps its pool and sockets on its side.)
 */
import { chmod, chown, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { ensurePool } from '../../storage/libvirt/pool.js';
import type { PoolSpec } from '../../storage/libvirt/storage-xml.js';
import type { LibvirtHost } from './host.js';
import type { NetworkSpec } from './network-xml.js';
import { ensureNetwork } from './networks.js';

export interface BootstrapOptions {
  /** sigmalite's data directory. */
  dataDir: string;
  /** The storage pool; default `sigmalite` on `<data>/libvirt/pool`. */
  pool?: Partial<PoolSpec>;
  /** Where QEMU puts VNC sockets; default `<data>/libvirt/sockets`. */
  socketDir?: string;
  /** The public network. */
  network: NetworkSpec;
}

export interface Bootstrapped {
  pool: PoolSpec;
  socketDir: string;
  /** The user and group QEMU runs as. */
  qemuUser: { uid: number; gid: number };
}

export async function bootstrapLibvirt(
  host: LibvirtHost,
  options: BootstrapOptions,
): Promise<Bootstrapped> {
  const { qemuUser } = await host.capabilities();
  if (!qemuUser) throw new Error(`libvirt at ${host.uri} does not say which user QEMU runs as`);
  const pool: PoolSpec = {
    name: options.pool?.name ?? 'sigmalite',
    path: resolve(options.pool?.path ?? join(options.dataDir, 'libvirt', 'pool')),
  };
  const socketDir = resolve(options.socketDir ?? join(options.dataDir, 'libvirt', 'sockets'));

  await mkdir(dirname(pool.path), { recursive: true });
  await ensurePool(host.shell, pool);
  await checkReachable(pool.path, qemuUser);

  // QEMU creates the sockets: the directory is its group's, closed to everyone else.
  await mkdir(socketDir, { recursive: true });
  await chown(socketDir, process.getuid?.() ?? 0, qemuUser.gid);
  await chmod(socketDir, 0o770);
  await checkReachable(socketDir, qemuUser);

  await ensureNetwork(host.shell, options.network);
  return { pool, socketDir, qemuUser };
}

/**
 * Throws unless QEMU's user can enter `dir` and every directory above it (a private data
 * directory, 0700, would keep QEMU from its images: "Permission denied" at start).
 */
export async function checkReachable(
  dir: string,
  user: { uid: number; gid: number },
): Promise<void> {
  for (let path = resolve(dir); ; path = dirname(path)) {
    const { mode, uid, gid } = await stat(path);
    const bit = uid === user.uid ? 0o100 : gid === user.gid ? 0o010 : 0o001;
    if ((mode & bit) === 0) {
      throw new Error(
        `QEMU (uid ${user.uid}) cannot enter ${path} (mode ${(mode & 0o777).toString(8)}): allow it, e.g. chmod o+x ${path}`,
      );
    }
    if (path === dirname(path)) return;
  }
}
