import type { Micros } from '../../core/money.js';
import { dotCeilDiv, toCount } from './int.js';

/**
 * µ$ per million tokens. Numerically this is $/Mtok × 1e6, so it is an integer for any price
 * quoted to 6 decimals of a dollar per million: $0.03/1K = $30/M = 30_000_000.
 */
export type MicrosPerMTok = number;

export interface ModelRates {
  input: MicrosPerMTok;
  output: MicrosPerMTok;
  /** Prompt-cache reads; the input rate when absent. */
  cacheRead?: MicrosPerMTok;
  /** Prompt-cache writes; the input rate when absent. */
  cacheWrite?: MicrosPerMTok;
  /** A flat fee per request, in µ$. */
  perRequest?: Micros;
}

/** Long-context pricing: above `aboveInputTokens` prompt tokens the whole request costs `rates`. */
export interface PriceTier {
  aboveInputTokens: number;
  rates: ModelRates;
}

export interface PriceSchedule {
  rates: ModelRates;
  /** Ascending by `aboveInputTokens`. */
  tiers: readonly PriceTier[];
}

/**
 * Token usage of one call. `inputTokens` is the whole prompt, cache reads and writes included
 * (OpenAI's `prompt_tokens`; for Anthropic add `cache_read_input_tokens` and
 * `cache_creation_input_tokens` to `input_tokens`).
 */
export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens?: number;
  cacheWriteTokens?: number;
}

export function flatSchedule(rates: ModelRates): PriceSchedule {
  return { rates, tiers: [] };
}

/** Exact µ$/Mtok of a dollar price per million tokens; rounding removes float noise (0.075×1e6). */
export function usdPerMillion(usd: number): MicrosPerMTok {
  return Math.round(usd * 1_000_000);
}

function ratesAt(schedule: PriceSchedule, inputTokens: number): ModelRates {
  let rates = schedule.rates;
  for (const tier of schedule.tiers) if (inputTokens > tier.aboveInputTokens) rates = tier.rates;
  return rates;
}

/**
 * Cost of one call in µ$: ceil(Σ tokens × µ$/Mtok / 1e6) over all token kinds, plus any flat
 * per-request fee. The one ceil is applied per request to the exact sum, so a request is never
 * under-charged and is over-charged by less than 1 µ$; the budget tracker then adds integers.
 * Usage numbers are coerced to non-negative integers because they come from the wire, and cache
 * counts are clamped to the prompt they are part of.
 */
export function costOf(schedule: PriceSchedule, usage: TokenUsage): Micros {
  const input = toCount(usage.inputTokens);
  const output = toCount(usage.outputTokens);
  const cacheRead = Math.min(toCount(usage.cacheReadTokens), input);
  const cacheWrite = Math.min(toCount(usage.cacheWriteTokens), input - cacheRead);
  const r = ratesAt(schedule, input);
  const tokens = dotCeilDiv(
    [
      [input - cacheRead - cacheWrite, r.input],
      [cacheRead, r.cacheRead ?? r.input],
      [cacheWrite, r.cacheWrite ?? r.input],
      [output, r.output],
    ],
    1_000_000,
  );
  return tokens + (r.perRequest ?? 0);
}
