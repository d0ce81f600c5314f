// Disguised values: `bob\u200b@acme.com`, `４１１１ １１１１ …`, `٠٧٨-٠٥-١١٢٠`, `555–123–4567`,
// `bob﹫acme。com`, a math-bold address. Each looks like (or is, on screen) the plain value, so
// the detectors read the text with every code point put in the form it stands for, and what is
// redacted is the original span, disguise and all. Classes, not lists:
//
// * invisible code points are dropped: every default-ignorable one (zero-width spaces and
//   joiners, word joiner, BOM, soft hyphen, bidi controls, variation selectors, tags, Hangul
//   fillers…), every control character but the line breaks and tabs, and the combining marks
//   of the script-neutral blocks (accents, overlays, enclosing keycaps and circles stacked on a
//   letter or digit: `5\u20e3`, `5̶`);
// * each code point is NFKC-normalised on its own (fullwidth and mathematical letters and
//   digits, circled and superscript digits, small-form and fullwidth `@`, `.`, `+`, ligatures;
//   one may become several);
// * every digit (`\p{Nd}`: Arabic-Indic, Devanagari…, and the digits of Unicode's numeric type
//   Digit that NFKC leaves alone: dingbat circled `➄`, `❺`, Ethiopic…) becomes its ASCII
//   digit; every dash and minus (`\p{Dash}`, `\p{Pd}`, and the minus and long-bar look-alikes
//   `˗ ➖ ─ ー`) `-`; every full stop and middle dot (`。 ۔ । · ・`…) `.`; every space
//   (`\p{Zs}`, the blank braille cell) ' '; the heavy and modifier plus signs `+`.
//
// Per code point and never across two, so a character's form does not depend on its
// neighbours: a stream can fold its pieces apart and offsets map back one code point at a time.
// Folding folded text changes nothing (the tests check every code point), which lets the
// stream redactor keep its look-behind folded.
//
// Text with nothing to fold (printable ASCII and line breaks, or letters such as é, ü, 中 that
// are already in their form) pays one regex pass and gets `null`: the detectors then read the
// text itself.

import { isSoftSpace } from './chars.js';
import { Ints } from './ints.js';

const IGNORABLE = /\p{Default_Ignorable_Code_Point}/u;
const DECIMAL = /\p{Nd}/u;
const DASH = /[\p{Dash}\p{Pd}\u02d7\u2043\u2500\u2501\u2796\u23af\u30fc]/u;
const SPACE = /[\p{Zs}\u2800]/u;
// Full stops of other scripts and the middle dots a `.` is disguised as (NFKC already reads
// the fullwidth, small and halfwidth stops, the one dot leader and the vertical ideographic stop).
const STOPS = new Set([
  0x00b7, 0x0387, 0x06d4, 0x0701, 0x0702, 0x0964, 0x1362, 0x166e, 0x16eb, 0x1803, 0x1809, 0x2027, 0x2219, 0x22c5, 0x2cf9, 0x2cfe, 0x2e31, 0x2e3c, 0x3002, 0x30fb, 0xa4ff, 0xa60e, 0xa6f3,
]);
const PLUSES = new Set([0x02d6, 0x2795]);
/** The script-neutral combining blocks: diacritics, their extensions and supplement, marks for symbols, half marks. */
const COMBINING = /[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]/u;

/**
 * Digits of Unicode's numeric type Digit (not decimal, so not `\p{Nd}`) that NFKC does not
 * make ASCII, by code point of their 1 (or 0) and how many follow it. From the UCD.
 */
const OTHER_DIGITS: ReadonlyArray<readonly [first: number, value: number, count: number]> = [
  [0x1369, 1, 9], // Ethiopic
  [0x19da, 1, 1], // New Tai Lue Tham one
  [0x24f5, 1, 9], // double circled
  [0x24ff, 0, 1], // negative circled zero
  [0x2776, 1, 9], // dingbat negative circled
  [0x2780, 1, 9], // dingbat circled sans-serif
  [0x278a, 1, 9], // dingbat negative circled sans-serif
  [0x10a40, 1, 4], // Kharoshthi
  [0x10e60, 1, 9], // Rumi
  [0x11052, 1, 9], // Brahmi numbers
  [0x1f10b, 0, 2], // dingbat circled and negative circled sans-serif zero
];

