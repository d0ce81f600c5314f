import type { IncomingMessage, ServerResponse } from 'node:http';
import { isUtf8 } from 'node:buffer';
import { PayloadTooLargeError } from '../core/errors.js';
import { providerTimeoutMs, type GatewayConfig } from '../config/index.js';
import { collect, JsonTooDeepError, parseBoundedJson, readBody, sendJson } from '../server/index.js';
import { scrubberOf } from './credentials.js';
import { GatewayError } from './errors.js';
import type { OutputGuard } from './guard.js';
import type { Provider, UpstreamCall } from './providers/types.js';
import type { Router } from './router.js';
import type { Endpoint, Wire } from './wire/types.js';
import { COUNTED, METERED_ROUTES, promptTokensOf, WIRE_OF } from './wire/wires.js';

/** A metered LLM call, or one of the small unmetered surfaces the SDKs also use. */
export type Route =
  | { endpoint: Endpoint; wire: Wire }
  | { endpoint: 'models' | 'count_tokens' | 'batches'; wire: Wire }
  | { endpoint: 'model'; wire: Wire; id: string }
  /** A stored response (responses-state.ts): read, deleted, or its input items listed. */
  | { endpoint: 'stored'; wire: Wire; id: string; action: 'get' | 'delete' | 'input_items' }
  /** The Conversations API (conversations.ts): `id` is the conversation's, `itemId` an item's in it. */
  | { endpoint: 'conversation'; wire: Wire; action: ConversationAction; id: string | null; itemId: string | null };

/** What a Conversations API route does, by its method and path. */
export type ConversationAction = 'create' | 'get' | 'update' | 'delete' | 'list_items' | 'add_items' | 'get_item' | 'delete_item';

/** The wires by what they are to the routes below: the one of the model list, of the Responses API's stored state, and of token counts (and batches). */
const LISTS = WIRE_OF.chat;
const STATEFUL = WIRE_OF.responses;
const counting: Route = { endpoint: 'count_tokens', wire: COUNTED.wire };
const ROUTES: Record<string, Route> = {
  ...METERED_ROUTES,
  'GET /v1/models': { endpoint: 'models', wire: LISTS },
  'POST /v1/conversations': { endpoint: 'conversation', wire: STATEFUL, action: 'create', id: null, itemId: null },
  'POST /v1/messages/count_tokens': counting,
  'POST /messages/count_tokens': counting,
};

/**
 * Every `METHOD path` the gateway serves, for tables built on it (the RBAC matrix probes each).
 * @example GATEWAY_ROUTES.includes('POST /v1/responses') // true
 */
export const GATEWAY_ROUTES: readonly string[] = [
  ...Object.keys(ROUTES),
  'GET /v1/responses/{id}',
  'DELETE /v1/responses/{id}',
  'GET /v1/responses/{id}/input_items',
  'GET /v1/conversations/{id}',
  'POST /v1/conversations/{id}',
  'DELETE /v1/conversations/{id}',
  'GET /v1/conversations/{id}/items',
  'POST /v1/conversations/{id}/items',
  'GET /v1/conversations/{id}/items/{item_id}',
  'DELETE /v1/conversations/{id}/items/{item_id}',
];

const BATCHES = /^(\/v1)?\/messages\/batches(\/|$)/;
const MODEL = /^\/v1\/models\/([^/]+)$/;
const STORED = /^\/v1\/responses\/([^/]+)(\/input_items)?$/;
const CONVERSATION = /^\/v1\/conversations\/([^/]+)(?:\/(items)(?:\/([^/]+))?)?$/;
/** `METHOD` and the path's shape (a conversation, its items, one item) → what the route does. */
const CONVERSATION_ACTIONS: Record<string, ConversationAction> = {
  'GET conversation': 'get',
  'POST conversation': 'update',
  'DELETE conversation': 'delete',
  'GET items': 'list_items',
  'POST items': 'add_items',
  'GET item': 'get_item',
  'DELETE item': 'delete_item',
};

/** The paths the gateway serves, for the answer to any other. */
export const SERVED =
  'The gateway serves /v1/chat/completions, /v1/completions, /v1/embeddings, /v1/responses (and GET/DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items), ' +
  '/v1/conversations (and /v1/conversations/{id}, /v1/conversations/{id}/items, /v1/conversations/{id}/items/{item_id}), /v1/models (and /v1/models/{id}), ' +
  '/v1/messages and /v1/messages/count_tokens (also without /v1).';

