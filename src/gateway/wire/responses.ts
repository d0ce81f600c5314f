import type { QuickChunk } from '../quick.js';
import { formatSse, type SseEvent } from '../sse.js';
import { openaiWire } from './openai.js';
import { responsesLimitOutput, responsesOutput, responsesPrompt } from './responses-request.js';
import { validateResponses } from './responses-validate.js';
import { otherStrings } from './strings.js';
import type { SlotRef, StreamInspection, TextSlot, Usage, Wire } from './types.js';
import { count, knownUsage } from './usage.js';

/**
 * Text lives in content parts of output items: one index per part, so each part gets its own
 * stream redactor. No message has anywhere near this many parts.
 */
const PARTS = 1024;
const partIndex = (output: number, content: number) => output * PARTS + content;

/** A refusal part's key: its text is a stream of its own, told apart from output_text's. */
const refusalKey = (index: number) => `r${index}`;
/** Reasoning summary `summary`'s key, and a custom tool call's input's: streams of their own too. */
const summaryKey = (index: number, summary: number) => `s${summary}:${index}`;
const inputKey = (index: number) => `u${index}`;

/**
 * The output_text and refusal parts and the function calls' arguments of a response's `output`,
 * as slots; `output_text` (if present) follows the text parts.
 */
function outputSlots(r: any): TextSlot[] {
  const out: TextSlot[] = [];
  const items = Array.isArray(r?.output) ? r.output : [];
  items.forEach((it: any, oi: number) => {
    if (it?.type === 'function_call' && typeof it.arguments === 'string') {
      out.push({ index: partIndex(oi, 0), kind: 'json', text: it.arguments, set: (t) => (it.arguments = t) });
      otherStrings(it, partIndex(oi, 0), out, ['arguments']);
      return;
    }
    // Custom tool calls, reasoning summaries, item types not known yet: every string, whole.
    if (it?.type !== 'message' || !Array.isArray(it.content)) {
      otherStrings(it, partIndex(oi, 0), out);
      return;
    }
    it.content.forEach((p: any, ci: number) => {
      if (p?.type === 'refusal' && typeof p.refusal === 'string') out.push({ index: partIndex(oi, ci), key: refusalKey(partIndex(oi, ci)), text: p.refusal, set: (t) => (p.refusal = t) });
      else if (p?.type !== 'output_text') otherStrings(p, partIndex(oi, ci), out);
      if (p?.annotations) otherStrings(p.annotations, partIndex(oi, ci), out);
      if (p?.type !== 'output_text' || typeof p.text !== 'string') return;
      out.push({
        index: partIndex(oi, ci),
        text: p.text,
        set: (t) => {
          p.text = t;
          // The SDK's convenience field, when a provider sends it, must agree with the parts.
          if (typeof r.output_text === 'string') r.output_text = joinText(r);
        },
      });
    });
  });
  return out;
}

/** Where a reasoning summary's or custom tool input's piece belongs: its item's index and its own stream. */
function keyed(json: any): { index: number; key: string } {
  const index = partIndex(json.output_index ?? 0, 0);
  return { index, key: json.type.startsWith('response.custom') ? inputKey(index) : summaryKey(index, json.summary_index ?? 0) };
}

function joinText(r: any): string {
  let s = '';
  for (const it of r.output) if (it?.type === 'message' && Array.isArray(it.content)) for (const p of it.content) if (p?.type === 'output_text') s += p.text;
  return s;
}

/** A response's usage block, whole or on `response.completed` (and its incomplete and failed kin). */
function usageOf(u: any): Partial<Usage> {
  if (!u || typeof u !== 'object') return {};
  return knownUsage(count(u.input_tokens), count(u.output_tokens), count(u.input_tokens_details?.cached_tokens));
}

