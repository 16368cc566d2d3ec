/**
 * The clock every delay in the lifecycle goes through. Real time by default; the test-control API
 * can scale it (a factor of 10 makes a 2 s boot take 0.2 s) or stop it and advance it by hand,
 * so that tests see `starting` and `creating` exactly as long as they choose.
 */

export interface Clock {
  /** Milliseconds since the epoch, in this clock's time. */
  now(): number;
  /** Resolves after `ms` of this clock's time (rejects with the signal's reason if aborted). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Rejects every pending sleep with `reason`: the engine stops without waiting for transitions
   * under way (on a stopped clock they would never end); their tasks run again at its next start.
   */
  interrupt(reason: Error): void;
}

export type ClockMode = 'real' | 'scaled' | 'manual';

export interface ClockState {
  mode: ClockMode;
  /** Clock milliseconds per real millisecond (1 in real mode, 0 when manual). */
  scale: number;
  now: number;
  /** Sleepers waiting for a time still to come. */
  pending: number;
}

interface Sleeper {
  due: number;
  resolve: () => void;
  reject: (reason: unknown) => void;
}

/**
 * A clock whose rate can change at run time: real (1x), scaled (any positive factor) or manual
 * (stopped; `advance` moves it). Changing the rate keeps `now()` continuous.
 */
export class ControlledClock implements Clock {
  private scale = 1;
  /** The clock time at `anchorReal`. */
  private anchorClock: number;
  private anchorReal: number;
  private sleepers: Sleeper[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly realNow: () => number = Date.now) {
    this.anchorReal = realNow();
    this.anchorClock = this.anchorReal;
  }

  now(): number {
    return this.anchorClock + (this.realNow() - this.anchorReal) * this.scale;
  }

  state(): ClockState {
    const mode: ClockMode = this.scale === 0 ? 'manual' : this.scale === 1 ? 'real' : 'scaled';
    return { mode, scale: this.scale, now: Math.floor(this.now()), pending: this.sleepers.length };
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const sleeper: Sleeper = { due: this.now() + ms, resolve, reject };
      this.sleepers.push(sleeper);
      this.sleepers.sort((a, b) => a.due - b.due);
      signal?.addEventListener(
        'abort',
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== sleeper);
          reject(signal.reason);
        },
        { once: true },
      );
      this.arm();
    });
  }

  interrupt(reason: Error): void {
    const sleepers = this.sleepers;
    this.sleepers = [];
    for (const sleeper of sleepers) sleeper.reject(reason);
    this.arm();
  }

  /** 1 is real time; 0 stops the clock (manual); another factor runs it that much faster. */
  setScale(scale: number): void {
    if (!(scale >= 0) || !Number.isFinite(scale)) throw new RangeError(`bad clock scale ${scale}`);
    this.rebase();
    this.scale = scale;
    this.arm();
  }

  /** Moves the clock forward by `ms`, waking every sleeper whose time has come. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot advance by ${ms}`);
    this.rebase();
    this.anchorClock += ms;
    this.wake();
    this.arm();
  }

  /** Sets the clock to `time` (only forward: sleepers never wake early). */
  set(time: number): void {
    this.advance(Math.max(0, time - this.now()));
  }

  private rebase(): void {
    this.anchorClock = this.now();
    this.anchorReal = this.realNow();
  }

  private wake(): void {
    const now = this.now();
    while (this.sleepers.length > 0 && this.sleepers[0]!.due <= now)
      this.sleepers.shift()!.resolve();
  }

  /** One real timer for the earliest sleeper, unless the clock is stopped. */
  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.wake();
    const next = this.sleepers[0];
    if (!next || this.scale === 0) return;
    const wait = Math.max(0, Math.ceil((next.due - this.now()) / this.scale));
    this.timer = setTimeout(() => this.arm(), Math.min(wait, 2 ** 31 - 1));
    this.timer.unref?.();
  }

  /** Stops the real timer (process exit); sleepers stay pending. */
  dispose(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
