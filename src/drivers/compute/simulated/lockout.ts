/**
 * Password guessing on a tunnel: after `limit` wrong passwords in a row, every attempt is refused
 * unchecked for `lockMs` (a VNC password is 8 characters at most; unthrottled, a tunnel could be
 * guessed at thousands of tries a second). A right password resets the count. One per tunnel: a
 * new one comes with every open, and the owner can always open a new tunnel.
 */
export class GuessLockout {
  private failures = 0;
  private lockedUntil = 0;

  constructor(
    readonly limit = 5,
    readonly lockMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether attempts are refused unchecked now. */
  locked(): boolean {
    return this.now() < this.lockedUntil;
  }

  failed(): void {
    this.failures++;
    if (this.failures >= this.limit) {
      this.failures = 0;
      this.lockedUntil = this.now() + this.lockMs;
    }
  }

  succeeded(): void {
    this.failures = 0;
  }
}
