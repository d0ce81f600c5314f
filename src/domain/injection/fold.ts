// The text as the signal regexes read it: what hides a phrase from a regex undone (invisible
// code units dropped, fullwidth and mathematical letters read as ASCII, Latin words' Cyrillic or
// Greek look-alikes read as Latin), and the way back from each code unit of the folded text to
// the original, so that a match is reported where the reader sees it. What each code unit is and
// folds to is looked up in fold-tables.ts; the word reader (tokens.ts) counts the mixed words
// that decide whether a text needs folding at all.

import { Kind, KIND, kindOf, LATIN_FORM, learn, lookAlikeOf, mathLetter, NEEDS_FOLD } from './fold-tables.js';

/**
 * A text as the signal regexes read it (foldForSignals): the original with a few code units
 * replaced or dropped, and the way back from one to the other.
 */
export interface Folded {
  text: string;
  /**
   * Where the folded text differs from the original, in increasing order: the index of each code
   * unit replaced, and of each one that follows something dropped (or the text's length, when
   * the end was). Between two of them the folded text is a stretch of the original, as it was.
   */
  changed: number[];
  /** Whether every code unit of the folded text is where it was in the original (nothing dropped before it, no pair read as one). */
  samePlaces: boolean;
  /** The index in the original of the folded text's code unit j (0 past its end). */
  origin(j: number): number;
  /** The first code unit of the folded text that comes from the original's index i or later (its length when none). */
  place(i: number): number;
  /** place(i) of each of `indices`, in one walk when they come in about increasing order (a Starts' ranges, its lines). */
  places(indices: readonly number[]): number[];
  /**
   * The folded text lowercased, from `lower`, the original's lowercase (as long as it): its
   * stretches with the replacements lowercased. Null where that could differ from
   * text.toLowerCase() (a Σ, whose lowercase depends on what follows it; a lowercase longer).
   */
  lowerFrom(lower: string, original: string): string | null;
}

/**
 * What the fold does to the original, in increasing `at`: the code units at..at+width of the
 * original become `unit` (-1: nothing, they are dropped). Reused from call to call.
 */
let changeAt = new Int32Array(256);
let changeWidth = new Int32Array(256);
let changeUnit = new Int32Array(256);
let changes = 0;
// Look-alikes read as Latin in a mixed word, found when the word ends: merged into the above.
let lookAt = new Int32Array(64);
let lookUnit = new Int32Array(64);
let looks = 0;

const grown = (a: Int32Array) => {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
};

function change(at: number, width: number, unit: number): void {
  if (changes === changeAt.length) {
    changeAt = grown(changeAt);
    changeWidth = grown(changeWidth);
    changeUnit = grown(changeUnit);
  }
  changeAt[changes] = at;
  changeWidth[changes] = width;
  changeUnit[changes++] = unit;
}

/**
 * `text` with what hides a phrase from a regex undone: invisible characters (zero-width,
 * bidi controls, soft hyphens, tags) dropped, fullwidth and mathematical letters read as
 * ASCII, and words mixing Latin with Cyrillic or Greek look-alikes read as Latin (`іgnоrе` is
 * `ignore`; a Russian word stays Russian). Null when there is nothing to undo (the common case,
 * decided with one regex test and the classifier's count of mixed words), or when undoing it
 * changed nothing: the regexes would find what they found in the text as written.
 *
 * One pass notes what changes, and nothing else; the folded text is then the original's
 * stretches between the changes, joined (most of a text is as it was).
 */