/** A delta event carrying held-back text of the part (or function call's arguments) `slot` names. */
function textDelta(itemId: unknown, outputIndex: number, contentIndex: number, delta: string, seq: number, slot: SlotRef): string {
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

/** The members of a text delta `quickDelta` reads; any other member may hold only a plain value. */
const TYPE = 1;
const DELTA = 2;
const ITEM = 4;
const OUTPUT = 8;
const CONTENT = 16;
const SEQ = 32;
const MEMBER = new Map([
  ['type', TYPE],
  ['delta', DELTA],
  ['item_id', ITEM],
  ['output_index', OUTPUT],
  ['content_index', CONTENT],
  ['sequence_number', SEQ],
]);

/** What may follow a backslash in a JSON string (besides `u` and four hex digits). */
const ESCAPES = new Set([...'"\\/bfnrt'].map((c) => c.charCodeAt(0)));
const isSpace = (c: number) => c === 32 || c === 10 || c === 13 || c === 9;

/**
 * Most of a Responses stream is `response.output_text.delta` events: a flat object of a type,
 * an item id, two indices, a sequence number, the delta and `"logprobs":[]`. Such an event is
 * read here without JSON.parse, and rewritten (its delta, its number) by splicing the two
 * values. Sound, not complete: a member holding an object or a non-empty array (logprobs with
 * tokens), a key with an escape (it could spell a member read here), a member read here twice,
 * a number not a plain integer, anything not JSON: null, and the event is parsed in full (a null
 * costs a parse, never a missed text). What it returns is what `inspect` says of that event.
 *
 * @example
 *   quickDelta('{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"Hi","sequence_number":4}')?.inspection.slots[0]?.text; // 'Hi'
 */
export function quickDelta(data: string): QuickChunk | null {
  const n = data.length;
  let i = 0;
  const skip = () => {
    while (i < n && isSpace(data.charCodeAt(i))) i++;
  };
  /** A string from i (at its quote) to past its closing quote; whether it holds an escape, or -1 if it does not close. */
  const string = (): number => {
    let escaped = 0;
    for (i++; i < n; i++) {
      const c = data.charCodeAt(i);
      if (c === 34) return (i++, escaped);
      if (c === 92) {
        // Only JSON's escapes: anything else makes the event not JSON, which is read whole.
        escaped = 1;
        const e = data.charCodeAt(++i);
        if (e === 117 /* u */) {
          if (!/^[0-9A-Fa-f]{4}$/.test(data.slice(i + 1, i + 5))) return -1;
          i += 4;
        } else if (!ESCAPES.has(e)) return -1;
      } else if (c < 32) return -1;
    }
    return -1;
  };
  let seen = 0;
  let type = '';
  let delta = '';
  let deltaAt = 0;
  let deltaEnd = 0;
  let output = 0;
  let content = 0;
  let seq = -1;
  let seqAt = 0;
  let seqEnd = 0;
  skip();
  if (data.charCodeAt(i) !== 123 /* { */) return null;
  i++;
  skip();
  if (data.charCodeAt(i) === 125) return null;
  for (;;) {
    if (data.charCodeAt(i) !== 34) return null;
    const k0 = i + 1;
    if (string() !== 0) return null;
    const m = MEMBER.get(data.slice(k0, i - 1)) ?? 0;
    if (m & seen) return null;
    seen |= m;
    skip();
    if (data.charCodeAt(i) !== 58 /* : */) return null;
    i++;
    skip();
    const v0 = i;
    const c = data.charCodeAt(i);
    if (c === 34) {
      const esc = string();
      if (esc < 0) return null;
      if (m === TYPE) type = data.slice(v0 + 1, i - 1);
      else if (m === DELTA) {
        deltaAt = v0 + 1;
        deltaEnd = i - 1;
        delta = esc ? (JSON.parse(data.slice(v0, i)) as string) : data.slice(deltaAt, deltaEnd);
      } else if (m !== ITEM && m !== 0) return null;
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      if (m === TYPE || m === DELTA || m === ITEM) return null;
      i++;
      while (i < n && data.charCodeAt(i) >= 48 && data.charCodeAt(i) <= 57) i++;
      const d = data.charCodeAt(i);
      // Only plain integers are read; a fraction or exponent is left to JSON.parse.
      if (d === 46 || d === 101 || d === 69) return null;
      const text = data.slice(v0, i);
      if (text === '-' || (text.length > 1 && text.charCodeAt(text.charCodeAt(0) === 45 ? 1 : 0) === 48)) return null;
      const v = Number(text);
      if (!Number.isSafeInteger(v)) return null;
      if (m === OUTPUT) output = v;
      else if (m === CONTENT) content = v;
      else if (m === SEQ) {
        if (v < 0) return null;
        seq = v;
        seqAt = v0;
        seqEnd = i;
      }
    } else if (m !== 0) return null;
    else if (data.startsWith('null', i)) i += 4;
    else if (data.startsWith('true', i)) i += 4;
    else if (data.startsWith('false', i)) i += 5;
    else if (c === 91 /* [ */) {
      // Only an empty array (`"logprobs":[]`): one with tokens is read in full, and withheld.
      i++;
      skip();
      if (data.charCodeAt(i) !== 93) return null;
      i++;
    } else return null;
    skip();
    const s = data.charCodeAt(i++);
    if (s === 125 /* } */) break;
    if (s !== 44 /* , */) return null;
    skip();
  }
  skip();
  if (i !== n || type !== 'response.output_text.delta' || !(seen & DELTA)) return null;
  let text = delta;
  let number = seq;
  const inspection: StreamInspection = { slots: [{ index: partIndex(output, content), text, set: (t) => (text = t) }], ends: [], last: false };
  if (seq >= 0) inspection.seq = { n: seq, set: (x) => (number = x) };
  return {
    inspection,
    data: () => {
      if (text === delta && number === seq) return data;
      const d = text === delta ? data.slice(deltaAt, deltaEnd) : JSON.stringify(text).slice(1, -1);
      const s = String(number);
      return seqAt < deltaAt || !(seen & SEQ)
        ? (seen & SEQ ? data.slice(0, seqAt) + s + data.slice(seqEnd, deltaAt) : data.slice(0, deltaAt)) + d + data.slice(deltaEnd)
        : data.slice(0, deltaAt) + d + data.slice(deltaEnd, seqAt) + s + data.slice(seqEnd);
    },
  };
}

/**
 * Events that carry no output text (the response's state, an empty part opening): forwarded
 * unread. Every other event is read, those of a type not known yet included: its strings are scanned.
 */
const SILENT = new Set(['response.created', 'response.in_progress', 'response.queued']);
/** Events that only repeat the text: read once some text was rewritten. */
const REPEATS = new Set(['response.content_part.done']);

/**
 * OpenAI's Responses API (`POST /v1/responses`): OpenAI's errors and statuses, its own body
 * checks, usage in `input_tokens`/`output_tokens`, and text in output_text parts. A stream is
 * typed events; every `*.done` event and `response.completed` repeat the whole text, so they
 * are `finals` the relay rewrites to what the agent was sent, and a held-back tail goes out as
 * one more numbered delta before the part's `output_text.done`.
 */
export const responsesWire: Wire = {
  name: 'openai',
  error: openaiWire.error,

  validate(endpoint, b) {
    return openaiWire.validate(endpoint, b) ?? validateResponses(b);
  },

  prompt: (_endpoint, b) => responsesPrompt(b),
  output: (_endpoint, b) => responsesOutput(b),
  limitOutput: (_endpoint, b, perChoice) => responsesLimitOutput(b, perChoice),

  usage: (json) => usageOf(json?.usage),

  textSlots: (json) => outputSlots(json),

  inspect(_ev: SseEvent, json): StreamInspection {
    const res: StreamInspection = { slots: [], ends: [], last: false };
    if (!json || typeof json !== 'object') return res;
    if (typeof json.sequence_number === 'number') res.seq = { n: json.sequence_number, set: (n) => (json.sequence_number = n) };
    switch (json.type) {
      case 'response.output_text.delta':
        if (typeof json.delta === 'string') res.slots.push({ index: partIndex(json.output_index ?? 0, json.content_index ?? 0), text: json.delta, set: (t) => (json.delta = t) });
        break;
      case 'response.refusal.delta':
        if (typeof json.delta === 'string') {
          const index = partIndex(json.output_index ?? 0, json.content_index ?? 0);
          res.slots.push({ index, key: refusalKey(index), text: json.delta, set: (t) => (json.delta = t) });
        }
        break;
      case 'response.function_call_arguments.delta':
        if (typeof json.delta === 'string') res.slots.push({ index: partIndex(json.output_index ?? 0, 0), kind: 'json', text: json.delta, set: (t) => (json.delta = t) });
        break;
      case 'response.reasoning_summary_text.delta':
      case 'response.custom_tool_call_input.delta':
        if (typeof json.delta === 'string') res.slots.push({ ...keyed(json), text: json.delta, set: (t) => (json.delta = t) });
        break;
      case 'response.reasoning_summary_text.done':
      case 'response.custom_tool_call_input.done': {
        const oi = json.output_index ?? 0;
        const field = json.type === 'response.custom_tool_call_input.done' ? 'input' : 'text';
        const final = { ...keyed(json), text: json[field], set: (t: string) => (json[field] = t) };
        res.ends.push({ index: final.index, attach: (t, seq, slot) => textDelta(json.item_id, oi, 0, t, seq, slot) });
        if (typeof final.text === 'string') res.finals = [final];
        break;
      }
      case 'response.reasoning_summary_part.done': {
        const p = json.part;
        if (typeof p?.text === 'string') res.finals = [{ ...keyed(json), text: p.text, set: (t) => (p.text = t) }];
        break;
      }
      case 'response.output_text.done':
      case 'response.refusal.done':
      case 'response.function_call_arguments.done': {
        const oi = json.output_index ?? 0;
        const ci = json.content_index ?? 0;
        const index = partIndex(oi, ci);
        res.ends.push({ index, attach: (t, seq, slot) => textDelta(json.item_id, oi, ci, t, seq, slot) });
        const field = json.type === 'response.output_text.done' ? 'text' : json.type === 'response.refusal.done' ? 'refusal' : 'arguments';
        const final: TextSlot = { index, text: json[field], set: (t) => (json[field] = t) };
        if (field === 'refusal') final.key = refusalKey(index);
        if (field === 'arguments') final.kind = 'json';
        if (typeof final.text === 'string') res.finals = [final];
        break;
      }
      case 'response.content_part.done': {
        const p = json.part;
        const index = partIndex(json.output_index ?? 0, json.content_index ?? 0);
        if (p?.type === 'output_text' && typeof p.text === 'string') res.finals = [{ index, text: p.text, set: (t) => (p.text = t) }];
        if (p?.type === 'refusal' && typeof p.refusal === 'string') res.finals = [{ index, key: refusalKey(index), text: p.refusal, set: (t) => (p.refusal = t) }];
        break;
      }
      case 'response.content_part.added':
      case 'response.output_item.added':
      case 'response.output_item.done': {
        // An item (or part) can arrive whole here with no deltas before it: read whenever it has text.
        const output_index = json.output_index ?? 0;
        const item = json.type === 'response.content_part.added' ? { type: 'message', content: [...Array(json.content_index ?? 0), json.part] } : json.item;
        const slots = outputSlots({ output: [item] });
        const shift = output_index * PARTS;
        res.finals = slots.map((s) => ({ ...s, index: s.index + shift, ...(typeof s.key === 'string' && s.key.startsWith('r') ? { key: refusalKey(s.index + shift) } : {}) }));
        break;
      }
      case 'response.completed':
      case 'response.incomplete':
      case 'response.failed': {
        if (json.response?.usage) res.usage = usageOf(json.response.usage);
        if (json.type !== 'response.failed' && json.response) res.answer = json.response;
        res.finals = outputSlots(json.response);
        // A failed response's error can quote the prompt or the answer.
        if (json.response?.error) otherStrings(json.response.error, 0, res.finals);
        res.last = true;
        break;
      }
      default:
        // `error`, types not known yet.
        res.finals = otherStrings(json, partIndex(json.output_index ?? 0, json.content_index ?? 0), []);
    }
    return res;
  },

  flushEvent(index, text, template, seq, slot) {
    const oi = Math.floor(index / PARTS);
    const itemId = template?.output_index === oi ? template.item_id : '';
    return textDelta(itemId, oi, index % PARTS, text, seq, slot);
  },

  unread: (event, rewritten) => SILENT.has(event) || (!rewritten && REPEATS.has(event)),

  streamError(status, kind, message, seq) {
    // OpenAI's error event is flat ({type, code, message, param}); the nested `error` is what the
    // SDKs look for to raise their usual APIError with this message.
    const { error } = JSON.parse(openaiWire.error(status, kind, message).body);
    return formatSse(JSON.stringify({ type: 'error', code: error.code, message, param: null, sequence_number: seq, error }), 'error');
  },
};
