import type { Micros } from '../../core/money.js';
import { findInCatalog, type CatalogMatch } from './catalog.js';
import { familyPrice } from './family.js';
import { PriceOverrides } from './overrides.js';
import { costOf, flatSchedule, usdPerMillion, type ModelRates, type PriceSchedule, type TokenUsage } from './rates.js';

/** `family`: not in the table, priced like the dearest model of its family (see family.ts). */
export type PriceSource = 'override' | 'catalog' | 'family' | 'default';

/**
 * For a model of no known family: priced like a premium model ($10/M input, $30/M output) so
 * that traffic to a model nobody priced draws the budget down visibly instead of for free.
 * Configure `defaultRates`.
 */
export const DEFAULT_UNKNOWN_MODEL_RATES: ModelRates = { input: usdPerMillion(10), output: usdPerMillion(30) };

export interface PriceBookOptions {
  /** From `parsePriceOverrides`; they take precedence over the maintained table. */
  overrides?: PriceOverrides;
  /** Price of models found in neither the overrides nor the table. */
  defaultRates?: ModelRates;
  /** Use the maintained table (@pydantic/genai-prices). Default true. */
  catalog?: boolean;
  /** For the few catalog prices that change by date or time of day. */
  now?: () => Date;
}

export interface PriceLookup {
  model: string;
  schedule: PriceSchedule;
  source: PriceSource;
  /** The override key or `provider/model` of the table entry; null for the default price. */
  matched: string | null;
  /** Not in the overrides nor the table (priced by family or the default): the caller should warn. */
  unknownModel: boolean;
  /** The family prefix whose dearest price is used (source `family`), else null. */
  family: string | null;
}

export interface PriceQuote {
  model: string;
  costMicros: Micros;
  source: PriceSource;
  matched: string | null;
  unknownModel: boolean;
}

type Resolved =
  | { source: 'override'; key: string; schedule: PriceSchedule }
  | { source: 'catalog'; match: CatalogMatch }
  | { source: 'family'; family: string; matched: string; schedule: PriceSchedule }
  | null;

// Bounded so an agent cycling through invented model names cannot grow it without limit.
const CACHE_LIMIT = 1_024;

/**
 * Resolves a model's price (override, then maintained table, then the dearest of its family in
 * the table, then the default price) and
 * prices token usage in integer µ$. Lookups are cached per provider and model because matching
 * against the table is a linear scan.
 */
export class PriceBook {
  private readonly overrides: PriceOverrides;
  private readonly defaultSchedule: PriceSchedule;
  private readonly useCatalog: boolean;
  private readonly now: () => Date;
  private readonly cache = new Map<string, Resolved>();

  constructor(options: PriceBookOptions = {}) {
    this.overrides = options.overrides ?? PriceOverrides.empty;
    this.defaultSchedule = flatSchedule(options.defaultRates ?? DEFAULT_UNKNOWN_MODEL_RATES);
    this.useCatalog = options.catalog ?? true;
    this.now = options.now ?? (() => new Date());
  }

  lookup(model: string, provider?: string): PriceLookup {
    const resolved = this.resolve(model, provider);
    if (resolved === null) {
      return { model, schedule: this.defaultSchedule, source: 'default', matched: null, unknownModel: true, family: null };
    }
    if (resolved.source === 'override') {
      return { model, schedule: resolved.schedule, source: 'override', matched: resolved.key, unknownModel: false, family: null };
    }
    if (resolved.source === 'family') {
      return { model, schedule: resolved.schedule, source: 'family', matched: resolved.matched, unknownModel: true, family: resolved.family };
    }
    const m = resolved.match;
    return { model, schedule: m.scheduleAt(this.now()), source: 'catalog', matched: `${m.providerId}/${m.modelId}`, unknownModel: false, family: null };
  }

  /** Cost of `usage` on `model`; see `costOf` for the rounding rule. */
  price(model: string, usage: TokenUsage, provider?: string): PriceQuote {
    const { schedule, source, matched, unknownModel } = this.lookup(model, provider);
    return { model, costMicros: costOf(schedule, usage), source, matched, unknownModel };
  }

  private resolve(model: string, provider: string | undefined): Resolved {
    const key = `${provider ?? ''}\u0000${model}`;
    if (this.cache.has(key)) return this.cache.get(key)!;
    let resolved: Resolved = null;
    const override = this.overrides.find(model);
    if (override) resolved = { source: 'override', key: override.key, schedule: flatSchedule(override.rates) };
    else if (this.useCatalog) {
      const match = findInCatalog(model, provider);
      const fam = match ? null : familyPrice(model, provider);
      if (match) resolved = { source: 'catalog', match };
      else if (fam) resolved = { source: 'family', family: fam.family, matched: `${fam.providerId}/${fam.modelId}`, schedule: fam.schedule };
    }
    if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
    this.cache.set(key, resolved);
    return resolved;
  }
}
