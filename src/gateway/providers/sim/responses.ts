import { formatSse } from '../../../core/sse.js';
import type { SimChoice } from './types.js';

// The simulated provider's Responses API: the answer (from `generate()` or the script) is
// rendered as OpenAI serves it, whole or as the typed event stream.

type Body = Record<string, any>;

/** A response's output items, each as it is when done, and the choice they came from. */
function outputItems(id: string, c: SimChoice): Body[] {
  const items: Body[] = [];
  if (c.text !== '' || c.toolCalls.length === 0) {
    const part = { type: 'output_text', annotations: [], logprobs: c.logprobs ?? [], text: c.text };
    items.push({ id: `msg_${id}`, type: 'message', status: c.finish === 'length' ? 'incomplete' : 'completed', content: [part], role: 'assistant' });
  }
  c.toolCalls.forEach((t, i) => {
    items.push(
      t.custom
        ? { id: `ctc_${id}_${i}`, type: 'custom_tool_call', status: 'completed', call_id: t.id, input: t.arguments, name: t.name }
        : { id: `fc_${id}_${i}`, type: 'function_call', status: 'completed', arguments: t.arguments, call_id: t.id, name: t.name },
    );
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
 * The simulated answer `choice` to `POST /v1/responses` (`body`, whose prompt counts `input`
 * tokens): the whole response object, or the SSE events of its stream (OpenAI's order and
 * numbering), ending in `response.completed` with usage (`response.incomplete` when
 * `max_output_tokens` cut it).
 * @example simulateResponses(body, 'gpt-4o', generate(request).choices[0], 9, 'x1', false) // { json: { object: 'response', output: [...], usage: {...} } }
 */
export function simulateResponses(body: Body, model: string, choice: SimChoice, input: number, id: string, stream: boolean): { json: Body } | { events: string[] } {
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
    } else if (item.type === 'custom_tool_call') {
      emit('response.output_item.added', { output_index, item: { ...item, status: 'in_progress', input: '' } });
      for (const delta of argDeltas.shift()!) emit('response.custom_tool_call_input.delta', { item_id: item.id, output_index, delta });
      emit('response.custom_tool_call_input.done', { item_id: item.id, output_index, input: item.input });
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
