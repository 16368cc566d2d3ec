/**
 * Storage pool and volume XML. Drives live as volumes of one directory pool; a volume is named
 * by its drive's uuid and holds qcow2 (thin, compat 1.1) or, for uploaded raw images and ISOs,
 * raw bytes.
 */
import { buildXml } from '../../compute/libvirt/xml.js';

export interface PoolSpec {
  name: string;
  /** The directory, on the libvirt host. */
  path: string;
}

/** A directory pool whose directory QEMU's user may enter (0711) but not list. */
export function dirPoolXml(pool: PoolSpec): string {
  return buildXml({
    pool: {
      '@type': 'dir',
      name: pool.name,
      target: { path: pool.path, permissions: { mode: '0711' } },
    },
  });
}

export type VolumeFormat = 'raw' | 'qcow2';

export interface VolumeSpec {
  name: string;
  /** Bytes the guest sees. */
  capacity: number;
  format: VolumeFormat;
  /**
   * A linked clone's read-only base image (its path): the volume stores only what differs from
   * it. Only a qcow2 volume can have one.
   */
  backing?: { path: string; format: VolumeFormat };
}

/**
 * A volume: qcow2 with compat 1.1 always (libvirt's own qcow2 volumes are compat 0.10, and
 * `vol-clone` keeps its source's; 0.10 lacks lazy refcounts and zero clusters), readable by its
 * owner only.
 */
export function volumeXml(volume: VolumeSpec): string {
  if (volume.backing && volume.format !== 'qcow2') {
    throw new Error('only a qcow2 volume can have a backing image');
  }
  return buildXml({
    volume: {
      name: volume.name,
      capacity: { '@unit': 'bytes', '#text': volume.capacity },
      allocation: { '@unit': 'bytes', '#text': 0 },
      target: {
        format: { '@type': volume.format },
        compat: volume.format === 'qcow2' ? '1.1' : undefined,
        permissions: { mode: '0600' },
      },
      backingStore: volume.backing && {
        path: volume.backing.path,
        format: { '@type': volume.backing.format },
      },
    },
  });
}
