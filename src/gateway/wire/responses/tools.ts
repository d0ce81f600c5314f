import type { SseEvent } from '../../../core/sse.js';
import { eventOf, parsedEvent } from '../stream.js';
import type { AnswerToolCall, ToolCallStream, ToolSight } from '../types.js';

// The tool calls of a Responses answer (`function_call` and `custom_tool_call` output items: the
// agent runs them), as the tool policies read them, and a withheld one replaced by an assistant
// message item saying why. A call's key is its output index.

const CALL_ITEMS = new Set(['function_call', 'custom_tool_call']);

function callOf(it: any, key: string): AnswerToolCall | null {
  if (!CALL_ITEMS.has(it?.type) || typeof it.name !== 'string') return null;
  return it.type === 'function_call'
    ? { key, name: it.name, args: { text: typeof it.arguments === 'string' ? it.arguments : JSON.stringify(it.arguments ?? null), form: 'json' } }
    : { key, name: it.name, args: { text: typeof it.input === 'string' ? it.input : '', form: 'input' } };
}

/**
 * A whole response's tool calls.
 * @example responsesToolCalls({ output: [{ type: 'function_call', name: 'shell', arguments: '{}' }] }) // [{ key: '0', name: 'shell', args: { text: '{}', form: 'json' } }]
 */
export function responsesToolCalls(json: any): AnswerToolCall[] {
  if (!Array.isArray(json?.output)) return [];
  return json.output.map((it: any, i: number) => callOf(it, String(i))).filter((c: AnswerToolCall | null): c is AnswerToolCall => c !== null);
}

/** The text part of the message that takes a withheld call's place. */
const part = (text: string) => ({ type: 'output_text', text, annotations: [], logprobs: [] });
/** The message item that takes the place of the call whose item id was `callId`. */
const message = (callId: unknown, text: string, status: 'in_progress' | 'completed') => ({
  id: `msg_${typeof callId === 'string' && callId !== '' ? callId : 'withheld'}`,
  type: 'message',
  status,
  role: 'assistant',
  content: status === 'completed' ? [part(text)] : [],
});

/** A whole response (or the one a stream's last event carries) with the calls `texts` names replaced by messages. */
export function withholdResponse(json: any, texts: ReadonlyMap<string, string>): void {
  if (!Array.isArray(json?.output)) return;
  json.output = json.output.map((it: any, i: number) => {
    const text = texts.get(String(i));
    return text === undefined || !CALL_ITEMS.has(it?.type) ? it : message(it.id, text, 'completed');
  });
  // The SDK's convenience field, when a provider sends it, says what the messages say.
  if (typeof json.output_text === 'string')
    json.output_text = json.output
      .flatMap((it: any) => (it?.type === 'message' && Array.isArray(it.content) ? it.content : []))
      .filter((p: any) => p?.type === 'output_text')
      .map((p: any) => p.text)
      .join('');
}

const DELTAS = new Set(['response.function_call_arguments.delta', 'response.custom_tool_call_input.delta']);
const DONES = new Set(['response.function_call_arguments.done', 'response.custom_tool_call_input.done']);
const ENDS = new Set(['response.completed', 'response.incomplete', 'response.failed']);

/**
 * A Responses stream's tool calls: an item opens with `response.output_item.added` (its name),
 * runs on in argument (or custom input) deltas, is whole at their `.done` and ends with
 * `response.output_item.done`. A withheld call's events become a message item's (added, its part
 * added, one text delta, text done, part done, item done); the response the last event carries
 * holds the message instead of the call. The events stay numbered without a gap: each after a
 * change moves by what was added or dropped before it.
 */
export class ResponsesToolStream implements ToolCallStream {
  /** Calls followed (a rule could decide them) that are not whole yet. */
  private readonly open = new Set<string>();
  private readonly seen = new Set<string>();
  /** Each call's item id: the message taking its place is named after it. */
  private readonly ids = new Map<string, unknown>();
  private readonly withheld = new Map<string, string>();
  /** Withheld calls whose message was opened, and whose text was closed. */
  private readonly started = new Set<string>();
  private readonly closed = new Set<string>();
  /** Events added less events dropped so far: every later event's number moves by it. */
  private shift = 0;

