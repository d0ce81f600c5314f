import { ConfigError } from '../../core/errors.js';
import { baseModelName } from './tokens.js';
import { usdPerMillion, type ModelRates } from './rates.js';

// Local price overrides, given as parsed config data (the config layer reads the file):
//
//   { "gpt-4": { "input_per_1k": 0.03, "output_per_1k": 0.03 },
//     "claude-*": { "input_per_1m": 3, "output_per_1m": 15 } }
//
// Prices are dollars per 1K or per 1M tokens. A key ending in `*` is a prefix; otherwise a key
// also covers dated snapshots of the model (`gpt-4` prices `gpt-4-0613`).

const KINDS = ['input', 'output', 'cache_read', 'cache_write'] as const;
type Kind = (typeof KINDS)[number];
const FIELD: Record<Kind, keyof ModelRates> = {
  input: 'input',
  output: 'output',
  cache_read: 'cacheRead',
  cache_write: 'cacheWrite',
};
const ALLOWED = [...KINDS.flatMap((k) => [`${k}_per_1k`, `${k}_per_1m`]), 'per_request'];

export class PriceOverrides {
  static readonly empty = new PriceOverrides(new Map(), []);

  private constructor(
    private readonly exact: ReadonlyMap<string, ModelRates>,
    /** Longest prefix first, so the most specific pattern wins. */
    private readonly prefixes: ReadonlyArray<readonly [string, ModelRates]>,
  ) {}

  static from(exact: Map<string, ModelRates>, prefixes: Array<[string, ModelRates]>): PriceOverrides {
    return new PriceOverrides(
      exact,
      [...prefixes].sort((a, b) => b[0].length - a[0].length),
    );
  }

  get size(): number {
    return this.exact.size + this.prefixes.length;
  }

  /** The override for `model` and the key that matched, or null. */
  find(model: string): { key: string; rates: ModelRates } | null {
    for (const name of candidates(model)) {
      const rates = this.exact.get(name);
      if (rates) return { key: name, rates };
    }
    for (const name of candidates(model)) {
      for (const [prefix, rates] of this.prefixes) if (name.startsWith(prefix)) return { key: `${prefix}*`, rates };
    }
    return null;
  }
}

const DATE_SUFFIX = /-(?:\d{4}-\d{2}-\d{2}|\d{8}|\d{4})$/;

function candidates(model: string): string[] {
  const full = model.trim().toLowerCase();
  const base = baseModelName(model);
  const out = [full, full.replace(DATE_SUFFIX, ''), base, base.replace(DATE_SUFFIX, '')];
  return out.filter((m, i) => m.length > 0 && out.indexOf(m) === i);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'an array';
  return v === null ? 'null' : typeof v === 'object' ? 'an object' : String(v);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function dollars(v: unknown, at: string, problems: string[]): number | null {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
    problems.push(`${at}: expected a non-negative number of dollars, got ${describe(v)}`);
    return null;
  }
  return v;
}

/** Validate one price entry; `at` names it in error messages, e.g. `pricing.default`. */
function ratesFrom(raw: unknown, at: string, problems: string[]): ModelRates | null {
  if (!isRecord(raw)) {
    problems.push(`${at}: expected an object such as { input_per_1k: 0.03, output_per_1k: 0.06 }, got ${describe(raw)}`);
    return null;
  }
  const before = problems.length;
  for (const key of Object.keys(raw)) {
    if (!ALLOWED.includes(key)) problems.push(`${at}.${key}: unknown field; expected one of ${ALLOWED.join(', ')}`);
  }
  const rates: Partial<Record<keyof ModelRates, number>> = {};
  for (const kind of KINDS) {
    const per1k = raw[`${kind}_per_1k`];
    const per1m = raw[`${kind}_per_1m`];
    if (per1k !== undefined && per1m !== undefined) {
      problems.push(`${at}: give ${kind}_per_1k or ${kind}_per_1m, not both`);
      continue;
    }
    if (per1k === undefined && per1m === undefined) {
      if (kind === 'input' || kind === 'output') problems.push(`${at}: ${kind}_per_1k or ${kind}_per_1m is required`);
      continue;
    }
    const usd = per1k !== undefined ? dollars(per1k, `${at}.${kind}_per_1k`, problems) : dollars(per1m, `${at}.${kind}_per_1m`, problems);
    if (usd !== null) rates[FIELD[kind]] = usdPerMillion(per1k !== undefined ? usd * 1000 : usd);
  }
  if (raw.per_request !== undefined) {
    const usd = dollars(raw.per_request, `${at}.per_request`, problems);
    if (usd !== null) rates.perRequest = Math.round(usd * 1_000_000);
  }
  if (problems.length > before) return null;
  return rates as ModelRates;
}

function fail(problems: string[]): never {
  throw new ConfigError(`invalid pricing:\n  ${problems.join('\n  ')}`);
}

/** Parse one price entry (e.g. the default price for unknown models). Throws ConfigError. */
export function parseModelRates(raw: unknown, at = 'pricing.default'): ModelRates {
  const problems: string[] = [];
  const rates = ratesFrom(raw, at, problems);
  if (rates === null) fail(problems);
  return rates;
}

/** Parse the override table. Every problem is reported at once, each with its path. Throws ConfigError. */
export function parsePriceOverrides(raw: unknown, at = 'pricing.overrides'): PriceOverrides {
  if (raw === undefined || raw === null) return PriceOverrides.empty;
  if (!isRecord(raw)) fail([`${at}: expected a table of model name to prices, got ${describe(raw)}`]);
  const problems: string[] = [];
  const exact = new Map<string, ModelRates>();
  const prefixes: Array<[string, ModelRates]> = [];
  const seen = new Map<string, string>();
  for (const [key, value] of Object.entries(raw)) {
    const where = `${at}[${JSON.stringify(key)}]`;
    const name = key.trim().toLowerCase();
    if (name.length === 0 || name.slice(0, -1).includes('*')) {
      problems.push(`${where}: a model name, optionally ending in * to match a prefix`);
      continue;
    }
    const dup = seen.get(name);
    if (dup !== undefined) problems.push(`${where}: same model as ${JSON.stringify(dup)} (names are case-insensitive)`);
    seen.set(name, key);
    const rates = ratesFrom(value, where, problems);
    if (rates === null || dup !== undefined) continue;
    if (name.endsWith('*')) prefixes.push([name.slice(0, -1), rates]);
    else exact.set(name, rates);
  }
  if (problems.length > 0) fail(problems);
  return PriceOverrides.from(exact, prefixes);
}

/** The pricing table of the product's specification: GPT-4 $0.03/1K and GPT-3.5 $0.002/1K tokens, input and output alike. */
export const SPEC_PRICE_OVERRIDES = {
  'gpt-4': { input_per_1k: 0.03, output_per_1k: 0.03 },
  'gpt-3.5-turbo': { input_per_1k: 0.002, output_per_1k: 0.002 },
} as const;
