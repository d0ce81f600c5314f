// Money is integer micro-dollars (1 USD = 1_000_000 µ$) everywhere inside the process.
export type Micros = number;

export const MICROS_PER_USD = 1_000_000;

/** Parse a user-written amount: `50`, `50.00`, `$50`, `$1,250.5`. Returns null if it is not one. */
export function parseUsd(input: string): Micros | null {
  const m = /^\s*\$?\s*(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d{1,6}))?\s*$/.exec(input);
  if (!m) return null;
  const whole = Number(m[1]!.replaceAll(',', ''));
  const frac = (m[2] ?? '').padEnd(6, '0');
  const micros = whole * MICROS_PER_USD + Number(frac);
  return Number.isSafeInteger(micros) ? micros : null;
}

export function usdToMicros(usd: number): Micros {
  return Math.round(usd * MICROS_PER_USD);
}

export function microsToUsd(micros: Micros): number {
  return micros / MICROS_PER_USD;
}

/** `$5.29`, `$1,234.57`, `$0.0012`, `$0.000014`. Hand-rolled: toLocaleString costs microseconds per call on the hot path. */
export function formatUsd(micros: Micros): string {
  const neg = micros < 0;
  const abs = Math.abs(Math.round(micros));
  // Sub-cent amounts (one small call) keep two significant digits so they never read as $0.00.
  const digits = abs === 0 || abs >= 10_000 ? 2 : Math.min(6, Math.max(4, 1 - Math.floor(Math.log10(abs / MICROS_PER_USD))));
  const scale = 10 ** (6 - digits);
  const units = Math.round(abs / scale); // in 10^-digits dollars
  const whole = Math.floor(units / 10 ** digits);
  const frac = String(units % 10 ** digits).padStart(digits, '0');
  return `${neg ? '-' : ''}$${groupThousands(whole)}.${frac}`;
}

/**
 * A count as `1,234,567`, as `toLocaleString('en-US')` writes it: whole numbers (all that counts
 * are, but a progress an agent reports) without its cost, since a process's first call loads ICU's
 * number formatting, ~40 ms of CPU (each `iron-cage start` paid it once for its summary).
 */
export function formatCount(n: number): string {
  if (!Number.isInteger(n) || Math.abs(n) >= 1e15) return n.toLocaleString('en-US');
  return n < 0 ? `-${groupThousands(-n)}` : groupThousands(n);
}

function groupThousands(n: number): string {
  const s = String(n);
  if (s.length <= 3) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (i > 0 && (s.length - i) % 3 === 0) out += ',';
    out += s[i];
  }
  return out;
}
