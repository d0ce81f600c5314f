import { countPromptTokens } from '../../../domain/budget/index.js';
import { formatSse } from '../../sse.js';
import { generate } from './generate.js';
import { partText, safeJson } from './request.js';
import type { SimChoice, SimFormat, SimRequest, SimTool, SimToolChoice, SimTurn } from './types.js';

// The simulated provider's Responses API: a body becomes a SimRequest, `generate()` decides the
// answer, and it is rendered as OpenAI serves it, whole or as the typed event stream.

type Body = Record<string, any>;

function turnsOf(body: Body): SimTurn[] {
  const turns: SimTurn[] = [];
  if (typeof body.instructions === 'string') turns.push({ role: 'system', text: body.instructions });
  if (typeof body.input === 'string') return [...turns, { role: 'user', text: body.input }];
  for (const it of Array.isArray(body.input) ? body.input : []) {
    const type = it?.type ?? 'message';
    if (type === 'message') {
      turns.push({ role: it.role === 'assistant' ? 'assistant' : it.role === 'system' || it.role === 'developer' ? 'system' : 'user', text: partText(it.content) });
    } else if (type === 'function_call') {
      const call = { id: String(it.call_id), name: String(it.name), arguments: String(it.arguments) };
      // Calls right after an assistant message belong to it, as in a chat assistant turn.
      const last = turns.at(-1);
      if (last?.role === 'assistant') (last.toolCalls ??= []).push(call);
      else turns.push({ role: 'assistant', text: '', toolCalls: [call] });
    } else if (type === 'function_call_output') {
      turns.push({ role: 'tool', text: typeof it.output === 'string' ? it.output : partText(it.output), toolCallId: String(it.call_id) });
    }
    // Reasoning and built-in tool items carry nothing the simulated model reads.
  }
  return turns;
}

function toolChoiceOf(c: unknown): SimToolChoice {
  if (c === 'none' || c === 'required') return c;
  if (c && typeof c === 'object') {
    const o = c as Body;
    if (o.type === 'function' && typeof o.name === 'string') return { name: o.name };
    if (o.type === 'allowed_tools' && o.mode === 'required') return 'required';
  }
  return 'auto';
}

function formatOf(f: Body | undefined): SimFormat {
  if (f?.type === 'json_object') return { type: 'json_object' };
  if (f?.type === 'json_schema') return { type: 'json_schema', name: f.name, schema: f.schema ?? {}, strict: f.strict === true };
  return { type: 'text' };
}

/**
 * A Responses API body as the generator's wire-neutral request.
 * @example simRequestOf({ model: 'gpt-4o', input: 'Repeat exactly: hi' }, 'gpt-4o').turns // [{ role: 'user', text: 'Repeat exactly: hi' }]
 */
export function simRequestOf(body: Body, model: string, raw = ''): SimRequest {
  const tools: SimTool[] = (Array.isArray(body.tools) ? body.tools : [])
    .filter((t: Body) => t?.type === 'function')
    .map((t: Body) => ({ name: t.name, ...(typeof t.description === 'string' ? { description: t.description } : {}), ...(t.parameters ? { parameters: t.parameters } : {}) }));
  const wantLogprobs = Array.isArray(body.include) && body.include.includes('message.output_text.logprobs');
  // The answer depends on what was asked, not on how it is delivered or stored.
  const { stream: _s, store: _st, metadata: _m, stream_options: _so, ...asked } = body;
  return {
    model,
    turns: turnsOf(body),
    tools,
    toolChoice: toolChoiceOf(body.tool_choice),
    parallelToolCalls: body.parallel_tool_calls !== false,
    format: formatOf(body.text?.format),
    n: 1,
    logprobs: wantLogprobs ? { top: typeof body.top_logprobs === 'number' ? body.top_logprobs : 0 } : null,
    maxTokens: typeof body.max_output_tokens === 'number' ? body.max_output_tokens : null,
    seed: safeJson(asked, raw),
  };
}

