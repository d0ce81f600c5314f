import type { Attributes } from '@opentelemetry/api';
import { errorType, OPERATION, providerName } from './names.js';
import type { ObservedAttempt, ObservedCall, ObservedInjection, ObservedToolCall } from './observed.js';

// What each span says, by the GenAI conventions' names (gen-ai-spans.md, gen-ai-agent-spans.md)
// where they have one, ours under `iron_cage.` where they have none. Nothing here is free text
// from a prompt or an answer: content is tracing-content.ts's, and only on opt-in. Values the
// agent chose (ids, formats) are set as sent: Tracing passes every attribute map built here
// through the export guard (exported.ts), which replaces one holding PII and bounds its length.

/** The conventions' operation name of a call's endpoint. */
export const operationOf = (c: Pick<ObservedCall, 'endpoint'>): string => OPERATION[c.endpoint] ?? c.endpoint;

/**
 * `error.type` of an LLM call: our refusal's code, an upstream's status, a broken connection's
 * kind (names.ts `errorType`); a call the agent hung up on is `client_aborted`. Null when it ended well.
 */
export function llmErrorType(c: ObservedCall, error: unknown): string | null {
  if (error) return errorType(error);
  const row = c.row;
  if (!row) return null;
  if (row.status === 'aborted') return 'client_aborted';
  if (row.status === 'blocked') return 'pii_blocked';
  return errorType(null, row.httpStatus) ?? (row.status === 'error' ? '_OTHER' : null);
}

/** A chat / text_completion / embeddings CLIENT span's attributes, from the call's record once it is over. */
export function llmAttributes(c: ObservedCall, err: string | null, agentName: string | null): Attributes {
  const a: Attributes = {
    'gen_ai.operation.name': operationOf(c),
    'gen_ai.provider.name': providerName(c.provider ?? '_OTHER'),
    'iron_cage.agent.id': c.agentId,
  };
  if (agentName) a['iron_cage.agent.name'] = agentName;
  if (c.requestModel !== null) a['gen_ai.request.model'] = c.requestModel;
  const responseModel = c.answer?.model ?? c.row?.model ?? c.model;
  if (responseModel && c.attempts.length > 0) a['gen_ai.response.model'] = responseModel;
  if (c.stream) a['gen_ai.request.stream'] = true;
  if (c.request) requestParams(c, c.request, a);
  if (c.answer?.id) a['gen_ai.response.id'] = c.answer.id;
  const reasons = c.answer?.finishReasons?.filter((r) => typeof r === 'string');
  if (reasons && reasons.length > 0) a['gen_ai.response.finish_reasons'] = reasons;
  if (c.stream && c.firstChunkMs !== null) a['gen_ai.response.time_to_first_chunk'] = c.firstChunkMs / 1000;
  if (c.server) {
    a['server.address'] = c.server.address;
    a['server.port'] = c.server.port;
  }
  const row = c.row;
  if (row) {
    a['gen_ai.usage.input_tokens'] = row.promptTokens;
    if (c.endpoint !== 'embeddings') a['gen_ai.usage.output_tokens'] = row.completionTokens;
    a['iron_cage.cost.usd'] = row.costMicros / 1_000_000;
    a['iron_cage.usage.source'] = row.usageSource;
    a['iron_cage.call.status'] = row.status;
    if (row.httpStatus !== null && row.httpStatus !== undefined) a['http.response.status_code'] = row.httpStatus;
    if (row.redactions > 0) a['iron_cage.pii.redactions'] = row.redactions;
  }
  if (c.cacheReadTokens !== null) a['gen_ai.usage.cache_read.input_tokens'] = c.cacheReadTokens;
  if (c.cacheWriteTokens !== null) a['gen_ai.usage.cache_creation.input_tokens'] = c.cacheWriteTokens;
  a['iron_cage.attempts'] = row?.attempts ?? c.attempts.length;
  if (c.fallbacks.length > 0) {
    a['iron_cage.fallback.from'] = c.fallbacks.map((f) => f.from);
    a['iron_cage.fallback.to'] = c.fallbacks.map((f) => f.to);
    a['iron_cage.fallback.reason'] = c.fallbacks.map((f) => f.reason);
  }
  if (c.budgetWaitMs > 0) a['iron_cage.budget.wait_ms'] = round(c.budgetWaitMs);
  injectionAttributes(c.injection, a);
  if (err !== null) a['error.type'] = err;
  return a;
}

/** A prompt injection a call carried: where, what was done, the signals and the score (never the text). */
function injectionAttributes(i: ObservedInjection | null | undefined, a: Attributes): void {
  if (!i) return;
  a['iron_cage.injection.source'] = i.source;
  a['iron_cage.injection.action'] = i.action;
  a['iron_cage.injection.signals'] = i.signals;
  a['iron_cage.injection.score'] = i.score;
}

