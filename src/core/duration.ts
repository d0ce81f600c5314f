// How long something took or has left, written the same way by the terminal, the demo and the
// dashboard.

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
