/**
 * Where the process's log lines go: a file descriptor (stderr), written in batches.
 *
 * Every request writes a line, so the destination is on the hot path. pino's own (sonic-boom)
 * writes a syscall per line unless told to buffer, and when buffering it measures the whole
 * pending buffer's UTF-8 length on every line (about 3 µs a line, most of a small GET's log
 * cost). This one appends to an array and writes once 4 KiB are pending, or every 100 ms, or on
 * exit; one write is in flight at a time, the lines that come meanwhile wait for the next.
 */
import { write as writeAsync, writeSync } from 'node:fs';

export interface LogDestinationOptions {
  /** Pending bytes (counted as UTF-16 units, near enough) that start a write. */
  minLength?: number;
  /** Pending lines are written at least this often. */
  flushIntervalMs?: number;
  /** Lines beyond this many pending bytes are dropped (a stalled reader must not grow memory). */
  maxPending?: number;
}

/** One exit listener for all (tests run many apps in one process). */
const openDestinations = new Set<LogDestination>();
function flushAllSync(): void {
  for (const destination of openDestinations) destination.flushSync();
}

export class LogDestination {
  private pending: string[] = [];
  private pendingLength = 0;
  private writing = false;
  private closed = false;
  /** Lines dropped since the last write (a stalled reader), said in the next write. */
  private dropped = 0;
  private readonly minLength: number;
  private readonly maxPending: number;
  private readonly timer: NodeJS.Timeout;
  /** `flush` callbacks waiting for the writes in flight and pending. */
  private flushed: ((error?: Error) => void)[] = [];

  constructor(
    private readonly fd: number,
    options: LogDestinationOptions = {},
  ) {
    this.minLength = options.minLength ?? 4096;
    this.maxPending = options.maxPending ?? 16 * 1024 * 1024;
    this.timer = setInterval(() => this.flush(), options.flushIntervalMs ?? 100);
    this.timer.unref();
    openDestinations.add(this);
    if (openDestinations.size === 1) process.once('exit', flushAllSync);
  }

  /** pino's stream interface. */
  write(line: string): boolean {
    if (this.closed) return false;
    if (this.pendingLength + line.length > this.maxPending) {
      this.dropped++;
      return false;
    }
    this.pending.push(line);
    this.pendingLength += line.length;
    if (this.pendingLength >= this.minLength) this.flush();
    return true;
  }

  /**
   * Starts writing what is pending, unless a write is in flight (it continues when done).
   * `done` (pino's `logger.flush(cb)`) is called once everything pending now has been written.
   */
  flush(done?: (error?: Error) => void): void {
    if (done) {
      if (!this.writing && this.pending.length === 0) {
        process.nextTick(done);
        return;
      }
      this.flushed.push(done);
    }
    if (this.writing || this.pending.length === 0) return;
    const data = Buffer.from(this.take());
    this.writing = true;
    this.writeAll(data, 0);
  }

  /** Writes everything pending now (on exit, when there is no event loop left). */
  flushSync(): void {
    if (this.pending.length === 0) return;
    const data = Buffer.from(this.take());
    let offset = 0;
    try {
      while (offset < data.length) offset += writeSync(this.fd, data, offset);
    } catch {
      // Nowhere left to say it.
    }
  }

  /** Writes what is pending and stops (the app's close). */
  close(): void {
    if (this.closed) return;
    clearInterval(this.timer);
    openDestinations.delete(this);
    if (openDestinations.size === 0) process.removeListener('exit', flushAllSync);
    if (!this.writing) {
      this.flushSync();
      this.callFlushed();
    }
    this.closed = true;
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

  private writeAll(data: Buffer, offset: number): void {
    writeAsync(this.fd, data, offset, data.length - offset, null, (err, written) => {
      if (err) {
        if (err.code === 'EAGAIN') {
          setTimeout(() => this.writeAll(data, offset), 10).unref();
          return;
        }
        // EPIPE and the like: the reader is gone; logging stops rather than failing requests.
        this.writing = false;
        this.closed = true;
        this.callFlushed(err);
        return;
      }
      if (offset + written < data.length) {
        this.writeAll(data, offset + written);
        return;
      }
      this.writing = false;
      if (this.closed) this.flushSync();
      else if (this.pendingLength >= this.minLength || this.flushed.length > 0) this.flush();
      if (!this.writing) this.callFlushed();
    });
  }

  private callFlushed(error?: Error): void {
    const callbacks = this.flushed;
    this.flushed = [];
    for (const callback of callbacks) callback(error);
  }
}
