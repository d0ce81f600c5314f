// An agent's recent settled LLM calls, for the money a loop cost and for spend spikes. Pure:
// micro-dollars in, sums out; the caller keeps one log per agent and prunes it.

/** One settled call: its ledger row id, when it started and settled (epoch ms), what it cost. */
export interface SpentCall {
  id: number | null;
  startMs: number;
  settledMs: number;
  micros: number;
}

/**
 * Calls in settle order, kept for `retainMs` (the longest window anything looks back over).
 * Reads walk the retained calls, never the ledger.
 */
export class SpendLog {
  private calls: SpentCall[] = [];
  private head = 0;
  /** When the first call of this agent settled (epoch ms): how much history a baseline has. */
  firstMs: number | null = null;

  constructor(private readonly retainMs: number) {}

  add(c: SpentCall): void {
    this.firstMs ??= c.settledMs;
    this.calls.push(c);
    this.prune(c.settledMs);
  }

  private prune(nowMs: number): void {
    const from = nowMs - this.retainMs;
    while (this.head < this.calls.length && this.calls[this.head]!.settledMs < from) this.head++;
    // Compact now and then, not on every call.
    if (this.head > 1024 && this.head * 2 > this.calls.length) {
      this.calls = this.calls.slice(this.head);
      this.head = 0;
    }
  }

  /** The retained calls, oldest settled first. */
  *all(): Iterable<SpentCall> {
    for (let i = this.head; i < this.calls.length; i++) yield this.calls[i]!;
  }

  /** Spend settled at or after `fromMs` (a loop's `spentUsd`). */
  settledSince(fromMs: number): number {
    let sum = 0;
    for (let i = this.calls.length - 1; i >= this.head && this.calls[i]!.settledMs >= fromMs; i--) sum += this.calls[i]!.micros;
    return sum;
  }

  /** Spend of the calls that started strictly after `afterMs` (a tool or function loop's `wastedUsd`). */
  startedAfter(afterMs: number): number {
    let sum = 0;
    for (const c of this.all()) if (c.startMs > afterMs) sum += c.micros;
    return sum;
  }

  /** Spend of the given ledger rows (a prompt loop's repeats). */
  ofRows(ids: ReadonlySet<number>): number {
    let sum = 0;
    for (const c of this.all()) if (c.id !== null && ids.has(c.id)) sum += c.micros;
    return sum;
  }

  /** Spend settled in [fromMs, toMs) and the rows that made it. */
  between(fromMs: number, toMs: number): { micros: number; ids: number[] } {
    let micros = 0;
    const ids: number[] = [];
    for (const c of this.all()) {
      if (c.settledMs < fromMs || c.settledMs >= toMs) continue;
      micros += c.micros;
      if (c.id !== null) ids.push(c.id);
    }
    return { micros, ids };
  }
}

export interface SpikeRules {
  /** The recent rate is `factor`× the baseline's or more. */
  factor: number;
  windowMs: number;
  baselineMs: number;
  /** Spend in the window below this is never a spike (micro-dollars). */
  minMicros: number;
}

export interface Spike {
  /** Rates in micro-dollars per minute. */
  rate: number;
  baseline: number;
  /** recent ÷ baseline (the baseline floored at minMicros over baselineMs: a rise from nothing is measured against that). */
  factor: number;
  /** Spend in the window, and its rows. */
  micros: number;
  ids: number[];
}

/**
 * Whether the spend of the last `windowMs` is a spike against the `baselineMs` before it. The
 * baseline must have been watched for at least one window (an agent's first minute is no spike
 * against nothing); a baseline of nothing counts as `minMicros` over the baseline, so an agent
 * that sat idle and then burns money fast is still a spike. Null: no spike.
 */
export function spikeOf(log: SpendLog, nowMs: number, r: SpikeRules): Spike | null {
  if (log.firstMs === null) return null;
  const windowFrom = nowMs - r.windowMs;
  const baselineFrom = Math.max(nowMs - r.windowMs - r.baselineMs, log.firstMs);
  const baselineSpan = windowFrom - baselineFrom;
  if (baselineSpan < r.windowMs) return null;
  const recent = log.between(windowFrom, nowMs + 1);
  if (recent.micros < r.minMicros || recent.micros === 0) return null;
  const before = log.between(baselineFrom, windowFrom);
  const perMin = (micros: number, spanMs: number): number => (micros * 60_000) / spanMs;
  const rate = perMin(recent.micros, r.windowMs);
  const baseline = perMin(before.micros, baselineSpan);
  const floor = perMin(r.minMicros, r.baselineMs);
  const factor = rate / Math.max(baseline, floor, 1e-9);
  if (factor < r.factor) return null;
  return { rate, baseline, factor, micros: recent.micros, ids: recent.ids };
}