/**
 * The ASCII digit of a digit. Unicode encodes decimal digits in runs of ten from 0 to 9 (a
 * stability guarantee), so the digit is the distance from the start of the code point's run of
 * decimal digits, modulo ten where runs of ten follow each other (the math digits).
 */
function digitOf(cp: number): string | null {
  for (const [first, value, count] of OTHER_DIGITS) if (cp >= first && cp < first + count) return String.fromCharCode(48 + value + cp - first);
  if (!DECIMAL.test(String.fromCodePoint(cp))) return null;
  let zero = cp;
  while (zero > 0 && DECIMAL.test(String.fromCodePoint(zero - 1))) zero--;
  return String.fromCharCode(48 + ((cp - zero) % 10));
}

/** A control character that is no line break or tab: invisible, or drawn as nothing a reader can tell apart. */
function isInvisibleControl(cp: number): boolean {
  return (cp < 0x20 && (cp < 9 || cp > 13)) || (cp >= 0x7f && cp <= 0x9f && cp !== 0x85);
}

function foldNormalized(cp: number): string {
  const s = String.fromCodePoint(cp);
  if (IGNORABLE.test(s) || isInvisibleControl(cp) || COMBINING.test(s)) return '';
  if (cp < 0x80) return s;
  if (cp === 0x85) return '\n'; // next line: a line break
  const digit = digitOf(cp);
  if (digit !== null) return digit;
  if (DASH.test(s)) return '-';
  if (STOPS.has(cp)) return '.';
  if (PLUSES.has(cp)) return '+';
  if (SPACE.test(s)) return ' ';
  return s;
}

/**
 * What one code point (not a surrogate half) stands for; null when it is already that. Not
 * cached: the scan reads the cache (foldAt); this is for tests.
 * @example foldCodePoint(0xff14) // '4'
 */
export function foldCodePoint(cp: number): string | null {
  const s = String.fromCodePoint(cp);
  let out = '';
  for (const ch of s.normalize('NFKC')) out += foldNormalized(ch.codePointAt(0)!);
  return out === s ? null : out;
}

// Filled on first sight of each code unit, so text only pays for the characters it has.
const enum Seen {
  Unknown,
  Same,
  Folds,
  HighSurrogate,
}
const bmp = new Uint8Array(0x10000);
const bmpFolds = new Map<number, string>();
// Outside the BMP too, what is known of a code point is a byte and only folds keep a string: a
// text of every astral code point must not grow a million-entry map.
let astral: Uint8Array | undefined; // made on the first astral code point (1 MB)
const astralFolds = new Map<number, string>();

function bmpState(c: number): Seen {
  let s = bmp[c]! as Seen;
  if (s === Seen.Unknown) {
    if (c >= 0xd800 && c <= 0xdbff) s = Seen.HighSurrogate;
    else if (c >= 0xdc00 && c <= 0xdfff)
      s = Seen.Same; // a lone low half stands for nothing else
    else {
      const f = foldCodePoint(c);
      if (f !== null) bmpFolds.set(c, f);
      s = f === null ? Seen.Same : Seen.Folds;
    }
    bmp[c] = s;
  }
  return s;
}

function astralFold(cp: number): string | null {
  astral ??= new Uint8Array(0x100000);
  const k = cp - 0x10000;
  let s = astral[k]! as Seen;
  if (s === Seen.Unknown) {
    const f = foldCodePoint(cp);
    if (f !== null) astralFolds.set(cp, f);
    s = f === null ? Seen.Same : Seen.Folds;
    astral[k] = s;
  }
  return s === Seen.Same ? null : astralFolds.get(cp)!;
}

/**
 * What the code point at `i` (a non-ASCII code unit) stands for and how many code units it
 * takes, or null when it stands for itself. Sets `width` as a side channel (no object per call).
 */