export function foldForSignals(text: string, mixedWords: number): Folded | null {
  if (mixedWords === 0 && !NEEDS_FOLD.test(text)) return null;
  const n = text.length;
  changes = 0;
  looks = 0;
  let wordStart = 0; // where the word being read starts in the original (at the separator before it)
  let latin = false;
  let other = false;
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      // Plain ASCII (most of a text): never changed, it only moves the word state on. So rather
      // than looking up each code unit, read the rest of the word being read, the word end at the
      // separator after it, then skip to the next non-ASCII code unit and read backwards from
      // there the start of the word it is in: the state is as the per-unit loop leaves it.
      let j = i;
      while (j < n && (c = text.charCodeAt(j)) < 0x80 && KIND[c] !== Kind.Separator) {
        if (KIND[c] === Kind.Latin) latin = true;
        j++;
      }
      if (j === n || c >= 0x80) {
        i = j - 1; // the word goes on into what follows (or the text ends)
        continue;
      }
      if (latin && other) lookalikes(text, wordStart, j); // the word ends at the separator j
      const b = nextNonAscii(text, j + 1);
      // between j and b every word is ASCII (no look-alikes); the one at b starts after the last separator before it
      let s = b - 1;
      latin = false;
      while (KIND[(c = text.charCodeAt(s))] !== Kind.Separator) {
        if (KIND[c] === Kind.Latin) latin = true;
        s--; // stops at j at the latest
      }
      other = false;
      wordStart = s;
      i = b - 1;
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const low = text.charCodeAt(i + 1);
      if (c === 0xdb40 && low >= 0xdc00 && low <= 0xdc7f) {
        change(i, 2, -1); // a tag character: invisible
        i++;
        continue;
      }
      const k = c === 0xd835 ? mathLetter(low) : -1;
      if (k >= 0) {
        // a mathematical Greek letter that looks like a Latin one makes its word mixed, as the Greek letter would
        if (kindOf(k) === Kind.LookAlike) other = true;
        else if (!(k >= 0x30 && k <= 0x39)) latin = true;
        change(i, 2, k); // two code units read as one
        i++;
        continue;
      }
      // any other pair (or a high surrogate and whatever follows it) is kept, and ends the word
      if (latin && other) lookalikes(text, wordStart, i);
      latin = false;
      other = false;
      i++;
      wordStart = i + 1;
      continue;
    }
    let replaced = false;
    if (c >= 0xff01 && c <= 0xff5e) {
      // fullwidth forms, punctuation too (＜｜im_start｜＞, ［INST］, ＊＊＊ NEW INSTRUCTIONS): read as ASCII
      c -= 0xfee0;
      replaced = true;
    } else if (LATIN_FORM[c] !== 0) {
      c = LATIN_FORM[c]!;
      replaced = true;
    }
    let kind = KIND[c]! as Kind;
    if (kind === Kind.Unknown) kind = learn(c);
    if (kind === Kind.Skip) {
      change(i, 1, -1); // invisible
      continue;
    }
    if (kind >= Kind.Letter) {
      if (kind === Kind.Latin) latin = true;
      // (a Cyrillic or Greek capital stays as written: the regexes read the text lowercased or
      // ignoring case, and a mixed word's look-alikes are read as Latin by lookalikes(); lowered
      // here, every Russian text with a capital was folded and read twice for nothing)
      else if (kind === Kind.LookAlike) other = true;
    } else if (kind !== Kind.Mark) {
      // the word ends: a word of Latin and Cyrillic or Greek letters has its look-alikes read as Latin
      if (latin && other) lookalikes(text, wordStart, i);
      latin = false;
      other = false;
      wordStart = i;
    }
    if (replaced) change(i, 1, c);
  }
  if (latin && other) lookalikes(text, wordStart, n);
  if (changes === 0 && looks === 0) return null;
  if (looks > 0) mergeLookalikes();
  return new Fold(text, changeAt.slice(0, changes), changeWidth.slice(0, changes), changeUnit.slice(0, changes));
}

/** A code unit past ASCII (sticky search from lastIndex). */
const NON_ASCII = /[^\0-\x7f]/g;
/** The first code unit at `from` or after that is not ASCII (the text's length when none). */
function nextNonAscii(text: string, from: number): number {
  // a few steps by hand (a word or a space between two Cyrillic or Chinese ones), then the regex
  // engine's own loop, several times faster over a long run than charCodeAt one by one
  const n = text.length;
  const near = Math.min(n, from + 16);
  for (let b = from; b < near; b++) if (text.charCodeAt(b) >= 0x80) return b;
  if (near === n) return n;
  NON_ASCII.lastIndex = near;
  return NON_ASCII.test(text) ? NON_ASCII.lastIndex - 1 : n;
}

/**
 * Notes the look-alikes of the word text[from, to) as Latin, in their case (`lookAlikeOf`): the
 * pass above drops the invisible ones and reads fullwidth, mathematical and Latin forms as ASCII.
 * Rare: only a word of mixed scripts.
 */
