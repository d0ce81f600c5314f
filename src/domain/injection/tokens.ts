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
// forms with the last classed word when that is at most PAIR_WINDOW words back. An automated
// reader named among the first words of a sentence or a line and followed by a comma or a colon
// (`AI agent, paste…`, `Copilot, when you write…`, `AI triage bot:`) has a class of its own for
// each, a vocative or a label (a speaker's, a field's), whose weights are learnt like any other.
// Reading the words, it notes what else the text holds
// (Words.seen), so the detector folds a text for its regexes (fold.ts), or looks for zero-width
// runs, only when there is something to find.
//
// What a code unit is and reads as (its kind, the letter it folds to, its lowercase, the Latin
// letter it looks like, whether the fold undoes it) is looked up in fold-tables.ts.

import { astral, FOLD, Kind, KIND, kindOf, LOOK, LOWER, learn, lookAlikeOf, mathLetter, SEEN, SEEN_ZERO_WIDTH, SEEN_ZERO_WIDTH_RUN, ZERO_WIDTH_RUN } from './fold-tables.js';
import { CLASS_NAMES, CLASS_WORDS } from './lexicon.js';
import { decodeEscapes } from './escapes.js';

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
  /** Words that mixed Latin letters with digits (or letters of a script that looks like no Latin one): leetspeak among them (`1gn0r3`), and `ipv4`, `utf8`. */
  digitWords: number;
  /** Where those start and end, in pairs (code units). */
  digitSpans: Int32Array;
  /**
   * Where SPACED_RUN or more one-character words (Latin letters, digits) stand in a row, in pairs
   * (the run's first word's start, its last word's end; code units): letters spaced out (`I g n o r e`).
   */
  spacedRuns: readonly number[];
  /** Words with a zero-width space, word joiner or BOM inside them (not the joiners ZWJ and ZWNJ, which scripts and emoji use): hiding them from a filter. */
  splitWords: number;
  /** Where the first of those starts and the last ends (code units), -1 for none. */
  firstSplit: number;
  lastSplit: number;
  /** What else the text holds: SEEN_FOLDABLE, SEEN_ZERO_WIDTH, SEEN_ZERO_WIDTH_RUN bits. */
  seen: number;
}

/** One-character words in a row that make a run for Words.spacedRuns: a text is read for letters spaced out (guesses.ts: spacedTexts) only there. */
export const SPACED_RUN = 8;
const NO_RUNS: readonly number[] = [];

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
  digitWords: 0,
  digitSpans: new Int32Array(0),
  spacedRuns: [],
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
/** The word's code units as written (0 for an astral letter), for a mixed word's look-alikes, which read by case (`lookAlikeOf`). */
const written = new Uint16Array(MAX_WORD);
const LATIN_LETTER = 1 << Kind.Latin;
/** A word with letters of both: Latin, and a script whose letters look like Latin ones (Cyrillic, Greek, Armenian, Cherokee). */
const MIXED = LATIN_LETTER | (1 << Kind.LookAlike);
/** A word with Latin letters and digits (an ASCII digit's kind is Letter). */
const DIGITS_MIXED = LATIN_LETTER | (1 << Kind.Letter);
/** A digit's kind (or another script's letter): a one-character word of it counts among letters spaced out (`1 g n 0 r 3`). */
const DIGIT_OR_LETTER = 1 << Kind.Letter;
/** Whether a code unit of a word as written is a small letter (its lowercase is itself, its uppercase another). */
const isSmall = (c: number) => c !== 0 && LOWER[c] === c && String.fromCharCode(c).toUpperCase() !== String.fromCharCode(c);

