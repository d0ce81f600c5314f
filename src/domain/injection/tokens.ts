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
// so what is learnt is what is read.

export const BITS = 19;
export const BUCKETS = 1 << BITS;
/** Features per word: unigram, bigram, stem. */
export const FEATS = 3;
/** Letters a stem keeps. */
const STEM = 5;
const MASK = BUCKETS - 1;
const MAX_WORD = 48;

const enum Kind {
  Unknown = 0,
  Separator = 1,
  Skip = 2,
  Ideograph = 3,
  Letter = 4, // folded code unit stored in FOLD
}

// Per BMP code unit: its kind, and for letters the code unit it folds to (first of its NFKD,
// lowercased, marks dropped). Filled on first sight.
const KIND = new Uint8Array(0x10000);
const FOLD = new Uint16Array(0x10000);
const SCRIPT = new Uint8Array(0x10000); // 1 Latin, 2 Cyrillic or Greek, 0 other

const LETTER = /[\p{L}\p{N}]/u;
const MARK = /\p{M}/u;
const IGNORABLE = /[\p{Default_Ignorable_Code_Point}\p{Cf}]/u;
const IDEOGRAPH = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]/u;
const LATIN = /\p{Script=Latin}/u;
const CYRILLIC_GREEK = /[\p{Script=Cyrillic}\p{Script=Greek}]/u;

/** Cyrillic and Greek letters (lowercased) that look like a Latin letter, read as it inside a mixed word. */
const LOOKALIKES: Record<string, string> = {
  а: 'a',
  в: 'b',
  с: 'c',
  ԁ: 'd',
  е: 'e',
  ё: 'e',
  һ: 'h',
  н: 'h',
  і: 'i',
  ї: 'i',
  ј: 'j',
  к: 'k',
  ӏ: 'l',
  м: 'm',
  п: 'n',
  о: 'o',
  р: 'p',
  ԛ: 'q',
  г: 'r',
  ѕ: 's',
  т: 't',
  и: 'u',
  ѵ: 'v',
  ԝ: 'w',
  х: 'x',
  у: 'y',
  α: 'a',
  β: 'b',
  ε: 'e',
  η: 'n',
  ι: 'i',
  κ: 'k',
  ν: 'v',
  ο: 'o',
  ρ: 'p',
  τ: 't',
  υ: 'u',
  χ: 'x',
  γ: 'y',
  ω: 'w',
};
const LOOK = new Uint16Array(0x10000);
for (const [k, v] of Object.entries(LOOKALIKES)) LOOK[k.charCodeAt(0)] = v.charCodeAt(0);

function learn(c: number): Kind {
  const s = String.fromCharCode(c);
  let kind: Kind;
  if (c >= 0xd800 && c <= 0xdfff)
    kind = Kind.Skip; // astral: handled by the caller
  else if (IGNORABLE.test(s) || MARK.test(s)) kind = Kind.Skip;
  else if (IDEOGRAPH.test(s)) kind = Kind.Ideograph;
  else if (LETTER.test(s)) {
    kind = Kind.Letter;
    const base = s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
    FOLD[c] = base.length > 0 ? base.charCodeAt(0) : c;
    SCRIPT[c] = LATIN.test(s) ? 1 : CYRILLIC_GREEK.test(s) ? 2 : 0;
  } else kind = Kind.Separator;
  KIND[c] = kind;
  return kind;
}
// ASCII up front: letters and digits fold to lowercase, the rest separate words.
for (let c = 0; c < 0x80; c++) {
  const alnum = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
  KIND[c] = alnum ? Kind.Letter : Kind.Separator;
  FOLD[c] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
  SCRIPT[c] = alnum && c > 0x39 ? 1 : 0;
}

const astralKinds = new Map<number, number>(); // cp → kind | fold << 8

function astral(cp: number): number {
  let v = astralKinds.get(cp);
  if (v === undefined) {
    const s = String.fromCodePoint(cp);
    if (IGNORABLE.test(s) || MARK.test(s) || (cp >= 0xe0000 && cp <= 0xe007f)) v = Kind.Skip;
    else if (IDEOGRAPH.test(s)) v = Kind.Ideograph | (0x4e00 << 8);
    else if (LETTER.test(s)) {
      const base = s.normalize('NFKD').replace(/\p{M}/gu, '').toLowerCase();
      const f = base.length === 1 ? base.charCodeAt(0) : 0x2606;
      v = Kind.Letter | (f << 8);
    } else v = Kind.Separator;
    astralKinds.set(cp, v);
  }
  return v;
}

/** What a scan of words saw besides the words. */
export interface WordStats {
  /** Words that mixed Latin with Cyrillic or Greek look-alikes (read as Latin). */
  mixedWords: number;
}

/**
 * Calls `word(uni, bi, stem, start, end)` for each word of `text`: its unigram, bigram and stem
 * buckets and its span in `text` (code units). Returns what else it saw.
 */
