/**
 * A `SimChoice` in Anthropic's messages shape, whole or as the SSE events a stream sends
 * (tool calls as `tool_use` blocks, streamed as `input_json_delta` fragments).
 */
import { formatSse } from '../../../core/sse.js';
import type { SimChoice, SimToolCall } from './types.js';

export interface AnthropicMeta {
  id: string;
  model: string;
  inputTokens: number;
}

/** Anthropic's ids for the same call: `toolu_` where OpenAI says `call_`. */
export const toolUseId = (t: SimToolCall) => t.id.replace(/^call_/, 'toolu_');

const STOP: Record<SimChoice['finish'], string> = { stop: 'end_turn', length: 'max_tokens', tool_calls: 'tool_use' };

function input(t: SimToolCall): unknown {
  try {
    return JSON.parse(t.arguments);
  } catch {
    return {};
  }
}

function blocks(c: SimChoice): object[] {
  const out: object[] = [];
  if (c.text !== '' || c.toolCalls.length === 0) out.push({ type: 'text', text: c.text });
  for (const t of c.toolCalls) out.push({ type: 'tool_use', id: toolUseId(t), name: t.name, input: input(t) });
  return out;
}

function message(m: AnthropicMeta, content: object[], stop: string | null, output: number) {
  return { id: `msg_${m.id}`, type: 'message', role: 'assistant', model: m.model, content, stop_reason: stop, stop_sequence: null, usage: { input_tokens: m.inputTokens, output_tokens: output } };
}

/**
 * The whole messages response.
 * @example anthropicWhole(meta, choice).stop_reason // 'tool_use' when it calls a tool
 */
export function anthropicWhole(m: AnthropicMeta, c: SimChoice): object {
  return message(m, blocks(c), STOP[c.finish], c.completionTokens);
}

/**
 * The SSE events of a streamed messages response, `message_stop` last.
 * @example anthropicStream(meta, choice)[0] // 'event: message_start\ndata: ...'
 */
export function anthropicStream(m: AnthropicMeta, c: SimChoice): string[] {
  const ev = (type: string, data: object) => formatSse(JSON.stringify({ type, ...data }), type);
  const events = [ev('message_start', { message: message(m, [], null, 1) })];
  let index = 0;
  if (c.text !== '' || c.toolCalls.length === 0) {
    events.push(ev('content_block_start', { index, content_block: { type: 'text', text: '' } }), ev('ping', {}));
    for (const p of c.pieces) events.push(ev('content_block_delta', { index, delta: { type: 'text_delta', text: p } }));
    events.push(ev('content_block_stop', { index }));
    index++;
  }
  for (const t of c.toolCalls) {
    events.push(ev('content_block_start', { index, content_block: { type: 'tool_use', id: toolUseId(t), name: t.name, input: {} } }));
    for (const p of t.argumentPieces ?? [t.arguments]) events.push(ev('content_block_delta', { index, delta: { type: 'input_json_delta', partial_json: p } }));
    events.push(ev('content_block_stop', { index }));
    index++;
  }
  events.push(ev('message_delta', { delta: { stop_reason: STOP[c.finish], stop_sequence: null }, usage: { output_tokens: c.completionTokens } }), ev('message_stop', {}));
  return events;
}
