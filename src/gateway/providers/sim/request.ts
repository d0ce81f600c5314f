/**
 * A request as the generator's wire-neutral `SimRequest`: the conversation and tools from the
 * prompt its wire read (the one reader the budget and the prompt guard use too), the output limit
 * from the wire, and the parameters that shape an answer (tool choice, format, choices, logprobs)
 * as each simulated wire takes them. Bodies were validated by the wire, but they are still agent
 * input: nothing here recurses into them, and JSON text is produced only where a failure (a
 * 100k-deep value) has a fallback.
 */
import type { PromptPart, PromptParts } from '../../../core/prompt.js';
import type { Endpoint } from '../../wire/types.js';
import { WIRE_OF } from '../../wire/wires.js';
import type { SimFormat, SimRequest, SimTool, SimToolCall, SimToolChoice, SimTurn } from './types.js';

type Body = Record<string, any>;
type Params = Omit<SimRequest, 'model' | 'turns' | 'tools' | 'maxTokens'>;

const isObject = (v: unknown): v is Record<string, any> => typeof v === 'object' && v !== null && !Array.isArray(v);
const intOr = (v: unknown, d: number) => (typeof v === 'number' && Number.isInteger(v) ? v : d);

/** JSON text of agent input, or `fallback` when it is too deep to stringify. */
export function safeJson(v: unknown, fallback = ''): string {
  try {
    return JSON.stringify(v) ?? fallback;
  } catch {
    return fallback;
  }
}

/** The text of some parts, one line a part: what was said, without images, calls or results. */
function textOf(parts: readonly PromptPart[]): string {
  const texts: string[] = [];
  for (const p of parts) {
    if (p.type === 'text' && p.text !== '') texts.push(p.text);
    else if (p.type === 'other' && p.parts.length > 0) texts.push(textOf(p.parts));
  }
  return texts.join('\n');
}

function callOf(p: Extract<PromptPart, { type: 'call' }>): SimToolCall {
  return { id: p.id, name: p.name, arguments: typeof p.input === 'string' ? p.input : safeJson(p.input ?? {}, '{}') };
}

/**
 * The conversation as turns: instructions first, a bare prompt as the user's, then the messages.
 * Tool results inside a message (Anthropic's) become tool turns after it, so the answer knows it
 * follows a call; an item that shows the model nothing (a reasoning item) is no turn.
 */
function turnsOf(p: PromptParts): SimTurn[] {
  const turns: SimTurn[] = [];
  if (p.instructions) turns.push({ role: 'system', text: textOf(p.instructions.parts) });
  if (p.input.length > 0) turns.push({ role: 'user', text: textOf(p.input) });
  for (const m of p.messages) {
    if (m.label === undefined && m.parts.length === 0) continue;
    const turn: SimTurn = { role: m.role, text: textOf(m.parts) };
    const calls: SimToolCall[] = [];
    const results: SimTurn[] = [];
    for (const part of m.parts) {
      if (part.type === 'call') calls.push(callOf(part));
      else if (part.type === 'result') results.push({ role: 'tool', text: textOf(part.parts), toolCallId: part.callId });
    }
    if (m.role === 'assistant' && calls.length > 0) turn.toolCalls = calls;
    if (m.role === 'tool') turn.toolCallId = m.callId ?? '';
    if (results.length > 0 && turn.text === '') turns.push(...results);
    else turns.push(turn, ...results);
  }
  return turns;
}

/** The tools the simulated model may call in its wire's tool-call form. */
function toolsOf(p: PromptParts): SimTool[] {
  return p.tools.filter((t) => t.callable).map(({ callable: _, ...tool }) => tool);
}

function format(f: unknown): SimFormat {
  if (!isObject(f)) return { type: 'text' };
  if (f.type === 'json_object') return { type: 'json_object' };
  if (f.type === 'json_schema') {
    // OpenAI's chat nests it under `json_schema`; the Responses API's text.format and Anthropic's output_config.format are flat.
    const js = isObject(f.json_schema) ? f.json_schema : f;
    return { type: 'json_schema', ...(typeof js.name === 'string' ? { name: js.name } : {}), schema: isObject(js.schema) ? js.schema : {}, strict: js.strict === true };
  }
  return { type: 'text' };
}

