import { formatRoughly } from '../../core/duration.js';
import { formatUsd, type Micros } from '../../core/money.js';
import { singularUnit } from './format.js';
import { projectSpend } from './projection.js';

// The runway of a budget: how fast it burns (settled spend over the last five minutes), how long
// and how many units of work what is left lasts at that rate, and the burn-rate alarm's arming.
// Pure: the clock is passed in, and each agent's figures live in the objects below.

/** The spend rate is measured over this long (or since the agent's first call, if shorter). */
export const RUNWAY_WINDOW_MS = 300_000;
/**
 * The shortest span a rate is measured over: a first call divided by the few milliseconds since
 * it started would read as a torrent and raise a false alarm at once.
 */
export const RUNWAY_MIN_SPAN_MS = 60_000;

const SLOT_MS = 1_000;
const SLOTS = RUNWAY_WINDOW_MS / SLOT_MS;

/**
 * One agent's settled spend per second over the last five minutes, with its running sum: adding a
 * charge and reading the rate are O(1) amortised (each second's slot is cleared once as the clock
 * passes it), so the money path keeps it up to date on every call without a query.
 */
export class BurnWindow {
  private readonly slots = new Float64Array(SLOTS);
  /** The latest second (epoch s) the slots are cleared up to. */
  private at = Number.NEGATIVE_INFINITY;
  private sum = 0;
  /** When the agent's first call seen here started (epoch ms); null before any. */
  firstMs: number | null = null;

  /** A call that started at `startMs` was charged `micros` at `ms`. */
  add(ms: number, micros: Micros, startMs: number = ms): void {
    if (this.firstMs === null || startMs < this.firstMs) this.firstMs = startMs;
    const sec = Math.floor(ms / SLOT_MS);
    // Older than the window: it no longer counts (a clock stepped back, a late settle).
    if (sec <= this.at - SLOTS) return;
    this.advance(sec);
    this.slots[sec % SLOTS]! += micros;
    this.sum += micros;
  }

  /** The spend inside the window ending at `now`, and how long that window is (≥ RUNWAY_MIN_SPAN_MS). */
  read(now: number): { micros: Micros; windowMs: number } {
    this.advance(Math.floor(now / SLOT_MS));
    const since = this.firstMs === null ? 0 : now - this.firstMs;
    return { micros: this.sum, windowMs: Math.max(RUNWAY_MIN_SPAN_MS, Math.min(RUNWAY_WINDOW_MS, since)) };
  }

  private advance(sec: number): void {
    if (sec <= this.at) return;
    if (sec - this.at >= SLOTS) {
      this.slots.fill(0);
      this.sum = 0;
    } else {
      for (let s = this.at + 1; s <= sec; s++) {
        const i = s % SLOTS;
        this.sum -= this.slots[i]!;
        this.slots[i] = 0;
      }
    }
    this.at = sec;
  }
}

export interface RunwayInput {
  limitMicros: Micros;
  spentMicros: Micros;
  /** Spend in the window and the window's length (BurnWindow.read). */
  windowMicros: Micros;
  windowMs: number;
  /** The agent's progress: units done, their name, and how many there are in all when it said. */
  progress: { done: number; unit: string; total?: number | null } | null;
  /** The worst case the agent's last call reserved; null before any. */
  lastReservedMicros: Micros | null;
}

export interface Runway {
  /** µ$ per minute over the window; 0 when nothing was spent in it. */
  ratePerMinMicros: number;
  remainingMicros: Micros;
  /** How long what is left lasts at that rate; null when the rate is 0. */
  runwayMs: number | null;
  /** Units of work what is left pays for at the average cost of the ones done; null before any is done. */
  unitsLeft: number | null;
  unit: string | null;
  /** Units of work still to do (the total the agent announced less those done); null without a total. */
  unitsToGo: number | null;
  /**
   * Whether what is left pays for the work still to do at the average so far (the projection fits
   * the limit): then the work ends before the budget does, whatever the rate. null when unknown
   * (no total announced, or no unit done yet).
   */
  covers: boolean | null;
  nextCallWorstMicros: Micros | null;
}

