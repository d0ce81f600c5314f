// The classifier's view of a text: words folded to one form, each hashed into a fixed table.
//
// A word is a run of letters and digits (any script), lowercased, its accents dropped, its
// fullwidth or mathematical letters read as ASCII (NFKD, per code point); a Han, kana or other
// CJK ideograph is a word of its own (two side by side make a bigram, which is how Chinese is
// read here). Invisible code points (zero-width spaces and joiners, soft hyphens, bidi
// controls, tags…) are skipped without ending the word, so `ig\u200bnore` reads `ignore`. A word
// that mixes Latin with Cyrillic or Greek letters has its look-alikes read as Latin (`іgnоrе`
// with Cyrillic і, о, е is `ignore`); a word wholly in Cyrillic or Greek is left alone (Russian
// stays Russian). Each word gives three features, hashed (FNV-1a) into 2^BITS buckets: itself,
// the pair it forms with the word before, and its stem — its first STEM letters, a crude
// stemmer that makes `instructions`, `instruction`, `инструкции` and `инструкций`, `Anweisung` and
// `Anweisungen` share a feature, so a word form never seen in training still counts.
//
// The same code reads the training data (scripts/injection/train.ts) and the text at run time,
// so what is learnt is what is read. A word of one of lexicon.ts's classes (an automated reader,
// the user, an obligation, secrecy…) gives two features more: its class, and the pair its class
// forms with the last classed word when that is at most PAIR_WINDOW words back. Reading the words, it notes what else the text holds
// (Words.seen), so the detector folds a text for its regexes, or looks for zero-width runs, only
// when there is something to find.
//
// What a code unit is and reads as (its kind, the letter it folds to, its lowercase, the Latin
// letter it looks like, whether the fold undoes it) is looked up in fold-tables.ts.

import { astral, FOLD, Kind, KIND, kindOf, LOOK, LOWER, learn, mathLetter, NEEDS_FOLD, SEEN, SEEN_ZERO_WIDTH, SEEN_ZERO_WIDTH_RUN, ZERO_WIDTH_RUN } from './fold-tables.js';
import { CLASS_NAMES, CLASS_WORDS } from './lexicon.js';

export const BITS = 19;
export const BUCKETS = 1 << BITS;
/** Features per word: unigram, bigram, stem, class, class pair. */
export const FEATS = 5;
/** How far back (words) the classed word a class pairs with may be. */
const PAIR_WINDOW = 8;
/** Letters a stem keeps. */
const STEM = 5;
const MASK = BUCKETS - 1;
const MAX_WORD = 48;

/**
 * The words of a text, as the classifier reads them: per word its unigram, bigram and stem
 * buckets and its span in the text (code units). The arrays are the scanner's own, reused by
 * the next call: read them before reading another text.
 */
export interface Words {
  count: number;
  uni: Int32Array;
  bi: Int32Array;
  stem: Int32Array;
  /** The bucket of the word's class (lexicon.ts), 0 when it has none. */
  cls: Int32Array;
  /** The bucket of its class and the class of the classed word before it (within PAIR_WINDOW words), or 0. */
  pair: Int32Array;
  start: Int32Array;
  end: Int32Array;
  /** Words that mixed Latin with Cyrillic or Greek look-alikes (read as Latin). */
  mixedWords: number;
  /** Words with a zero-width space, word joiner or BOM inside them (not the joiners ZWJ and ZWNJ, which scripts and emoji use): hiding them from a filter. */
  splitWords: number;
  /** Where the first of those starts and the last ends (code units), -1 for none. */
  firstSplit: number;
  lastSplit: number;
  /** What else the text holds: SEEN_FOLDABLE, SEEN_ZERO_WIDTH, SEEN_ZERO_WIDTH_RUN bits. */
  seen: number;
}

const words: Words = {
  count: 0,
  uni: new Int32Array(256),
  bi: new Int32Array(256),
  stem: new Int32Array(256),
  cls: new Int32Array(256),
  pair: new Int32Array(256),
  start: new Int32Array(256),
  end: new Int32Array(256),
  mixedWords: 0,
  splitWords: 0,
  firstSplit: -1,
  lastSplit: -1,
  seen: 0,
};

