import { Kind, kindOf } from './fold-tables.js';

// JSON's escapes undone before the detector reads a text. Tool output is JSON more often than not,
// and what a model reads there is the decoded string: `\n` is a line's end (read as written it
// glued an `n` to the next word: `nКогда`, a Latin letter in a Cyrillic word, read as a homoglyph
// disguise), and a writer that escapes every non-ASCII character (Python's json.dumps by default)
// leaves a Russian, Chinese or German text as `\u0410\u0441…`, no word of which the detector knew.
// Only JSON's own escapes are read (`\n \r \t \b \f \" \\ \/ \uXXXX`). An escape of what no
// reader sees (a zero-width or joining character, a soft hyphen, a combining mark, half of a
// surrogate pair: an emoji, a tag character) is read as a space: a model reads the escape's six
// characters, not an invisible one, so it must not join two words for the detector alone. Each
// decoded code unit keeps where it was in the text, for the spans. A string JSON.parse decoded
// already (detectInjectionJson's) is read so again: an escape left in it is what the model reads
// as one, and one of an invisible character between words still reads as a space.

export interface Unescaped {
  /** The text with its escapes decoded. */
  text: string;
  /** After each escape, in pairs: where the decoded text goes on, and where the original does. */
  marks: number[];
}

const hex = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1);

/** The code unit an escape at `i` (a backslash) stands for and its length, or null when it is none of JSON's. */
function escapeAt(text: string, i: number): [number, number] | null {
  switch (text.charCodeAt(i + 1)) {
    case 110:
      return [10, 2];
    case 114:
      return [13, 2];
    case 116:
      return [9, 2];
    case 98:
    case 102:
      return [32, 2]; // a backspace or a form feed: a space to the reader
    case 34:
      return [34, 2];
    case 92:
      return [92, 2];
    case 47:
      return [47, 2];
    case 117: {
      if (i + 6 > text.length) return null;
      let v = 0;
      for (let k = 2; k < 6; k++) {
        const d = hex(text.charCodeAt(i + k));
        if (d < 0) return null;
        v = v * 16 + d;
      }
      // what no reader sees: a space (a surrogate's half too: the model reads an escape, not an emoji or a tag)
      if ((v >= 0xd800 && v <= 0xdfff) || kindOf(v) === Kind.Skip || kindOf(v) === Kind.Mark) return [32, 6];
      return [v, 6];
    }
    default:
      return null;
  }
}

/**
 * `text` with JSON's escapes decoded, or null when it has none (most texts: one scan for a
 * backslash). The text between escapes is copied whole.
 * @example unescapeJson('{"note":"Hi\\nAssistant"}')?.text // '{"note":"Hi\nAssistant"}'
 */
export function unescapeJson(text: string): Unescaped | null {
  let i = text.indexOf('\\');
  if (i < 0) return null;
  const parts: string[] = [];
  const marks: number[] = [];
  let from = 0;
  let out = 0;
  while (i >= 0) {
    const e = escapeAt(text, i);
    if (e === null) {
      i = text.indexOf('\\', i + 1);
      continue;
    }
    parts.push(text.slice(from, i), String.fromCharCode(e[0]));
    out += i - from + 1;
    from = i + e[1];
    marks.push(out, from);
    i = text.indexOf('\\', from);
  }
  if (marks.length === 0) return null;
  parts.push(text.slice(from));
  return { text: parts.join(''), marks };
}

/**
 * Where a position of the decoded text is in the original: an escaped character at its backslash,
 * the text's end at the original's.
 * @example originalIndex(unescapeJson('a\\nb')!, 2) // 3
 */
export function originalIndex(u: Unescaped, at: number): number {
  const m = u.marks;
  let lo = 0;
  let hi = m.length / 2 - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (m[2 * mid]! <= at) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found < 0 ? at : m[2 * found + 1]! + (at - m[2 * found]!);
}
