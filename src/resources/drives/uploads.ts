/**
 * Drive images in (issue 15 item 5): a drive is `uploading` from its first byte to its last, with a
 * `drive_upload` job whose `progress` follows the bytes received. When every byte is in, the image
 * is checked before anything can use it (`image-format.ts`: ISO and qcow2 recognised, a qcow2 that
 * names another file refused, anything else a raw image; a qcow2's virtual size within the
 * storage type's limits); a refused image takes its drive with it (400, nothing half-made). An
 * upload nobody writes to for `--upload-timeout` seconds is given up the same way by the sweep,
 * which also removes the bytes of drives deleted meanwhile.
 *
 * The HTTP side (multipart chunks, the raw body, downloads) is `upload-routes.ts`; the bytes are
 * an `ImageStore`'s.
 */

import type { ImageStore } from '../../drivers/storage/images.js';
import { SNIFF_BYTES, sniffImage } from '../../drivers/storage/libvirt/image-format.js';
import { errors } from '../../errors.js';
import { isPlainObject } from '../../model/json.js';
import { resourceUri } from '../../model/refs.js';
import type { WriteTx } from '../../store/types.js';
import { toRecord } from '../common.js';
import type { ResourceEnv } from '../env.js';
import { jobKind, newJob } from '../jobs/model.js';
import { isoTime, loadDrive, loadJob, saveDrive, saveJob } from '../objects.js';
import { type DriveDoc, driveKind } from './model.js';
import { syncDriveRelations } from './relations.js';
import { deleteDrives, newDrive } from './service.js';

export interface UploadSettings {
  /** An upload nobody writes to for this long is given up (its drive deleted). */
  timeoutMs: number;
  /** Slower request bodies are cut (bytes per second over `RATE_WINDOW_MS`); 0: no floor. */
  minRate: number;
}

export interface UploadEnv extends ResourceEnv {
  images: ImageStore;
  uploads: UploadSettings;
}

/** Storage types whose drives take no upload (api-reference.md §3: ephemeral drives). */
const NO_UPLOAD = new Set(['local_nvme']);

export interface SealOptions {
  /** An ISO image makes a `cdrom` (the raw upload, which names no media). */
  isoAsCdrom?: boolean;
}

export class Uploads {
  /** Requests writing into each drive now: those are never given up by the sweep. */
  private readonly writing = new Map<string, number>();
  /** Sealing in progress, one per drive (the last two chunks may arrive together). */
  private readonly sealing = new Map<string, Promise<DriveDoc>>();
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(readonly env: UploadEnv) {}

  /** The storage type's size bounds, for a drive about to be made. */
  limits(storageType: string): { min: number; max: number } {
    const limits = this.env.capabilities.drives[storageType];
    if (!limits)
      throw errors.invalid('storage_type', `Storage type "${storageType}" is not offered`);
    return limits.size;
  }

  /**
   * Makes an `uploading` drive of `size` bytes (exactly: pycloudsigma checks that the drive is as
   * large as its file, so the minimum drive size does not apply) from a drive definition, with
   * its `drive_upload` job, and the room for its bytes. Answers the drive as stored.
   */
  async createDrive(
    owner: string,
    item: unknown,
    size: number,
  ): Promise<{ doc: DriveDoc; detail: string }> {
    if (!isPlainObject(item))
      throw errors.invalid(null, 'Expected a drive definition (a JSON object)');
    if (!Number.isSafeInteger(size) || size < 1) {
      throw errors.invalid('size', 'An upload needs a size of at least 1 byte');
    }
    const now = new Date(this.env.clock.now());
    const defaults = {
      name: `Upload_${isoTime(now.getTime()).slice(0, 19).replace('T', ' ')}`,
      media: 'disk',
    };
    const storageType =
      typeof item.storage_type === 'string'
        ? item.storage_type
        : this.env.capabilities.default_storage_type;
    const { min } = this.limits(storageType);
    // Checked as a drive of at least the minimum size, then given its exact size.
    const doc = newDrive(this.env, owner, { ...defaults, ...item, size: Math.max(size, min) });
    if (NO_UPLOAD.has(doc.storage_type)) {
      throw errors.permission(`Drives of storage type ${doc.storage_type} take no upload`);
    }
    doc.size = size;
    doc.status = 'uploading';
    const job = newJob(
      this.env.random.uuid(),
      owner,
      'drive_upload',
      [resourceUri('drives', doc.uuid)],
      now,
    );
    doc.jobs = [job.uuid];
    await this.env.images.begin(doc.uuid);
    const detail = await this.env.store.write(async (tx) => {
      const record = toRecord(driveKind, doc);
      await tx.insert(record);
      await syncDriveRelations(tx, null, doc);
      await tx.insert(toRecord(jobKind, job));
      return doc.tags.length > 0
        ? ((await tx.get(doc.uuid))?.detail ?? record.detail)
        : record.detail;
    });
    return { doc, detail };
  }

  /** Marks `drive` as written to for the duration of `work` (the sweep leaves it alone). */
  async writingInto<T>(drive: string, work: () => Promise<T>): Promise<T> {
    this.writing.set(drive, (this.writing.get(drive) ?? 0) + 1);
    try {
      return await work();
    } finally {
      const left = (this.writing.get(drive) ?? 1) - 1;
      if (left === 0) this.writing.delete(drive);
      else this.writing.set(drive, left);
    }
  }

