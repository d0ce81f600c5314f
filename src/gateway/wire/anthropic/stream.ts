import { formatSse } from '../../../core/sse.js';
import { EventStream } from '../stream.js';
import type { SlotRef } from '../types.js';

/**
 * An Anthropic messages stream: named events, each block's pieces as `content_block_delta`s.
 * Held-back text goes out as one more delta of its block; a refused stream ends with an
 * `error` event, as Anthropic ends one.
 */
export class AnthropicStream extends EventStream {
  flush(index: number, text: string, slot: SlotRef): string {
    return blockDelta(index, text, slot);
  }

  override error(message: string): string {
    return formatSse(this.wire.error(400, 'blocked', message).body, 'error');
  }
}

/** A thinking block's stream of pieces. */
export const thinkingKey = (index: number) => `${index}.th`;

/** A content block delta carrying `text`: answer text, thinking, or a piece of a tool call's input JSON. */
export function blockDelta(index: number, text: string, slot: SlotRef): string {
  const delta = slot.kind === 'json' ? { type: 'input_json_delta', partial_json: text } : slot.key === thinkingKey(index) ? { type: 'thinking_delta', thinking: text } : { type: 'text_delta', text };
  return formatSse(JSON.stringify({ type: 'content_block_delta', index, delta }), 'content_block_delta');
}
