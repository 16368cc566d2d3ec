/**
 * One lock per domain: a start, a shutdown and a resize of one machine never interleave (libvirt
 * would answer "cannot acquire state change lock" or act on a state that just changed), while
 * different machines go on side by side. A domain's lock exists only while someone holds or
 * waits for it.
 */
import { Mutex } from '../../../store/mutex.js';

export class DomainLocks {
  private readonly locks = new Map<string, Mutex>();

  /** Runs `fn` once every earlier caller for `domain` is done. */
  async run<T>(domain: string, fn: () => Promise<T> | T): Promise<T> {
    let lock = this.locks.get(domain);
    if (!lock) {
      lock = new Mutex();
      this.locks.set(domain, lock);
    }
    try {
      return await lock.run(fn);
    } finally {
      if (!lock.locked) this.locks.delete(domain);
    }
  }

  /** Whether an operation on `domain` is under way or waiting (reconcile leaves such ones alone). */
  busy(domain: string): boolean {
    return this.locks.get(domain)?.locked ?? false;
  }
}
