import { ValidationError } from '../../core/errors.js';
import type { Micros } from '../../core/money.js';
import { mulDivCeil } from './int.js';

const DEFAULT_THRESHOLDS: readonly number[] = [0.9, 1];

/** One alert level of one agent's budget. */
export interface Threshold {
  readonly ratio: number;
  /** Integer parts per million of `ratio`, so amounts are computed without float products. */
  readonly ppm: number;
  /** Spend at which it fires: ceil(limit × ratio); recomputed whenever the limit changes. */
  amount: Micros;
  /** Fired and suppressed until the limit is raised back above it. */
  fired: boolean;
}

/**
 * Sorted, de-duplicated ratios in (0, 1]. 1 is always present: reaching the limit must be
 * announced so the caller can stop the agent, whatever warning levels are configured.
 */
export function normalizeThresholds(ratios: readonly number[] = DEFAULT_THRESHOLDS): number[] {
  for (const r of ratios) {
    if (typeof r !== 'number' || !Number.isFinite(r) || r <= 0 || r > 1) {
      throw new ValidationError(`budget thresholds must be fractions in (0, 1], such as 0.9; got ${String(r)}`);
    }
  }
  return [...new Set([...ratios, 1])].sort((a, b) => a - b);
}

export function makeThresholds(ratios: readonly number[]): Threshold[] {
  return ratios.map((ratio) => ({ ratio, ppm: Math.round(ratio * 1_000_000), amount: 0, fired: false }));
}

export function thresholdAmount(t: Threshold, limit: Micros): Micros {
  return mulDivCeil(limit, t.ppm, 1_000_000);
}
