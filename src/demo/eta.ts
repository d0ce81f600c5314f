// The demo bar's ETA. Elapsed time over leads done, times the leads left, is a sawtooth: between
// two leads the elapsed time grows while the count stands still, so early in a run at default
// pace it climbed by ~20 s per second and fell back at each lead (2m47s, 5m28s, 2m47s…).
// Here the time a lead takes starts as the scenario's pace and follows what the leads measure,
// smoothed, with one lead's outlier (a held approval, a slow call) bounded; between leads the
// ETA counts down.

/** How much of a newly measured lead time moves the estimate. */
export const ETA_SMOOTHING = 0.1;
/** A lead's measured time counts as at most this many times the estimate (and at least its inverse). */
export const ETA_OUTLIER = 3;

export class EtaEstimator {
  private perLeadMs: number | null;
  private lastDone: number | null = null;
  private lastAt = 0;
  private total = 0;

  /** `planMsPerLead`: the pace's time per lead (0 or null: learn it from the first lead). */
  constructor(planMsPerLead: number | null) {
    this.perLeadMs = planMsPerLead && planMsPerLead > 0 ? planMsPerLead : null;
  }

  /**
   * The count of leads done at `now`.
   *
   * @example
   * const eta = new EtaEstimator(1800);
   * eta.update(0, 100, t0); eta.update(1, 100, t0 + 1900);
   * eta.at(t0 + 1900) // ≈ 99 × 1815 ms
   */
  update(done: number, total: number, now: number): void {
    this.total = total;
    if (this.lastDone === null || done < this.lastDone) {
      this.lastDone = done;
      this.lastAt = now;
      return;
    }
    if (done === this.lastDone) return;
    const sample = (now - this.lastAt) / (done - this.lastDone);
    const est = this.perLeadMs;
    this.perLeadMs = est === null ? sample : est + ETA_SMOOTHING * (Math.min(est * ETA_OUTLIER, Math.max(est / ETA_OUTLIER, sample)) - est);
    this.lastDone = done;
    this.lastAt = now;
  }

  /** Milliseconds left at `now`, or null while nothing says how long a lead takes. */
  at(now: number): number | null {
    if (this.perLeadMs === null || this.lastDone === null) return null;
    const left = Math.max(0, this.total - this.lastDone);
    if (left === 0) return 0;
    // Counting down through the lead under way, but never below the leads after it.
    return Math.max((left - 1) * this.perLeadMs, left * this.perLeadMs - (now - this.lastAt));
  }
}
