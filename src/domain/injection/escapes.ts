// JSON's escapes undone before the detector reads a text. Tool output is JSON more often than not,
// and what a model reads there is the decoded string: `\n` is a line's end (read as written it
// glued an `n` to the next word: `nКогда`, a Latin letter in a Cyrillic word, read as a homoglyph
// disguise), and a writer that escapes every non-ASCII character (Python's json.dumps by default)
// leaves a Russian, Chinese or German text as `\u0410\u0441…`, no word of which the detector knew.
// Only JSON's own escapes are read (`\n \r \t \b \f \" \\ \/ \uXXXX`); a lone surrogate escape
// stays as written. Each decoded code unit keeps where it was in the text, for the spans.

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
      // a character beyond the BMP is a pair of escapes: a first half only before a `\u` (the loop checks the second's)
      if (v >= 0xd800 && v <= 0xdbff && (text.charCodeAt(i + 6) !== 92 || text.charCodeAt(i + 7) !== 117)) return null;
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
  let high = -1; // where the original goes on after an escaped first half of a pair, the second half due there
  while (i >= 0) {
    const e = escapeAt(text, i);
    // a second half only right after a first (a lone half stays as written)
    if (e === null || (e[0] >= 0xdc00 && e[0] <= 0xdfff && high !== i)) {
      i = text.indexOf('\\', i + 1);
      continue;
    }
    parts.push(text.slice(from, i), String.fromCharCode(e[0]));
    out += i - from + 1;
    from = i + e[1];
    marks.push(out, from);
    high = e[0] >= 0xd800 && e[0] <= 0xdbff ? from : -1;
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
