import type { QuickChunk } from '../stream.js';

/** What one stream's chunks have in common, remembered between them: the last head that passed. */
export interface QuickMemo {
  head?: string;
}

/** Choice 0's delta, as OpenAI (and the servers that copy it) order a chunk's fields. */
const DELTA = '"choices":[{"index":0,"delta":{';
const CONTENT = '"content":"';
const ROLE_CONTENT = '"role":"assistant","content":"';
/** What closes choice 0 and the choices after its delta: no finish, so no end of the output. */
const CLOSERS = ['},"logprobs":null,"finish_reason":null}]', '},"finish_reason":null}]', '},"finish_reason":null,"logprobs":null}]'];

/**
 * A chunk's top-level fields before and after `choices`: plain keys with null or a number, and
 * plain strings only in fields that say what the chunk is (any other string, an `error`, a
 * provider's own field, is output the wire scans).
 */
const FIELD = String.raw`(?:"[A-Za-z0-9_]+":(?:null|-?\d+)|"(?:id|object|model|system_fingerprint|service_tier|obfuscation)":"[^"\\\x00-\x1f]*")`;
const HEAD = new RegExp(String.raw`^\{(?:${FIELD},)*$`);
const TAIL = new RegExp(String.raw`^(?:,${FIELD})*\}$`);

/**
 * Most of a chat stream is chunks that carry a piece of text for choice 0 and nothing else.
 * Their text is found here without JSON.parse: a delta of only `content` (and the assistant
 * role), one choice (index 0), no finish, no escape in the text, and around the choices only
 * top-level fields whose values are null, integers or structural strings (so no usage). Anything else
 * is null and the wire reads the event in full: this is sound, not complete (a null costs a
 * parse, never a missed text). A `"` inside a JSON string is always escaped, so a key sequence
 * found in the raw text is a key, never part of a value.
 *
 * @example
 *   const q = quickChatChunk('{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}');
 *   q?.inspection.slots[0]?.text; // 'Hi'
 */
export function quickChatChunk(data: string, seen?: QuickMemo): QuickChunk | null {
  const d = data.indexOf(DELTA);
  if (d === -1) return null;
  let start = d + DELTA.length;
  if (data.startsWith(CONTENT, start)) start += CONTENT.length;
  else if (data.startsWith(ROLE_CONTENT, start)) start += ROLE_CONTENT.length;
  else return null;
  // The text runs to the next quote and holds no escape (and no control character, which would
  // make the event not JSON, scanned whole instead).
  let end = start;
  for (let c = data.charCodeAt(end); c !== 34; c = data.charCodeAt(++end)) if (c === 92 || c < 32 || Number.isNaN(c)) return null;
  // Then choice 0 closes with no finish and the choices close: one choice, a text-only delta.
  const closer = CLOSERS.find((c) => data.startsWith(c, end + 1));
  if (closer === undefined) return null;
  // Around the choices only plain fields: the whole event is JSON, with no usage object and no
  // `choices` after this one, so the wire would find exactly this text and nothing else.
  // A stream's chunks share their head (id, object, created, model…): the one last found plain
  // is not read again (the same text, the same verdict).
  const head = data.slice(0, d);
  if (head !== seen?.head) {
    if (!HEAD.test(head)) return null;
    if (seen) seen.head = head;
  }
  if (!TAIL.test(data.slice(end + 1 + closer.length))) return null;
  let text = data.slice(start, end);
  const original = text;
  return {
    inspection: { slots: [{ index: 0, text, set: (t) => (text = t) }], ends: [], last: false },
    data: () => (text === original ? data : data.slice(0, start) + JSON.stringify(text).slice(1, -1) + data.slice(end)),
  };
}
