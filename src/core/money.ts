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

/** `$5.29`; sub-cent amounts keep up to 4 decimals so small spends do not read as $0.00. */
export function formatUsd(micros: Micros): string {
  const usd = micros / MICROS_PER_USD;
  const abs = Math.abs(usd);
  const digits = abs !== 0 && abs < 0.01 ? 4 : 2;
  return `${usd < 0 ? '-' : ''}$${abs.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })}`;
}
