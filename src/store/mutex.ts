/** A FIFO async lock: one holder at a time, waiters in arrival order. */
export class Mutex {
  private held = false;
  /** Waiters, first to go first; the lock passes straight from a holder to the next. */
  private readonly queue: (() => void)[] = [];

  get locked(): boolean {
    return this.held;
  }

  async run<T>(fn: () => Promise<T> | T): Promise<T> {
    // Awaited even when free, as a chained lock would: `fn` never starts in the caller's tick.
    await this.acquire();
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /**
   * Called by the holder between two slices of a long piece of work (a list of thousands): lets
   * the event loop turn, so that new requests arrive, lets every waiter queued by then have its
   * turn, and resumes holding the lock. The holder must leave nothing half done on what the lock
   * guards (no open statement or transaction).
   */
  async pause(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.queue.length === 0) return;
    const resumed = new Promise<void>((resolve) => this.queue.push(resolve));
    this.release();
    await resumed;
  }

  private acquire(): Promise<void> | undefined {
    if (!this.held) {
      this.held = true;
      return undefined;
    }
    return new Promise<void>((resolve) => this.queue.push(resolve));
  }

  private release(): void {
    const next = this.queue.shift();
    // Handed over: the lock stays held, by the next waiter.
    if (next) next();
    else this.held = false;
  }
}