export const BATCHES_REFUSED =
  'Iron Cage does not pass on the Message Batches API: a batch runs later, outside the budget check and the output redaction ' +
  'every call through the cage gets. Send each request to /v1/messages instead (metered and budgeted as it happens).';

/**
 * The route for a request, or undefined (answered 404 in the wire the caller speaks).
 * @example routeOf('GET', '/v1/models/gpt-4o') // { endpoint: 'model', wire: openaiWire, id: 'gpt-4o' }
 */
export function routeOf(method: string | undefined, path: string): Route | undefined {
  const exact = ROUTES[`${method} ${path}`];
  if (exact) return exact;
  if (BATCHES.test(path)) return { endpoint: 'batches', wire: COUNTED.wire };
  const stored = method === 'GET' || method === 'DELETE' ? STORED.exec(path) : null;
  if (stored && !(method === 'DELETE' && stored[2])) return { endpoint: 'stored', wire: STATEFUL, id: decoded(stored[1]!), action: stored[2] ? 'input_items' : method === 'GET' ? 'get' : 'delete' };
  const conv = CONVERSATION.exec(path);
  if (conv) {
    const action = CONVERSATION_ACTIONS[`${method} ${conv[3] ? 'item' : conv[2] ? 'items' : 'conversation'}`];
    if (action) return { endpoint: 'conversation', wire: STATEFUL, action, id: decoded(conv[1]!), itemId: conv[3] === undefined ? null : decoded(conv[3]) };
  }
  const m = method === 'GET' ? MODEL.exec(path) : null;
  return m ? { endpoint: 'model', wire: LISTS, id: decoded(m[1]!) } : undefined;
}

/** A path segment decoded; a malformed escape stays as it came (it then names no model). */
function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

const METERED: ReadonlySet<string> = new Set(Object.values(METERED_ROUTES).map((r) => r.endpoint));

/**
 * Whether a route is a metered call (its door is `LLM_CALL`), not one of the other surfaces.
 * @example metered(routeOf('POST', '/v1/chat/completions')!) // true
 */
export const metered = (r: Route): r is { endpoint: Endpoint; wire: Wire } => METERED.has(r.endpoint);

/**
 * The route for a request as it came: `routeOf`, the model list (`GET /v1/models`, one path for
 * every SDK) in the wire the request speaks.
 * @example routeFor(req, '/v1/models') // { endpoint: 'models', wire: anthropicWire } for a request with `anthropic-version`
 */
export function routeFor(req: IncomingMessage, path: string): Route | undefined {
  const route = routeOf(req.method, path);
  if (route?.endpoint !== 'models' && route?.endpoint !== 'model') return route;
  const spoken = wireFor(req, path);
  return spoken === route.wire ? route : { ...route, wire: spoken };
}

/** The wire a request speaks by its path and headers: Anthropic's for its paths and its SDK (which sends `anthropic-version`). */
export function wireFor(req: IncomingMessage, path: string): Wire {
  return path.startsWith('/v1/messages') || path.startsWith('/messages') || req.headers['anthropic-version'] !== undefined ? COUNTED.wire : LISTS;
}

/** A body that could not be read, said the providers' way, and naming whose limit it is (the provider's may be larger). */
export function rethrowBodyError(e: unknown): never {
  if (e instanceof PayloadTooLargeError) throw new GatewayError('too_large', `Request body is larger than the gateway's limit of ${e.limit} bytes.`);
  throw e;
}

/**
 * A request body as a JSON object, or the OpenAI-worded refusal (in the caller's wire).
 * @example const { json, text } = await readJsonObject(req, 1_000_000)
 */

