import { formatUsd, usdToMicros } from '../core/money.js';

// One way to write dollars and durations across the demo's terminal lines, table and
// messages: dollars as the product writes them everywhere else (core/money).

/**
 * Dollars (a float from the API or the scenario) as the product writes them.
 *
 * @example
 * usd(5.29) // '$5.29'
 */
export const usd = (dollars: number): string => formatUsd(usdToMicros(dollars));

/**
 * `1m05s`, `42s`: the ETA, the run time, a timeout.
 *
 * @example
 * formatDuration(65_000) // '1m05s'
 */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}
