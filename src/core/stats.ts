// Small statistics shared by the figures the API reports.

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/**
 * Nearest-rank percentiles of values sorted ascending (each one a value that was measured),
 * rounded to 0.01; null for none.
 *
 * @example
 *   percentiles([10, 20, 30, 40]) // { p50: 20, p95: 40, p99: 40 }
 */
export function percentiles(sorted: readonly number[]): Percentiles | null {
  const n = sorted.length;
  if (n === 0) return null;
  const at = (p: number) => Math.round(sorted[Math.min(n - 1, Math.ceil(p * n) - 1)]! * 100) / 100;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}
