import type { Micros } from '../core/money.js';
import { toCount } from './int.js';
import { costOf, type PriceSchedule } from './rates.js';

// `budget_policy.near_limit: clamp`: near the end of a budget, a call whose worst case no longer
// fits is sent with a lower output limit instead of being refused. The agent gets a normal,
// shorter answer (finish_reason "length"), and the reservation still bounds what it can cost.

/** Below this much output per choice an answer is not worth the call: the call is refused instead. */
export const CLAMP_MIN_OUTPUT_TOKENS = 16;

/** The output-limit fields a request may carry, in the order the budget reads them. */
const LIMIT_FIELDS = ['max_completion_tokens', 'max_tokens', 'max_output_tokens'] as const;

/** The choices a request asks for (`n`, `best_of`): every one may produce the output limit. */
export function choicesOf(body: Readonly<Record<string, unknown>>): number {
  return Math.max(1, toCount(body.n), toCount(body.best_of));
}

/**
 * The least a clamped call may reserve: its prompt and `CLAMP_MIN_OUTPUT_TOKENS` per choice (or
 * its own limit, if that is smaller).
 *
 * @example
 *   clampMinimum(schedule, 120, 2000, 1) // the price of 120 input + 16 output tokens
 */
export function clampMinimum(schedule: PriceSchedule, promptTokens: number, maxOutputTokens: number, choices: number): Micros {
  return costOf(schedule, { inputTokens: promptTokens, outputTokens: Math.min(maxOutputTokens, CLAMP_MIN_OUTPUT_TOKENS * choices) });
}

/**
 * The largest output limit per choice whose worst case fits `amountMicros`, and that worst case.
 * Prices may be tiered, so this searches rather than divides.
 *
 * @example
 *   clampOutput(schedule, 120, 1, 5_000) // { perChoice: 492, costMicros: 4_990 } for gpt-4o
 */
export function clampOutput(schedule: PriceSchedule, promptTokens: number, choices: number, maxPerChoice: number, amountMicros: Micros): { perChoice: number; costMicros: Micros } {
  const cost = (k: number) => costOf(schedule, { inputTokens: promptTokens, outputTokens: k * choices });
  let lo = 0;
  let hi = maxPerChoice;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (cost(mid) <= amountMicros) lo = mid;
    else hi = mid - 1;
  }
  return { perChoice: lo, costMicros: cost(lo) };
}

/**
 * The request with its output limit lowered to `perChoice`: every limit field it carries, or
 * (none) the one its endpoint reads. o-series and gpt-5 chat models take only
 * `max_completion_tokens`.
 *
 * @example
 *   clampBody({ model: 'gpt-4o', max_tokens: 2000 }, 'chat', 300) // { model: 'gpt-4o', max_tokens: 300 }
 */
export function clampBody(body: Readonly<Record<string, unknown>>, endpoint: string, perChoice: number): Record<string, unknown> {
  const out: Record<string, unknown> = { ...body };
  const present = LIMIT_FIELDS.filter((f) => typeof body[f] === 'number');
  if (present.length > 0) {
    for (const f of present) out[f] = perChoice;
    return out;
  }
  const model = typeof body.model === 'string' ? body.model : '';
  const field = endpoint === 'responses' ? 'max_output_tokens' : endpoint === 'chat' && /^(o\d|gpt-5)/.test(model) ? 'max_completion_tokens' : 'max_tokens';
  out[field] = perChoice;
  return out;
}