function grow(): void {
  const size = words.uni.length * 2;
  const more = (a: Int32Array) => {
    const b = new Int32Array(size);
    b.set(a);
    return b;
  };
  words.uni = more(words.uni);
  words.bi = more(words.bi);
  words.stem = more(words.stem);
  words.cls = more(words.cls);
  words.pair = more(words.pair);
  words.start = more(words.start);
  words.end = more(words.end);
}

const FNV = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

const buf = new Uint16Array(MAX_WORD);
const LATIN_LETTER = 1 << Kind.Latin;
/** A word with letters of both: Latin, and Cyrillic or Greek. */
const MIXED = LATIN_LETTER | (1 << Kind.CyrillicGreek);

// The classes' words by their hash (a word's, a stem's, or a pair of ideographs'), open addressing.
const CLASS_SLOTS = 1 << 12;
const classKey = new Int32Array(CLASS_SLOTS);
const classId = new Uint8Array(CLASS_SLOTS); // 0: an empty slot
const classSlot = (key: number) => Math.imul(key, 0x9e3779b1) >>> 20;
/** The class of a word's hash, 0 for none. */
function classOf(key: number): number {
  for (let s = classSlot(key); ; s = (s + 1) & (CLASS_SLOTS - 1)) {
    const c = classId[s]!;
    if (c === 0 || classKey[s] === key) return c;
  }
}
/** Each class's bucket, and each pair's (PAIR_BUCKET[a * 32 + b]): hashed apart from words. */
const CLASS_BUCKET = new Int32Array(32);
const PAIR_BUCKET = new Int32Array(32 * 32);
const mix = (x: number) => {
  let h = Math.imul(x ^ 0x2c1b3c6d, 0x297a2d39);
  h = Math.imul(h ^ (h >>> 15), 0x85ebca6b);
  return (h ^ (h >>> 13)) & MASK || 1;
};
/** The key a class word is looked up by: its hash as readWords computes it (its stem's with `*`, its pair's for two ideographs). */
function lexiconKey(entry: string): number {
  const stem = entry.endsWith('*');
  const word = stem ? entry.slice(0, -1) : entry;
  const codes = [...word].map((ch) => ch.charCodeAt(0));
  const kinds = codes.map((c) => (KIND[c] === Kind.Unknown ? learn(c) : KIND[c]!));
  if (kinds.every((k) => k === Kind.Ideograph)) {
    const hs = codes.map((c) => Math.imul(FNV ^ c, FNV_PRIME));
    if (hs.length === 1) return hs[0]!;
    return Math.imul(hs[0]! ^ Math.imul(hs[1]!, 0x9e3779b1), 0x85ebca6b) ^ (hs[1]! >>> 15);
  }
  let h = FNV;
  let n = 0;
  for (let i = 0; i < codes.length; i++) {
    if (kinds[i]! < Kind.Letter) throw new Error(`lexicon: '${entry}' is not one word`);
    h = Math.imul(h ^ FOLD[codes[i]!]!, FNV_PRIME);
    if (++n === STEM && stem) return h;
  }
  if (stem) throw new Error(`lexicon: '${entry}' has fewer than ${STEM} letters`);
  return h;
}
CLASS_NAMES.forEach((name, k) => {
  const id = k + 1;
  CLASS_BUCKET[id] = mix(id * 0x10001);
  for (let j = 1; j <= CLASS_NAMES.length; j++) PAIR_BUCKET[j * 32 + id] = mix(0x5bd1e995 + j * 977 + id * 31);
  for (const entry of CLASS_WORDS[name].split(' ')) {
    const key = lexiconKey(entry);
    let s = classSlot(key);
    while (classId[s] !== 0 && classKey[s] !== key) s = (s + 1) & (CLASS_SLOTS - 1);
    if (classId[s] === 0) {
      classKey[s] = key;
      classId[s] = id; // a word in two classes keeps the first
    }
  }
});

/**
 * Reads the words of `text` (see the top of this file). One pass; each word is hashed as its
 * letters come (FNV-1a over the folded code units), so no word is ever built as a string.
 */
