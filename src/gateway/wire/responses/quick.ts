import type { QuickChunk } from '../stream.js';
import type { StreamInspection } from '../types.js';

/**
 * A Responses text delta of plain fields only: `type` first (as every server we know writes it),
 * then keys with null or an integer, the item's id and the `obfuscation` padding (strings that
 * say what the event is), `logprobs` empty (tokens a redacting relay withholds are read in
 * full), and one `delta` with no escape in it.
 */
const RESP_FIELD = String.raw`(?:"[A-Za-z0-9_]+":(?:null|-?\d+)|"(?:item_id|obfuscation)":"[^"\\\x00-\x1f]*"|"logprobs":\[\])`;
const RESP_DELTA = new RegExp(String.raw`^\{"type":"response\.output_text\.delta"(?:,${RESP_FIELD})*,"delta":"[^"\\\x00-\x1f]*"(?:,${RESP_FIELD})*\}$`);
const RESP_DELTA_KEY = '"delta":"';
const SEQ_KEY = '"sequence_number":';

/**
 * A plain field's integer (`"key":12`), or undefined when absent or null. Only for a flat event
 * whose fields passed RESP_FIELD: every `"key":` in it is a key, its value `null` or `-?\d+`.
 * Read digit by digit (no slice to convert); a number too long to be exact so is read by Number.
 */
function intField(data: string, key: string): number | undefined {
  const k = data.lastIndexOf(key);
  if (k === -1) return undefined;
  const v = k + key.length;
  const first = data.charCodeAt(v) === 45 /* - */ ? v + 1 : v;
  let i = first;
  let n = 0;
  for (let c = data.charCodeAt(i); c >= 48 && c <= 57; c = data.charCodeAt(++i)) n = n * 10 + (c - 48);
  if (i === first) return undefined;
  if (i - first > 15) return Number(data.slice(v, i));
  return first === v ? n : -n;
}

/**
 * Most of a Responses stream is `response.output_text.delta` events that carry a piece of text
 * and nothing else. They are read here without JSON.parse, as `quickChatChunk` reads chat's:
 * a flat event of plain fields (RESP_FIELD) around one `delta` with no escape in it; anything
 * else is null and the wire reads the event in full. `part` maps an output and content index
 * to the slot index the wire gives that part's text. The event's data is rewritten in place:
 * the text, and its `sequence_number` when the relay renumbers it.
 *
 * @example
 *   const q = quickResponsesDelta('{"type":"response.output_text.delta","output_index":0,"content_index":0,"delta":"Hi","sequence_number":4}', (o, c) => o * 1024 + c);
 *   q?.inspection.slots[0]?.text; // 'Hi'
 */
export function quickResponsesDelta(data: string, part: (output: number, content: number) => number): QuickChunk | null {
  if (!RESP_DELTA.test(data)) return null;
  // No field before it holds a quote in its value: the first `"delta":"` is the key.
  const start = data.indexOf(RESP_DELTA_KEY) + RESP_DELTA_KEY.length;
  const end = data.indexOf('"', start);
  // The text holds no quote: every `"key":` outside it is one of the event's own keys, and
  // JSON.parse keeps a repeated key's last value, as lastIndexOf finds it.
  const index = part(intField(data, '"output_index":') ?? 0, intField(data, '"content_index":') ?? 0);
  const n = intField(data, SEQ_KEY);
  let text = data.slice(start, end);
  const original = text;
  let seq = n;
  const inspection: StreamInspection = { slots: [{ index, text, set: (t) => (text = t) }], ends: [], last: false };
  if (n !== undefined) inspection.seq = { n, set: (m) => (seq = m) };
  return {
    inspection,
    data: () => {
      const out = text === original ? data : data.slice(0, start) + JSON.stringify(text).slice(1, -1) + data.slice(end);
      return seq === n ? out : (withSeq(out, n!, seq!) ?? JSON.stringify({ ...JSON.parse(out), sequence_number: seq }));
    },
  };
}

/**
 * An event's data with its top-level `sequence_number` changed from `from` to `to` in place, or
 * null where that is not certain (the key not once in the data, or not written as `from`): the
 * caller then writes the event anew. Renumbering is all most events after an inserted one need.
 */
export function withSeq(data: string, from: number, to: number): string | null {
  const k = data.indexOf(SEQ_KEY);
  if (k === -1 || data.indexOf(SEQ_KEY, k + 1) !== -1) return null;
  const v = k + SEQ_KEY.length;
  const digits = String(from);
  if (!data.startsWith(digits, v)) return null;
  const after = data.charCodeAt(v + digits.length);
  if (after !== 44 /* , */ && after !== 125 /* } */) return null;
  return data.slice(0, v) + to + data.slice(v + digits.length);
}