/**
 * The runway at the current rate.
 *
 * @example
 *   runway({ limitMicros: 10e6, spentMicros: 4e6, windowMicros: 3e6, windowMs: 300_000, progress: { done: 20, unit: 'leads' }, lastReservedMicros: 40_000 })
 *   // { ratePerMinMicros: 600000, remainingMicros: 6000000, runwayMs: 600000, unitsLeft: 30, unit: 'leads', nextCallWorstMicros: 40000 }
 */
export function runway(i: RunwayInput): Runway {
  const remainingMicros = Math.max(0, i.limitMicros - i.spentMicros);
  const ratePerMinMicros = i.windowMs > 0 ? (i.windowMicros * 60_000) / i.windowMs : 0;
  const runwayMs = ratePerMinMicros > 0 ? Math.round((remainingMicros / ratePerMinMicros) * 60_000) : null;
  const done = i.progress && i.progress.done > 0 ? i.progress.done : 0;
  // What the units done cost on average: all the spend over them (spent / done), as the projection counts it.
  const unitsLeft = done > 0 && i.spentMicros > 0 ? Math.floor((remainingMicros * done) / i.spentMicros) : null;
  const total = i.progress?.total ?? null;
  const unitsToGo = total === null || total < 0 ? null : Math.max(0, Math.floor(total - done));
  // The projection's own verdict, so the two never disagree (at the limit exactly it says over).
  const covers = unitsToGo === null || done === 0 ? null : unitsToGo === 0 || projectSpend(i.spentMicros, i.limitMicros, { done, total: total!, unit: i.progress!.unit }).status !== 'over_budget';
  return {
    ratePerMinMicros,
    remainingMicros,
    runwayMs,
    unitsLeft,
    unit: unitsLeft === null ? null : i.progress!.unit,
    unitsToGo,
    covers,
    nextCallWorstMicros: i.lastReservedMicros,
  };
}

/**
 * The runway in words: `≈ 38 more leads, 11 min at $0.21/min · next call ≤ $0.04`; `≈ 11 min at
 * $0.21/min` before any unit is done; `no spend in the last 5 min` at rate 0; `budget used up`
 * when nothing is left. When the agent said how many units there are in all: `covers the 15
 * leads left (room for ≈ 54)` while what is left pays for them, else `≈ 10 more leads of the 15
 * left, 39s at $45.41/min`.
 */
export function formatRunway(r: Runway): string {
  const next = r.nextCallWorstMicros === null ? '' : ` · next call ≤ ${formatUsd(r.nextCallWorstMicros)}`;
  if (r.remainingMicros <= 0) return 'budget used up';
  const unitOf = (n: number, unit: string) => (n === 1 ? singularUnit(unit) : unit);
  if (r.covers === true && r.unit) {
    if (r.unitsToGo === 0) return `the work is done; ${formatUsd(r.remainingMicros)} left`;
    return `covers the ${r.unitsToGo} ${unitOf(r.unitsToGo!, r.unit)} left (room for ≈ ${r.unitsLeft})${next}`;
  }
  if (r.runwayMs === null) return `no spend in the last 5 min${next}`;
  const of = r.unitsToGo !== null ? ` of the ${r.unitsToGo} left` : '';
  const units = r.unitsLeft !== null && r.unit ? `${r.unitsLeft} more ${unitOf(r.unitsLeft, r.unit)}${of}, ` : '';
  return `≈ ${units}${formatRoughly(r.runwayMs)} at ${formatUsd(Math.round(r.ratePerMinMicros))}/min${next}`;
}

/**
 * The burn-rate alarm of one agent: it fires once when the runway falls under the alert, and is
 * armed again when the runway is back above twice the alert (or the rate is 0), or the limit
 * changes.
 */
export class RunwayAlarm {
  private armed = true;

  /** Whether this runway fires the alarm now (`alertMs` ≤ 0: off). */
  check(runwayMs: number | null, alertMs: number): boolean {
    if (alertMs <= 0) return false;
    if (!this.armed) {
      if (runwayMs === null || runwayMs > 2 * alertMs) this.armed = true;
      return false;
    }
    if (runwayMs === null || runwayMs >= alertMs) return false;
    this.armed = false;
    return true;
  }

  /** A new limit: the alarm is armed again. */
  rearm(): void {
    this.armed = true;
  }

  get isArmed(): boolean {
    return this.armed;
  }
}