/** A response's output items, each as it is when done, and the choice they came from. */
function outputItems(id: string, c: SimChoice): Body[] {
  const items: Body[] = [];
  if (c.text !== '' || c.toolCalls.length === 0) {
    const part = { type: 'output_text', annotations: [], logprobs: c.logprobs ?? [], text: c.text };
    items.push({ id: `msg_${id}`, type: 'message', status: c.finish === 'length' ? 'incomplete' : 'completed', content: [part], role: 'assistant' });
  }
  c.toolCalls.forEach((t, i) => {
    items.push({ id: `fc_${id}_${i}`, type: 'function_call', status: 'completed', arguments: t.arguments, call_id: t.id, name: t.name });
  });
  return items;
}

/** The deltas of each call's arguments, as the generator cut them. */
function argumentPieces(c: SimChoice): string[][] {
  return c.toolCalls.map((t) => t.argumentPieces ?? [t.arguments]);
}

function envelope(id: string, body: Body, model: string, created: number) {
  return {
    id: `resp_${id}`,
    object: 'response',
    created_at: created,
    status: 'in_progress',
    background: false,
    error: null,
    incomplete_details: null as null | { reason: string },
    instructions: body.instructions ?? null,
    max_output_tokens: body.max_output_tokens ?? null,
    model,
    output: [] as Body[],
    parallel_tool_calls: body.parallel_tool_calls ?? true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    service_tier: 'default',
    store: body.store ?? true,
    temperature: body.temperature ?? 1,
    text: body.text ?? { format: { type: 'text' } },
    tool_choice: body.tool_choice ?? 'auto',
    tools: body.tools ?? [],
    top_logprobs: body.top_logprobs ?? 0,
    top_p: body.top_p ?? 1,
    truncation: body.truncation ?? 'disabled',
    usage: null as null | Body,
    user: null,
    metadata: body.metadata ?? {},
  };
}

/**
 * The simulated answer to `POST /v1/responses`: the whole response object, or the SSE events
 * of its stream (OpenAI's order and numbering), ending in `response.completed` with usage
 * (`response.incomplete` when `max_output_tokens` cut it).
 * @example simulateResponses({ model: 'gpt-4o', input: 'Repeat exactly: hi' }, 'gpt-4o', 'x1', false) // { json: { object: 'response', output: [...], usage: {...} } }
 */
export function simulateResponses(body: Body, model: string, id: string, stream: boolean, raw = ''): { json: Body } | { events: string[] } {
  const choice = generate(simRequestOf(body, model, raw)).choices[0]!;
  const input = countPromptTokens(model, body).tokens;
  const created = Math.floor(Date.now() / 1000);
  const cut = choice.finish === 'length';
  const items = outputItems(id, choice);
  const argDeltas = argumentPieces(choice);
  const usage = {
    input_tokens: input,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: choice.completionTokens,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: input + choice.completionTokens,
  };
  const final = { ...envelope(id, body, model, created), status: cut ? 'incomplete' : 'completed', incomplete_details: cut ? { reason: 'max_output_tokens' } : null, output: items, usage };
  if (!stream) return { json: final };

  const events: string[] = [];
  const emit = (type: string, data: Body) => events.push(formatSse(JSON.stringify({ type, ...data, sequence_number: events.length }), type));
  const start = envelope(id, body, model, created);
  emit('response.created', { response: start });
  emit('response.in_progress', { response: start });
  items.forEach((item, output_index) => {
    if (item.type === 'message') {
      const item_id = item.id;
      const part = item.content[0];
      emit('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', content: [] } });
      emit('response.content_part.added', { item_id, output_index, content_index: 0, part: { ...part, logprobs: [], text: '' } });
      for (const [i, delta] of choice.pieces.entries())
        emit('response.output_text.delta', { item_id, output_index, content_index: 0, delta, logprobs: choice.logprobs?.[i] ? [choice.logprobs[i]] : [] });
      emit('response.output_text.done', { item_id, output_index, content_index: 0, text: part.text, logprobs: part.logprobs });
      emit('response.content_part.done', { item_id, output_index, content_index: 0, part });
    } else {
      emit('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', arguments: '' } });
      for (const delta of argDeltas.shift()!) emit('response.function_call_arguments.delta', { item_id: item.id, output_index, delta });
      emit('response.function_call_arguments.done', { item_id: item.id, output_index, arguments: item.arguments, name: item.name });
    }
    emit('response.output_item.done', { output_index, item });
  });
  emit(cut ? 'response.incomplete' : 'response.completed', { response: final });
  return { events };
}
