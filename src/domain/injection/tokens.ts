// The classifier's view of a text: words folded to one form, each hashed into a fixed table.
//
// A word is a run of letters and digits (any script), lowercased, its accents dropped, its
// fullwidth or mathematical letters read as ASCII (NFKD, per code point); a Han, kana or other
// CJK ideograph is a word of its own (two side by side make a bigram, which is how Chinese is
// read here). Invisible code points (zero-width spaces and joiners, soft hyphens, bidi
// controls, tags…) are skipped without ending the word, so `ig\u200bnore` reads `ignore`. A word
// that mixes Latin with Cyrillic or Greek letters has its look-alikes read as Latin (`іgnоrе`
// with Cyrillic і, о, е is `ignore`); a word wholly in Cyrillic or Greek is left alone (Russian
// stays Russian). Each word gives two features: itself and the pair it forms with the word
// before, both hashed (FNV-1a) into 2^BITS buckets.
//
// The same code reads the training data (scripts/injection/train.ts) and the text at run time,
// so what is learnt is what is read.

export const BITS = 18;
export const BUCKETS = 1 << BITS;
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
 * Calls `word(uni, bi, start, end)` for each word of `text`: its unigram and bigram buckets and
 * its span in `text` (code units). Returns what else it saw.
 */
export function forEachWord(text: string, word: (uni: number, bi: number, start: number, end: number) => void): WordStats {
  const buf = new Uint16Array(MAX_WORD);
  let len = 0;
  let latin = false;
  let other = false;
  let start = -1;
  let prev = 0x811c9dc5;
  let mixedWords = 0;
  const n = text.length;
  const flush = (end: number) => {
    const mixed = latin && other;
    if (mixed) mixedWords++;
    let h = 0x811c9dc5;
    for (let k = 0; k < len; k++) {
      let c = buf[k]!;
      if (mixed && LOOK[c] !== 0) c = LOOK[c]!;
      h = Math.imul(h ^ c, 0x01000193);
    }
    const bi = Math.imul(prev ^ Math.imul(h, 0x9e3779b1), 0x85ebca6b) ^ (h >>> 15);
    word(h & MASK, (bi ^ (bi >>> 13)) & MASK, start, end);
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

/** The buckets of each word of `text`, unigram then bigram, for training. */
export function featuresOf(text: string): Int32Array {
  const out: number[] = [];
  forEachWord(text, (uni, bi) => {
    out.push(uni, bi);
  });
  return Int32Array.from(out);
}
