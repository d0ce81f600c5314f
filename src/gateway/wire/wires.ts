import { countPromptTokens } from '../../domain/budget/index.js';
import { anthropicWire } from './anthropic/wire.js';
import { openaiWire } from './openai/wire.js';
import { responsesWire } from './responses/wire.js';
import type { Endpoint, Wire } from './types.js';

// Every metered endpoint by name, and what sets one apart, in one place: outside gateway/wire/
// the gateway names no endpoint and no wire (the architecture test holds it to that).

/** The wire each metered endpoint speaks. */
export const WIRE_OF: Readonly<Record<Endpoint, Wire>> = { chat: openaiWire, completions: openaiWire, embeddings: openaiWire, messages: anthropicWire, responses: responsesWire };

/** The metered routes, `METHOD path` → endpoint. The printed ANTHROPIC_BASE_URL has no /v1: the Anthropic SDK adds it, the AI SDK does not. */
export const METERED_ROUTES: Readonly<Record<string, { endpoint: Endpoint; wire: Wire }>> = {
  'POST /v1/chat/completions': { endpoint: 'chat', wire: openaiWire },
  'POST /v1/completions': { endpoint: 'completions', wire: openaiWire },
  'POST /v1/embeddings': { endpoint: 'embeddings', wire: openaiWire },
  'POST /v1/responses': { endpoint: 'responses', wire: responsesWire },
  'POST /v1/messages': { endpoint: 'messages', wire: anthropicWire },
  'POST /messages': { endpoint: 'messages', wire: anthropicWire },
};

/** The path an agent calls to speak each wire's chat: where a model routed to that provider is called. */
export const PATH_OF: Readonly<Record<Wire['name'], string>> = { openai: '/v1/chat/completions', anthropic: '/v1/messages' };

/** The endpoint whose requests a token count (`/v1/messages/count_tokens`) counts, and its wire. */
export const COUNTED = { endpoint: 'messages', wire: anthropicWire } as const satisfies { endpoint: Endpoint; wire: Wire };

/** Whether an endpoint produces output: an embedding does not (no output tokens, no text to scan, never streamed). */
export const producesOutput = (endpoint: Endpoint): boolean => endpoint !== 'embeddings';

/** Whether a request to this endpoint may continue or be kept as a stored turn (the Responses API's `store`, `previous_response_id`, `conversation`). */
export const keepsTurns = (endpoint: Endpoint): boolean => endpoint === 'responses';

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
