/** What both stores' snapshots share: counting, collecting and slicing batches of rows. */
import {
  SNAPSHOT_TABLES,
  type SnapshotBatch,
  type SnapshotReader,
  type SnapshotTable,
  type StoreSnapshot,
} from './types.js';

/** Rows per batch, read or written. */
export const SNAPSHOT_BATCH = 500;

/** A whole snapshot from a reader (the in-memory `snapshot()`). */
export async function collectSnapshot(reader: SnapshotReader): Promise<StoreSnapshot> {
  const snapshot = Object.fromEntries(SNAPSHOT_TABLES.map((t) => [t, []])) as unknown as Record<
    SnapshotTable,
    unknown[]
  >;
  for await (const batch of reader.batches()) snapshot[batch.table].push(...batch.rows);
  return snapshot as unknown as StoreSnapshot;
}

/** A whole snapshot as batches (the in-memory `restore()`). */
export async function* snapshotBatches(snapshot: StoreSnapshot): AsyncGenerator<SnapshotBatch> {
  for (const table of SNAPSHOT_TABLES) {
    const rows = snapshot[table] as unknown[];
    for (let i = 0; i < rows.length; i += SNAPSHOT_BATCH) {
      yield { table, rows: rows.slice(i, i + SNAPSHOT_BATCH) } as SnapshotBatch;
    }
  }
}

/** Fills batches of SNAPSHOT_BATCH rows from rows that come one by one. */
export async function* batched<T extends SnapshotTable>(
  table: T,
  rows: AsyncIterable<StoreSnapshot[T][number]> | Iterable<StoreSnapshot[T][number]>,
): AsyncGenerator<SnapshotBatch> {
  let batch: StoreSnapshot[T][number][] = [];
  for await (const row of rows) {
    batch.push(row);
    if (batch.length === SNAPSHOT_BATCH) {
      yield { table, rows: batch } as SnapshotBatch;
      batch = [];
    }
  }
  if (batch.length > 0) yield { table, rows: batch } as SnapshotBatch;
}