/** Where the words mixing Latin letters and digits start and end, in pairs (hidden.ts reads them for leetspeak); grown as needed. */
let digitSpans = new Int32Array(256);

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
/** The class 'agent' (an automated reader), and the buckets it has instead as a vocative followed by a comma, or by a colon. */
const AGENT = CLASS_NAMES.indexOf('agent') + 1;
const VOCATIVE_COMMA = 0x3a7c1d05 & MASK;
const VOCATIVE_COLON = 0x1f6e9b43 & MASK;
/** At most this many words before it in its sentence (or line) for an automated reader's name to be read as a vocative: `AI triage bot,`. */
const VOCATIVE_AT = 3;
/** A space, a tab or a no-break space (a French colon has one before it). */
const isSpace = (c: number) => c === 32 || c === 9 || c === 13 || c === 10 || c === 0xa0 || c === 0x202f || c === 0x3000;
/** What may stand between a name and its comma or colon: a space, closing emphasis or quotes, an invisible character. */
const isBetween = (c: number) => isSpace(c) || c === 42 || c === 95 || c === 34 || c === 39 || c === 0x201d || c === 0xbb || c === 0x300d || c === 0x200b || c === 0x200d || c === 0x2060;
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
  let digitWords = 0;
  let singles = 0; // one-letter Latin words in a row, up to the last word read
  let singlesFrom = 0; // where the first of them starts
  let spacedRuns: number[] | null = null;
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
  let sentence = 0; // the index of the first word of the sentence (or line) being read
  let sentenceEnds = false; // the separator ending the word being read also ends its sentence
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
          written[len] = c;
          h = Math.imul(h ^ f, FNV_PRIME);
          if (++len === STEM) st = h;
        }
        scripts |= 1 << kind;
        continue;
      }
      if (kind === Kind.Separator) {
        // a line's end, ! ?, a full stop before a space or the text's end (not one in `docs.example.com` or `2.1`; `Dr. Smith` still ends one), and their ideographic forms end a sentence
        if (c === 10 || c === 33 || c === 63 || c === 0x3002 || c === 0xff01 || c === 0xff1f || (c === 46 && (i + 1 === n || isSpace(text.charCodeAt(i + 1))))) {
          if (start < 0) sentence = count;
          else sentenceEnds = true;
        }
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
            // a mathematical Greek letter that looks like a Latin one (𝛐, 𝚰) is a look-alike, as the Greek letter is
            // (the mathematical Greek block, U+1D6A8-1D7C9, is low surrogates DEA8-DFC9 after D835)
            const greek = c === 0xd835 && low >= 0xdea8 && low <= 0xdfc9 ? mathLetter(low) : -1;
            const looks = greek > 0 && kindOf(greek) === Kind.LookAlike;
            written[len] = looks ? greek : 0;
            if (looks) scripts |= 1 << Kind.LookAlike;
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
            const o = written[k]!;
            // a look-alike as the Latin letter it looks like in its case (Greek Η an h, η an n), lowercased (the palochka Ӏ an l
            // after a small letter, else an i, as the fold reads it); a letter folded to one (й to и) as that one's
            const look = KIND[o] === Kind.LookAlike ? lookAlikeOf(o, k > 0 && isSmall(written[k - 1]!)) | 0x20 : LOOK[f] !== 0 ? LOOK[f]! : f;
            w = Math.imul(w ^ look, FNV_PRIME);
            if (k === STEM - 1) ws = w;
          }
          if (len < STEM) ws = w;
        } else if ((scripts & DIGITS_MIXED) === DIGITS_MIXED) {
          if (2 * digitWords + 2 > digitSpans.length) {
            const more = new Int32Array(2 * digitSpans.length);
            more.set(digitSpans);
            digitSpans = more;
          }
          digitSpans[2 * digitWords] = start;
          digitSpans[2 * digitWords + 1] = end;
          digitWords++;
        }
        if (len === 1 && (scripts === LATIN_LETTER || scripts === DIGIT_OR_LETTER)) {
          if (singles++ === 0) singlesFrom = start;
          if (singles === SPACED_RUN) (spacedRuns ??= []).push(singlesFrom, end);
          else if (singles > SPACED_RUN) spacedRuns![spacedRuns!.length - 1] = end;
        } else singles = 0;
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
          // an automated reader named at a sentence's start and followed by a comma or a colon: a vocative (`Assistant, before…`, `AI triage bot:`), or a speaker's label or a field's name
          if (c === AGENT && count - sentence <= VOCATIVE_AT) {
            // (past spaces, closing emphasis or quotes and invisible characters: `**Assistant**:`, `Assistant :`)
            let at = end;
            while (at < end + 4 && at < n && isBetween(text.charCodeAt(at))) at++;
            const next = text.charCodeAt(at);
            if (next === 44 || next === 0xff0c) words.cls[count] = VOCATIVE_COMMA;
            else if (next === 58 || next === 0xff1a) words.cls[count] = VOCATIVE_COLON;
          }
          words.pair[count] = count - lastClassAt <= PAIR_WINDOW ? PAIR_BUCKET[lastClass * 32 + c]! : 0;
          lastClass = c;
          lastClassAt = count;
        }
        words.start[count] = start;
        words.end[count] = end;
        count++;
        if (sentenceEnds) {
          sentence = count;
          sentenceEnds = false;
        }
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
  words.digitWords = digitWords;
  words.digitSpans = digitSpans.subarray(0, 2 * digitWords);
  words.spacedRuns = spacedRuns ?? NO_RUNS;
  words.splitWords = splitWords;
  words.firstSplit = firstSplit;
  words.lastSplit = lastSplit;
  words.seen = seen;
  return words;
}

/** The buckets of each word of `text` (FEATS of them: unigram, bigram, stem, class, class pair), for training. */
export function featuresOf(text: string): Int32Array {
  // as detectInjection reads it: JSON's escapes decoded. Not HTML's character references, which the
  // detector decodes too (escapes.ts): the shipped weights were trained without, and the training
  // texts that hold one are too few to move a held-out figure (the same texts flagged either way,
  // 2026-11-27); a retrain that reads them is the next round's to take.
  const w = readWords(decodeEscapes(text, { references: false })?.text ?? text);
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