export function forEachWord(text: string, word: (uni: number, bi: number, stem: number, start: number, end: number) => void): WordStats {
  const buf = new Uint16Array(MAX_WORD);
  let len = 0;
  let latin = false;
  let other = false;
  let start = -1;
  let prev = 0x811c9dc5;
  let first = true;
  let mixedWords = 0;
  const n = text.length;
  const flush = (end: number) => {
    const mixed = latin && other;
    if (mixed) mixedWords++;
    let h = 0x811c9dc5;
    let st = 0;
    for (let k = 0; k < len; k++) {
      let c = buf[k]!;
      if (mixed && LOOK[c] !== 0) c = LOOK[c]!;
      h = Math.imul(h ^ c, 0x01000193);
      if (k === STEM - 1) st = h;
    }
    if (len <= STEM) st = h;
    const bi = Math.imul(prev ^ Math.imul(h, 0x9e3779b1), 0x85ebca6b) ^ (h >>> 15);
    const sm = Math.imul(st ^ 0x5bd1e995, 0xcc9e2d51) ^ (st >>> 16);
    // the first word has no pair: bucket 0, which is never trained (where a text starts says
    // nothing, and an injection cut out of its carrier would always start there)
    word(h & MASK, first ? 0 : (bi ^ (bi >>> 13)) & MASK, (sm ^ (sm >>> 15)) & MASK, start, end);
    first = false;
    prev = h;
    len = 0;
    latin = false;
    other = false;
    start = -1;
  };
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    let kind = KIND[c]! as Kind;
    if (kind === Kind.Unknown) kind = learn(c);
    if (kind === Kind.Letter) {
      if (start < 0) start = i;
      if (len < MAX_WORD) buf[len++] = FOLD[c]!;
      const s = SCRIPT[c]!;
      if (s === 1) latin = true;
      else if (s === 2) other = true;
    } else if (kind === Kind.Separator) {
      if (start >= 0) flush(i);
    } else if (kind === Kind.Ideograph) {
      if (start >= 0) flush(i);
      start = i;
      buf[0] = c;
      len = 1;
      flush(i + 1);
    } else if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const low = text.charCodeAt(i + 1);
      if (low < 0xdc00 || low > 0xdfff) continue;
      const v = astral((c - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000);
      const k = (v & 0xff) as Kind;
      i++;
      if (k === Kind.Letter) {
        if (start < 0) start = i - 1;
        if (len < MAX_WORD) buf[len++] = v >>> 8;
        if (v >>> 8 < 0x80) latin = true;
      } else if (k === Kind.Separator) {
        if (start >= 0) flush(i - 1);
      } else if (k === Kind.Ideograph) {
        if (start >= 0) flush(i - 1);
        start = i - 1;
        buf[0] = c ^ low;
        len = 1;
        flush(i + 1);
      }
    }
    // Skip: invisible, the word goes on
  }
  if (start >= 0) flush(n);
  return { mixedWords };
}

/** The buckets of each word of `text` (FEATS of them: unigram, bigram, stem), for training. */
export function featuresOf(text: string): Int32Array {
  const out: number[] = [];
  forEachWord(text, (uni, bi, stem) => {
    out.push(uni, bi, stem);
  });
  return Int32Array.from(out);
}

/** A text as the signal regexes read it, and where each of its code units came from. */
export interface Folded {
  text: string;
  /** at[i]: the index in the original text of the folded text's code unit i. */
  at: Int32Array;
}

// Invisible code points, fullwidth forms, mathematical letters (U+1D400–U+1D7FF) and tag characters.
// biome-ignore lint/suspicious/noMisleadingCharacterClass: invisible characters are what is looked for, one at a time
const NEEDS_FOLD = /[\u00ad\u034f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u206a-\u206f\ufeff\uff01-\uff5e]|\ud835|\udb40/;

/**
 * `text` with what hides a phrase from a regex undone: invisible characters (zero-width,
 * bidi controls, soft hyphens, tags) dropped, fullwidth and mathematical letters read as
 * ASCII, and words mixing Latin with Cyrillic or Greek look-alikes read as Latin (`іgnоrе` is
 * `ignore`; a Russian word stays Russian). Null when there is nothing to undo (the common case,
 * decided with one regex test and the classifier's count of mixed words).
 */
export function foldForSignals(text: string, mixedWords: number): Folded | null {
  if (mixedWords === 0 && !NEEDS_FOLD.test(text)) return null;
  const n = text.length;
  const out = new Uint16Array(n);
  const at = new Int32Array(n);
  let j = 0;
  let wordStart = 0; // in out
  let latin = false;
  let other = false;
  const endWord = () => {
    if (latin && other) for (let k = wordStart; k < j; k++) if (LOOK[out[k]!] !== 0) out[k] = LOOK[out[k]!]!;
    latin = false;
    other = false;
    wordStart = j;
  };
  for (let i = 0; i < n; i++) {
    let c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < n) {
      const low = text.charCodeAt(i + 1);
      if (c === 0xdb40 && low >= 0xdc00 && low <= 0xdc7f) {
        i++;
        continue; // a tag character: invisible
      }
      if (c === 0xd835) {
        const s = String.fromCharCode(c, low).normalize('NFKC');
        if (s.length === 1) {
          const k = s.charCodeAt(0);
          if (!(k >= 0x30 && k <= 0x39)) latin = true;
          out[j] = k;
          at[j++] = i;
          i++;
          continue;
        }
      }
      if (wordStart !== j) endWord();
      out[j] = c;
      at[j++] = i;
      out[j] = low;
      at[j++] = i + 1;
      i++;
      wordStart = j;
      continue;
    }
    if (c >= 0xff01 && c <= 0xff5e) c -= 0xfee0;
    let kind = KIND[c]! as Kind;
    if (kind === Kind.Unknown) kind = learn(c);
    if (kind === Kind.Skip && c >= 0x80 && !MARK.test(String.fromCharCode(c))) continue; // invisible
    if (kind === Kind.Letter) {
      const lower = c >= 0x80 ? String.fromCharCode(c).toLowerCase().charCodeAt(0) : c;
      const s = SCRIPT[c]!;
      if (s === 1) latin = true;
      else if (s === 2) {
        other = true;
        c = lower;
      }
    } else if (kind !== Kind.Skip) endWord();
    out[j] = c;
    at[j++] = i;
  }
  endWord();
  let s = '';
  for (let k = 0; k < j; k += 8192) s += String.fromCharCode(...out.subarray(k, Math.min(j, k + 8192)));
  return { text: s, at: at.subarray(0, j) };
}