  see(ev: SseEvent): ToolSight | null {
    const type = ev.event ?? parsedEvent(ev)?.type;
    if (type === 'response.output_item.added' || type === 'response.output_item.done') {
      if (!ev.data.includes('"function_call"') && !ev.data.includes('"custom_tool_call"')) return null;
      const json = parsedEvent(ev);
      const key = String(json?.output_index ?? 0);
      const call = callOf(json?.item, key);
      if (call === null || !('text' in call.args)) return null;
      const sight: ToolSight = {};
      if (!this.seen.has(key)) {
        this.seen.add(key);
        this.open.add(key);
        this.ids.set(key, json.item.id);
        sight.opens = [{ key, name: call.name, form: call.args.form }];
        if (type === 'response.output_item.added' && call.args.text !== '') sight.pieces = [{ key, text: call.args.text }];
      }
      if (type === 'response.output_item.done' && this.open.delete(key)) sight.closes = [{ key, whole: call.args.text }];
      return sight;
    }
    if (this.open.size === 0) return null;
    if (ENDS.has(type)) return { closesAll: true };
    if (!DELTAS.has(type) && !DONES.has(type)) return null;
    const json = parsedEvent(ev);
    const key = String(json?.output_index ?? 0);
    if (!this.open.has(key)) return null;
    if (DELTAS.has(type)) return typeof json.delta === 'string' ? { pieces: [{ key, text: json.delta }] } : null;
    this.open.delete(key);
    const whole = json.type === 'response.custom_tool_call_input.done' ? json.input : json.arguments;
    return { closes: [typeof whole === 'string' ? { key, whole } : { key }] };
  }

  ignore(key: string): void {
    this.open.delete(key);
  }

  withhold(key: string, text: string): void {
    this.withheld.set(key, text);
  }

  rewrite(ev: SseEvent): SseEvent[] {
    if (this.withheld.size === 0 && this.shift === 0) return [ev];
    const json = parsedEvent(ev);
    if (json === null || typeof json !== 'object') return [ev];
    const out = this.replaced(json);
    if (out === null && this.shift === 0) return [ev];
    const events = out ?? [json];
    const n = typeof json.sequence_number === 'number' ? json.sequence_number : null;
    if (n !== null)
      events.forEach((e, j) => {
        e.sequence_number = n + this.shift + j;
      });
    this.shift += events.length - 1;
    return events.map((e) => eventOf(e, ev.event === null ? null : e.type));
  }

  /** What an event of a withheld call (or the response it ends with) becomes; null when it is not one. */
  private replaced(json: any): any[] | null {
    const type = json.type;
    if (ENDS.has(type)) {
      if (this.withheld.size === 0 || !json.response) return null;
      withholdResponse(json.response, this.withheld);
      return [json];
    }
    const key = String(json.output_index ?? 0);
    const text = this.withheld.get(key);
    if (text === undefined) return null;
    const item_id = message(this.ids.get(key), text, 'completed').id;
    const at = { item_id, output_index: json.output_index ?? 0, content_index: 0 };
    const start = () => {
      if (this.started.has(key)) return [];
      this.started.add(key);
      return [
        { type: 'response.output_item.added', output_index: at.output_index, item: message(this.ids.get(key), text, 'in_progress') },
        { type: 'response.content_part.added', ...at, part: part('') },
        { type: 'response.output_text.delta', ...at, delta: text, logprobs: [] },
      ];
    };
    const close = () => {
      if (this.closed.has(key)) return [];
      this.closed.add(key);
      return [
        { type: 'response.output_text.done', ...at, text, logprobs: [] },
        { type: 'response.content_part.done', ...at, part: part(text) },
      ];
    };
    if (type === 'response.output_item.added') return start();
    if (DELTAS.has(type)) return [];
    if (DONES.has(type)) return [...start(), ...close()];
    if (type === 'response.output_item.done') return [...start(), ...close(), { type, output_index: at.output_index, item: message(this.ids.get(key), text, 'completed') }];
    return null;
  }
}