export function readWords(text: string): Words {
  const n = text.length;
  let count = 0;
  let mixedWords = 0;
  let splitWords = 0;
  let firstSplit = -1;
  let lastSplit = -1;
  let split = false; // the word being read has a zero-width space (or the like) inside it
  let seen = 0;
  let zeroWidths = 0; // zero-width code units in a row, up to the last one seen
  let lastZeroWidth = -2;
  let cap = words.uni.length;
  // the word being read: its hash, the same after STEM letters, its folded letters (at most
  // MAX_WORD), its scripts and start
  let h = FNV;
  let st = FNV;
  let len = 0;
  let scripts = 0; // 1 << kind of each letter of the word: Latin, Cyrillic or Greek, others
  let start = -1;
  let prev = 0; // the word before's hash
  let end = 0; // where the word ends (code units), once it does
  let ideograph = -1; // an ideograph's code, read as a word of its own after the word before ends
  let ideographEnd = 0;
  let prevIdeograph = false; // the word before was an ideograph
  let lastClass = 0; // the class of the last classed word, and its index
  let lastClassAt = -PAIR_WINDOW - 1;
  for (let i = 0; i <= n; i++) {
    let c = 0;
    let kind = Kind.Separator; // the end of the text ends the last word
    if (i < n) {
      c = text.charCodeAt(i);
      if (c >= 0x80 && SEEN[c] !== 0) {
        seen |= SEEN[c]!;
        if ((SEEN[c]! & SEEN_ZERO_WIDTH) !== 0) {
          zeroWidths = lastZeroWidth === i - 1 ? zeroWidths + 1 : 1;
          lastZeroWidth = i;
          if (zeroWidths >= ZERO_WIDTH_RUN) seen |= SEEN_ZERO_WIDTH_RUN;
        }
      }
      kind = KIND[c]! as Kind;
      if (kind === Kind.Unknown) kind = learn(c);
      if (kind >= Kind.Letter) {
        if (start < 0) start = i;
        if (len < MAX_WORD) {
          const f = FOLD[c]!;
          buf[len] = f;
          h = Math.imul(h ^ f, FNV_PRIME);
          if (++len === STEM) st = h;
        }
        scripts |= 1 << kind;
        continue;
      }
      if (kind === Kind.Separator) {
        if (start < 0) continue; // between words
        end = i;
      } else if (kind === Kind.Mark) {
        continue; // the word goes on
      } else if (kind === Kind.Skip) {
        if (c < 0xd800 || c > 0xdbff || i + 1 >= n) {
          if (c === 0x200b || c === 0x2060 || c === 0xfeff || c === 0x180e) {
            if (start >= 0) split = true;
            else if (i > 0 && i + 1 < n && kindOf(text.charCodeAt(i - 1)) === Kind.Ideograph && kindOf(text.charCodeAt(i + 1)) === Kind.Ideograph) {
              // between two ideographs (each a word of its own): inside a Chinese word
              splitWords++;
              if (firstSplit < 0) firstSplit = i - 1;
              lastSplit = i + 2;
            }
          }
          continue; // invisible: the word goes on
        }
        const low = text.charCodeAt(i + 1);
        if (low < 0xdc00 || low > 0xdfff) continue;
        const v = astral((c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000);
        const k = (v & 0xff) as Kind;
        if (k === Kind.Letter) {
          if (start < 0) start = i;
          if (len < MAX_WORD) {
            const f = v >>> 8;
            buf[len] = f;
            h = Math.imul(h ^ f, FNV_PRIME);
            if (++len === STEM) st = h;
          }
          if (v >>> 8 < 0x80) scripts |= LATIN_LETTER;
          i++;
          continue;
        }
        if (k === Kind.Skip) {
          i++;
          continue;
        }
        if (k === Kind.Ideograph) {
          ideograph = c ^ low;
          ideographEnd = i + 2;
        }
        end = i;
        i++;
      } else {
        // an ideograph
        ideograph = c;
        ideographEnd = i + 1;
        end = i;
      }
    } else end = n;
    // a separator or an ideograph (or the end of the text): the word being read ends here; an
    // ideograph is a word of its own after it
    for (let pass = 0; pass < 2; pass++) {
      if (start >= 0) {
        let w = h;
        let ws = len >= STEM ? st : h;
        if ((scripts & MIXED) === MIXED) {
          // a word mixing scripts (rare): hashed again with its look-alikes read as Latin
          mixedWords++;
          w = FNV;
          for (let k = 0; k < len; k++) {
            const f = buf[k]!;
            w = Math.imul(w ^ (LOOK[f] !== 0 ? LOOK[f]! : f), FNV_PRIME);
            if (k === STEM - 1) ws = w;
          }
          if (len < STEM) ws = w;
        }
        if (count === cap) {
          grow();
          cap = words.uni.length;
        }
        const bi = Math.imul(prev ^ Math.imul(w, 0x9e3779b1), 0x85ebca6b) ^ (w >>> 15);
        const sm = Math.imul(ws ^ 0x5bd1e995, 0xcc9e2d51) ^ (ws >>> 16);
        words.uni[count] = w & MASK;
        // the first word has no pair: bucket 0, which is never trained (where a text starts says
        // nothing, and an injection cut out of its carrier would always start there)
        words.bi[count] = count === 0 ? 0 : (bi ^ (bi >>> 13)) & MASK;
        words.stem[count] = (sm ^ (sm >>> 15)) & MASK;
        // its class: by the word, by its stem, or (an ideograph after one) by the pair
        let c = classOf(w);
        if (c === 0 && len > STEM) c = classOf(ws);
        if (pass === 1 && prevIdeograph) {
          const cp = classOf(bi);
          if (cp !== 0) c = cp;
        }
        prevIdeograph = pass === 1;
        if (c === 0) {
          words.cls[count] = 0;
          words.pair[count] = 0;
        } else {
          words.cls[count] = CLASS_BUCKET[c]!;
          words.pair[count] = count - lastClassAt <= PAIR_WINDOW ? PAIR_BUCKET[lastClass * 32 + c]! : 0;
          lastClass = c;
          lastClassAt = count;
        }
        words.start[count] = start;
        words.end[count] = end;
        count++;
        if (split) {
          // a zero-width space at a word's end is a separator someone typed; inside it, a disguise
          if (end - start > 1 && KIND[text.charCodeAt(end - 1)]! >= Kind.Letter) {
            splitWords++;
            if (firstSplit < 0) firstSplit = start;
            lastSplit = end;
          }
          split = false;
        }
        prev = w;
        h = FNV;
        len = 0;
        scripts = 0;
        start = -1;
      }
      if (ideograph < 0) break;
      // the ideograph: one letter, read as it is (no fold, no look-alikes)
      h = Math.imul(FNV ^ ideograph, FNV_PRIME);
      len = 1;
      start = end;
      end = ideographEnd;
      ideograph = -1;
    }
  }
  words.count = count;
  words.mixedWords = mixedWords;
  words.splitWords = splitWords;
  words.firstSplit = firstSplit;
  words.lastSplit = lastSplit;
  words.seen = seen;
  return words;
}

/** The buckets of each word of `text` (FEATS of them: unigram, bigram, stem, class, class pair), for training. */
export function featuresOf(text: string): Int32Array {
  const w = readWords(text);
  const out = new Int32Array(FEATS * w.count);
  for (let k = 0; k < w.count; k++) {
    out[FEATS * k] = w.uni[k]!;
    out[FEATS * k + 1] = w.bi[k]!;
    out[FEATS * k + 2] = w.stem[k]!;
    out[FEATS * k + 3] = w.cls[k]!;
    out[FEATS * k + 4] = w.pair[k]!;
  }
  return out;
}

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
        if (!(k >= 0x30 && k <= 0x39)) latin = true;
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
      c -= 0xfee0;
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
      else if (kind === Kind.CyrillicGreek) {
        other = true;
        if (LOWER[c] !== c) {
          c = LOWER[c]!;
          replaced = true;
        }
      }
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
 * Notes the look-alikes of the word text[from, to) as Latin: each code unit the fold keeps
 * (the pass above: invisible ones dropped, fullwidth and mathematical letters read as ASCII,
 * Cyrillic and Greek lowercased) that is a look-alike. Rare: only a word of mixed scripts.
 */
function lookalikes(text: string, from: number, to: number): void {
  const n = text.length;
  for (let i = from; i < to; i++) {
    const at = i;
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      // inside a word a pair is a tag character (dropped) or a mathematical letter (read as
      // one code unit): any other ends the word
      const low = text.charCodeAt(++i);
      if (c !== 0xd835) continue;
      c = mathLetter(low);
      if (c < 0) continue;
    } else {
      if (c >= 0xff01 && c <= 0xff5e) c -= 0xfee0;
      const kind = KIND[c]! as Kind;
      if (kind === Kind.Skip) continue;
      if (kind === Kind.CyrillicGreek) c = LOWER[c]!;
    }
    if (LOOK[c] === 0) continue;
    if (looks === lookAt.length) {
      lookAt = grown(lookAt);
      lookUnit = grown(lookUnit);
    }
    lookAt[looks] = at;
    lookUnit[looks++] = LOOK[c]!;
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
