/**
 * The libvirt storage driver: every drive (and snapshot) is a volume of sigmalite's pool named by
 * its uuid. New drives are thin qcow2; a copy keeps its source's format; volumes only grow. The
 * compute driver reads a volume's real format when it starts a machine, so a handle's `format`
 * here is what a new drive is.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { VirshError, VirshTimeoutError } from '../../compute/libvirt/virsh-command.js';
import { DriverError } from '../../errors.js';
import type { StorageDriver, VolumeHandle } from '../types.js';
import { SNIFF_BYTES, sniffImage } from './image-format.js';
import type { LibvirtVolumes } from './volumes.js';

export interface LibvirtStorageOptions {
  volumes: LibvirtVolumes;
  /** The pool's directory on the host. */
  poolPath: string;
  /**
   * The host the pool is on (a directory pool is local to its host), or null for a pool every
   * host of the process reaches (a directory on shared storage).
   */
  host: string | null;
}

export class LibvirtStorage implements StorageDriver {
  readonly name = 'libvirt';

  constructor(private readonly options: LibvirtStorageOptions) {}

  volume(uuid: string): VolumeHandle {
    return {
      host: this.options.host,
      pool: this.options.volumes.pool,
      name: uuid,
      path: join(this.options.poolPath, uuid),
      format: 'qcow2',
    };
  }

  private handle(uuid: string, format: string): VolumeHandle {
    return { ...this.volume(uuid), format: format === 'raw' ? 'raw' : 'qcow2' };
  }

  async create(uuid: string, size: number): Promise<VolumeHandle> {
    const volume = await storageCall(`cannot create the image of drive ${uuid}`, () =>
      this.options.volumes.create(uuid, size),
    );
    return this.handle(uuid, volume.format);
  }

  async resize(uuid: string, size: number): Promise<VolumeHandle> {
    const volumes = this.options.volumes;
    const volume = await storageCall(`cannot resize the image of drive ${uuid}`, async () => {
      const info = await volumes.info(uuid);
      // A size below the image's (CloudSigma never shrinks a drive's image): left as it is.
      if (info && info.capacity >= size) return info;
      return volumes.resize(uuid, size);
    });
    return this.handle(uuid, volume.format);
  }

  async clone(source: string, target: string, size: number): Promise<VolumeHandle> {
    const volume = await storageCall(`cannot copy drive ${source}`, () =>
      this.options.volumes.clone(source, target, size),
    );
    return this.handle(target, volume.format);
  }

  async snapshot(drive: string, snapshot: string): Promise<{ allocatedSize: number }> {
    const volume = await storageCall(`cannot snapshot drive ${drive}`, () =>
      this.options.volumes.clone(drive, snapshot),
    );
    return { allocatedSize: volume.allocation };
  }

  async cloneSnapshot(snapshot: string, target: string, size: number): Promise<VolumeHandle> {
    return this.clone(snapshot, target, size);
  }

  async importBase(uuid: string, path: string): Promise<void> {
    const { volumes } = this.options;
    if (await volumes.info(uuid)) return;
    // Checked as an upload is: a qcow2 naming another file would open it for every guest.
    const head = Buffer.alloc(SNIFF_BYTES);
    let size: number;
    const file = await open(path, 'r');
    try {
      size = (await file.stat()).size;
      await file.read(head, 0, SNIFF_BYTES, 0);
    } finally {
      await file.close();
    }
    const sniffed = sniffImage(head.subarray(0, Math.min(size, SNIFF_BYTES)));
    if (!sniffed.ok) throw new DriverError(`library image ${path}: ${sniffed.reason}`, true);
    if (size === 0) throw new DriverError(`library image ${path} is empty`, true);
    await storageCall(`cannot import library image ${path}`, async () => {
      // Raw bytes to libvirt, which reads the format from the content (as for uploads).
      await volumes.create(uuid, size, 'raw');
      try {
        await volumes.upload(uuid, createReadStream(path));
      } catch (error) {
        await volumes.remove(uuid);
        throw error;
      }
    });
  }

  async remove(uuid: string): Promise<void> {
    await storageCall(`cannot remove the image of ${uuid}`, () =>
      this.options.volumes.remove(uuid),
    );
  }
}

async function storageCall<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof VirshTimeoutError)
      throw new DriverError(`${what}: ${error.message}`, false);
    if (error instanceof VirshError) throw new DriverError(`${what}: ${error.message}`, true);
    throw error;
  }
}