let width = 1;
function foldAt(text: string, i: number): string | null {
  const c = text.charCodeAt(i);
  width = 1;
  const s = bmpState(c);
  if (s === Seen.Same) return null;
  if (s === Seen.Folds) return bmpFolds.get(c)!;
  const low = text.charCodeAt(i + 1);
  if (!(low >= 0xdc00 && low <= 0xdfff)) return null; // a lone high half
  width = 2;
  return astralFold((c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000);
}

// What folds is outside printable ASCII, line breaks and tabs, and outside the characters of
// Latin prose that never fold: Latin-1's signs (£ © « °, not ª ¯ ² µ · ¹ º ¼) and letters,
// most of Latin Extended-A's (not Ĳ, ĳ, Ŀ, ŀ, ŉ, ſ), typographic quotes, daggers and bullets, and
// €. The regex skips those as fast as ASCII, rather than stopping at each é, ł or € of a long
// text (a test holds that none of them folds). Other alphabets are walked by hand, a run at a
// time: past about 15 ranges V8 compiles such a class into a matcher five times slower.
/** Those characters past ASCII, as the inside of a regex class (scan's CLI reads its records' text with them). */
export const LATIN_NEVER_FOLDS = '\\u00a1-\\u00a7\\u00a9\\u00ab\\u00ac\\u00ae\\u00b0\\u00b1\\u00b6\\u00bb\\u00bf-\\u0131\\u0134-\\u013e\\u0141-\\u0148\\u014a-\\u017e\\u2018-\\u2022\\u20ac';
const MAY_FOLD = new RegExp(`[^\\t-\\r\\x20-\\x7e${LATIN_NEVER_FOLDS}]`, 'g');

/** Printable ASCII, a tab or a line break: stands for itself (NaN, past an end, does not). */
function isPlain(c: number): boolean {
  return c >= 0x20 ? c < 0x7f : c >= 9 && c <= 13;
}

/** What a separator folds to: read folded only where it could join the parts of a value. */
const SEPARATOR_FOLD = /^[-. ]$/;

/** An ASCII letter or digit, or a code unit outside plain text (maybe a letter or digit in disguise). */
function mayBeValue(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) || (c > 0x7e && c !== 0xa0);
}

/** A digit, or a code unit outside plain text (maybe a digit in disguise). */
function mayBeDigit(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c > 0x7e && c !== 0xa0);
}

/**
 * Whether the separator at `i` (folding to `-`, `.` or a space) touches what could be part
 * of a value: a letter or digit right beside it, or a digit one space away (`415 — 555`, where a
 * phone's groups may stand apart). Prose's dashes and ellipses (`Sure — go on`, `wait…`) touch
 * neither and are read as they are: no value can take them in, so plain prose keeps its one pass.
 */
function joinsValue(text: string, i: number, width: number): boolean {
  // At an end of the text nothing is known of the other side (a stream's next chunk): it may.
  if (i === 0 || i + width >= text.length) return true;
  const before = text.charCodeAt(i - 1);
  const after = text.charCodeAt(i + width);
  if (mayBeValue(before) || mayBeValue(after)) return true;
  return (before === 0x20 && (i < 2 || mayBeDigit(text.charCodeAt(i - 2)))) || (after === 0x20 && (i + width + 1 >= text.length || mayBeDigit(text.charCodeAt(i + width + 1))));
}

/** Index of the first code point at or after `from` that folds to something else, or -1. */
function nextFold(text: string, from: number): number {
  MAY_FOLD.lastIndex = from;
  const n = text.length;
  while (MAY_FOLD.test(text)) {
    // Walk the whole run of non-ASCII text by hand: in Chinese or Cyrillic text it is most of it.
    let i = MAY_FOLD.lastIndex - 1;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (isPlain(c)) break;
      const folded = foldAt(text, i);
      // An ellipsis reads as `...`, which no value holds (no address, number or key has a dot after a dot).
      if (folded !== null && folded !== '...' && (!SEPARATOR_FOLD.test(folded) || joinsValue(text, i, width))) return i;
      i += width;
    }
    MAY_FOLD.lastIndex = i;
  }
  return -1;
}

/** Index of the first code point of `text` that folds, or -1 (the one pass plain text pays). */
export function firstFold(text: string): number {
  return nextFold(text, 0);
}

