import { countPromptTokens } from '../../domain/budget/index.js';
import { anthropicWire } from './anthropic.js';
import { openaiWire } from './openai.js';
import { responsesWire } from './responses.js';
import type { Endpoint, Wire } from './types.js';

/** The wire each metered endpoint speaks. */
export const WIRE_OF: Readonly<Record<Endpoint, Wire>> = { chat: openaiWire, completions: openaiWire, embeddings: openaiWire, messages: anthropicWire, responses: responsesWire };

/**
 * Prompt tokens of a request to `endpoint`, counted as the budget counts them (what the simulated
 * provider reports as usage and count_tokens answers).
 *
 * @example
 *   promptTokensOf('chat', 'gpt-4o', { messages: [{ role: 'user', content: 'hi' }] }) // 8
 */
export function promptTokensOf(endpoint: Endpoint, model: string, body: Record<string, unknown>): number {
  return countPromptTokens(model, WIRE_OF[endpoint].prompt(endpoint, body)).tokens;
}
