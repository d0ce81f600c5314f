import { formatUsd, type Micros } from '../../core/money.js';
import { formatIncreaseAction, type ProjectionStatus } from './format.js';
import { mulDivCeil, mulDivRound } from './int.js';

export interface ProgressLike {
  done: number;
  total: number | null;
  unit: string;
}

export interface Projection {
  spentMicros: Micros;
  limitMicros: Micros | null;
  unit: string | null;
  done: number | null;
  total: number | null;
  /** spent / done; null until a unit is done. */
  avgPerUnitMicros: Micros | null;
  /** spent × total / done: the run's total at the current average; null without a known total. */
  projectedMicros: Micros | null;
  status: ProjectionStatus;
}

export interface ProjectionOptions {
  /** Share of the limit from which the status reads "approaching". Default 0.9. */
  approachingRatio?: number;
}

function ratio(a: Micros, b: number, c: number): Micros {
  return Number.isSafeInteger(b) && Number.isSafeInteger(c) ? mulDivRound(a, b, c) : Math.round((a * b) / c);
}

/**
 * Average cost per unit of work and the projected total, from the spend so far and the
 * agent's progress reports. The status judges the larger of spend and projection: over budget
 * once it reaches the limit, approaching from `approachingRatio` of it.
 */
export function projectSpend(spentMicros: Micros, limitMicros: Micros | null, progress?: ProgressLike | null, options: ProjectionOptions = {}): Projection {
  const done = progress && progress.done > 0 ? progress.done : 0;
  const avg = done > 0 ? ratio(spentMicros, 1, done) : null;
  const total = progress?.total ?? null;
  // Past the announced total, the work is done: the spend is the total.
  const projected = done > 0 && total !== null && total >= 0 ? (total <= done ? spentMicros : ratio(spentMicros, total, done)) : null;
  const basis = Math.max(spentMicros, projected ?? 0);
  let status: ProjectionStatus = 'under_budget';
  if (limitMicros !== null) {
    const ppm = Math.round((options.approachingRatio ?? 0.9) * 1_000_000);
    if (basis >= limitMicros) status = 'over_budget';
    else if (basis >= mulDivCeil(limitMicros, ppm, 1_000_000)) status = 'approaching_limit';
  }
  return {
    spentMicros,
    limitMicros,
    unit: progress?.unit ?? null,
    done: progress?.done ?? null,
    total,
    avgPerUnitMicros: avg,
    projectedMicros: projected,
    status,
  };
}

export interface IncreaseRecommendation {
  increaseMicros: Micros;
  newLimitMicros: Micros;
  /** 'projection': sized to the projected total; 'fallback': no projection, a share of the limit. */
  basis: 'projection' | 'fallback';
  /** `Approve $25 increase`, or why none is needed. */
  text: string;
}

export interface RecommendOptions {
  /** Head-room on top of the projection. Default 0.1 (10%). */
  margin?: number;
  /** Increase as a share of the limit when there is no projection. Default 0.5. */
  fallbackShare?: number;
  /** Never offer less than this (config `budget_policy.min_increase_usd`). */
  minIncreaseMicros?: number | null;
}

const STEPS = [1_000_000, 2_500_000, 5_000_000];

/** The smallest amount of the series $1, $2.50, $5, $10, $25, $50, $100, ... that is ≥ `micros`. */
export function roundUpToStep(micros: Micros): Micros {
  for (let scale = 1; ; scale *= 10) {
    for (const step of STEPS) if (step * scale >= micros) return step * scale;
  }
}

/**
 * The increase to approve when a threshold fires. With a projection: enough to cover the larger
 * of projection and spend plus `margin`; without one (no progress total reported): `fallbackShare`
 * of the current limit (at least $1), since the need is unknown. The amount is rounded up to $1, $2.50 or $5
 * times a power of ten, so it reads like a decision ("Approve $25 increase") rather than a
 * calculation, and always covers the computed need.
 */
export function recommendIncrease(input: { limitMicros: Micros; spentMicros: Micros; projectedMicros: Micros | null }, options: RecommendOptions = {}): IncreaseRecommendation {
  const marginPpm = 1_000_000 + Math.round((options.margin ?? 0.1) * 1_000_000);
  const covered = mulDivCeil(Math.max(input.spentMicros, input.projectedMicros ?? 0), marginPpm, 1_000_000);
  const basis = input.projectedMicros === null ? 'fallback' : 'projection';
  const needed =
    basis === 'projection' ? covered - input.limitMicros : Math.max(1, mulDivCeil(input.limitMicros, Math.round((options.fallbackShare ?? 0.5) * 1_000_000), 1_000_000), covered - input.limitMicros);
  if (needed <= 0) {
    return {
      increaseMicros: 0,
      newLimitMicros: input.limitMicros,
      basis,
      text: `No increase needed: projection ${formatUsd(input.projectedMicros ?? input.spentMicros)} fits the ${formatUsd(input.limitMicros)} budget`,
    };
  }
  const increase = Math.max(roundUpToStep(needed), options.minIncreaseMicros ?? 0);
  return { increaseMicros: increase, newLimitMicros: input.limitMicros + increase, basis, text: formatIncreaseAction(increase) };
}
