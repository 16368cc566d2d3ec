/**
 * Which accounts' profiles set `api_https_only`, for the authenticator's check of every
 * plain-HTTP request. Kept in a bounded cache dropped on every commit of a profile (this
 * process's, and with PostgreSQL every process's), so that the check costs a store read only
 * for an account not seen lately.
 */
import { LRUCache } from 'lru-cache';
import type { Store } from '../../store/types.js';

export class HttpsOnlyAccounts {
  private readonly cache = new LRUCache<string, boolean>({ max: 10_000 });
  /** Bumped by every profile commit: a read that started before one is not cached. */
  private generation = 0;
  private readonly stop: () => void;

  constructor(private readonly store: Pick<Store, 'get' | 'onCommit'>) {
    this.stop = store.onCommit((changes) => {
      for (const change of changes) {
        if (change.op !== 'task' && change.kind === 'profile') {
          this.generation += 1;
          this.cache.delete(change.uuid);
        }
      }
    });
  }

  /** Whether the account accepts API requests over HTTPS only. */
  async required(account: string): Promise<boolean> {
    const known = this.cache.get(account);
    if (known !== undefined) return known;
    const generation = this.generation;
    const record = await this.store.get(account);
    let httpsOnly = false;
    if (record?.kind === 'profile') {
      httpsOnly =
        (JSON.parse(record.detail) as { api_https_only?: unknown }).api_https_only === true;
    }
    if (generation === this.generation) this.cache.set(account, httpsOnly);
    return httpsOnly;
  }

  close(): void {
    this.stop();
  }
}
