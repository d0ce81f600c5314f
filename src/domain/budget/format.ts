import { formatRoughly } from '../../core/duration.js';
import { formatUsd, MICROS_PER_USD, type Micros } from '../../core/money.js';

// The strings the terminal, dashboard and alerts show: `$5.29 / $50.00 (10.6%)`,
// `$0.23 avg/lead`, `Projection: $23.00 total`, `vs all on gpt-4: $64.86 saved`, `Approve $25 increase`.

export type ProjectionStatus = 'under_budget' | 'approaching_limit' | 'over_budget';

/** `$25` for whole dollars, `$2.50` otherwise: for round amounts such as a recommended increase. */
export function formatUsdShort(micros: Micros): string {
  const s = formatUsd(micros);
  return micros % MICROS_PER_USD === 0 ? s.replace(/\.00$/, '') : s;
}

/** spent / limit in percent; a zero limit reads as fully used. */
export function percentOf(spentMicros: Micros, limitMicros: Micros): number {
  return limitMicros === 0 ? 100 : (spentMicros * 100) / limitMicros;
}

/** `10.6%` */
export function formatPercent(percent: number): string {
  return `${percent.toFixed(1)}%`;
}

/** `$5.29 / $50.00 (10.6%)`, or `$5.29 (no limit)` */
export function formatBudgetUsage(spentMicros: Micros, limitMicros: Micros | null): string {
  if (limitMicros === null) return `${formatUsd(spentMicros)} (no limit)`;
  return `${formatUsd(spentMicros)} / ${formatUsd(limitMicros)} (${formatPercent(percentOf(spentMicros, limitMicros))})`;
}

/**
 * The singular of a progress unit for "avg/lead": the SDK reports plural nouns ("leads").
 * Plain English rules only (queries → query, boxes → box, leads → lead); others pass through.
 */
export function singularUnit(unit: string): string {
  const u = unit.trim();
  if (/[^aeiou]ies$/i.test(u)) return `${u.slice(0, -3)}y`;
  if (/(?:ss|x|z|ch|sh)es$/i.test(u)) return u.slice(0, -2);
  if (/[^su]s$/i.test(u)) return u.slice(0, -1);
  return u;
}

/** `$0.23 avg/lead` */
export function formatAvgPerUnit(avgMicros: Micros, unit: string): string {
  return `${formatUsd(avgMicros)} avg/${singularUnit(unit)}`;
}

/** `Projection: $23.00 total` */
export function formatProjection(projectedMicros: Micros): string {
  return `Projection: ${formatUsd(projectedMicros)} total`;
}

const STATUS_TEXT: Record<ProjectionStatus, string> = {
  under_budget: '✅ under budget',
  approaching_limit: '⚠️ approaching limit',
  over_budget: '🛑 over budget',
};

/** `✅ under budget`, `⚠️ approaching limit`, `🛑 over budget` */
export function formatProjectionStatus(status: ProjectionStatus): string {
  return STATUS_TEXT[status];
}

/**
 * `vs all on gpt-4: $64.86 saved`, or `vs all on gpt-4: $3.20 more` when the baseline was
 * cheaper: named by what it compares with (every call on the baseline model), so nobody has to
 * explain what "baseline" means.
 */
export function formatBaselineSavings(savedMicros: Micros, model: string): string {
  return savedMicros >= 0 ? `vs all on ${model}: ${formatUsd(savedMicros)} saved` : `vs all on ${model}: ${formatUsd(-savedMicros)} more`;
}

/** `Approve $25 increase` */
export function formatIncreaseAction(increaseMicros: Micros): string {
  return `Approve ${formatUsdShort(increaseMicros)} increase`;
}

/** What `formatRunway` reads of a runway (runway.ts's `Runway`; said here, so this module needs none of that one). */
export interface RunwayFigures {
  ratePerMinMicros: number;
  remainingMicros: Micros;
  runwayMs: number | null;
  unitsLeft: number | null;
  unit: string | null;
  unitsToGo: number | null;
  covers: boolean | null;
  nextCallWorstMicros: Micros | null;
}

/**
 * The runway in words: `≈ 38 more leads, 11 min at $0.21/min · next call ≤ $0.04`; `≈ 11 min at
 * $0.21/min` before any unit is done; `no spend in the last 5 min` at rate 0; `budget used up`
 * when nothing is left. When the agent said how many units there are in all: `covers the 15
 * leads left (room for ≈ 54)` while what is left pays for them, else `≈ 10 more leads of the 15
 * left, 39s at $45.41/min`.
 */
export function formatRunway(r: RunwayFigures): string {
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
