/** The source of `--seed N` for one start of the app. */
import { type Random, seededRandom } from '../model/random.js';
import type { Store } from '../store/types.js';

/**
 * The seeded source for a start on `store`. On an empty store it is `seededRandom(seed)`, so
 * fresh starts with the same seed answer the same requests the same way. On a store with data
 * (a restart on `--data` or PostgreSQL) the stream is also keyed by what the store holds: the
 * same seed would otherwise hand out the uuids of the first start again, which are taken.
 */
export async function startRandom(store: Store, seed: number): Promise<Random> {
  const stats = await store.stats();
  if (stats.objects.length === 0 && (await store.accounts.count()) === 0) {
    return seededRandom(seed);
  }
  return seededRandom(`${seed}:${await store.fingerprint()}`);
}
