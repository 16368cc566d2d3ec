/**
 * Added latency: API requests wait before they are handled, by a delay set for every path (the
 * empty prefix) or for a path prefix below `/api/2.0`; the longest matching prefix decides. Delays
 * are real time, whatever the engine's clock does.
 */
import { rulePath } from './paths.js';

export interface LatencyRule {
  /** Below `/api/2.0`; `''` for every path. */
  prefix: string;
  ms: number;
}

export const MAX_LATENCY_MS = 60_000;

export class Latency {
  /** Longest prefix first. */
  private rules: LatencyRule[] = [];

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** Sets the delay of a prefix (`''`: every path); 0 removes it. */
  set(prefix: string, ms: number): void {
    const key = prefix === '' ? '' : rulePath(prefix);
    this.rules = this.rules.filter((rule) => rule.prefix !== key);
    if (ms > 0) this.rules.push({ prefix: key, ms });
    this.rules.sort((a, b) => b.prefix.length - a.prefix.length);
  }

  list(): LatencyRule[] {
    return this.rules.map((rule) => ({ ...rule }));
  }

  clear(): void {
    this.rules = [];
  }

  /** The delay of an API path (relative to `/api/2.0`), 0 for none. */
  delayFor(path: string): number {
    return this.rules.find((rule) => path.startsWith(rule.prefix))?.ms ?? 0;
  }
}
