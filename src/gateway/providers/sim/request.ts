/**
 * Chat, completions and messages bodies as the generator's wire-neutral `SimRequest`. Bodies
 * were validated by the wire, but they are still agent input: nothing here recurses into them,
 * and JSON text is produced only where a failure (a 100k-deep value) has a fallback.
 */
import type { JsonSchema, SimFormat, SimRequest, SimTool, SimToolCall, SimToolChoice, SimTurn } from './types.js';

type Body = Record<string, any>;

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSON text of agent input, or `fallback` when it is too deep to stringify. */
export function safeJson(v: unknown, fallback = ''): string {
  try {
    return JSON.stringify(v) ?? fallback;
  } catch {
    return fallback;
  }
}

/** The text of a content value: a string, or the text of its parts (one level, never deeper). */
export function partText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((p) => (typeof p === 'string' ? p : typeof p?.text === 'string' ? p.text : '')).join('\n');
  return '';
}

function format(f: unknown): SimFormat {
  if (!isObject(f)) return { type: 'text' };
  if (f.type === 'json_object') return { type: 'json_object' };
  if (f.type === 'json_schema') {
    // OpenAI nests it under `json_schema`; Anthropic's output_config.format is flat.
    const js = isObject(f.json_schema) ? f.json_schema : f;
    return { type: 'json_schema', ...(typeof js.name === 'string' ? { name: js.name } : {}), schema: isObject(js.schema) ? js.schema : {}, strict: js.strict === true };
  }
  return { type: 'text' };
}

function base(model: string, seed: string): Omit<SimRequest, 'turns'> {
  return { model, tools: [], toolChoice: 'auto', parallelToolCalls: true, format: { type: 'text' }, n: 1, logprobs: null, maxTokens: null, seed };
}

const intOr = (v: unknown, d: number) => (typeof v === 'number' && Number.isInteger(v) ? v : d);

/**
 * An OpenAI chat or legacy completions body as a `SimRequest`.
 * @example openaiSimRequest({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, 'gpt-4o', '{}').turns // [{ role: 'user', text: 'hi' }]
 */
export function openaiSimRequest(body: Body, model: string, raw: string): SimRequest {
  const turns: SimTurn[] = [];
  if (typeof body.prompt === 'string') turns.push({ role: 'user', text: body.prompt });
  else if (Array.isArray(body.prompt)) turns.push({ role: 'user', text: body.prompt.map(String).join('\n') });
  for (const m of Array.isArray(body.messages) ? body.messages : []) {
    const role = m?.role === 'system' || m?.role === 'developer' ? 'system' : m?.role === 'assistant' ? 'assistant' : m?.role === 'tool' || m?.role === 'function' ? 'tool' : 'user';
    const turn: SimTurn = { role, text: partText(m?.content) };
    if (role === 'assistant' && Array.isArray(m.tool_calls)) {
      turn.toolCalls = m.tool_calls.filter(isObject).map((c: Body): SimToolCall => ({ id: String(c.id ?? ''), name: String(c.function?.name ?? ''), arguments: String(c.function?.arguments ?? '') }));
    }
    if (role === 'tool') turn.toolCallId = String(m.tool_call_id ?? '');
    turns.push(turn);
  }
  const tools: SimTool[] = [];
  for (const t of Array.isArray(body.tools) ? body.tools : []) {
    const fn = isObject(t) && isObject(t.function) ? t.function : null;
    if (fn && typeof fn.name === 'string')
      tools.push({ name: fn.name, ...(typeof fn.description === 'string' ? { description: fn.description } : {}), ...(isObject(fn.parameters) ? { parameters: fn.parameters as JsonSchema } : {}) });
  }
  const tc = body.tool_choice;
  const toolChoice: SimToolChoice = isObject(tc) && typeof tc.function?.name === 'string' ? { name: tc.function.name } : tc === 'none' || tc === 'required' ? tc : 'auto';
  const maxTokens = [body.max_completion_tokens, body.max_tokens].find((v) => typeof v === 'number') ?? null;
  // Legacy completions take `logprobs: <top count>`; chat takes `logprobs: true` + `top_logprobs`.
  const logprobs = typeof body.logprobs === 'number' ? { top: body.logprobs } : body.logprobs === true ? { top: intOr(body.top_logprobs, 0) } : null;
  return {
    ...base(model, safeJson(body.messages ?? body.prompt ?? '', raw)),
    turns,
    tools,
    toolChoice,
    parallelToolCalls: body.parallel_tool_calls !== false,
    format: format(body.response_format),
    n: Math.max(1, intOr(body.n, 1)),
    logprobs,
    maxTokens: maxTokens as number | null,
  };
}

function anthropicTurns(m: Body): SimTurn[] {
  const role = m?.role === 'assistant' ? 'assistant' : 'user';
  const blocks: unknown[] = Array.isArray(m?.content) ? m.content : [];
  const text =
    typeof m?.content === 'string'
      ? m.content
      : blocks
          .map((b: any) => (b?.type === 'text' && typeof b.text === 'string' ? b.text : ''))
          .filter((t) => t !== '')
          .join('\n');
  const main: SimTurn = { role, text };
  if (role === 'assistant') {
    const calls = blocks.filter((b: any) => b?.type === 'tool_use').map((b: any): SimToolCall => ({ id: String(b.id ?? ''), name: String(b.name ?? ''), arguments: safeJson(b.input ?? {}, '{}') }));
    if (calls.length > 0) main.toolCalls = calls;
    return [main];
  }
  // Tool results ride in user turns; they come last so the answer knows it follows a call.
  const results: SimTurn[] = blocks.filter((b: any) => b?.type === 'tool_result').map((b: any) => ({ role: 'tool', text: partText(b.content), toolCallId: String(b.tool_use_id ?? '') }));
  return results.length > 0 && text === '' ? results : [main, ...results];
}

/**
 * An Anthropic messages body as a `SimRequest`.
 * @example anthropicSimRequest({ model: 'claude-3-5-haiku-latest', max_tokens: 9, messages: [{ role: 'user', content: 'hi' }] }, 'claude-3-5-haiku-latest', '{}').maxTokens // 9
 */
export function anthropicSimRequest(body: Body, model: string, raw: string): SimRequest {
  const turns: SimTurn[] = [];
  if (body.system !== undefined) turns.push({ role: 'system', text: partText(body.system) });
  for (const m of Array.isArray(body.messages) ? body.messages : []) turns.push(...anthropicTurns(m));
  const tools: SimTool[] = [];
  for (const t of Array.isArray(body.tools) ? body.tools : []) {
    // Server tools (web search, code execution) have a `type` and no schema: the provider runs them.
    if (isObject(t) && typeof t.name === 'string' && isObject(t.input_schema))
      tools.push({ name: t.name, ...(typeof t.description === 'string' ? { description: t.description } : {}), parameters: t.input_schema as JsonSchema });
  }
  const tc = isObject(body.tool_choice) ? body.tool_choice : {};
  const toolChoice: SimToolChoice = tc.type === 'tool' && typeof tc.name === 'string' ? { name: tc.name } : tc.type === 'any' ? 'required' : tc.type === 'none' ? 'none' : 'auto';
  return {
    ...base(model, safeJson(body.messages ?? '', raw)),
    turns,
    tools,
    toolChoice,
    parallelToolCalls: tc.disable_parallel_tool_use !== true,
    format: format(isObject(body.output_config) ? body.output_config.format : body.output_format),
    maxTokens: typeof body.max_tokens === 'number' ? body.max_tokens : null,
  };
}
