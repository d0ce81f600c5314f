import { createRequire } from 'node:module';

// Token counting for single strings: exact BPE for OpenAI models, a documented estimate for
// everything else. A request's prompt is counted in prompt-tokens.ts.

export type EncodingName = 'o200k_base' | 'cl100k_base';

interface Encoder {
  countTokens(text: string, options: { disallowedSpecial: Set<string> }): number;
}

// The BPE tables are 1-2.5 MB of JavaScript each, take ~140 ms (o200k) and ~65 ms (cl100k) to
// load and hold tens of MB once loaded. A static import would charge that to every process that
// imports the budget module (the CLI's --help included), and a preload at start to every server,
// most of which count one family or none (Anthropic and local models are estimated). ESM offers
// no synchronous lazy import, so each encoding is required when a model of its family is first
// counted, and kept for the process lifetime.
//
// Its ranks are read from JSON beside the bundle (dist/bpe/<name>.json, written by
// scripts/build.mjs from the package's own module; `require` of a .json file is one JSON.parse),
// not from the package's JavaScript: V8 compiling o200k's 200,000-element array literal takes
// ~13 MB of parser zones that glibc keeps after they are freed, and lifts the peak by ~10 MB
// more while it runs. The same table, the same heap once loaded (~18 MB), 20 MB less RSS and
// ~27 MB lower a high-water mark (docs/benchmarks-history.md, the memory figures). From source (tests), where there
// is no dist/bpe beside this file, the package's module is read as before.
const requireCjs = createRequire(import.meta.url);
const encoders = new Map<EncodingName, Encoder>();

function ranksOf(name: EncodingName): unknown {
  try {
    return requireCjs(`./bpe/${name}.json`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'MODULE_NOT_FOUND') throw e;
  }
  return (requireCjs(`gpt-tokenizer/cjs/bpeRanks/${name}`) as { default: unknown }).default;
}

interface EncodingApi {
  getEncodingApi(name: EncodingName, ranks: () => unknown): Encoder;
}

/** The encodings loaded so far in this process (a table is loaded by the first count that needs it). */
export function loadedEncodings(): EncodingName[] {
  return [...encoders.keys()];
}

function encoder(name: EncodingName): Encoder {
  let enc = encoders.get(name);
  if (enc === undefined) {
    // What the package's cjs/encoding/<name> module does, with the ranks from ranksOf.
    const { GptEncoding } = requireCjs('gpt-tokenizer/cjs/GptEncoding') as { GptEncoding: EncodingApi };
    enc = GptEncoding.getEncodingApi(name, () => ranksOf(name));
    encoders.set(name, enc);
  }
  return enc;
}

// Prompts may contain strings such as "<|endoftext|>"; the API tokenizes them as ordinary text,
// while gpt-tokenizer would throw unless special tokens are explicitly not disallowed.
const PLAIN_TEXT = { disallowedSpecial: new Set<string>() };

/** Exact BPE token count of `text` in the given encoding. */
export function countBpeTokens(text: string, encoding: EncodingName): number {
  return text.length === 0 ? 0 : encoder(encoding).countTokens(text, PLAIN_TEXT);
}

/**
 * Exact counts of prompt texts seen recently, in one encoding. An agent resends its whole history
 * every turn, so without this each call re-tokenizes every earlier message (the cost of a call
 * grows with the conversation); with it, only the new messages are counted. Two generations
 * bound the memory: when the current one holds `GENERATION_SIZE` (characters of text, plus
 * `ENTRY_SIZE` for each entry) it becomes the previous one and the one before is dropped; a hit
 * in the previous generation moves back to the current one, so a conversation still going keeps
 * its messages. At most about 2 × 4 M characters (16 MB) are held per encoding.
 */
const GENERATION_SIZE = 4_000_000;
const ENTRY_SIZE = 64;

export class CountCache {
  constructor(
    private readonly encoding: EncodingName,
    private readonly countFresh: (text: string, encoding: EncodingName) => number = countBpeTokens,
    private readonly generationSize = GENERATION_SIZE,
  ) {}

  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  private size = 0;

  count(text: string): number {
    const hit = this.current.get(text);
    if (hit !== undefined) return hit;
    const old = this.previous.get(text);
    const n = old ?? this.countFresh(text, this.encoding);
    const size = text.length + ENTRY_SIZE;
    if (this.size + size > this.generationSize) {
      this.previous = this.current;
      this.current = new Map();
      this.size = 0;
    }
    this.current.set(text, n);
    this.size += size;
    return n;
  }
}

const promptCaches = new Map<EncodingName, CountCache>();

/**
 * `countBpeTokens` for prompt texts, remembered (see CountCache): the same exact count, without
 * tokenizing a message again each time the history that holds it is resent. Short texts too: a
 * role or a name costs the BPE encoder about a microsecond, the lookup a tenth of that, and every
 * message of a resent history has one.
 */
export function countPromptText(text: string, encoding: EncodingName): number {
  let cache = promptCaches.get(encoding);
  if (!cache) promptCaches.set(encoding, (cache = new CountCache(encoding)));
  return cache.count(text);
}

// Order matters: the o200k families must be tested before the bare `gpt-4` prefix.
const O200K = /^(?:gpt-4o|chatgpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|gpt-oss|gpt-realtime|gpt-audio|o1|o3|o4|codex|computer-use)/;
const CL100K = /^(?:gpt-4|gpt-3\.5|gpt-35|text-embedding-3|text-embedding-ada-002)/;

/** Strip what wraps an OpenAI model name: `openai/gpt-4o`, `ft:gpt-4o-mini:org::id`. */
export function baseModelName(model: string): string {
  let m = model.trim().toLowerCase();
  const slash = m.lastIndexOf('/');
  if (slash >= 0) m = m.slice(slash + 1);
  if (m.startsWith('ft:')) m = m.slice(3);
  return m;
}

/**
 * The BPE encoding OpenAI uses for `model`, or null when we have no exact tokenizer for it
 * (Anthropic, local and unknown models), in which case callers use `estimateTokens`.
 */
export function encodingForModel(model: string): EncodingName | null {
  const m = baseModelName(model);
  if (O200K.test(m)) return 'o200k_base';
  if (CL100K.test(m)) return 'cl100k_base';
  return null;
}

/**
 * Token estimate for models without an exact tokenizer. The spec's rule is chars/4, which
 * matches English prose for both OpenAI and Anthropic tokenizers (Anthropic quotes ~3.5
 * chars/token). It badly undercounts CJK, emoji and other non-ASCII scripts, which run at
 * one token per character or more, so every non-ASCII code point counts as a whole token.
 * That errs high for accented Latin text, which is the safe side for a reservation; the
 * provider's reported usage replaces the estimate when the call settles.
 */
export function estimateTokens(text: string): number {
  let ascii = 0;
  let other = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) ascii++;
    else if (c < 0xdc00 || c > 0xdfff) other++; // a surrogate pair is one code point
  }
  return Math.ceil(ascii / 4) + other;
}

/** Tokens of a plain string for `model`: exact for OpenAI models, estimated otherwise. */
export function countTextTokens(text: string, model: string): number {
  const enc = encodingForModel(model);
  return enc === null ? estimateTokens(text) : countBpeTokens(text, enc);
}
