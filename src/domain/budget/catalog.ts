import { createRequire } from 'node:module';
import type { ModelInfo, ModelPrice, PriceCalculation, Provider } from '@pydantic/genai-prices';
import { usdPerMillion, type ModelRates, type PriceSchedule, type PriceTier } from './rates.js';

// The maintained price table (@pydantic/genai-prices, bundled data: no network). Only text
// token prices are used (input, output, cache read/write) plus flat per-request fees; audio,
// image and search surcharges are not metered (audio and image models are priced at their text
// token rates). The package resolves provider and model by its own matching rules, which also
// accept dated snapshots (`gpt-4o-2024-08-06` → gpt-4o).
//
// The table is 1.6 MB of JavaScript data that costs about 7 MB of RSS once loaded: it is
// required (the package's CommonJS build, as tokens.ts does the BPE tables) when a price is first
// looked up, so a server that has served no call, and every CLI command that prices nothing, do
// not carry it.
const requireCjs = createRequire(import.meta.url);
let table: typeof import('@pydantic/genai-prices') | undefined;

/** The price table's package, loaded on first use. */
export function genaiPrices(): typeof import('@pydantic/genai-prices') {
  table ??= requireCjs('@pydantic/genai-prices') as typeof import('@pydantic/genai-prices');
  return table;
}

export interface CatalogMatch {
  providerId: string;
  modelId: string;
  /** Prices in force at `at`; most models have one, a few change by date or time of day. */
  scheduleAt(at: Date): PriceSchedule;
}

type Price = number | { base: number; tiers: ReadonlyArray<{ start: number; price: number }> };

function priceOf(p: ModelPrice, key: string): Price | undefined {
  const v = p[key];
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return v;
  if (typeof v === 'object' && v !== null && typeof v.base === 'number' && Array.isArray(v.tiers)) return v;
  return undefined;
}

/** The price of `p` for a request of `inputTokens` prompt tokens, as genai-prices applies tiers. */
function at(p: Price, inputTokens: number): number {
  if (typeof p === 'number') return p;
  let price = p.base;
  let from = -1;
  for (const tier of p.tiers) {
    if (inputTokens > tier.start && tier.start > from) {
      price = tier.price;
      from = tier.start;
    }
  }
  return price;
}

function ratesFor(p: ModelPrice, inputTokens: number): ModelRates {
  const rate = (key: string): number | undefined => {
    const v = priceOf(p, key);
    return v === undefined ? undefined : usdPerMillion(at(v, inputTokens));
  };
  const rates: ModelRates = { input: rate('input_mtok') ?? 0, output: rate('output_mtok') ?? 0 };
  const cacheRead = rate('cache_read_mtok');
  const cacheWrite = rate('cache_write_mtok');
  const perKRequests = priceOf(p, 'requests_kcount');
  if (cacheRead !== undefined) rates.cacheRead = cacheRead;
  if (cacheWrite !== undefined) rates.cacheWrite = cacheWrite;
  // $ per 1,000 requests → µ$ per request
  if (perKRequests !== undefined) rates.perRequest = Math.round(at(perKRequests, 0) * 1000);
  return rates;
}

/**
 * Null when the model has no per-token text price (image, audio-only and search models). An
 * entry with no price at all is a free model (moderation), priced at zero.
 */
export function toSchedule(p: ModelPrice): PriceSchedule | null {
  if (Object.keys(p).length === 0) return { rates: { input: 0, output: 0 }, tiers: [] };
  if (priceOf(p, 'input_mtok') === undefined && priceOf(p, 'output_mtok') === undefined) return null;
  const starts = new Set<number>();
  for (const key of ['input_mtok', 'output_mtok', 'cache_read_mtok', 'cache_write_mtok']) {
    const v = priceOf(p, key);
    if (typeof v === 'object') for (const t of v.tiers) starts.add(t.start);
  }
  const tiers: PriceTier[] = [...starts].sort((a, b) => a - b).map((start) => ({ aboveInputTokens: start, rates: ratesFor(p, start + 1) }));
  return { rates: ratesFor(p, 0), tiers };
}

/**
 * Where a model is looked for when the gateway's provider is not one the table knows (the
 * simulated provider, a custom upstream): the table only finds a provider by model name for
 * the names its providers claim (`gpt-*` is OpenAI's, `text-embedding-*` is nobody's).
 *
 * @example
 *   findInCatalog('text-embedding-3-small', 'simulated')?.providerId // 'openai', found by trying these
 */
export const MAJOR_PROVIDERS = ['openai', 'anthropic', 'google', 'mistral', 'x-ai', 'deepseek', 'cohere', 'voyageai'] as const;

function tryCalc(model: string, providerId?: string): PriceCalculation | null {
  try {
    return genaiPrices().calcPrice({}, model, providerId ? { providerId } : {});
  } catch {
    // genai-prices throws on internally inconsistent entries; treat those as unpriced.
    return null;
  }
}

function lookup(model: string, providerId: string | undefined): PriceCalculation | null {
  const first = (providerId ? tryCalc(model, providerId) : null) ?? tryCalc(model);
  if (first) return first;
  for (const id of MAJOR_PROVIDERS) {
    if (id === providerId) continue;
    const hit = tryCalc(model, id);
    if (hit) return hit;
  }
  return null;
}

/**
 * Find `model` in the maintained table. `providerId` ('openai', 'anthropic', ...) narrows the
 * search; an id the table does not know (e.g. 'simulated') falls back to matching by model name.
 * This scans the whole table (~100 µs), so callers cache the result.
 */
export function findInCatalog(model: string, providerId?: string): CatalogMatch | null {
  const hit = lookup(model, providerId);
  if (hit === null) return null;
  const fixed = toSchedule(hit.model_price);
  if (fixed === null) return null;
  const base = { providerId: hit.provider.id, modelId: hit.model.id };
  if (!Array.isArray(hit.model.prices)) return { ...base, scheduleAt: () => fixed };
  // Date- or time-dependent prices: re-resolve against a one-model provider, which is cheap.
  const only: Provider = { id: hit.provider.id, name: hit.provider.name, api_pattern: '', models: [hit.model as ModelInfo] };
  return {
    ...base,
    scheduleAt(when: Date): PriceSchedule {
      const r = genaiPrices().calcPrice({}, model, { provider: only, timestamp: when });
      return (r && toSchedule(r.model_price)) ?? fixed;
    },
  };
}