  /** The job's progress: `received` of `total` bytes, in percent (written only when it moves). */
  async progress(drive: string, received: number, total: number): Promise<void> {
    const percent = Math.min(99, Math.floor((received * 100) / Math.max(total, 1)));
    await this.env.store.write(async (tx) => {
      const loaded = await loadDrive(tx, drive);
      if (loaded?.doc.status !== 'uploading') return;
      for (const uuid of loaded.doc.jobs) {
        const job = await loadJob(tx, uuid);
        if (job?.doc.operation !== 'drive_upload' || job.doc.progress >= percent) continue;
        job.doc.progress = percent;
        job.doc.last_modified = isoTime(this.env.clock.now());
        await saveJob(tx, job);
      }
    });
  }

  /**
   * Every byte is in: checks the image and makes the drive usable (`unmounted`, job done), or
   * refuses it (the drive and its bytes go; 400 naming why). `size`: the image's bytes; the
   * drive grows to it when it is larger (a raw upload of unknown length), and to a qcow2's
   * virtual size. Idempotent: a drive already sealed is answered as it is.
   */
  seal(drive: string, size: number, options: SealOptions = {}): Promise<DriveDoc> {
    const under = this.sealing.get(drive);
    if (under) return under;
    const work = this.sealOnce(drive, size, options).finally(() => this.sealing.delete(drive));
    this.sealing.set(drive, work);
    return work;
  }

  private async sealOnce(drive: string, size: number, options: SealOptions): Promise<DriveDoc> {
    const current = await this.env.store.read((tx) => loadDrive(tx, drive));
    if (!current) throw errors.notExist(drive);
    if (current.doc.status !== 'uploading') return current.doc;
    const { max } = this.limits(current.doc.storage_type);
    const sniffed = sniffImage(await this.env.images.head(drive, SNIFF_BYTES));
    let refusal: string | null = null;
    if (size === 0) refusal = 'the image is empty';
    else if (!sniffed.ok) refusal = sniffed.reason;
    else if (sniffed.virtualSize !== null && sniffed.virtualSize > max) {
      refusal = `the qcow2 image's virtual size (${sniffed.virtualSize} bytes) is over the ${max} bytes a ${current.doc.storage_type} drive may have`;
    }
    if (refusal !== null) {
      await this.discard(drive);
      throw errors.invalid(null, `The image was refused: ${refusal}. Drive ${drive} was deleted`);
    }
    await this.env.images.finish(drive, size);
    const virtual = sniffed.ok ? (sniffed.virtualSize ?? 0) : 0;
    return this.env.store.write(async (tx) => {
      const loaded = await loadDrive(tx, drive);
      if (!loaded) throw errors.notExist(drive);
      if (loaded.doc.status !== 'uploading') return loaded.doc;
      loaded.doc.size = Math.max(loaded.doc.size, size, virtual);
      if (options.isoAsCdrom && sniffed.ok && sniffed.kind === 'iso') loaded.doc.media = 'cdrom';
      loaded.doc.status = loaded.doc.mounted_on.length > 0 ? 'mounted' : 'unmounted';
      await this.finishJobs(tx, loaded.doc, 'success');
      await saveDrive(tx, loaded);
      return loaded.doc;
    });
  }

  /** Gives an upload up: its drive is deleted (its job kept, failed) and its bytes removed. */
  async discard(drive: string): Promise<void> {
    await this.env.store.write(async (tx) => {
      const loaded = await loadDrive(tx, drive);
      if (loaded?.doc.status !== 'uploading') return;
      await this.finishJobs(tx, loaded.doc, 'error');
      await deleteDrives(tx, [loaded.record]);
    });
    await this.env.images.remove(drive);
  }

  private async finishJobs(
    tx: WriteTx,
    drive: DriveDoc,
    state: 'success' | 'error',
  ): Promise<void> {
    for (const uuid of drive.jobs) {
      const job = await loadJob(tx, uuid);
      if (job?.doc.operation !== 'drive_upload' || job.doc.state !== 'started') continue;
      job.doc.state = state;
      if (state === 'success') job.doc.progress = 100;
      job.doc.last_modified = isoTime(this.env.clock.now());
      await saveJob(tx, job);
    }
    if (state === 'success') drive.jobs = [];
  }

  /**
   * Gives up uploads idle for longer than the timeout, and removes the bytes of drives that are
   * gone (deleted while or after uploading). Bytes written in the last timeout are left alone,
   * whoever they belong to: an upload may be making its drive right now.
   */
  async sweep(): Promise<void> {
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const { images, store } = this.env;
    for (const drive of await images.drives()) {
      if (this.writing.has(drive) || this.sealing.has(drive)) continue;
      const last = await images.lastWrite(drive);
      const idle = last === null ? Number.POSITIVE_INFINITY : Date.now() - last;
      const loaded = await store.read((tx) => loadDrive(tx, drive));
      if (!loaded) {
        if (idle > this.env.uploads.timeoutMs) await images.remove(drive);
      } else if (loaded.doc.status === 'uploading' && idle > this.env.uploads.timeoutMs) {
        await this.discard(drive);
      }
    }
  }

  /** Sweeps now and then: every quarter of the timeout, at most every minute. */
  start(onError: (error: unknown) => void): void {
    const every = Math.max(200, Math.min(this.env.uploads.timeoutMs / 4, 60_000));
    this.timer = setInterval(() => {
      this.sweep().catch(onError);
    }, every);
    this.timer.unref();
    this.sweep().catch(onError);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sweeping?.catch(() => {});
  }
}
