// The learnt part: a logistic regression over hashed words, word pairs and stems (tokens.ts),
// read over spans of MIN_SPAN to WINDOW consecutive words. A text's logit is its best span's:
// an instruction hidden in a long page is judged on its own few sentences, not diluted by the
// page around it. Every window of a benign text, and its best span under the weights of the
// epoch before, was a negative in training, and the injection's own words a positive, so the
// maximum is what was learnt (scripts/injection/train.ts).
//
// The weights are int8 with one scale, base64 in weights.ts (2^BITS bytes), decoded once on
// first use.
import { BITS, BUCKETS, readWords } from './tokens.js';
import { MODEL } from './weights.js';

let table: Int8Array | Float32Array | undefined;
/** What a table entry is multiplied by: the int8 scale, or 1 for the trainer's float weights. */
let mul = 1;

/** The fewest words a span is judged on (a text with fewer is judged whole). */
export const MIN_SPAN = 8;

// The int8 weights are read as they are (512 KB, in cache) and the sum scaled once.
function weights(): Int8Array | Float32Array {
  if (table) return table;
  const bin = atob(MODEL.weights);
  if (bin.length !== BUCKETS || MODEL.bits !== BITS) throw new Error(`injection model: ${bin.length} weights for ${BUCKETS} buckets`);
  const t = new Int8Array(BUCKETS);
  for (let i = 0; i < BUCKETS; i++) t[i] = bin.charCodeAt(i);
  table = t;
  mul = MODEL.scale;
  return t;
}

/** For the trainer: score with weights of its own rather than the shipped ones. */
export function useWeights(w: Float32Array | undefined): void {
  table = w;
  mul = 1;
}

export interface WindowScore {
  /** The best window's logit (bias included); -Infinity for a text without words. */
  logit: number;
  /** Its span in the text. */
  start: number;
  end: number;
  /** Words that mixed Latin with Cyrillic or Greek look-alikes. */
  mixedWords: number;
  /** Words that mixed Latin letters with digits, and the runs of one-letter words (tokens.ts: Words). */
  digitWords: number;
  /** Where the first of those stand, in pairs (a copy, when there are three or more: hidden.ts reads them for leetspeak). */
  digitSpans: Int32Array | null;
  spacedRuns: readonly number[];
  /** Words with a zero-width space or the like inside them, and where the first starts (-1: none). */
  splitWords: number;
  firstSplit: number;
  lastSplit: number;
  /** How many words the text has. */
  words: number;
  /** What else the text holds (fold-tables.ts: SEEN_FOLDABLE, SEEN_ZERO_WIDTH). */
  seen: number;
}

// Prefix sums of the words' weights and a deque of candidate span starts (increasing prefix
// sums): the best span ending at each word in O(1) amortised. Reused from call to call.
let prefix = new Float64Array(1024);
let deque = new Int32Array(1024);

/**
 * The best span of `text`: the run of MIN_SPAN to `window` consecutive words with the highest sum
 * of weights (the whole text when it has fewer words). Words of a carrier around an instruction
 * (a page, a log, a JSON record) are left out of it rather than diluting it.
 */
export function classify(text: string, window = MODEL.window, bias = MODEL.bias): WindowScore {
  const w = weights();
  const words = readWords(text);
  const count = words.count;
  const { uni, bi, stem, cls, pair, start, end } = words;
  if (prefix.length <= count) {
    prefix = new Float64Array(2 * count + 1);
    deque = new Int32Array(2 * count + 1);
  }
  let sum = 0;
  let best = Number.NEGATIVE_INFINITY;
  let bestStart = 0;
  let bestEnd = 0;
  let head = 0; // deque[head..tail) holds word counts i (a span starts after word i)
  let tail = 0;
  prefix[0] = 0;
  for (let k = 0; k < count; k++) {
    sum += w[uni[k]!]! + w[bi[k]!]! + w[stem[k]!]! + w[cls[k]!]! + w[pair[k]!]!;
    prefix[k + 1] = sum;
    const i = k + 1 - MIN_SPAN; // the newest start allowed
    if (i >= 0) {
      const p = prefix[i]!;
      while (tail > head && prefix[deque[tail - 1]!]! >= p) tail--;
      deque[tail++] = i;
    }
    while (tail > head && deque[head]! < k + 1 - window) head++;
    if (tail > head) {
      const from = deque[head]!;
      const v = sum - prefix[from]!;
      if (v > best) {
        best = v;
        bestStart = start[from]!;
        bestEnd = end[k]!;
      }
    } else bestEnd = end[k]!;
  }
  if (count > 0 && count < MIN_SPAN) {
    best = sum;
    bestStart = start[0]!;
  }
  return {
    logit: count === 0 ? Number.NEGATIVE_INFINITY : best * mul + bias,
    start: bestStart,
    end: bestEnd,
    mixedWords: words.mixedWords,
    digitWords: words.digitWords,
    digitSpans: words.digitWords >= 3 ? words.digitSpans.slice() : null,
    spacedRuns: words.spacedRuns,
    splitWords: words.splitWords,
    firstSplit: words.firstSplit,
    lastSplit: words.lastSplit,
    words: count,
    seen: words.seen,
  };
}
