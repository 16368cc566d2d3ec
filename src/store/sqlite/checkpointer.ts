/**
 * WAL checkpoints on a thread of their own. A checkpoint copies the pages the WAL holds into the
 * database file and syncs it; left to SQLite's automatic checkpoint, that happens inside the
 * COMMIT that crosses the threshold, on the event loop (about 5% of a create's CPU, measured with
 * `perf`). Here a worker thread with its own connection runs passive checkpoints shortly after
 * commits, so the server's thread finds the WAL already copied: its own automatic checkpoint
 * (kept as the backstop) then has little or nothing left to copy, and the WAL restarts from its
 * beginning as before.
 *
 * A passive checkpoint never blocks the writer and copies only committed frames: it changes where
 * pages are kept, not what the database holds (other connections' `data_version` does not move).
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

/** How long the worker waits after a commit before checkpointing (commits meanwhile join it). */
export const CHECKPOINT_DELAY_MS = 100;

// A script, not a module file: it runs the same from the TypeScript sources (tests) and from
// dist/, and loads better-sqlite3 from the path the main thread resolved.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: 5000 });
let timer;
parentPort.on('message', (message) => {
  if (message === 'close') {
    clearTimeout(timer);
    db.close();
    parentPort.close();
    return;
  }
  timer ??= setTimeout(() => {
    timer = undefined;
    try {
      db.pragma('wal_checkpoint(PASSIVE)');
    } catch (error) {
      // SQLITE_BUSY: a checkpoint by another connection is running; the next commit retries.
      if (error.code !== 'SQLITE_BUSY') throw error;
    }
  }, workerData.delay);
});
`;

export class BackgroundCheckpointer {
  private readonly worker: Worker;
  private readonly exited: Promise<void>;
  private failed = false;

  constructor(path: string, onError: (error: Error) => void) {
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        path,
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        delay: CHECKPOINT_DELAY_MS,
      },
    });
    // An idle worker does not keep the process alive; `close` ends it.
    this.worker.unref();
    this.worker.on('error', (error) => {
      // The server's own automatic checkpoints carry on without it.
      this.failed = true;
      onError(error);
    });
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()));
  }

  /** A transaction committed: checkpoint soon. */
  committed(): void {
    if (!this.failed) this.worker.postMessage('commit');
  }

  /** Stops the worker and closes its connection (before the store closes its own, the last). */
  async close(): Promise<void> {
    if (!this.failed) this.worker.postMessage('close');
    await this.exited;
  }
}
