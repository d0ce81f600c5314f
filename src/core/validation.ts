import * as z from 'zod';
import { formatUsd, MICROS_PER_USD, parseUsd, type Micros } from './money.js';

/**
 * The issue to describe: of a union where one alternative alone read further than the value's
 * type, that alternative's (its path joined to the union's), which is the precise reason; else
 * the issue itself. A caller that names the path itself asks this first.
 */
export function innermost(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union' || issue.message !== 'Invalid input') return issue;
  const further = issue.errors.filter((e) => e[0] !== undefined && e[0].code !== 'invalid_type');
  const f = further.length === 1 ? further[0]![0]! : null;
  // (Literals, each refusing the value at the union's own path, are the union's `must be one of`.)
  if (f === null || (f.code === 'invalid_value' && f.path.length === 0)) return issue;
  return innermost({ ...f, path: [...issue.path, ...f.path] } as z.core.$ZodIssue);
}

/** `Infinity` or `NaN` where a number was expected (YAML reads 1e400 as Infinity), else null. */
function nonFinite(issue: z.core.$ZodIssue): string | null {
  const received = (issue as { received?: unknown }).received;
  return received === 'Infinity' || received === '-Infinity' || received === 'NaN' ? String(received) : null;
}

/**
 * One zod issue as one precise phrase: `done: must be a whole number`, `unknown key 'budgte'`.
 * Shared by the config loader and the HTTP boundary so both speak the same way.
 */
export function describeZodIssue(issue: z.core.$ZodIssue, noun = 'field'): string {
  const path = issue.path.map(String).join('.');
  const at = path ? `${path}: ` : '';
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = issue.keys.map((k) => `'${path ? `${path}.${k}` : k}'`);
      return `unknown ${noun}${keys.length > 1 ? 's' : ''} ${keys.join(', ')}`;
    }
    case 'invalid_type': {
      if (issue.expected === 'int') return `${at}must be a whole number`;
      if (issue.expected === 'nonoptional') return `${at}required`;
      const odd = nonFinite(issue);
      if (odd) return `${at}must be a finite number, not ${odd} (a number too large, like 1e400, is read as Infinity)`;
      return `${at}expected ${issue.expected}`;
    }
    case 'invalid_union': {
      // A union that says what it takes in its own words says it best.
      if (issue.message !== 'Invalid input') return `${at}${issue.message}`;
      // Each alternative's first issue: all of them on the value's type, said as the types it may be.
      const firsts = issue.errors.map((e) => e[0]);
      if (firsts.length > 0 && firsts.every((f) => f?.code === 'invalid_type' && f.path.length === 0)) {
        const odd = firsts.map((f) => nonFinite(f!)).find((x) => x !== null);
        if (odd) return `${at}must be a finite number, not ${odd} (a number too large, like 1e400, is read as Infinity)`;
        const types = [...new Set(firsts.map((f) => (f as z.core.$ZodIssueInvalidType).expected))];
        return `${at}expected ${types.join(' or ')}`;
      }
      // Literals (429 | 500 | "timeout"): the values any alternative takes.
      if (firsts.length > 0 && firsts.every((f) => f?.path.length === 0 && (f.code === 'invalid_value' || f.code === 'invalid_type'))) {
        const values = firsts.flatMap((f) => (f!.code === 'invalid_value' ? (f as z.core.$ZodIssueInvalidValue).values : []));
        const types = firsts.flatMap((f) => (f!.code === 'invalid_type' ? [`a ${(f as z.core.$ZodIssueInvalidType).expected}`] : []));
        if (values.length > 0) return `${at}must be one of ${[...values.map((v) => (typeof v === 'string' && noun === 'key' ? v : JSON.stringify(v))), ...new Set(types)].join(', ')}`;
      }
      const inner = innermost(issue);
      if (inner !== issue) return describeZodIssue(inner, noun);
      return `${at}${issue.message}`;
    }
    case 'invalid_value':
      return `${at}must be one of ${issue.values.map((v) => (typeof v === 'string' && noun === 'key' ? v : JSON.stringify(v))).join(', ')}`;
    default:
      return `${at}${issue.message}`;
  }
}

// Money rules shared by every boundary (API bodies, CLI flags, config keys), so a value one of
// them accepts can never be refused later by another (e.g. by the budget tracker when a stored
// limit is loaded at start-up).

/** The largest amount any boundary accepts: $1,000,000, far above a real budget, far below float trouble. */
export const MAX_USD = 1_000_000;

export interface UsdRules {
  /** Zero is refused unless a boundary says it means something there (a free tool call). */
  allowZero?: boolean;
  /** A tighter maximum in dollars than MAX_USD. */
  maxUsd?: number;
}

/**
 * Dollars → micro-dollars under the shared rules, or the reason it is refused. A value with
 * more than six decimals is refused rather than rounded: `1e-12` silently becoming $0 is the
 * bug this exists to prevent.
 *
 * @example
 *   checkUsd(12.5)   // 12_500_000
 *   checkUsd(1e-12)  // 'must have at most 6 decimal places (micro-dollars)'
 */