/**
 * Whether any code point of `text` folds, or its last code unit is a high surrogate whose
 * other half is still to come (a stream's chunk may end between the two).
 */
export function mayFold(text: string): boolean {
  const last = text.charCodeAt(text.length - 1);
  return (last >= 0xd800 && last <= 0xdbff) || nextFold(text, 0) !== -1;
}

/**
 * A text as the detectors read it, with the way back to the original. Offsets are UTF-16 code
 * units. Where folding removed characters, a value's start maps to its first kept character and
 * its end past its last, so characters removed inside a value go with it; where one code point
 * became several, a value that starts or ends inside them takes the whole code point.
 */
export class NormalizedText {
  /**
   * One entry per code point whose folded form has another length (dropped, widened, or two
   * UTF-16 units become one): [original start, original end, folded start, folded end],
   * flattened. Between two entries offsets move together: characters there are the same, or
   * one unit stands for one unit (`４` for `4`), which a span maps across like any other.
   */
  private readonly edits: Int32Array;
  private readonly count: number;

  constructor(
    readonly text: string,
    edits: Ints,
  ) {
    this.edits = edits.items;
    this.count = edits.length / 4;
  }

  /** The first edit whose entry at `field` is greater than `n`; `count` when none. */
  private firstAbove(field: number, n: number): number {
    let lo = 0;
    let hi = this.count;
    const e = this.edits;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (e[4 * mid + field]! > n) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Original offset where the code point behind folded character `i` starts (`text.length`: the original's end). */
  startOf(i: number): number {
    const e = this.edits;
    const k = this.firstAbove(3, i);
    if (k < this.count && e[4 * k + 2]! <= i) return e[4 * k]!;
    return k === 0 ? i : e[4 * (k - 1) + 1]! + (i - e[4 * (k - 1) + 3]!);
  }

  /** Original offset just past the code point behind folded character `i - 1` (`i` > 0). */
  endOf(i: number): number {
    const e = this.edits;
    const k = this.firstAbove(3, i - 1);
    if (k < this.count && e[4 * k + 2]! <= i - 1) return e[4 * k + 1]!;
    return (k === 0 ? i - 1 : e[4 * (k - 1) + 1]! + (i - 1 - e[4 * (k - 1) + 3]!)) + 1;
  }

  /** How many folded characters the original's first `at` code units make (a split code point counts as not yet read). */
  foldedAt(at: number): number {
    const e = this.edits;
    const k = this.firstAbove(1, at);
    if (k < this.count && e[4 * k]! < at) return e[4 * k + 2]!;
    return k === 0 ? at : e[4 * (k - 1) + 3]! + (at - e[4 * (k - 1) + 1]!);
  }
}

/**
 * `text` as the detectors read it, with the way back to its offsets; null when nothing in it
 * folds (then the detectors read `text` itself).
 * @example
 * const n = normalizeText('mail bob\u200b@acme。com')!;
 * n.text;                      // 'mail bob@acme.com'
 * [n.startOf(5), n.endOf(17)]; // [5, 18]: the original span, zero-width space included
 */
export function normalizeText(text: string, first = nextFold(text, 0)): NormalizedText | null {
  let i = first;
  if (i === -1) return null;
  // Joined every few thousand pieces: a text of nothing but disguised characters makes one
  // piece per character, and a list of millions of strings would cost more than the text.
  const done: string[] = [];
  let parts: string[] = [];
  const edits = new Ints();
  let last = 0; // original offset up to which text is copied
  let length = 0; // folded length so far
  while (i !== -1) {
    const f = foldAt(text, i)!;
    const w = width;
    if (i > last) {
      parts.push(text.slice(last, i));
      length += i - last;
    }
    parts.push(f);
    if (w !== 1 || f.length !== 1) {
      edits.push(i);
      edits.push(i + w);
      edits.push(length);
      edits.push(length + f.length);
    }
    length += f.length;
    last = i + w;
    if (parts.length >= 4096) {
      done.push(parts.join(''));
      parts = [];
    }
    i = nextFold(text, last);
  }
  if (last < text.length) parts.push(text.slice(last));
  done.push(parts.join(''));
  return new NormalizedText(done.length === 1 ? done[0]! : done.join(''), edits);
}

const GLUED = /\p{Grapheme_Extend}/u;

/**
 * Where a value found to end at `end` ends with the invisible marks that sit on its last
 * character (an accent, a keycap, a variation selector: they belong to it, and left behind they
 * would sit on the `]` of its redaction).
 * @example glueEnd('5\u20e3 ok', 1) // 2
 */
export function glueEnd(text: string, end: number): number {
  while (end < text.length) {
    const c = text.charCodeAt(end);
    const w = c >= 0xd800 && c <= 0xdbff ? 2 : 1;
    const ch = text.slice(end, end + w);
    if (!GLUED.test(ch) || foldAt(text, end) !== '') return end;
    end += w;
  }
  return end;
}

/**
 * How long `text.slice(start, end)` is folded; a span of ASCII (most are) is read, not copied.
 * @example foldedLength('a ４\u200b２ b', 2, 5) // 2
 */
export function foldedLength(text: string, start: number, end: number): number {
  for (let i = start; i < end; i++) if (!isPlain(text.charCodeAt(i))) return foldText(text.slice(start, end)).length;
  return end - start;
}

/**
 * `text` folded, or itself when nothing in it folds.
 * @example foldText('４１１１－１１１１') // '4111-1111'
 */
export function foldText(text: string): string {
  return normalizeText(text)?.text ?? text;
}

// A long text with a few characters to fold (an em dash in a 4 MB log) is not copied whole:
// copying megabytes costs more than scanning them. Only the stretches around those characters
// are read folded; the rest is read as it is, which is the same text there.
//
// A stretch runs from a hard break before the first character it folds to a hard break at
// least `lookBehind` characters past the last: no value spans a hard break, no decision about
// a value reads past the next one, and a value starting after the stretch reads back only text
// that folds to itself. Only breaks that need no folding to judge count: a tab or line end, or
// a space between two ASCII characters that is not one inside a number (chars.ts isSoftSpace).

/** Texts shorter than this are folded whole: copying them costs less than finding stretches. */
export const STRETCHES_FROM = 16 * 1024;
/** How far a stretch's edge is looked for before the text is folded whole instead. */
const MAX_WALK = 4096;

function hardBreakAt(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  if (c === 32) {
    const prev = text.charCodeAt(i - 1);
    const next = text.charCodeAt(i + 1);
    // NaN (an end of the text) compares false: no break judged there.
    return isPlain(prev) && isPlain(next) && !isSoftSpace(prev, c, next);
  }
  return c >= 9 && c <= 13;
}

/**
 * The stretches of a long text to read folded, as [start, end) pairs in order, apart; null
 * when folding the whole text is simpler (no break near a character that folds, or the
 * stretches would cover much of the text). `first`: firstFold(text).
 * @example foldStretches(`${'word '.repeat(5000)}bob\u200b@x.io ${'word '.repeat(5000)}`, 25003, 32) // [25000, 25040]
 */
export function foldStretches(text: string, first: number, lookBehind: number): Int32Array | null {
  const n = text.length;
  const out = new Ints();
  let end = -1; // of the last stretch
  let covered = 0;
  for (let i = first; i !== -1; ) {
    foldAt(text, i);
    const after = i + width;
    let to = after + lookBehind;
    const ceiling = Math.min(n, to + MAX_WALK);
    while (to < ceiling && !hardBreakAt(text, to)) to++;
    if (to === ceiling && to < n) return null;
    to = Math.min(n, to + 1);
    let from = i;
    if (i >= end) {
      const floor = Math.max(0, i - MAX_WALK);
      while (from > floor && !hardBreakAt(text, from - 1)) from--;
      if (from === floor && from > 0) return null;
    }
    if (from <= end) {
      // Joins the last stretch, which must now reach past this character too.
      const longer = Math.max(end, to);
      covered += longer - end;
      out.items[out.length - 1] = end = longer;
    } else {
      out.push(from);
      out.push((end = to));
      covered += to - from;
    }
    if (covered * 4 > n) return null;
    i = nextFold(text, after);
  }
  return out.items.subarray(0, out.length);
}
