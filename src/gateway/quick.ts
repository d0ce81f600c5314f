import type { StreamInspection } from './wire/types.js';

/** A chat chunk read without JSON.parse: what the wire's inspect would say, and the event rewritten. */
export interface QuickChunk {
  inspection: StreamInspection;
  /** The event's data with the text as `set` last left it. */
  data(): string;
}

/** Choice 0's delta, as OpenAI (and the servers that copy it) order a chunk's fields. */
const DELTA = '"choices":[{"index":0,"delta":{';
const CONTENT = '"content":"';
const ROLE_CONTENT = '"role":"assistant","content":"';

/** Every occurrence of `key` in `s` is followed by `:null` (or there is none). */
function onlyNull(s: string, key: string): boolean {
  for (let i = s.indexOf(key); i !== -1; i = s.indexOf(key, i + key.length)) if (!s.startsWith(':null', i + key.length)) return false;
  return true;
}

/**
 * Most of a chat stream is chunks that carry a piece of text for choice 0 and nothing else.
 * Their text is found here without JSON.parse: a delta of only `content` (and the assistant
 * role), one choice (index 0), no finish, no usage, no completion-style `text`, and no escape
 * in the text. Anything else is null and the wire reads the event in full: this is sound, not
 * complete (a null costs a parse, never a missed text). A `"` inside a JSON string is always
 * escaped, so a key sequence found in the raw text is a key, never part of a value.
 *
 * @example
 *   const q = quickChatChunk('{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}');
 *   q?.inspection.slots[0]?.text; // 'Hi'
 */
export function quickChatChunk(data: string): QuickChunk | null {
  const d = data.indexOf(DELTA);
  if (d === -1 || data.indexOf('"delta":', d + DELTA.length) !== -1) return null;
  let start = d + DELTA.length;
  if (data.startsWith(CONTENT, start)) start += CONTENT.length;
  else if (data.startsWith(ROLE_CONTENT, start)) start += ROLE_CONTENT.length;
  else return null;
  const end = data.indexOf('"', start);
  // The text ends the delta, and holds no escape (a `\` before `end` would be inside it).
  if (end === -1 || data.charCodeAt(end + 1) !== 125 || data.lastIndexOf('\\', end) >= start) return null;
  // One choice: no other index anywhere (tool calls have theirs too).
  const index = d + DELTA.indexOf('"index":');
  if (data.indexOf('"index":') !== index || data.indexOf('"index":', index + 8) !== -1 || data.includes('"text":')) return null;
  if (!onlyNull(data, '"finish_reason"') || !onlyNull(data, '"usage"')) return null;
  let text = data.slice(start, end);
  const original = text;
  return {
    inspection: { slots: [{ index: 0, text, set: (t) => (text = t) }], ends: [], last: false },
    data: () => (text === original ? data : data.slice(0, start) + JSON.stringify(text).slice(1, -1) + data.slice(end)),
  };
}
