import { countTextTokens } from '../domain/budget/index.js';

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

function words(seed: number, n: number): string[] {
  const out: string[] = [];
  let x = seed || 1;
  for (let i = 0; i < n; i++) {
    // xorshift32: deterministic and fast
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.push(WORDS[x % WORDS.length]!);
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
// agent will make, priced ahead) and when the agent asks. Tokenizing it is most of the demo LLM's
// CPU (~0.4 s a run each time), so the first is kept (frozen: every caller gets the same one) for
// the second. A run makes ~270 calls.
const ANSWERS_KEPT = 1024;
const answers = new Map<string, Readonly<{ text: string; tokens: number }>>();

function composeAnswer(model: string, prompt: string, maxTokens: number, insert?: string): { text: string; tokens: number } {
  const head = insert ? `${insert}\n\n` : '';
  let n = Math.max(0, maxTokens - (insert ? countTextTokens(head, model) : 0));
  const pool = words(seedOf(`${model}\u0000${prompt}`), n);
  for (;;) {
    const filler = pool.slice(0, n);
    if (filler.length > 0) filler[0] = filler[0]!.charAt(0).toUpperCase() + filler[0]!.slice(1);
    const text = `${head}${filler.join(' ')}${filler.length > 0 ? '.' : ''}`;
    const tokens = countTextTokens(text, model);
    if (tokens <= maxTokens || n === 0) return { text, tokens };
    n -= Math.max(1, tokens - maxTokens);
  }
}
