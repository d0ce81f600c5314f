import { headsOf, lineFirsts, terminatorBit, WORD_LENGTH } from './heads.js';

// Where a regex's matches can start. A large alternation (the phrases addressed to the model,
// the words of writing about attacks, the forged delimiters) costs V8 a try of every
// alternative at every position of the text, yet each alternative begins with one of a few
// literal words: `\b(?:to|for|…) (?:the )?(?:ai|llm|…)` with `to` or `for`, `<\/?(?:tool_result|…)>`
// with `<tool_result` or `</tool_result`. A Gate reads those words out of the regexes' sources,
// scans a text once for all of them, and each regex is then tried only where one of its words
// begins: the same matches, in the same order, at a fraction of the cost.
//
// The words are lowercased and looked for in the text lowercased, so a case-insensitive regex
// is found where it matches. That holds for every letter but a few a case-insensitive regex
// takes for another one whose lowercase differs (ODD_LETTERS); a text with one of them, or
// whose lowercase is longer (`İ`), is read by the regexes whole, as before. A text folded for
// the regexes (tokens.ts) is looked at again only around what the fold changed. Where the
// matches start at a line (`^` with the m flag), the scan notes the line terminators once for
// all such regexes (Starts.lines). What each regex begins with is read from its source by heads.ts.

// Letters a case-insensitive regex takes for one whose lowercase is another letter: ſ for s
// (with the u flag), the Old Cyrillic ᲀ ᲁ ᲂ ᲃ ᲄ ᲅ ᲆ ᲇ ᲈ for в д о с т т ъ ѣ ꙋ, and the Kelvin sign,
// a word character to the u flag, that lowercases to k (test/injection/gate.test.ts checks the
// list against every code point).
export const ODD_LETTERS = '\u017f\u1c80\u1c81\u1c82\u1c83\u1c84\u1c85\u1c86\u1c87\u1c88\u212a';

/** Where the matches of each of a Gate's regexes can start in one text. */
export interface Starts {
  /** Per regex, pairs [from, to]: a match can start at these positions only, in increasing `from`. */
  ranges: number[][];
  /**
   * Where the line terminators are, increasing. A regex whose matches start at a line (`^` with
   * the m flag, a `\n` of its own) is tried at each or right after each (Gate.lineAt) besides its
   * ranges: one list for all, not a range per line per regex (lines are the commonest starts).
   */
  lines: number[];
  /** Whether the ranges hold for regexes run over the text as written, not only over the lowercase scanned. */
  exact: boolean;
}

// Gate.first's flags per code unit
const LOOK = 1; // a word starts with it, or it is an ODD letter: the scan looks closer
const WANTS_BOUNDARY = 2; // every word starting with it wants a boundary before it
const IS_ODD = 4;
const WORD_CHARACTER = 64; // [A-Za-z0-9_]: no boundary after it (WORD_CHARACTER >>> 5 is WANTS_BOUNDARY)
const LINE = 128; // a line terminator a regex starts at or after: noted in Starts.lines

// WordIndex.starts' flags per code unit
const LENGTH_1 = 1; // a word of this one code unit
const LENGTH_2 = 2; // a word of two code units starts with it
const LENGTH_3 = 4; // a longer word starts with it