function lookalikes(text: string, from: number, to: number): void {
  const n = text.length;
  let lower = false; // the word's last letter read was a small one
  for (let i = from; i < to; i++) {
    const at = i;
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      // inside a word a pair is a tag character (dropped) or a mathematical letter: a Latin one
      // is read as ASCII by the pass above, a Greek one (𝛐, 𝚰) is a look-alike like the letter it is
      const low = text.charCodeAt(++i);
      if (c !== 0xd835) continue;
      c = mathLetter(low);
      if (c < 0) continue;
    }
    // fullwidth forms and Latin forms are read as ASCII by the pass above: no look-alikes
    if (kindOf(c) !== Kind.LookAlike) {
      if (c >= 0x61 && c <= 0x7a) lower = true;
      else if (c >= 0x41 && c <= 0x5a) lower = false;
      continue;
    }
    const latin = lookAlikeOf(c, lower);
    if (latin === 0) continue;
    lower = latin >= 0x61;
    if (looks === lookAt.length) {
      lookAt = grown(lookAt);
      lookUnit = grown(lookUnit);
    }
    lookAt[looks] = at;
    lookUnit[looks++] = latin;
  }
}

/** Merges the look-alikes (increasing) into the changes (increasing): a look-alike replaces what the change made of the same code units. */
function mergeLookalikes(): void {
  const at = changeAt.slice(0, changes);
  const width = changeWidth.slice(0, changes);
  const unit = changeUnit.slice(0, changes);
  const total = changes;
  changes = 0;
  let a = 0;
  let b = 0;
  while (a < total || b < looks) {
    if (b >= looks || (a < total && at[a]! < lookAt[b]!)) {
      change(at[a]!, width[a]!, unit[a]!);
      a++;
    } else if (a < total && at[a] === lookAt[b]) {
      change(at[a]!, width[a]!, lookUnit[b]!);
      a++;
      b++;
    } else {
      change(lookAt[b]!, 1, lookUnit[b]!);
      b++;
    }
  }
}

/** A fold's result: the changes, and what follows from them. */
class Fold implements Folded {
  readonly text: string;
  readonly changed: number[] = [];
  readonly samePlaces: boolean;
  /** From folded index shiftFrom[k] on (up to the next), origin(j) = j + shift[k]; shiftFrom[0] = 0, shift[0] = 0. */
  private readonly shiftFrom: number[] = [0];
  private readonly shift: number[] = [0];
  private readonly at: Int32Array;
  private readonly width: Int32Array;
  private readonly unit: Int32Array;

  constructor(original: string, at: Int32Array, width: Int32Array, unit: Int32Array) {
    this.at = at;
    this.width = width;
    this.unit = unit;
    const pieces: string[] = [];
    let from = 0; // in the original: the stretch as it was starts here
    let shift = 0; // code units dropped (or two read as one) so far
    for (let k = 0; k < at.length; k++) {
      const i = at[k]!;
      const j = i - shift; // where the change lands in the folded text
      if (i > from) pieces.push(original.slice(from, i));
      from = i + width[k]!;
      if (unit[k]! >= 0) {
        pieces.push(String.fromCharCode(unit[k]!));
        this.note(j);
        if (width[k] === 2) this.moveOn(j + 1, ++shift); // two read as one: what follows moves back one
      } else this.moveOn(j, (shift += width[k]!)); // dropped: what follows moves back
    }
    if (from < original.length) pieces.push(original.slice(from));
    this.text = pieces.join('');
    // (what was dropped after the last code unit moves none)
    this.samePlaces = this.text.length === 0 || (this.shift[0] === 0 && (this.shiftFrom.length === 1 || this.shiftFrom[1]! >= this.text.length));
  }

  /** Notes a change at folded index j (once). */
  private note(j: number): void {
    if (this.changed.length === 0 || this.changed[this.changed.length - 1]! !== j) this.changed.push(j);
  }

  /** From folded index j on, code units come from `shift` further in the original; j is a change (what follows something dropped). */
  private moveOn(j: number, shift: number): void {
    this.note(j);
    const last = this.shiftFrom.length - 1;
    if (this.shiftFrom[last] === j) this.shift[last] = shift;
    else {
      this.shiftFrom.push(j);
      this.shift.push(shift);
    }
  }

  /** The index in shiftFrom of the stretch holding folded index j. */
  private stretch(j: number): number {
    let lo = 0;
    let hi = this.shiftFrom.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.shiftFrom[mid]! <= j) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  origin(j: number): number {
    if (j < 0 || j >= this.text.length) return 0;
    return j + this.shift[this.stretch(j)]!;
  }

