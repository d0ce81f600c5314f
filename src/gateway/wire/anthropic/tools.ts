import type { SseEvent } from '../../../core/sse.js';
import { eventOf, parsedEvent } from '../stream.js';
import type { AnswerToolCall, ToolCallStream, ToolSight } from '../types.js';

// The `tool_use` blocks of a messages answer (the tools the agent runs; `server_tool_use` and
// `mcp_tool_use` the provider ran itself), as the tool policies read them, and a withheld one
// turned into a text block in its place. A call's key is its block's index.

/**
 * A whole message's tool calls.
 * @example messagesToolCalls({ content: [{ type: 'tool_use', id: 'toolu_1', name: 'Bash', input: { command: 'ls' } }] }) // [{ key: '0', name: 'Bash', args: { value: { command: 'ls' } } }]
 */
export function messagesToolCalls(json: any): AnswerToolCall[] {
  const out: AnswerToolCall[] = [];
  if (!Array.isArray(json?.content)) return out;
  json.content.forEach((b: any, i: number) => {
    if (b?.type === 'tool_use' && typeof b.name === 'string') out.push({ key: String(i), name: b.name, args: { value: b.input ?? null } });
  });
  return out;
}

/** A whole message with the tool_use blocks `texts` names turned into text blocks; no tool_use left, it ends its turn. */
export function withholdMessages(json: any, texts: ReadonlyMap<string, string>): void {
  if (!Array.isArray(json?.content)) return;
  json.content = json.content.map((b: any, i: number) => {
    const text = texts.get(String(i));
    return text === undefined || b?.type !== 'tool_use' ? b : { type: 'text', text };
  });
  if (json.stop_reason === 'tool_use' && !json.content.some((b: any) => b?.type === 'tool_use')) json.stop_reason = 'end_turn';
}

/**
 * A messages stream's tool calls: a `tool_use` block opens with `content_block_start` (its name,
 * an empty input), runs on in `input_json_delta` pieces, and is whole at its `content_block_stop`.
 * A withheld block starts as a text block instead, its one delta the text; the message ends its
 * turn (`end_turn`) when no tool_use block is left.
 */
export class MessagesToolStream implements ToolCallStream {
  /** Blocks followed (a rule could decide them) that have not stopped. */
  private readonly open = new Set<number>();
  /** tool_use blocks the stream opened. */
  private calls = 0;
  private readonly withheld = new Map<number, string>();

  see(ev: SseEvent): ToolSight | null {
    const type = ev.event ?? parsedEvent(ev)?.type;
    if (type === 'content_block_start') {
      if (!ev.data.includes('"tool_use"')) return null;
      const json = parsedEvent(ev);
      const b = json?.content_block;
      if (b?.type !== 'tool_use' || typeof b.name !== 'string') return null;
      const index = json.index ?? 0;
      const key = String(index);
      this.open.add(index);
      this.calls++;
      const sight: ToolSight = { opens: [{ key, name: b.name, form: 'json' }] };
      // Its input comes in pieces after an empty `{}`; one a provider sends whole here is its first piece.
      if (b.input && typeof b.input === 'object' && Object.keys(b.input).length > 0) sight.pieces = [{ key, text: JSON.stringify(b.input) }];
      return sight;
    }
    if (this.open.size === 0 || (type !== 'content_block_delta' && type !== 'content_block_stop')) return null;
    const json = parsedEvent(ev);
    const index = json?.index ?? 0;
    if (!this.open.has(index)) return null;
    if (type === 'content_block_stop') {
      this.open.delete(index);
      return { closes: [{ key: String(index) }] };
    }
    const d = json.delta;
    return d?.type === 'input_json_delta' && typeof d.partial_json === 'string' ? { pieces: [{ key: String(index), text: d.partial_json }] } : null;
  }

  ignore(key: string): void {
    this.open.delete(Number(key));
  }

  withhold(key: string, text: string): void {
    this.withheld.set(Number(key), text);
  }

  rewrite(ev: SseEvent): SseEvent[] {
    if (this.withheld.size === 0) return [ev];
    const type = ev.event ?? parsedEvent(ev)?.type;
    if (type === 'message_delta') {
      const json = parsedEvent(ev);
      if (json?.delta?.stop_reason !== 'tool_use' || this.calls > this.withheld.size) return [ev];
      json.delta.stop_reason = 'end_turn';
      return [eventOf(json, ev.event)];
    }
    if (type !== 'content_block_start' && type !== 'content_block_delta') return [ev];
    const json = parsedEvent(ev);
    const index = json?.index ?? 0;
    const text = this.withheld.get(index);
    if (text === undefined) return [ev];
    // Its input pieces go; its start becomes a text block's, and the text its one delta (its stop stays as it is).
    if (type === 'content_block_delta') return [];
    return [
      eventOf({ type: 'content_block_start', index, content_block: { type: 'text', text: '' } }, 'content_block_start'),
      eventOf({ type: 'content_block_delta', index, delta: { type: 'text_delta', text } }, 'content_block_delta'),
    ];
  }
}
