/**
 * sigmalite's storage pool in libvirt: a directory pool, made if absent (defined, its directory
 * built with mode 0711, started, marked to start with libvirtd) and reused on the next start.
 */
import {
  runUnlessMissing,
  stopAndRemove,
  type VirshRunner,
} from '../../compute/libvirt/virsh-shell.js';
import { child, parseXml, text } from '../../compute/libvirt/xml.js';
import { dirPoolXml, type PoolSpec } from './storage-xml.js';

/**
 * Makes the pool exist and run. A pool of that name on another directory is someone else's: an
 * error rather than taking it over.
 */
export async function ensurePool(virsh: VirshRunner, pool: PoolSpec): Promise<void> {
  const xml = await runUnlessMissing(virsh, ['pool-dumpxml', pool.name]);
  if (xml === null) {
    await virsh.runWithFile(dirPoolXml(pool), (path) => ['pool-define', path]);
    await virsh.run(['pool-build', pool.name]);
  } else {
    const path = text(child(child(parseXml(xml), 'pool'), 'target'), 'path');
    if (path !== pool.path) {
      throw new Error(
        `libvirt storage pool ${pool.name} exists on ${path}, not ${pool.path}: remove it or choose another name`,
      );
    }
  }
  const info = await virsh.run(['pool-info', pool.name]);
  if (!/^State:\s+running/m.test(info)) await virsh.run(['pool-start', pool.name]);
  if (/^Autostart:\s+no/m.test(info)) await virsh.run(['pool-autostart', pool.name]);
  // Volumes made outside libvirt (or while it was down) appear after a refresh.
  await virsh.run(['pool-refresh', pool.name]);
}

/** Stops and removes the pool's definition (its directory and volumes stay); none is no error. */
export async function removePool(virsh: VirshRunner, name: string): Promise<void> {
  await stopAndRemove(virsh, ['pool-destroy', 'pool-undefine'], name);
}
