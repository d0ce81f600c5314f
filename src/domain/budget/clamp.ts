import type { Micros } from '../../core/money.js';
import { toCount } from './int.js';
import { costOf, type PriceSchedule } from './rates.js';

// `budget_policy.near_limit: clamp`: near the end of a budget, a call whose worst case no longer
// fits is sent with a lower output limit instead of being refused. The agent gets a normal,
// shorter answer (finish_reason "length"), and the reservation still bounds what it can cost.

/** Below this much output per choice an answer is not worth the call: the call is refused instead. */
export const CLAMP_MIN_OUTPUT_TOKENS = 16;

/** A reasoning model spends its first output tokens thinking: below this a clamped answer would be empty. */
export const CLAMP_MIN_REASONING_TOKENS = 1024;

/** OpenAI's reasoning series (o1, o3, o4-mini…), gpt-5*, and models that say they reason. */
const REASONING = /^(o\d+(?![a-z])|gpt-5)|reason/;

/**
 * The least output per choice a clamped call may be given: `CLAMP_MIN_OUTPUT_TOKENS`, more for a
 * reasoning model, and above the thinking the request grants (Anthropic refuses a `max_tokens`
 * that is not larger than `thinking.budget_tokens`).
 *
 * @example
 *   clampFloor('claude-sonnet-4-0', 2048) // 2049
 */
export function clampFloor(model: string, thinkingTokens: number): number {
  const name = model.toLowerCase().replace(/^.*\//, '');
  const thinking = toCount(thinkingTokens);
  return Math.max(CLAMP_MIN_OUTPUT_TOKENS, REASONING.test(name) ? CLAMP_MIN_REASONING_TOKENS : 0, thinking > 0 ? thinking + 1 : 0);
}

/**
 * The prompt a clamp plans for: the estimate plus 10% and 4 tokens a message of the conversation,
 * so a prompt the estimate under-counts (another tokenizer, tool schemas) does not push a clamped
 * call past the budget.
 *
 * @example
 *   clampPrompt(100, 1) // 114
 */
export function clampPrompt(promptTokens: number, messages: number): number {
  return Math.ceil((promptTokens * 11) / 10) + 4 * Math.max(1, messages);
}

/**
 * The least a clamped call may reserve: its prompt and `floor` output tokens per choice (or its
 * own limit, if that is smaller).
 *
 * @example
 *   clampMinimum(schedule, 120, 2000, 1) // the price of 120 input + 16 output tokens
 */
export function clampMinimum(schedule: PriceSchedule, promptTokens: number, maxOutputTokens: number, choices: number, floor = CLAMP_MIN_OUTPUT_TOKENS): Micros {
  return costOf(schedule, { inputTokens: promptTokens, outputTokens: Math.min(maxOutputTokens, floor * choices) });
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
