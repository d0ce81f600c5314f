// How long something took or has left, written the same way by the terminal, the demo and the
// dashboard; and the lengths of a minute, an hour and a day in milliseconds, declared once.

export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

/**
 * `1h02m`, `3m05s`, `42s` (whole seconds; negative counts as 0).
 *
 * @example
 *   formatDuration(65_000) // '1m05s'
 */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * How long a run or a process took, the one way the terminal says it: tenths of a second below
 * ten seconds (`0.4s`, `9.6s`), then as `formatDuration` (`42s`, `1m05s`, `1h02m`). The agent's
 * exit line and the run's summary both say it so, from the same figure.
 *
 * @example
 *   formatElapsed(412) // '0.4s'
 */
export function formatElapsed(ms: number): string {
  const tenths = Math.round(Math.max(0, ms) / 100);
  return tenths < 100 ? `${(tenths / 10).toFixed(1)}s` : formatDuration(ms);
}

/**
 * A span said roughly, for a runway: `42s`, `11 min`, `3h05m`, `12 days` (`0s` at or below zero).
 *
 * @example
 *   formatRoughly(660_000) // '11 min'
 */
export function formatRoughly(ms: number): string {
  if (ms < MINUTE_MS) return formatDuration(ms);
  if (Math.round(ms / MINUTE_MS) < 60) return `${Math.round(ms / MINUTE_MS)} min`;
  if (ms < 2 * DAY_MS) return formatDuration(Math.round(ms / MINUTE_MS) * MINUTE_MS);
  return `${Math.round(ms / DAY_MS)} days`;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: MINUTE_MS, h: HOUR_MS, d: DAY_MS };

/**
 * A duration as a person writes it: a whole number with a unit, `500ms`, `30s`, `2m`, `1h`, `1d`
 * (no unit: milliseconds). Null for anything else.
 *
 * @example
 *   parseDuration('30s') // 30_000
 */
export function parseDuration(text: string): number | null {
  const m = /^\s*(\d{1,9})\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * UNIT_MS[m[2] ?? 'ms']!;
}
