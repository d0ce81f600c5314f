// Axis ticks for the spend chart: round dollar amounts up the y axis, round clock times along x.

export interface MoneyTicks {
  /** The top of the axis: the last tick, at or above the highest value. */
  top: number;
  ticks: Array<{ value: number; label: string }>;
}

/** 1, 2, 2.5 and 5 times a power of ten: the steps a reader counts in. */
const MANTISSAS = [1, 2, 2.5, 5, 10];

/**
 * About `count` round steps from $0 to at least `max`, labelled with as many decimals as the
 * step needs (`$0`, `$25`, `$50`; `$0.005`, `$0.01`).
 *
 * @example
 *   moneyTicks(56.31, 4) // { top: 60, ticks: $0, $20, $40, $60 }
 */
export function moneyTicks(max: number, count: number): MoneyTicks {
  const high = max > 0 && Number.isFinite(max) ? max : 0.01;
  const raw = high / Math.max(1, count);
  const power = Math.floor(Math.log10(raw));
  const base = 10 ** power;
  const mantissa = MANTISSAS.find((m) => m * base >= raw - 1e-12) ?? 10;
  const step = mantissa * base;
  const decimals = Math.max(0, -power) + (mantissa === 2.5 ? 1 : 0);
  const n = Math.ceil(high / step - 1e-9);
  const ticks = Array.from({ length: n + 1 }, (_, i) => {
    const value = Number((i * step).toFixed(decimals + 2));
    return { value, label: `$${value.toFixed(decimals)}` };
  });
  return { top: ticks[ticks.length - 1]!.value, ticks };
}

const S = 1000;
const M = 60 * S;
const HOUR = 60 * M;
const DAY = 24 * HOUR;
/** Steps along the time axis, the smallest first. */
const TIME_STEPS = [S, 2 * S, 5 * S, 10 * S, 15 * S, 30 * S, M, 2 * M, 5 * M, 10 * M, 15 * M, 30 * M, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY];

/**
 * At most `count` clock times on round steps between `t0` and `t1` (epoch ms), in local time:
 * `14:05`, or `14:05:30` when the step is under a minute, or the date (`23 Nov`) when it is a day or more (the fleet's 30 days). When fewer than two round times fall
 * inside, the two ends are labelled instead, so the axis always reads as a span.
 *
 * @example
 *   timeTicks(Date.parse('2025-01-01T14:03:10'), Date.parse('2025-01-01T14:21:00'), 4) // 14:05, 14:10, 14:15, 14:20
 */
export function timeTicks(t0: number, t1: number, count: number): Array<{ at: number; label: string }> {
  const span = Math.max(1, t1 - t0);
  const step = TIME_STEPS.find((s) => span / s <= Math.max(1, count)) ?? 7 * DAY;
  // Round in local time: 14:00 means 14:00 on the reader's clock.
  const offset = new Date(t0).getTimezoneOffset() * M;
  const first = Math.ceil((t0 - offset) / step) * step + offset;
  const out: Array<{ at: number; label: string }> = [];
  for (let at = first; at <= t1 && out.length <= count; at += step) out.push({ at, label: step >= DAY ? date(at) : clock(at, step < M) });
  if (out.length >= 2) return out;
  const seconds = span < 10 * M;
  const label = (t: number) => (span >= 2 * DAY ? date(t) : clock(t, seconds));
  return [
    { at: t0, label: label(t0) },
    { at: t1, label: label(t1) },
  ];
}

function clock(t: number, seconds: boolean): string {
  const d = new Date(t);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${two(d.getHours())}:${two(d.getMinutes())}${seconds ? `:${two(d.getSeconds())}` : ''}`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function date(t: number): string {
  const d = new Date(t);
  return `${d.getDate()} ${MONTHS[d.getMonth()]}`;
}