export async function readJsonObject(req: IncomingMessage, maxBytes: number): Promise<{ json: Record<string, unknown>; text: string }> {
  const bytes = await readBody(req, maxBytes).catch(rethrowBodyError);
  // Read as U+FFFD, a prompt would reach the model (and be charged) changed.
  if (!isUtf8(bytes)) throw new GatewayError('invalid_request', 'We could not parse the JSON body of your request: it is not valid UTF-8.');
  const text = bytes.toString('utf8');
  let json: unknown;
  try {
    json = parseBoundedJson(text);
  } catch (e) {
    if (e instanceof JsonTooDeepError) throw new GatewayError('invalid_request', e.message);
    throw new GatewayError('invalid_request', 'We could not parse the JSON body of your request. The body must be valid JSON.');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new GatewayError('invalid_request', 'The request body must be a JSON object.');
  return { json: json as Record<string, unknown>, text };
}

export interface SurfaceDeps {
  router: Router;
  config: GatewayConfig;
  guard: Pick<OutputGuard, 'prompt'>;
}

/**
 * An unmetered call (a model list, a token count) and its answer, read whole with the
 * provider's own credentials taken out: whatever iron-cage attached never reaches the agent.
 */
async function upstreamCall(provider: Provider, config: GatewayConfig, c: Pick<UpstreamCall, 'endpoint' | 'method' | 'body' | 'json'>): Promise<{ status: number; body: Buffer }> {
  const up = await provider.call({ ...c, stream: false, headers: {}, signal: AbortSignal.timeout(providerTimeoutMs(config, provider.name)) });
  return { status: up.status, body: scrubberOf(provider).buffer(await collect(up.body, 1024 * 1024)).body };
}

/**
 * `GET /v1/models` as the provider of the caller's wire lists them (Anthropic's for a request with
 * `anthropic-version`, as its SDK sends), or one of them (`GET /v1/models/{id}`) as that wire's
 * model object; an id not in the list is the wire's 404.
 * @example await models(deps, res, 'gpt-4o', openaiWire) // 200 {"id":"gpt-4o","object":"model",...}
 */
export async function models(d: SurfaceDeps, res: ServerResponse, id: string | null, wire: Wire): Promise<void> {
  const provider = d.router.effective(wire.name);
  const up = await upstreamCall(provider, d.config, { endpoint: 'models', method: 'GET', body: null, json: null });
  const raw = up.body.toString('utf8');
  // A real provider answers in its own shape; the simulated one in OpenAI's, converted here.
  const entry = provider.name === wire.name ? undefined : wire.modelEntry;
  if (up.status >= 400 || (id === null && !entry)) return void sendJson(res, up.status, raw);
  let list: Array<{ id?: unknown; created?: unknown }> = [];
  try {
    const parsed = JSON.parse(raw) as { data?: unknown };
    if (Array.isArray(parsed.data)) list = parsed.data;
  } catch {
    /* not a list: nothing in it */
  }
  const shaped: Array<{ id?: unknown }> = entry ? list.map((m) => entry(m) as { id?: unknown }) : list;
  if (id === null) return void sendJson(res, 200, { data: shaped, has_more: false, first_id: shaped[0]?.id ?? null, last_id: shaped.at(-1)?.id ?? null });
  const found = shaped.find((m) => m?.id === id);
  if (!found) throw new GatewayError('not_found', `The model '${id}' does not exist or you do not have access to it.`, false);
  sendJson(res, 200, found);
}

/**
 * `POST /v1/messages/count_tokens`, free and unmetered as at Anthropic: a real Anthropic upstream
 * counts; otherwise (simulated, an upstream that cannot, or prompts protected by
 * `safety.redact_prompts`, which must not leave unredacted for a mere count) we count with the
 * same BPE counter that prices the call, so the number matches what the call will report.
 * @example await countTokens(deps, res, { model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'hi' }] }) // 200 {"input_tokens":8}
 */
export async function countTokens(d: SurfaceDeps, res: ServerResponse, body: Record<string, unknown>, text: string): Promise<void> {
  // The messages checks apply; max_tokens is not part of a count.
  const invalid = COUNTED.wire.validate(COUNTED.endpoint, { ...body, max_tokens: 1 });
  if (invalid) throw new GatewayError('invalid_request', invalid);
  const model = (body.model as string).trim();
  const resolved = d.router.resolve(model, COUNTED.wire.name);
  if (!resolved.ok) throw new GatewayError('invalid_request', resolved.message);
  if (resolved.provider.real && !d.guard.prompt) {
    const up = await upstreamCall(resolved.provider, d.config, { endpoint: 'count_tokens', method: 'POST', body: text, json: body }).catch(() => null);
    if (up && up.status < 400) return void sendJson(res, up.status, up.body);
  }
  sendJson(res, 200, { input_tokens: promptTokensOf(COUNTED.endpoint, model, body) });
}
