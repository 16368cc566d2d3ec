/**
 * Where the process's log lines go: a file descriptor (stderr), written in batches.
 *
 * Every request writes a line, so the destination is on the hot path. pino's own (sonic-boom)
 * writes a syscall per line unless told to buffer, and when buffering it measures the whole
 * pending buffer's UTF-8 length on every line (about 3 µs a line, most of a small GET's log
 * cost). This one appends to an array and writes once 4 KiB are pending, or every 100 ms, or on
 * close and exit.
 *
 * Writes are synchronous, as pino's default destination's are: nothing is ever in flight, so
 * lines keep their order and exit loses none. A reader that does not keep up (a full non-blocking
 * pipe: EAGAIN) never blocks the server: what could not be written waits for the next turn, and
 * beyond `maxPending` new lines are dropped and counted.
 */
import { writeSync } from 'node:fs';

export interface LogDestinationOptions {
  /** Pending bytes (counted as UTF-16 units, near enough) that start a write. */
  minLength?: number;
  /** Pending lines are written at least this often. */
  flushIntervalMs?: number;
  /** Lines beyond this many pending bytes are dropped (a stalled reader must not grow memory). */
  maxPending?: number;
  /** How long exit and close may wait for a full pipe to drain. */
  closeTimeoutMs?: number;
}

/** One exit listener for all (tests run many apps in one process). */
const openDestinations = new Set<LogDestination>();
function flushAllSync(): void {
  for (const destination of openDestinations) destination.flushSync();
}

export class LogDestination {
  private pending: string[] = [];
  private pendingLength = 0;
  /** The part of the last batch a full pipe did not take (EAGAIN); written before the rest. */
  private carry: Buffer | undefined;
  private closed = false;
  /** The reader is gone (EPIPE, EBADF...): lines are dropped from then on. */
  private failed = false;
  /** Lines dropped since the last write (a stalled reader), said in the next write. */
  private dropped = 0;
  private readonly minLength: number;
  private readonly maxPending: number;
  private readonly closeTimeoutMs: number;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly fd: number,
    options: LogDestinationOptions = {},
  ) {
    this.minLength = options.minLength ?? 4096;
    this.maxPending = options.maxPending ?? 16 * 1024 * 1024;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2000;
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 100);
    this.timer.unref();
    openDestinations.add(this);
    if (openDestinations.size === 1) process.once('exit', flushAllSync);
  }

  /** pino's stream interface. */
  write(line: string): boolean {
    if (this.closed || this.failed) return false;
    if (this.pendingLength + (this.carry?.length ?? 0) + line.length > this.maxPending) {
      this.dropped++;
      return false;
    }
    this.pending.push(line);
    this.pendingLength += line.length;
    if (this.pendingLength >= this.minLength && !this.carry) this.writeOut();
    return true;
  }

  /** Writes what is pending, as far as the reader takes it; `done` (pino's `flush(cb)`) after. */
  flush(done?: (error?: Error) => void): void {
    this.writeOut();
    if (done) process.nextTick(done);
  }

  /** Writes everything pending, waiting (up to the close timeout) for a full pipe to drain. */
  flushSync(): void {
    const deadline = Date.now() + this.closeTimeoutMs;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (!this.writeOut() && Date.now() < deadline) Atomics.wait(pause, 0, 0, 10);
  }

  /** Writes what is pending and stops (the app's close). */
  close(): void {
    if (this.closed) return;
    this.flushSync();
    this.closed = true;
    clearInterval(this.timer);
    openDestinations.delete(this);
    if (openDestinations.size === 0) process.removeListener('exit', flushAllSync);
  }

  /** Writes the carry, then the pending lines; true when nothing is left. */
  private writeOut(): boolean {
    if (this.failed) return true;
    if (!this.carry) {
      if (this.pending.length === 0 && this.dropped === 0) return true;
      this.carry = Buffer.from(this.take());
    }
    if (!this.writeCarry()) return false;
    if (this.pending.length === 0 && this.dropped === 0) return true;
    this.carry = Buffer.from(this.take());
    return this.writeCarry();
  }

  /** Writes `carry` until the reader refuses (EAGAIN: the rest stays) or it is all written. */
  private writeCarry(): boolean {
    const data = this.carry!;
    let offset = 0;
    try {
      while (offset < data.length) offset += writeSync(this.fd, data, offset);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') {
        this.carry = data.subarray(offset);
        return false;
      }
      // EPIPE and the like: the reader is gone; logging stops rather than failing requests.
      this.failed = true;
      this.pending = [];
      this.pendingLength = 0;
    }
    this.carry = undefined;
    return true;
  }

  private take(): string {
    if (this.dropped > 0) {
      const line = JSON.stringify({ level: 40, time: Date.now(), msg: 'log lines dropped' });
      this.pending.push(`${line.slice(0, -1)},"dropped":${this.dropped}}\n`);
      this.dropped = 0;
    }
    const text = this.pending.join('');
    this.pending = [];
    this.pendingLength = 0;
    return text;
  }
}
