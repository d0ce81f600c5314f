import type { FailureRateOptions } from './options.js';

/**
 * Without a call cap a time window must still be bounded; at this many calls the oldest
 * fall out early, which at that volume leaves the rate statistically the same.
 */
const TIME_WINDOW_CAPACITY = 4096;

/**
 * The failure rate over the last M calls and/or T ms, as a ring buffer of (time, failed)
 * with running sums so adding and asking are O(1) amortised and allocation-free.
 */
export class RateWindow {
  private readonly at: Float64Array;
  private readonly failedAt: Uint8Array;
  private head = 0;
  private size = 0;
  private failures = 0;

  constructor(private readonly options: FailureRateOptions) {
    const capacity = options.windowCalls ?? TIME_WINDOW_CAPACITY;
    this.at = new Float64Array(capacity);
    this.failedAt = new Uint8Array(capacity);
  }

  add(now: number, failed: boolean): void {
    this.expire(now);
    const capacity = this.at.length;
    if (this.size === capacity) this.dropOldest();
    const slot = (this.head + this.size) % capacity;
    this.at[slot] = now;
    this.failedAt[slot] = failed ? 1 : 0;
    this.size++;
    if (failed) this.failures++;
  }

  /** Failures / calls in the window, or null below `minCalls`, where one bad call would decide. */
  rate(now: number): number | null {
    this.expire(now);
    return this.size < this.options.minCalls ? null : this.failures / this.size;
  }

  tripped(now: number): boolean {
    const rate = this.rate(now);
    return rate !== null && rate * 100 >= this.options.thresholdPercent;
  }

  clear(): void {
    this.head = 0;
    this.size = 0;
    this.failures = 0;
  }

  private expire(now: number): void {
    const windowMs = this.options.windowMs;
    if (windowMs === null) return;
    const horizon = now - windowMs;
    while (this.size > 0 && this.at[this.head]! <= horizon) this.dropOldest();
  }

  private dropOldest(): void {
    if (this.failedAt[this.head] === 1) this.failures--;
    this.head = (this.head + 1) % this.at.length;
    this.size--;
  }
}
