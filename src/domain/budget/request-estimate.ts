import type { Micros } from '../../core/money.js';
import type { PriceBook, PriceSource } from './price-book.js';
import { costOf } from './rates.js';
import type { OutputAsk, PromptParts } from '../../core/prompt.js';
import { countPromptTokens, estimateMaxOutputTokens } from './prompt-tokens.js';

export interface RequestEstimateInput {
  model: string;
  provider?: string;
  /** The request's prompt and what it asks of the output, as its wire reads them. */
  prompt: PromptParts;
  output: OutputAsk;
  /** Output assumed when the body sets no limit; 0 for embeddings. */
  defaultMaxOutputTokens?: number;
  exactMaxChars?: number;
}

export interface RequestEstimate {
  promptTokens: number;
  promptMethod: 'bpe' | 'estimate';
  maxOutputTokens: number;
  outputSource: 'request' | 'default';
  /** What to reserve: the prompt plus all the output the request may produce, at full input price. */
  costMicros: Micros;
  source: PriceSource;
  matched: string | null;
  unknownModel: boolean;
}

/**
 * The worst-case cost of a request before it is forwarded, for `BudgetTracker.reserve`. Cache
 * discounts are ignored (not known until the provider reports usage), so they only ever make
 * the settled amount smaller than the reservation.
 */
export function estimateRequestCost(book: PriceBook, input: RequestEstimateInput): RequestEstimate {
  const prompt = countPromptTokens(input.model, input.prompt, input.exactMaxChars === undefined ? {} : { exactMaxChars: input.exactMaxChars });
  const output = estimateMaxOutputTokens(input.output, input.defaultMaxOutputTokens);
  const price = book.lookup(input.model, input.provider);
  return {
    promptTokens: prompt.tokens,
    promptMethod: prompt.method,
    maxOutputTokens: output.tokens,
    outputSource: output.source,
    costMicros: costOf(price.schedule, { inputTokens: prompt.tokens, outputTokens: output.tokens }),
    source: price.source,
    matched: price.matched,
    unknownModel: price.unknownModel,
  };
}
