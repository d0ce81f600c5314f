import type { GatewayConfig } from '../../../config/index.js';
import type { PriceBook } from '../../../domain/budget/index.js';
import type { UpstreamCall } from '../types.js';

/** What a model does, as the simulator serves it; null: no provider has it. */
export type ModelKind = 'chat' | 'embedding' | null;

/** A model's kind by its name: every embedding model's says so (`text-embedding-3-small`, `voyage-3` aside, which no wire here serves). */
const kindByName = (model: string): Exclude<ModelKind, null> => (/embed/i.test(model) ? 'embedding' : 'chat');

/**
 * The models the simulated provider has, so it fails as a provider does on one nobody has: those
 * with a price of their own (the maintained catalog, whose aliases such as `-latest` included,
 * or a configured `pricing` override), and those the operator named (`model_fallbacks`, on
 * either side, and `routing`, exact or by prefix). A name priced only by its family
 * (`gpt-4o-2099-01-01`) or at the default price is no provider's model.
 *
 * @example
 *   const kindOf = simulatedCatalog(book, config.gateway);
 *   kindOf('gpt-4o')                 // 'chat'
 *   kindOf('text-embedding-3-small') // 'embedding'
 *   kindOf('no-such-model-xyz')      // null
 */
export function simulatedCatalog(book: Pick<PriceBook, 'lookup'>, g: Pick<GatewayConfig, 'modelFallbacks' | 'routing'>): (model: string) => ModelKind {
  const named = new Set([...Object.keys(g.modelFallbacks), ...Object.values(g.modelFallbacks).flat()]);
  const prefixes: string[] = [];
  for (const k of Object.keys(g.routing)) {
    if (k.endsWith('*')) prefixes.push(k.slice(0, -1));
    else named.add(k);
  }
  return (model) => {
    const source = book.lookup(model).source;
    const known = source === 'catalog' || source === 'override' || named.has(model) || UNLISTED.has(model) || prefixes.some((p) => model.startsWith(p));
    return known ? kindByName(model) : null;
  };
}

/** Models providers serve that the price data does not list yet, which a coding agent defaults to (Codex CLI 0.169-0.171): priced by their family, served here. */
const UNLISTED = new Set(['gpt-6.1-sol', 'gpt-6.2-sol']);

/** Without a catalog every model is one, of the kind its name says. */
export const anyModel = (model: string): ModelKind => kindByName(model);

/**
 * A real provider's refusal of a model it does not have, or of one that does not do what the
 * endpoint asks, in the wire's own shape; null when the call may go ahead.
 * OpenAI: 404 `model_not_found` for an unknown model; 403 "You are not allowed to generate
 * embeddings from this model" for a chat model on /v1/embeddings; 404 "This is not a chat
 * model…" for an embedding model on a chat endpoint. Anthropic: 404 `not_found_error` "model: x".
 */
export function modelRefusal(c: Pick<UpstreamCall, 'endpoint'>, model: string, kind: ModelKind): { status: number; body: unknown } | null {
  const anthropic = c.endpoint === 'messages' || c.endpoint === 'count_tokens';
  if (anthropic) return kind === 'chat' ? null : { status: 404, body: { type: 'error', error: { type: 'not_found_error', message: `model: ${model}` } } };
  const openai = (status: number, message: string, param: string | null, code: string | null) => ({ status, body: { error: { message, type: 'invalid_request_error', param, code } } });
  if (kind === null) return openai(404, `The model \`${model}\` does not exist or you do not have access to it.`, null, 'model_not_found');
  if (c.endpoint === 'embeddings') return kind === 'embedding' ? null : openai(403, 'You are not allowed to generate embeddings from this model', null, null);
  if (kind === 'embedding') {
    const path = c.endpoint === 'chat' ? 'v1/chat/completions' : `v1/${c.endpoint}`;
    return openai(404, `This is not a chat model and thus not supported in the ${path} endpoint. Did you mean to use v1/completions?`, 'model', null);
  }
  return null;
}
