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

export { formatDuration } from '../core/duration.js';