const isWordChar = (b: number) => (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x5f || (b >= 0x41 && b <= 0x5a);

/** A word's first two code units, hashed to a bit of WordIndex.pairs. */
const pairOf = (c0: number, c1: number) => (c0 * 31 + c1) & 0xffff;

/** The slot of a word of three code units or more by its first three. */
const slotOf = (c0: number, c1: number, c2: number) => (Math.imul(c0, 0x9e3779b1) ^ Math.imul(c1 + 1, 0x85ebca6b) ^ Math.imul(c2 + 1, 0xc2b2ae35)) >>> 16;

/** A hash of a word's code units: the scan compares it with the text's there rather than the words themselves. */
const hashOf = (h: number, c: number) => Math.imul(h ^ c, 0x01000193);
const HASH = 0x811c9dc5;

/** Where a word of `length` code units hashed to `h` is looked up in a WordIndex's table (`shift`: 32 less the table's bits). */
const keySlot = (h: number, length: number, shift: number) => Math.imul(h ^ Math.imul(length, 0x27d4eb2d), 0x9e3779b1) >>> shift;

const hasBit = (bits: Uint8Array, i: number) => (bits[i >>> 3]! & (1 << (i & 7))) !== 0;
const setBit = (bits: Uint8Array, i: number) => {
  bits[i >>> 3] = bits[i >>> 3]! | (1 << (i & 7));
};

/** A word a regex begins with: its first WORD_LENGTH code units, its regex, and where a match starts and ends around it. */
interface Word {
  word: string;
  re: number;
  lo: number;
  hi: number;
}

/**
 * Words looked up at a position by their hash: the words of each length that may start there
 * (a word of three code units or more by its first three's slot) are one probe each of a table
 * keyed by the hash of the text's code units there and the length, whatever their number.
 */
class WordIndex {
  /** Per code unit, LENGTH_1 | LENGTH_2 | LENGTH_3. */
  readonly starts = new Uint8Array(0x10000);
  /** One bit per pairOf: whether a word of two code units or more starts so (the test most places fail). */
  readonly pairs = new Uint8Array(0x2000);
  /** Per slotOf, the lengths (bit L - 3 for L from 3 to WORD_LENGTH) of the words of three code units or more with it. */
  readonly lengths = new Uint8Array(0x10000);
  /** The table: per key, the hash of its words' code units (and their length, 0 for none), and its words in [keyFrom, keyTo). */
  readonly keyHash: Int32Array;
  readonly keyLength: Uint8Array;
  readonly keyFrom: Int32Array;
  readonly keyTo: Int32Array;
  readonly mask: number;
  readonly shift: number;
  /** The words, a key's together. */
  readonly wordRe: Int32Array;
  readonly wordLo: Int32Array;
  readonly wordHi: Int32Array;

  constructor(words: readonly Word[]) {
    const byKey = new Map<string, { h: number; length: number; words: Word[] }>();
    for (const w of words) {
      const c = w.word.charCodeAt(0);
      const length = w.word.length;
      this.starts[c] = this.starts[c]! | (length === 1 ? LENGTH_1 : length === 2 ? LENGTH_2 : LENGTH_3);
      if (length > 1) setBit(this.pairs, pairOf(c, w.word.charCodeAt(1)));
      if (length > 2) {
        const slot = slotOf(c, w.word.charCodeAt(1), w.word.charCodeAt(2));
        this.lengths[slot] = this.lengths[slot]! | (1 << (length - 3));
      }
      let h = HASH;
      for (let k = 0; k < length; k++) h = hashOf(h, w.word.charCodeAt(k));
      const id = `${h}:${length}`;
      const key = byKey.get(id) ?? { h, length, words: [] };
      key.words.push(w);
      byKey.set(id, key);
    }
    let bits = 4;
    while (1 << bits < 4 * byKey.size) bits++;
    this.mask = (1 << bits) - 1;
    this.shift = 32 - bits;
    this.keyHash = new Int32Array(1 << bits);
    this.keyLength = new Uint8Array(1 << bits);
    this.keyFrom = new Int32Array(1 << bits);
    this.keyTo = new Int32Array(1 << bits);
    this.wordRe = new Int32Array(words.length);
    this.wordLo = new Int32Array(words.length);
    this.wordHi = new Int32Array(words.length);
    let e = 0;
    for (const { h, length, words: ws } of byKey.values()) {
      let i = keySlot(h, length, this.shift);
      while (this.keyLength[i] !== 0) i = (i + 1) & this.mask;
      this.keyHash[i] = h;
      this.keyLength[i] = length;
      this.keyFrom[i] = e;
      for (const w of ws) {
        this.wordRe[e] = w.re;
        this.wordLo[e] = w.lo;
        this.wordHi[e] = w.hi;
        e++;
      }
      this.keyTo[i] = e;
    }
  }
}

/** The literal words of several global regexes, looked for in one scan of a text. */
export class Gate {
  private readonly regexes: readonly RegExp[];
  private readonly sticky: RegExp[];
  private readonly gated: boolean[];
  private readonly atZero: boolean[];
  /** Per regex, where it starts from a line terminator in Starts.lines (0: at it, 1: after it), or -1. */
  private readonly lineAt: number[];
  /** Per regex, the terminators (terminatorBit) it starts at or after. */
  private readonly lineMask: number[];
  /** Per regex that starts at lines, what its match there begins with past spaces and tabs (lineFirsts), or null. */
  private readonly lineFirst: (Uint8Array | null)[];
  /** Per code unit, the flags above. */
  private readonly first = new Uint8Array(0x10000);
  /** Every word, looked up where no word character is before the position; those that want no boundary, where one is. */
  private readonly every: WordIndex;
  private readonly free: WordIndex;
  /** here[k]: the hash of the k code units at the position scanned. */
  private readonly here = new Int32Array(WORD_LENGTH + 1);

  constructor(regexes: readonly RegExp[]) {
    this.regexes = regexes;
    this.sticky = regexes.map((re) => new RegExp(re.source, `${re.flags.replace('g', '')}y`));
    this.gated = [];
    this.atZero = [];
    this.lineAt = [];
    this.lineMask = [];
    this.lineFirst = [];
    const all: Word[] = [];
    const free: Word[] = []; // the words that want no boundary
    const unbound = new Uint8Array(0x10000); // a word starting with it wants no boundary
    regexes.forEach((re, k) => {
      const h = headsOf(re);
      this.gated.push(h !== null);
      this.atZero.push(h?.atZero ?? false);
      this.lineAt.push(-1);
      this.lineMask.push(0);
      this.lineFirst.push(null);
      // a word's first WORD_LENGTH code units tell enough: the regex is tried where they are
      const seen = new Set<string>();
      for (const whole of h?.heads ?? []) {
        const head = { ...whole, word: whole.word.slice(0, WORD_LENGTH) };
        const id = `${head.word}\u0000${head.lo}\u0000${head.hi}\u0000${head.boundary}`;
        if (seen.has(id)) continue;
        seen.add(id);
        const w = head.word;
        const c = w.charCodeAt(0);
        // a line terminator of its own: the regex is tried at (or after) each, from Starts.lines
        const bit = w.length === 1 && !head.boundary && head.lo === head.hi ? terminatorBit(c) : 0;
        if (bit !== 0 && (this.lineAt[k] === -1 || this.lineAt[k] === head.lo)) {
          this.lineAt[k] = head.lo;
          this.lineMask[k] = this.lineMask[k]! | bit;
          this.first[c] = this.first[c]! | LINE;
          continue;
        }
        this.first[c] = this.first[c]! | LOOK;
        const word = { word: w, re: k, lo: head.lo, hi: head.hi };
        all.push(word);
        if (!head.boundary) {
          unbound[c] = 1;
          free.push(word);
        }
      }
    });
    regexes.forEach((re, k) => {
      if (this.lineAt[k]! >= 0) this.lineFirst[k] = lineFirsts(re);
    });
    for (const { word } of all) {
      const c = word.charCodeAt(0);
      if (unbound[c] === 0) this.first[c] = this.first[c]! | WANTS_BOUNDARY;
    }
    // (an ODD letter is always looked at: the scan notes it, whatever is before it)
    for (const odd of ODD_LETTERS) this.first[odd.charCodeAt(0)] = (this.first[odd.charCodeAt(0)]! | IS_ODD | LOOK) & ~WANTS_BOUNDARY;
    for (let c = 0; c < 0x80; c++) if (isWordChar(c)) this.first[c] = this.first[c]! | WORD_CHARACTER;
    this.every = new WordIndex(all);
    this.free = new WordIndex(free);
  }

  /** Whether regex k is gated: every alternative of it begins with a known word. */
  isGated(k: number): boolean {
    return this.gated[k]!;
  }

  /** Scans `lower` (`text` lowercased) for the words. */
  scan(lower: string, text: string): Starts {
    const ranges: number[][] = this.regexes.map((_, k) => (this.atZero[k] ? [0, 0] : []));
    const lines: number[] = [];
    const odd = this.scanRange(lower, 0, lower.length, ranges, lines);
    return { ranges, lines, exact: lower.length === text.length && !odd && text.indexOf('\u212a') < 0 };
  }

  /**
   * The starts in `lower` (`text` lowercased, as long), where `text` is the text `base` was
   * scanned from, changed at `fold.changed` (increasing) and stretches of it as it was between
   * (a fold that dropped or replaced a few code units: tokens.ts). Whether a word starts at p
   * depends on the code units from p - 1 to p + WORD_LENGTH - 1 only, so base's ranges hold,
   * moved to their place in `text`, but around each change, where the words are looked for again.
   */
  rescan(base: Starts, lower: string, text: string, fold: Refolded): Starts {
    const changed = fold.changed;
    const n = lower.length;
    const near: number[][] = this.regexes.map(() => []);
    const nearLines: number[] = [];
    let odd = false;
    for (let k = 0; k < changed.length; ) {
      const from = Math.max(0, changed[k]! - WORD_LENGTH + 1);
      let to = changed[k]! + 2;
      for (k++; k < changed.length && changed[k]! - WORD_LENGTH + 1 <= to; k++) to = changed[k]! + 2;
      odd = this.scanRange(lower, from, Math.min(to, n), near, nearLines) || odd;
    }
    const identity = fold.samePlaces;
    const ranges = base.ranges.map((r, k) => mergeRanges(identity ? r : fold.places(r), near[k]!));
    const lines = mergePoints(identity ? base.lines : fold.places(base.lines), nearLines);
    return { ranges, lines, exact: base.exact && lower.length === text.length && !odd };
  }

  /** Looks for the words starting at p in [from, to), adding their ranges and the line terminators; whether it saw an ODD letter. */
  private scanRange(lower: string, from: number, to: number, ranges: number[][], lines: number[]): boolean {
    const n = lower.length;
    const { first, here } = this;
    let odd = false;
    let before = from > 0 ? first[lower.charCodeAt(from - 1)]! : 0; // the flags of the code unit before p
    for (let p = from; p < to; p++) {
      const c = lower.charCodeAt(p);
      const f = first[c]!;
      const b = before;
      before = f;
      if ((f & LINE) !== 0) lines.push(p);
      if ((f & LOOK) === 0 || (f & (b >>> 5) & WANTS_BOUNDARY) !== 0) continue; // no word starts here, or none without a boundary
      if (f & IS_ODD) odd = true;
      // after a word character only the words that want no boundary can start here
      const index = (b & WORD_CHARACTER) !== 0 ? this.free : this.every;
      const lengths = index.starts[c]!;
      if (lengths === 0) continue;
      const c1 = p + 1 < n ? lower.charCodeAt(p + 1) : -1;
      if ((lengths & LENGTH_1) === 0 && !hasBit(index.pairs, pairOf(c, c1))) continue;
      // the lengths of the words that may start here: of three code units or more (by the slot of the first three), two, one
      let wanted = (lengths & LENGTH_1) | (lengths & LENGTH_2);
      if ((lengths & LENGTH_3) !== 0 && p + 2 < n) wanted |= index.lengths[slotOf(c, c1, lower.charCodeAt(p + 2))]! << 2;
      if (wanted === 0) continue;
      const longest = 31 - Math.clz32(wanted) + 1;
      let h = HASH;
      for (let k = 0; k < longest; k++) here[k + 1] = h = hashOf(h, p + k < n ? lower.charCodeAt(p + k) : -1);
      const { keyHash, keyLength, keyFrom, keyTo, mask, shift, wordRe, wordLo, wordHi } = index;
      for (let length = 1; length <= longest; length++) {
        if ((wanted & (1 << (length - 1))) === 0) continue;
        const hash = here[length]!;
        // (hashes may collide: a false start would only cost a try)
        let i = keySlot(hash, length, shift);
        while (keyLength[i] !== 0 && (keyLength[i] !== length || keyHash[i] !== hash)) i = (i + 1) & mask;
        if (keyLength[i] === 0) continue;
        for (let e = keyFrom[i]!, end = keyTo[i]!; e < end; e++) {
          const r = ranges[wordRe[e]!]!;
          const start = Math.max(0, p + wordLo[e]!);
          // in increasing `from`: a range that starts earlier than the last ones widens them (by a code unit or two)
          for (let k = r.length - 2; k >= 0 && r[k]! > start; k -= 2) r[k] = start;
          r.push(start, Math.min(n, p + wordHi[e]!));
        }
      }
    }
    return odd;
  }

  /**
   * The matches of regex k in `target`, the same as target.matchAll(regex): `target` is the string
   * scanned (`scanned`), or the text it is the lowercase of.
   */
  matches(k: number, target: string, starts: Starts, scanned: boolean, max = Number.POSITIVE_INFINITY): RegExpExecArray[] {
    const out: RegExpExecArray[] = [];
    const re = this.regexes[k]!;
    if (!this.gated[k] || !(scanned || starts.exact)) {
      re.lastIndex = 0;
      for (let m = re.exec(target); m !== null && out.length < max; m = re.exec(target)) {
        out.push(m);
        if (m[0].length === 0) re.lastIndex = advance(target, re.lastIndex, re.unicode);
      }
      re.lastIndex = 0;
      return out;
    }
    const sticky = this.sticky[k]!;
    const r = starts.ranges[k]!;
    const lineAt = this.lineAt[k]!;
    const lineMask = this.lineMask[k]!;
    const lines = lineAt >= 0 ? starts.lines : NO_LINES;
    const lineFirst = this.lineFirst[k] ?? null;
    let next = 0; // positions before it were tried, or are inside a match
    let q = 0; // the next range of r
    let l = 0; // the next line
    while (out.length < max) {
      // the next positions to try: the next range, or the next line's start, whichever comes first
      while (l < lines.length && (terminatorBit(target.charCodeAt(lines[l]!)) & lineMask) === 0) l++;
      const line = l < lines.length ? lines[l]! + lineAt : Number.POSITIVE_INFINITY;
      let from: number;
      let to: number;
      if (q < r.length && r[q]! <= line) {
        from = r[q]!;
        to = r[q + 1]!;
        q += 2;
      } else if (l < lines.length) {
        l++;
        // a line whose first code unit past its spaces and tabs begins no match there is not tried
        if (lineFirst !== null && !beginsLine(target, lines[l - 1]! + 1, lineFirst)) continue;
        from = to = line;
      } else break;
      for (let p = Math.max(next, from); p <= to; p++) {
        if (re.unicode && p > 0 && isTrail(target, p)) continue; // inside a surrogate pair: no search starts there
        sticky.lastIndex = p;
        const m = sticky.exec(target);
        if (m === null) continue;
        out.push(m);
        if (out.length >= max) break;
        next = m[0].length === 0 ? advance(target, p, re.unicode) : p + m[0].length;
        p = next - 1;
      }
      if (next <= to) next = to + 1;
    }
    return out;
  }
}

const NO_LINES: number[] = [];

/**
 * Whether the line starting at `at` may hold a match by what it begins with past its spaces and
 * tabs (lineFirsts). A code unit past ASCII can: where the starts are exact a regex takes no
 * such one for an ASCII letter, and the few words that begin past ASCII are marked so.
 */
function beginsLine(target: string, at: number, firsts: Uint8Array): boolean {
  let i = at;
  let c = target.charCodeAt(i);
  while (c === 0x20 || c === 0x09) c = target.charCodeAt(++i);
  if (Number.isNaN(c)) return false; // the text ends: a match there would begin with nothing
  if (c >= 0x41 && c <= 0x5a) c |= 0x20;
  return c >= 0x80 || firsts[c] === 1;
}

/** What rescan needs of a text changed in a few places (tokens.ts: Folded). */
export interface Refolded {
  /** Where the text differs from the one scanned, in increasing order. */
  changed: readonly number[];
  /** Whether every code unit is where it was. */
  samePlaces: boolean;
  /** The first code unit of the text that comes from the scanned one's index i or later. */
  place(i: number): number;
  /** place of each, in one walk (for indices in about increasing order). */
  places(indices: readonly number[]): number[];
}

/** Two lists of ranges sorted by `from`, as one. */
function mergeRanges(a: number[], b: number[]): number[] {
  if (b.length === 0) return a;
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! <= b[j]!)) {
      out.push(a[i]!, a[i + 1]!);
      i += 2;
    } else {
      out.push(b[j]!, b[j + 1]!);
      j += 2;
    }
  }
  return out;
}

/** Two increasing lists of positions as one, each position once. */
function mergePoints(a: number[], b: number[]): number[] {
  if (b.length === 0) return a;
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = j >= b.length || (i < a.length && a[i]! <= b[j]!) ? a[i++]! : b[j++]!;
    if (out.length === 0 || out[out.length - 1]! !== x) out.push(x);
  }
  return out;
}

function isTrail(text: string, p: number): boolean {
  const c = text.charCodeAt(p);
  const b = text.charCodeAt(p - 1);
  return c >= 0xdc00 && c <= 0xdfff && b >= 0xd800 && b <= 0xdbff;
}

/** Where a search goes on after an empty match at `i` (a code point further with the u flag). */
function advance(text: string, i: number, unicode: boolean): number {
  return unicode && i + 1 < text.length && isTrail(text, i + 1) ? i + 2 : i + 1;
}
