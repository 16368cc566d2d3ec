/**
 * Guessing is throttled per account: after `limit` failed logins within `windowMs`, credentials
 * that are not already verified get 429 without being checked, until the window has room again.
 * Counters are per process.
 */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly limit = 10,
    private readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds until `account` may try again; 0 when it may try now. */
  retryAfter(account: string): number {
    const recent = this.recent(account);
    if (recent.length < this.limit) return 0;
    const freeAt = recent[recent.length - this.limit]! + this.windowMs;
    return Math.max(1, Math.ceil((freeAt - this.now()) / 1000));
  }

  fail(account: string): void {
    const recent = this.recent(account);
    recent.push(this.now());
    this.failures.set(key(account), recent);
    if (this.failures.size > 100_000) this.prune();
  }

  private recent(account: string): number[] {
    const since = this.now() - this.windowMs;
    return (this.failures.get(key(account)) ?? []).filter((t) => t > since);
  }

  private prune(): void {
    const since = this.now() - this.windowMs;
    for (const [k, times] of this.failures) {
      if (times.every((t) => t <= since)) this.failures.delete(k);
    }
  }
}

function key(account: string): string {
  return account.toLowerCase();
}