  /** Stretches that hold code units (the last one is empty when the end was dropped). */
  private stretches(): number {
    const count = this.shiftFrom.length;
    return this.shiftFrom[count - 1]! >= this.text.length ? count - 1 : count;
  }

  /** The origin of stretch k's last code unit, k < stretches() (increasing with k: no stretch but the last is empty). */
  private lastOrigin(k: number, count: number): number {
    const end = k + 1 < count ? this.shiftFrom[k + 1]! : this.text.length; // the stretch is [shiftFrom[k], end)
    return end - 1 + this.shift[k]!;
  }

  /** What place(i) is, from k, the first stretch whose last code unit comes from i or later (count: none). */
  private placeIn(k: number, count: number, i: number): number {
    return k === count ? this.text.length : Math.max(this.shiftFrom[k]!, i - this.shift[k]!);
  }

  place(i: number): number {
    const count = this.stretches();
    // the first stretch whose last code unit comes from i or later (stretches are in the order of their origins)
    let lo = 0;
    let hi = count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.lastOrigin(mid, count) >= i) hi = mid;
      else lo = mid + 1;
    }
    return this.placeIn(lo, count, i);
  }

  places(indices: readonly number[]): number[] {
    const count = this.stretches();
    const out = new Array<number>(indices.length);
    // the same stretch as place's search, found by moving from the one before (indices mostly increase)
    let k = 0;
    for (let x = 0; x < indices.length; x++) {
      const i = indices[x]!;
      while (k > 0 && this.lastOrigin(k - 1, count) >= i) k--;
      while (k < count && this.lastOrigin(k, count) < i) k++;
      out[x] = this.placeIn(k, count, i);
    }
    return out;
  }

  lowerFrom(lower: string, original: string): string | null {
    if (lower.length !== original.length) return null;
    const pieces: string[] = [];
    let from = 0;
    for (let k = 0; k < this.at.length; k++) {
      const i = this.at[k]!;
      if (i > from) pieces.push(lower.slice(from, i));
      from = i + this.width[k]!;
      if (this.unit[k]! >= 0) {
        const u = this.unit[k]!;
        const l = String.fromCharCode(u).toLowerCase();
        if (l.length !== 1) return null;
        pieces.push(l);
      }
    }
    if (from < lower.length) pieces.push(lower.slice(from));
    // a Σ's lowercase depends on the letters around it, which the fold may have changed
    return this.text.indexOf('\u03a3') < 0 ? pieces.join('') : withFinalSigma(this.text, pieces.join(''));
  }
}

/** How far (code units) from a Σ withFinalSigma looks for the ends of its context. */
const SIGMA_CONTEXT = 64;
/** Code units that end a Σ's context (Final_Sigma skips only case-ignorable ones): a space, a line break, an ASCII letter or digit. */
const endsSigmaContext = (c: number) => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d || (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a);

/**
 * `lower`, `text` lowercased but for its Σs, with each Σ as text.toLowerCase() has it: ς or σ by
 * the letters around it (Unicode's Final_Sigma, which skips case-ignorable code units on both
 * sides), lowercased with a window of the text that reaches, each way, a code unit that is not
 * case-ignorable. Null when a window would be longer than SIGMA_CONTEXT.
 */
function withFinalSigma(text: string, lower: string): string | null {
  const n = text.length;
  const out: string[] = [];
  let from = 0;
  for (let j = text.indexOf('\u03a3'); j >= 0; j = text.indexOf('\u03a3', j + 1)) {
    let a = j;
    while (a > 0 && !endsSigmaContext(text.charCodeAt(a))) if (j - --a > SIGMA_CONTEXT) return null;
    let b = j;
    while (b < n - 1 && !endsSigmaContext(text.charCodeAt(b))) if (++b - j > SIGMA_CONTEXT) return null;
    // (as signals.ts lowercases: İ read as I, so the lowercase is as long)
    const w = text
      .slice(a, b + 1)
      .replaceAll('\u0130', 'I')
      .toLowerCase();
    if (w.length !== b + 1 - a) return null;
    out.push(lower.slice(from, j), w[j - a]!);
    from = j + 1;
  }
  out.push(lower.slice(from));
  return out.join('');
}
