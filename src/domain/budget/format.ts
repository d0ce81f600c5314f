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