export function checkUsd(usd: number, rules: UsdRules = {}): Micros | string {
  const max = Math.min(rules.maxUsd ?? MAX_USD, MAX_USD);
  if (typeof usd !== 'number' || !Number.isFinite(usd)) return 'must be a finite number of dollars';
  if (usd < 0) return rules.allowZero ? 'must be 0 or more' : 'must be more than $0';
  if (usd > max) return `must be at most ${formatUsd(max * MICROS_PER_USD)}`;
  // Judged on the number as written (its shortest decimal form), not on float arithmetic:
  // 0.1 is one decimal even though 0.1 * 1e6 is 100000.00000000001, and 0.30000000000000004
  // is seventeen, however close it lands to a whole micro-dollar.
  if (decimalPlaces(usd) > 6) return 'must have at most 6 decimal places (micro-dollars)';
  const micros = Math.round(usd * MICROS_PER_USD);
  if (micros === 0 && !rules.allowZero) return 'must be more than $0';
  return micros;
}

/** The decimal places of a number's shortest round-trip form (`String(n)`): 1e-7 has 7, 1.5e-7 has 8. */
function decimalPlaces(n: number): number {
  const m = /^-?\d*(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(n));
  if (!m) return Number.POSITIVE_INFINITY;
  return Math.max(0, (m[1]?.length ?? 0) - Number(m[2] ?? 0));
}

/**
 * A JSON number of dollars, checked by `checkUsd` and turned into micro-dollars.
 *
 * @example
 *   const body = z.strictObject({ limitUsd: usdAmount.nullable() });
 *   body.parse({ limitUsd: 5 }).limitUsd // 5_000_000
 */
export function usdSchema(rules: UsdRules = {}) {
  // Not z.number(): it refuses Infinity (what JSON.parse makes of 1e400) as "expected number".
  return z.unknown().transform((v, ctx): Micros => {
    const r = typeof v === 'number' ? checkUsd(v, rules) : 'expected number';
    if (typeof r === 'string') {
      ctx.addIssue({ code: 'custom', message: r });
      return z.NEVER;
    }
    return r;
  });
}

/** Dollars, more than zero and at most MAX_USD, as micro-dollars: the default for every money input. */
export const usdAmount = usdSchema();

/**
 * Dollars written by a person (a config key, a CLI flag): a number, or text like `50`, `$50`,
 * `$1,250.50`; the same rules as `usdAmount` apply to either.
 *
 * @example
 *   usdInput().parse('$1,250.5') // 1_250_500_000
 */
export function usdInput(rules: UsdRules = {}) {
  return z.union([z.number(), z.string()]).transform((v, ctx): Micros => {
    let r: Micros | string;
    if (typeof v === 'number') r = checkUsd(v, rules);
    else {
      const micros = parseUsd(v);
      r = micros === null ? `"${v}" is not an amount in dollars (try 50, 50.00 or $50; at most 6 decimal places)` : checkUsd(micros / MICROS_PER_USD, rules);
    }
    if (typeof r === 'string') {
      const hint = r === 'must be more than $0' && String(v).trim() === '0' ? ' (if you typed --budget $50, your shell turned $5 into nothing: quote it or write 50)' : '';
      ctx.addIssue({ code: 'custom', message: r + hint });
      return z.NEVER;
    }
    return r;
  });
}

/** An http(s) URL, as config keys that name one (a provider's base URL, a webhook) take it. */
export const httpUrl = z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL');

/**
 * A whole number in a query string, written in digits (a sign allowed, for the range's own
 * message): `1e3`, `0x10`, `5.0`, ` 5` and an empty value are refused, where z.coerce read them as
 * 1000, 16, 5, 5 and 0. `n` checks the number's range.
 *
 * @example queryInt(z.number().min(1, 'must be 1-1000').max(1000, 'must be 1-1000'))
 */
export function queryInt(n: z.ZodNumber, whole = 'must be a whole number'): z.ZodPipe<z.ZodPipe<z.ZodString, z.ZodTransform<number, string>>, z.ZodNumber> {
  return z
    .string()
    .regex(/^-?\d+$/, whole)
    .transform(Number)
    .pipe(n.max(Number.MAX_SAFE_INTEGER, 'is too large'));
}

/**
 * A short text people read on one line (a name, a reason): control characters (C0, DEL, C1, the
 * line and paragraph separators) become spaces before the trim and the bounds are judged, so
 * "\u0000" is as empty as "   " and no reason carries a terminal escape into a log or a page.
 *
 * @example oneLine(64).parse(' lead\u0007finder ') // 'lead finder'
 */
export function oneLine(max: number): z.ZodPipe<z.ZodPipe<z.ZodString, z.ZodTransform<string, string>>, z.ZodString> {
  return z
    .string()
    .transform((s) => s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, ' ').trim())
    .pipe(z.string().min(1, 'must not be empty').max(max, `must be at most ${max} characters`));
}
