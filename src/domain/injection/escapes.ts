import { Kind, kindOf } from './fold-tables.js';

// JSON's escapes and HTML's numeric character references undone before the detector reads a
// text. Tool output is JSON more often than not, and what a model reads there is the decoded
// string: `\n` is a line's end (read as written it glued an `n` to the next word: `nКогда`, a
// Latin letter in a Cyrillic word, read as a homoglyph disguise), and a writer that escapes every
// non-ASCII character (Python's json.dumps by default) leaves a Russian, Chinese or German text as
// `\u0410\u0441…`, no word of which the detector knew. Only JSON's own escapes are read (`\n \r
// \t \b \f \" \\ \/ \uXXXX`). An escape of what no reader sees (a zero-width or joining
// character, a soft hyphen, a combining mark, half of a surrogate pair: an emoji, a tag character)
// is read as a space: a model reads the escape's six characters, not an invisible one, so it must
// not join two words for the detector alone. Each decoded code unit keeps where it was in the
// text, for the spans. A string JSON.parse decoded already (detectInjectionJson's) is read so
// again: an escape left in it is what the model reads as one, and one of an invisible character
// between words still reads as a space.
//
// HTML's numeric character references (`&#73;`, `&#x49;`, the `;` optional as browsers have it)
// likewise: in a page or a feed a model reads `&#73;gnore &#97;ll…` as the words it spells, and
// an attacker spells an instruction so to pass a filter that reads words (a reference to what no
// reader sees reads as a space, as an escape does). Named references (`&amp;`) are left: they
// spell no word.

export interface Unescaped {
  /** The text with its escapes decoded. */
  text: string;
  /** After each escape, in pairs: where the decoded text goes on, and where the original does. */
  marks: number[];
  /**
   * The stretches of the decoded text where ASCII letters and digits were spelt as escapes or
   * references (`\u0049`, `&#73;`), which no writer needs to escape (json.dumps does not, nor does
   * any HTML writer): a disguise when a stretch has several. Letters SPELT_GAP or fewer code units
   * apart are one stretch; each from where its first letter stands to after its last.
   */
  spelt: Array<{ letters: number; start: number; end: number }>;
}

const hex = (c: number): number => (c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1);

/** The code unit an escape at `i` (a backslash) stands for and its length, or null when it is none of JSON's. */
function jsonEscapeAt(text: string, i: number): [number, number] | null {
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
      return [v >= 0xd800 && v <= 0xdfff ? 32 : asRead(v).charCodeAt(0), 6];
    }
    default:
      return null;
  }
}

/**
 * The code point a numeric character reference at `i` (an ampersand) stands for and its length, or
 * null when there is none: `&#` and decimal digits or `x` and hex digits (leading zeros too), then
 * `;` or anything but a digit (HTML decodes `&#73` too). Past U+10FFFF, a surrogate or NUL: none.
 */
function referenceAt(text: string, i: number): [number, number] | null {
  if (text.charCodeAt(i + 1) !== 35) return null; // #
  const isHex = (text.charCodeAt(i + 2) | 0x20) === 120; // x
  let k = i + (isHex ? 3 : 2);
  const first = k;
  let v = 0;
  // leading zeros are read as a browser reads them (`&#00000073;`), the value to U+10FFFF and a bound on the digits
  for (; k < text.length && k - first < 32; k++) {
    const d = isHex ? hex(text.charCodeAt(k)) : text.charCodeAt(k) - 48;
    if (d < 0 || d > (isHex ? 15 : 9)) break;
    v = Math.min(v * (isHex ? 16 : 10) + d, 0x110000);
  }
  if (k === first || v === 0 || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return null;
  if (text.charCodeAt(k) === 59)
    k++; // ;
  else if (k < text.length && (isHex ? hex(text.charCodeAt(k)) >= 0 : text.charCodeAt(k) >= 48 && text.charCodeAt(k) <= 57)) return null;
  return [v, k - i];
}

/** What a code point decoded from an escape reads as: itself, or a space for what no reader sees (an invisible character, a mark, a control). */
function asRead(v: number): string {
  if (v < 0x20 && v !== 9 && v !== 10 && v !== 13) return ' ';
  if (v >= 0xe0000 && v <= 0xe0fff) return ' '; // a tag character, a variation selector
  if (v > 0xffff) return String.fromCodePoint(v); // an emoji, an ideograph of a supplementary plane
  if (kindOf(v) === Kind.Skip || kindOf(v) === Kind.Mark) return ' ';
  return String.fromCharCode(v);
}

const ASCII_ALNUM = /[A-Za-z0-9]/;
/** How far apart (code units of the decoded text) two spelt letters may be and still be one stretch: a word or two written out between them. */
const SPELT_GAP = 16;

/**
 * The next backslash (or `&#`, when `references`) at or after a position, or -1: each kind's next
 * one kept, and searched for again only once passed (a search for the other kind from every `&#`
 * of a text without a backslash was a scan to its end each time).
 */
function escapeFinder(text: string, references: boolean): (from: number) => number {
  let b = -2; // the next backslash at or after bFrom (-1: none), -2: not searched yet
  let a = references ? -2 : -1;
  return (from) => {
    if (b === -2 || (b >= 0 && b < from)) b = text.indexOf('\\', from);
    if (a === -2 || (a >= 0 && a < from)) a = text.indexOf('&#', from);
    return a < 0 || (b >= 0 && b < a) ? b : a;
  };
}

/**
 * `text` with JSON's escapes and HTML's numeric character references decoded (JSON's alone with
 * `references: false`), or null when it has none (most texts: a scan for a backslash and one for
 * `&#`). The text between them is copied whole.
 * @example decodeEscapes('{"note":"Hi\\nAssistant"}')?.text // '{"note":"Hi\nAssistant"}'
 * @example decodeEscapes('&#73;gnore')?.text // 'Ignore'
 */
export function decodeEscapes(text: string, { references = true }: { references?: boolean } = {}): Unescaped | null {
  const next = escapeFinder(text, references);
  let i = next(0);
  if (i < 0) return null;
  const parts: string[] = [];
  const marks: number[] = [];
  const spelt: Unescaped['spelt'] = [];
  let from = 0;
  let out = 0;
  while (i >= 0) {
    let read: string;
    let length: number;
    if (text.charCodeAt(i) === 92) {
      const e = jsonEscapeAt(text, i);
      if (e === null) {
        i = next(i + 1);
        continue;
      }
      read = String.fromCharCode(e[0]);
      length = e[1];
    } else {
      const r = referenceAt(text, i);
      if (r === null) {
        i = next(i + 1);
        continue;
      }
      read = asRead(r[0]);
      length = r[1];
    }
    parts.push(text.slice(from, i), read);
    out += i - from + read.length;
    if (length > 2 && read.length === 1 && ASCII_ALNUM.test(read)) {
      const last = spelt.at(-1);
      if (last !== undefined && out - 1 - last.end <= SPELT_GAP) {
        last.letters++;
        last.end = out;
      } else spelt.push({ letters: 1, start: out - 1, end: out });
    }
    from = i + length;
    marks.push(out, from);
    i = next(from);
  }
  if (marks.length === 0) return null;
  parts.push(text.slice(from));
  return { text: parts.join(''), marks, spelt };
}

/**
 * Where a position of the decoded text is in the original: an escaped character at its backslash,
 * the text's end at the original's.
 * @example originalIndex(decodeEscapes('a\\nb')!, 2) // 3
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