/** The request's own settings the conventions name: only those the agent sent (no default filled in). */
function requestParams(c: ObservedCall, b: Record<string, unknown>, a: Attributes): void {
  const num = (k: string, v: unknown) => {
    if (typeof v === 'number' && Number.isFinite(v)) a[k] = v;
  };
  num('gen_ai.request.max_tokens', b.max_tokens ?? b.max_completion_tokens ?? b.max_output_tokens);
  num('gen_ai.request.temperature', b.temperature);
  num('gen_ai.request.top_p', b.top_p);
  num('gen_ai.request.top_k', b.top_k);
  num('gen_ai.request.frequency_penalty', b.frequency_penalty);
  num('gen_ai.request.presence_penalty', b.presence_penalty);
  num('gen_ai.request.seed', b.seed);
  if (typeof b.n === 'number' && b.n !== 1) a['gen_ai.request.choice.count'] = b.n;
  const format = (b.response_format as { type?: unknown } | undefined)?.type ?? (b.text as { format?: { type?: unknown } } | undefined)?.format?.type;
  if (typeof format === 'string') a['gen_ai.output.type'] = format === 'text' ? 'text' : format.startsWith('json') ? 'json' : format;
  if (c.endpoint === 'embeddings') {
    num('gen_ai.embeddings.dimension.count', b.dimensions);
    if (typeof b.encoding_format === 'string') a['gen_ai.request.encoding_formats'] = [b.encoding_format];
  }
  // A Responses conversation is one (`conv_…`); a previous response is the turn it continues, not a conversation.
  const conv = b.conversation;
  const convId = typeof conv === 'string' ? conv : typeof (conv as { id?: unknown } | null)?.id === 'string' ? (conv as { id: string }).id : null;
  if (convId !== null) a['gen_ai.conversation.id'] = convId;
  if (typeof b.previous_response_id === 'string') a['iron_cage.response.previous_id'] = b.previous_response_id;
}

/** One upstream request of a call, as a span event's attributes. */
export function attemptAttributes(t: ObservedAttempt): Attributes {
  const a: Attributes = { 'gen_ai.provider.name': providerName(t.provider), 'gen_ai.request.model': t.model, 'iron_cage.attempt.duration_ms': round(t.durationMs) };
  if (t.status !== null) a['http.response.status_code'] = t.status;
  if (t.error !== null) a['iron_cage.attempt.error'] = t.error;
  const err = t.status !== null && t.status >= 400 ? String(t.status) : t.error !== null ? (/timed? ?out/i.test(t.error) ? 'timeout' : '_OTHER') : null;
  if (err !== null) a['error.type'] = err;
  return a;
}

/** `error.type` of a tool-proxy call: our refusal's code, else the status the agent got when it is an error. */
export function toolErrorType(t: ObservedToolCall): string | null {
  return t.errorCode ?? (t.row.status >= 400 ? String(t.row.status) : null);
}

/** An execute_tool span's attributes. */
export function toolAttributes(t: ObservedToolCall, err: string | null): Attributes {
  const r = t.row;
  const a: Attributes = {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': r.service,
    'gen_ai.tool.type': 'extension',
    'http.request.method': r.method,
    'http.response.status_code': r.status,
    'iron_cage.tool.reason': r.reason,
  };
  if (t.mcp) {
    // The GenAI conventions' MCP attributes: the tool is the MCP tool, the method MCP's, no HTTP of the agent's.
    a['gen_ai.tool.name'] = t.mcp.tool;
    a['mcp.method.name'] = 'tools/call';
    a['iron_cage.mcp.server'] = t.mcp.server;
    if (t.mcp.sessionId) a['mcp.session.id'] = t.mcp.sessionId;
    delete a['http.request.method'];
    delete a['http.response.status_code'];
  }
  if (r.agentId) a['iron_cage.agent.id'] = r.agentId;
  if (r.tier) a['iron_cage.tool.tier'] = r.tier;
  if (r.upstreamStatus !== null && r.upstreamStatus !== undefined) a['iron_cage.tool.upstream_status'] = r.upstreamStatus;
  if (r.upstreamMs !== null && r.upstreamMs !== undefined) a['iron_cage.tool.upstream_ms'] = round(r.upstreamMs);
  if (r.redactions > 0) a['iron_cage.pii.redactions'] = r.redactions;
  if (r.fault) a['iron_cage.tool.fault'] = true;
  injectionAttributes(t.injection, a);
  if (err !== null) a['error.type'] = err;
  return a;
}

/** What a run adds up to, kept while it runs: its calls' usage, cost and providers. */
export interface RunTotals {
  inputTokens: number;
  outputTokens: number;
  costMicros: number;
  llmCalls: number;
  toolCalls: number;
  providers: Map<string, number>;
}

export const emptyTotals = (): RunTotals => ({ inputTokens: 0, outputTokens: 0, costMicros: 0, llmCalls: 0, toolCalls: 0, providers: new Map() });

/**
 * An invoke_agent span's attributes. `gen_ai.provider.name` (required) is the provider most of
 * its calls went to (every one, when only one served it: the usual case), `iron_cage` when it
 * made none; every provider it used is listed in `iron_cage.providers`.
 */
export function runAttributes(agentId: string, name: string | null, t: RunTotals): Attributes {
  let main = 'iron_cage';
  let most = 0;
  for (const [p, n] of t.providers) if (n > most) [main, most] = [p, n];
  const a: Attributes = {
    'gen_ai.operation.name': 'invoke_agent',
    'gen_ai.provider.name': main,
    'gen_ai.agent.id': agentId,
    'gen_ai.usage.input_tokens': t.inputTokens,
    'gen_ai.usage.output_tokens': t.outputTokens,
    'iron_cage.cost.usd': t.costMicros / 1_000_000,
    'iron_cage.llm_calls': t.llmCalls,
    'iron_cage.tool_calls': t.toolCalls,
  };
  if (name) a['gen_ai.agent.name'] = name;
  if (t.providers.size > 0) a['iron_cage.providers'] = [...t.providers.keys()];
  return a;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
