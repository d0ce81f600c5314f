// The learnt part: a logistic regression over hashed words and word pairs (tokens.ts), read
// over a sliding window of WINDOW words. A text's logit is the highest of its windows': an
// instruction hidden in a long page is judged on its own few sentences, not diluted by the
// page. Every window of a benign text was a negative in training, and the injection's own
// window a positive, so the maximum is what was learnt (scripts/injection/train.ts).
//
// The weights are int8 with one scale, base64 in weights.ts (2^BITS bytes), decoded once on
// first use.
import { BITS, BUCKETS, forEachWord } from './tokens.js';
import { MODEL } from './weights.js';

let table: Float32Array | undefined;

function weights(): Float32Array {
  if (table) return table;
  const bin = atob(MODEL.weights);
  if (bin.length !== BUCKETS || MODEL.bits !== BITS) throw new Error(`injection model: ${bin.length} weights for ${BUCKETS} buckets`);
  const t = new Float32Array(BUCKETS);
  for (let i = 0; i < BUCKETS; i++) {
    const b = bin.charCodeAt(i);
    t[i] = (b > 127 ? b - 256 : b) * MODEL.scale;
  }
  table = t;
  return t;
}

/** For the trainer: score with weights of its own rather than the shipped ones. */
export function useWeights(w: Float32Array | undefined): void {
  table = w;
}

export interface WindowScore {
  /** The best window's logit (bias included); -Infinity for a text without words. */
  logit: number;
  /** Its span in the text. */
  start: number;
  end: number;
  /** Words that mixed Latin with Cyrillic or Greek look-alikes. */
  mixedWords: number;
  /** How many words the text has. */
  words: number;
}

const ring = new Float32Array(1024);
const ringStart = new Int32Array(1024);

/** The best window of `text`: a window is WINDOW consecutive words (the whole text when shorter). */
export function classify(text: string, window = MODEL.window, bias = MODEL.bias): WindowScore {
  const w = weights();
  let count = 0;
  let sum = 0;
  let best = Number.NEGATIVE_INFINITY;
  let bestStart = 0;
  let bestEnd = 0;
  const stats = forEachWord(text, (uni, bi, start, end) => {
    const c = w[uni]! + w[bi]!;
    const slot = count % window;
    if (count >= window) sum -= ring[slot]!;
    ring[slot] = c;
    ringStart[slot] = start;
    sum += c;
    count++;
    if (count >= window && sum > best) {
      best = sum;
      bestStart = ringStart[count % window]!;
      bestEnd = end;
    }
    if (count < window) bestEnd = end;
  });
  if (count > 0 && count < window) {
    best = sum;
    bestStart = ringStart[0]!;
  }
  return { logit: count === 0 ? Number.NEGATIVE_INFINITY : best + bias, start: bestStart, end: bestEnd, mixedWords: stats.mixedWords, words: count };
}