const DEFAULTS: Params = { customTools: [], toolChoice: 'auto', parallelToolCalls: true, format: { type: 'text' }, n: 1, logprobs: null, seed: '' };

/** OpenAI chat and legacy completions. */
function openaiParams(body: Body, raw: string): Params {
  const tc = body.tool_choice;
  const toolChoice: SimToolChoice = isObject(tc) && typeof tc.function?.name === 'string' ? { name: tc.function.name } : tc === 'none' || tc === 'required' ? tc : 'auto';
  // Legacy completions take `logprobs: <top count>`; chat takes `logprobs: true` + `top_logprobs`.
  const logprobs = typeof body.logprobs === 'number' ? { top: body.logprobs } : body.logprobs === true ? { top: intOr(body.top_logprobs, 0) } : null;
  return {
    ...DEFAULTS,
    toolChoice,
    parallelToolCalls: body.parallel_tool_calls !== false,
    format: format(body.response_format),
    n: Math.max(1, intOr(body.n, 1)),
    logprobs,
    seed: safeJson(body.messages ?? body.prompt ?? '', raw),
  };
}

function anthropicParams(body: Body, raw: string): Params {
  const tc = isObject(body.tool_choice) ? body.tool_choice : {};
  const toolChoice: SimToolChoice = tc.type === 'tool' && typeof tc.name === 'string' ? { name: tc.name } : tc.type === 'any' ? 'required' : tc.type === 'none' ? 'none' : 'auto';
  return {
    ...DEFAULTS,
    toolChoice,
    parallelToolCalls: tc.disable_parallel_tool_use !== true,
    format: format(isObject(body.output_config) ? body.output_config.format : body.output_format),
    seed: safeJson(body.messages ?? '', raw),
  };
}

function responsesParams(body: Body, raw: string): Params {
  const c = body.tool_choice;
  const toolChoice: SimToolChoice =
    c === 'none' || c === 'required'
      ? c
      : isObject(c) && c.type === 'function' && typeof c.name === 'string'
        ? { name: c.name }
        : isObject(c) && c.type === 'allowed_tools' && c.mode === 'required'
          ? 'required'
          : 'auto';
  const wantLogprobs = Array.isArray(body.include) && body.include.includes('message.output_text.logprobs');
  // The answer depends on what was asked, not on how it is delivered or stored.
  const { stream: _s, store: _st, metadata: _m, stream_options: _so, ...asked } = body;
  return {
    ...DEFAULTS,
    customTools: Array.isArray(body.tools) ? body.tools.filter((t: unknown) => isObject(t) && t.type === 'custom' && typeof t.name === 'string').map((t: Body) => t.name as string) : [],
    toolChoice,
    parallelToolCalls: body.parallel_tool_calls !== false,
    format: format(body.text?.format),
    logprobs: wantLogprobs ? { top: typeof body.top_logprobs === 'number' ? body.top_logprobs : 0 } : null,
    seed: safeJson(asked, raw),
  };
}

/**
 * A request to `endpoint` as a `SimRequest`. `prompt` is the request's prompt as its wire reads
 * it, passed in when the caller has it already (to count it).
 *
 * @example simRequest('chat', { model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }, 'gpt-4o', '{}').turns // [{ role: 'user', text: 'hi' }]
 */
export function simRequest(endpoint: Endpoint, body: Body, model: string, raw: string, prompt = WIRE_OF[endpoint].prompt(endpoint, body)): SimRequest {
  const params = endpoint === 'messages' ? anthropicParams(body, raw) : endpoint === 'responses' ? responsesParams(body, raw) : openaiParams(body, raw);
  return { model, turns: turnsOf(prompt), tools: toolsOf(prompt), maxTokens: WIRE_OF[endpoint].output(endpoint, body).limit, ...params };
}
