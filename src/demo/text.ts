import { countTextTokens, encodingForModel } from '../domain/budget/index.js';

// The demo LLM's answers: deterministic prose of the length the request allows (max_tokens),
// counted with the model's own tokenizer, the same counting the gateway does. The seed is the
// prompt, so the same request always gets the same answer.

const WORDS = (
  'the lead company team growth market sales plan budget product customer value data cloud ' +
  'service fit score next step call meeting quarter revenue pipeline region partner strong good ' +
  'new first best clear simple fast open early high low key main core real local direct'
).split(' ');

/**
 * FNV-1a over the prompt: a stable seed without any crypto.
 *
 * @example
 * seedOf('abc') === seedOf('abc') // true
 */
export function seedOf(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** `n` indices into WORDS drawn from the seed. */
function words(seed: number, n: number): number[] {
  const out: number[] = [];
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32: deterministic and fast
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.push(x % WORDS.length);
  }
  return out;
}

/**
 * An answer of at most `maxTokens` tokens for `model`, opening with `insert` when given (the
 * scenario's PII line). Returns the text and its exact token count.
 *
 * @example
 * const a = answerText('gpt-4o-mini', 'Lead #1 …', 50);
 * a.tokens <= 50 // true
 */
export function answerText(model: string, prompt: string, maxTokens: number, insert?: string): Readonly<{ text: string; tokens: number }> {
  const key = `${model}\u0000${maxTokens}\u0000${insert ?? ''}\u0000${prompt}`;
  let answer = answers.get(key);
  if (answer === undefined) {
    if (answers.size >= ANSWERS_KEPT) answers.clear();
    answers.set(key, (answer = Object.freeze(composeAnswer(model, prompt, maxTokens, insert))));
  }
  return answer;
}

// Each answer is composed twice in a run: when the scenario's landing is checked (every call the
// agent will make, priced ahead) and when the agent asks; the first is kept (frozen: every caller
// gets the same one) for the second. A run makes ~270 calls, most answers ~4,000 tokens long.
const ANSWERS_KEPT = 1024;
const answers = new Map<string, Readonly<{ text: string; tokens: number }>>();

function composeAnswer(model: string, prompt: string, maxTokens: number, insert?: string): { text: string; tokens: number } {
  const head = insert ? `${insert}\n\n` : '';
  const headTokens = insert ? countTextTokens(head, model) : 0;
  const pool = words(seedOf(`${model}\u0000${prompt}`), Math.max(0, maxTokens - headTokens));
  const textOf = (n: number) => {
    if (n === 0) return head;
    const filler = new Array<string>(n);
    filler[0] = capitalized(WORDS[pool[0]!]!);
    for (let i = 1; i < n; i++) filler[i] = WORDS[pool[i]!]!;
    return `${head}${filler.join(' ')}.`;
  };
  const byWord = encodingForModel(model) === null ? null : wordTokens(model);
  if (byWord === null) {
    // An estimate, cheap to take of the whole text at each step.
    const n = settle(pool.length, maxTokens, (k) => countTextTokens(textOf(k), model));
    const text = textOf(n);
    return { text, tokens: countTextTokens(text, model) };
  }
  // A BPE tokenizer reads "Lead", " growth" and "." apart (its pre-tokenizer splits before each
  // space and at the full stop; the head ends in a line break, which starts no word), so the
  // text's tokens are the sum of its words' and the head's: exact, and known for every length
  // without tokenizing the text (test/unit/demo-text.test.ts counts the texts whole to hold it).
  const sums = new Int32Array(pool.length + 1);
  sums[0] = headTokens;
  if (pool.length > 0) sums[1] = headTokens + byWord.first[pool[0]!]! + byWord.stop;
  for (let i = 1; i < pool.length; i++) sums[i + 1] = sums[i]! + byWord.spaced[pool[i]!]!;
  const n = settle(pool.length, maxTokens, (k) => sums[k]!);
  return { text: textOf(n), tokens: sums[n]! };
}

/** The most words, from `n` down, whose text fits `maxTokens`: each step drops as many words as the text has tokens over (at least one), none left at worst. */
function settle(n: number, maxTokens: number, tokensOf: (n: number) => number): number {
  for (;;) {
    const tokens = tokensOf(n);
    if (tokens <= maxTokens || n === 0) return n;
    n = Math.max(0, n - Math.max(1, tokens - maxTokens));
  }
}

const capitalized = (word: string) => word.charAt(0).toUpperCase() + word.slice(1);

/** Each word's tokens in a model's encoding: capitalized first, after a space, and the full stop's; counted once a process. */
interface WordTokens {
  first: number[];
  spaced: number[];
  stop: number;
}
const wordCounts = new Map<string, WordTokens>();
function wordTokens(model: string): WordTokens {
  const encoding = encodingForModel(model) ?? model;
  let counts = wordCounts.get(encoding);
  if (counts === undefined) {
    counts = { first: WORDS.map((w) => countTextTokens(capitalized(w), model)), spaced: WORDS.map((w) => countTextTokens(` ${w}`, model)), stop: countTextTokens('.', model) };
    wordCounts.set(encoding, counts);
  }
  return counts;
}
