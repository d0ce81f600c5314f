// An agent's recent settled LLM calls, for the money a loop cost and for spend spikes. Pure:
// micro-dollars in, sums out; the caller keeps one log per agent and prunes it.

/** Calls a new log has room for before its columns grow. */
const INITIAL = 256;

/** One settled call: its ledger row id, when it started and settled (epoch ms), what it cost. */
export interface SpentCall {
  id: number | null;
  startMs: number;
  settledMs: number;
  micros: number;
}

/**
 * Calls in settle order, kept for `retainMs` (the longest window anything looks back over).
 * Reads walk the retained calls, never the ledger. Kept in columns (typed arrays), not one
 * object per call: a busy agent settles thousands of calls a second and each is kept for
 * minutes, and objects kept that long are copied by every young-generation GC that sees them,
 * promoted, then marked by every full GC while they last.
 */
export class SpendLog {
  /** The ledger row id; NaN: none. */
  private ids: Float64Array = new Float64Array(INITIAL);
  private starts: Float64Array = new Float64Array(INITIAL);
  private settles: Float64Array = new Float64Array(INITIAL);
  private costs: Float64Array = new Float64Array(INITIAL);
  /** The retained calls are [head, tail). */
  private head = 0;
  private tail = 0;
  /** When the first call of this agent settled (epoch ms): how much history a baseline has. */
  firstMs: number | null = null;

  constructor(private readonly retainMs: number) {}

  add(c: SpentCall): void {
    this.firstMs ??= c.settledMs;
    if (this.tail === this.ids.length) this.room();
    const i = this.tail++;
    this.ids[i] = c.id ?? Number.NaN;
    this.starts[i] = c.startMs;
    this.settles[i] = c.settledMs;
    this.costs[i] = c.micros;
    this.prune(c.settledMs);
  }

  private prune(nowMs: number): void {
    const from = nowMs - this.retainMs;
    while (this.head < this.tail && this.settles[this.head]! < from) this.head++;
    // A burst that aged out gives its room back.
    const live = this.tail - this.head;
    if (this.ids.length > INITIAL && live * 4 < this.ids.length) this.resize(Math.max(INITIAL, live * 2));
  }

  /** The columns are full: the retained calls moved to the front (when at most half of them is live), or the columns doubled. */
  private room(): void {
    const live = this.tail - this.head;
    this.resize(live * 2 <= this.ids.length ? this.ids.length : this.ids.length * 2);
  }

  /** The retained calls moved to the front of columns of `size`. */
  private resize(size: number): void {
    const move = (a: Float64Array): Float64Array => {
      if (size === a.length) return a.copyWithin(0, this.head, this.tail);
      const b = new Float64Array(size);
      b.set(a.subarray(this.head, this.tail));
      return b;
    };
    this.ids = move(this.ids);
    this.starts = move(this.starts);
    this.settles = move(this.settles);
    this.costs = move(this.costs);
    this.tail -= this.head;
    this.head = 0;
  }

  private call(i: number): SpentCall {
    const id = this.ids[i]!;
    return { id: Number.isNaN(id) ? null : id, startMs: this.starts[i]!, settledMs: this.settles[i]!, micros: this.costs[i]! };
  }

  /** The retained calls, oldest settled first. */
  *all(): Iterable<SpentCall> {
    for (let i = this.head; i < this.tail; i++) yield this.call(i);
  }

  /** Spend settled at or after `fromMs` (a loop's `spentUsd`). */
  settledSince(fromMs: number): number {
    let sum = 0;
    for (let i = this.tail - 1; i >= this.head && this.settles[i]! >= fromMs; i--) sum += this.costs[i]!;
    return sum;
  }

  /** Spend of the calls that started strictly after `afterMs` (a tool or function loop's `wastedUsd`). */
  startedAfter(afterMs: number): number {
    let sum = 0;
    for (let i = this.head; i < this.tail; i++) if (this.starts[i]! > afterMs) sum += this.costs[i]!;
    return sum;
  }

  /** Spend of the given ledger rows (a prompt loop's repeats). */
  ofRows(ids: ReadonlySet<number>): number {
    let sum = 0;
    for (let i = this.head; i < this.tail; i++) {
      const id = this.ids[i]!;
      if (!Number.isNaN(id) && ids.has(id)) sum += this.costs[i]!;
    }
    return sum;
  }

  /** Spend settled in [fromMs, toMs) and the rows that made it. */
  between(fromMs: number, toMs: number): { micros: number; ids: number[] } {
    let micros = 0;
    const ids: number[] = [];
    for (let i = this.head; i < this.tail; i++) {
      const at = this.settles[i]!;
      if (at < fromMs || at >= toMs) continue;
      micros += this.costs[i]!;
      const id = this.ids[i]!;
      if (!Number.isNaN(id)) ids.push(id);
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
