import type { Micros } from '../../core/money.js';
import type { PriceBook, PriceSource } from './price-book.js';
import { costOf } from './rates.js';
import { countPromptTokens, estimateMaxOutputTokens, type RequestBody } from './request-tokens.js';

export interface RequestEstimateInput {
  model: string;
  provider?: string;
  body: RequestBody;
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
  const prompt = countPromptTokens(input.model, input.body, input.exactMaxChars === undefined ? {} : { exactMaxChars: input.exactMaxChars });
  const output = estimateMaxOutputTokens(input.body, input.defaultMaxOutputTokens);
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
