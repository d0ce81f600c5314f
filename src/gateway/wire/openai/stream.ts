import { formatSse, type SseEvent } from '../../../core/sse.js';
import { EventStream, type QuickChunk } from '../stream.js';
import type { SlotRef, StreamInspection, Usage } from '../types.js';
import { type QuickMemo, quickChatChunk } from './quick.js';

/**
 * An OpenAI chat or completions stream: `data:` chunks, then `[DONE]`. Most of a chat stream is
 * chunks of plain text, read without JSON.parse (quick.ts); held-back text goes out as one more
 * chunk shaped like the last one; the usage chunk the relay asked for is hidden again.
 */
export class OpenAIStream extends EventStream {
  /** The chunk last read quickly, or null when it was parsed. */
  private q: QuickChunk | null = null;
  /** What the quick reader remembers between this stream's chunks. */
  private readonly memo: QuickMemo = {};
  /** A chat stream: only its chunks are read quickly. */
  private readonly chat = this.ctx.endpoint === 'chat';

  override read(ev: SseEvent, rewritten: boolean): StreamInspection | string | null {
    this.q = this.quick(ev);
    if (this.q === null) return super.read(ev, rewritten);
    this.ev = ev;
    this.json = null;
    return (this.insp = this.q.inspection);
  }

  override write(changed: boolean): string {
    const { q, json, ev } = this;
    if (q !== null) {
      this.keep(null, ev.data);
      return changed ? formatSse(q.data(), ev.event) : ev.raw;
    }
    if (this.ctx.hideUsageChunk && json?.usage && Array.isArray(json.choices) && json.choices.length === 0) return '';
    return super.write(changed);
  }

  override usage(ev: SseEvent): Partial<Usage> | undefined {
    if (this.quick(ev) === null) return super.usage(ev);
    // A chunk of plain text reports no usage: not parsed.
    this.json = null;
    return undefined;
  }

  flush(index: number, text: string, slot: SlotRef): string {
    const t = this.templateJson();
    const base = t && typeof t === 'object' ? t : {};
    const isText = typeof slot.key === 'number' && Array.isArray(base.choices) && base.choices.some((c: any) => typeof c?.text === 'string');
    const delta = {};
    if (!isText) put(delta, slot.key, text);
    const chunk = {
      id: base.id,
      object: base.object ?? 'chat.completion.chunk',
      created: base.created,
      model: base.model,
      choices: [isText ? { index, text, finish_reason: null } : { index, delta, finish_reason: null }],
    };
    return formatSse(JSON.stringify(chunk));
  }

  /** A chat chunk of plain text, read quickly; null for anything else. */
  private quick(ev: SseEvent): QuickChunk | null {
    return this.chat && ev.event === null && ev.data ? quickChatChunk(ev.data, this.memo) : null;
  }
}

/** Appends a held-back tail to the stream `key` names, in delta `d`. */
export function put(d: any, key: string | number, t: string): void {
  const what = typeof key === 'number' ? '' : key.slice(key.indexOf('.') + 1);
  if (what === '') d.content = typeof d.content === 'string' ? d.content + t : t;
  else if (what === 'r') d.refusal = typeof d.refusal === 'string' ? d.refusal + t : t;
  else if (what === 'a') {
    d.audio ??= {};
    d.audio.transcript = (typeof d.audio.transcript === 'string' ? d.audio.transcript : '') + t;
  } else if (what === 'f') {
    d.function_call ??= {};
    d.function_call.arguments = (typeof d.function_call.arguments === 'string' ? d.function_call.arguments : '') + t;
  } else {
    const k = Number(what.slice(1));
    d.tool_calls ??= [];
    let tc = d.tool_calls.find((x: any) => x?.index === k);
    const field = what[0] === 'u' ? 'custom' : 'function';
    const text = field === 'custom' ? 'input' : 'arguments';
    if (!tc) d.tool_calls.push((tc = { index: k, [field]: {} }));
    tc[field] ??= {};
    tc[field][text] = (typeof tc[field][text] === 'string' ? tc[field][text] : '') + t;
  }
}
