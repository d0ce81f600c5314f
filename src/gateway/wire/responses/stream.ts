import { formatSse, type SseEvent } from '../../../core/sse.js';
import { EventStream } from '../stream.js';
import { carriesLogprobs } from '../strings.js';
import type { SlotRef, StreamInspection } from '../types.js';
import { openaiWire } from '../openai/wire.js';
import { carriesResponse, continued, continuedEvent } from './continued.js';
import { quickResponsesDelta, withSeq } from './quick.js';

/**
 * Text lives in content parts of output items: one index per part, so each part gets its own
 * stream redactor. No message has anywhere near this many parts.
 */
export const PARTS = 1024;
export const partIndex = (output: number, content: number) => output * PARTS + content;

/** A delta event carrying held-back text of the part (or function call's arguments) `slot` names. */
export function textDelta(itemId: unknown, outputIndex: number, contentIndex: number, delta: string, seq: number, slot: SlotRef): string {
  const key = String(slot.key);
  const ev = key.startsWith('s')
    ? { type: 'response.reasoning_summary_text.delta', item_id: itemId ?? '', output_index: outputIndex, summary_index: Number(key.slice(1, key.indexOf(':'))), delta, sequence_number: seq }
    : key.startsWith('u')
      ? { type: 'response.custom_tool_call_input.delta', item_id: itemId ?? '', output_index: outputIndex, delta, sequence_number: seq }
      : slot.kind === 'json'
        ? { type: 'response.function_call_arguments.delta', item_id: itemId ?? '', output_index: outputIndex, delta, sequence_number: seq }
        : typeof slot.key === 'string'
          ? { type: 'response.refusal.delta', item_id: itemId ?? '', output_index: outputIndex, content_index: contentIndex, delta, sequence_number: seq }
          : { type: 'response.output_text.delta', item_id: itemId ?? '', output_index: outputIndex, content_index: contentIndex, delta, logprobs: [], sequence_number: seq };
  return formatSse(JSON.stringify(ev), ev.type);
}

/**
 * Events that carry no output text (the response's state, an empty part opening): forwarded
 * unread. Every other event is read, those of a type not known yet included: its strings are scanned.
 */
const silent = (event: string) => event === 'response.created' || event === 'response.in_progress' || event === 'response.queued';
/** Events that only repeat the text: read once some text was rewritten. */
const repeats = (event: string) => event === 'response.content_part.done';
// Compared, not looked up in a Set: each event's name is a new string, and a Set hashes it whole
// where a comparison mostly stops at its length (every event of a stream is asked).

/**
 * A Responses stream: typed events, numbered (`sequence_number`) without a gap. An event we add
 * (held-back text, the error ending a refused stream) takes the number of the event it comes
 * before, and every later event moves up by one: the stream stays gapless as the agent reads
 * it. Events with no text pass unread until the first one is added (then each must be
 * renumbered); text deltas are read without JSON.parse (quick.ts); a turn that continued a
 * stored response names it in each event carrying the response.
 */
export class ResponsesStream extends EventStream {
  /** Events added so far: each later one moves up by this many. */
  private shift = 0;
  /** The number of the event read last (or, after it, of the next one), which an event added before it takes. */
  private seq = 0;
  /** Whether this stream's events carry numbers: added events then take them too. */
  private numbered = false;
  /** Where the numbers stood when all written so far was sent: the error ending a block takes it. */
  private sent = 0;
  /** The delta last read quickly, or null when it was parsed. */
  private q: ReturnType<typeof quickResponsesDelta> = null;
  /** The event last read names the continued response now (`continued`): it is written anew. */
  private stamped = false;

  override read(ev: SseEvent, rewritten: boolean): StreamInspection | string | null {
    const name = ev.event;
    // Renumbering (shift) needs every event read; until then some pass unread. Under redaction a
    // stream's tokens are withheld, those of events otherwise passed unread too.
    if (name !== null && this.shift === 0 && (silent(name) || (!rewritten && repeats(name))) && !(this.ctx.withholdLogprobs && carriesLogprobs(ev.data))) {
      this.seq++;
      const data = this.ctx.previousId === null ? null : continuedEvent(ev.data, this.ctx.previousId);
      return data === null ? ev.raw : formatSse(data, name);
    }
    this.stamped = false;
    this.q = name === 'response.output_text.delta' ? quickResponsesDelta(ev.data, partIndex) : null;
    let insp: StreamInspection;
    if (this.q !== null) {
      this.ev = ev;
      this.json = null;
      insp = this.q.inspection;
    } else {
      if (!this.parse(ev)) return null;
      const json = this.json;
      // Stamped once parsed, before it is read: the answer kept is the stamped one.
      this.stamped = this.ctx.previousId !== null && json !== null && carriesResponse(json.type) && continued(json.response, this.ctx.previousId);
      insp = this.wire.inspect(ev, json);
    }
    if (insp.seq) {
      this.numbered = true;
      this.seq = insp.seq.n + this.shift;
    }
    return (this.insp = insp);
  }

  override write(changed: boolean): string {
    const { q, ev, json } = this;
    const at = this.insp.seq;
    /** Only the number changed: written into the event's bytes, not the event written anew. */
    let renumbered = false;
    const n = this.seq;
    if (at) {
      if (n !== at.n) {
        at.set(n);
        renumbered = true;
      }
      this.seq = n + 1;
    }
    if (q !== null) {
      this.keep(null, ev.data);
      return changed || renumbered ? formatSse(q.data(), ev.event) : ev.raw;
    }
    this.keep(json);
    if (changed || this.stamped) return formatSse(JSON.stringify(json), ev.event);
    if (!renumbered) return ev.raw;
    return formatSse(withSeq(ev.data, at!.n, n) ?? JSON.stringify(json), ev.event);
  }

  override attach(end: StreamInspection['ends'][number], text: string, slot: SlotRef): string | null {
    const extra = end.attach(text, this.seq, slot);
    if (extra !== null) this.added();
    return extra;
  }

  flush(index: number, text: string, slot: SlotRef): string {
    const oi = Math.floor(index / PARTS);
    const t = this.templateJson();
    const itemId = t?.output_index === oi ? t.item_id : '';
    const extra = textDelta(itemId, oi, index % PARTS, text, this.seq, slot);
    this.added();
    return extra;
  }

  override mark(): void {
    this.sent = this.seq;
  }

  override error(message: string): string {
    // OpenAI's error event is flat ({type, code, message, param}); the nested `error` is what the
    // SDKs look for to raise their usual APIError with this message.
    const { error } = JSON.parse(openaiWire.error(400, 'blocked', message).body);
    return formatSse(JSON.stringify({ type: 'error', code: error.code, message, param: null, sequence_number: this.sent, error }), 'error');
  }

  /** An event was added before the one read last (or at the end): it took a number, every later event moves up. */
  private added(): void {
    if (!this.numbered) return;
    this.seq++;
    this.shift++;
  }
}
