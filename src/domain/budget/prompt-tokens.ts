import { formatFunctionDefinitions, type ChatCompletionFunctionDefinition } from 'gpt-tokenizer/functionCalling';
import type { OutputAsk, PromptPart, PromptParts, PromptTool } from '../../core/prompt.js';
import { toCount } from './int.js';
import { countPromptText, encodingForModel, estimateTokens, type EncodingName } from './tokens.js';

// Prompt tokens of a request, for the reservation made before the call is forwarded. The request
// comes read by its wire (gateway/wire) into PromptParts: this file knows no provider's format.
//
// Message overhead follows OpenAI's documented formula (openai-cookbook, "How to count tokens
// with tiktoken", num_tokens_from_messages): 3 tokens per message, +1 per `name`, +3 to prime
// the reply. It is exact for plain messages on gpt-3.5-turbo-0613 and later, gpt-4 and the
// o200k models; the retired gpt-3.5-turbo-0301 format (4/-1) is not special-cased. Tools are
// rendered the way OpenAI renders them to the model (gpt-tokenizer's TypeScript-namespace
// formatter) plus its fixed overhead, which is close but not exact; images cost a fixed
// typical amount because their dimensions are not known here.

const MESSAGE_OVERHEAD = 3;
const NAME_OVERHEAD = 1;
const REPLY_PRIMING = 3;
const CALL_OVERHEAD = 3;
const FUNCTIONS_OVERHEAD = 9;
// OpenAI: 85 tokens for detail "low"; 765 is a 1024×1024 image at high detail (85 + 4×170).
// Anthropic charges ~w·h/750, up to ~1,600 for a full-size image; used for non-OpenAI models.
const IMAGE_LOW = 85;
const IMAGE_OPENAI = 765;
const IMAGE_OTHER = 1_600;

/**
 * Above this many characters of prompt text the reservation uses `estimateTokens` even for
 * OpenAI models: BPE over 200k characters takes tens of milliseconds of event-loop time that
 * every other in-flight request would wait for, while chars/4 is already on the high side for
 * such prompts and the provider's usage settles the true amount.
 */
const DEFAULT_EXACT_MAX_CHARS = 200_000;

/** Output tokens assumed when the request sets no limit of its own. */
const DEFAULT_MAX_OUTPUT_TOKENS = 4_096;

export interface PromptTokens {
  tokens: number;
  /** 'bpe': counted with the model's own encoding (text exact, overheads per the formula). */
  method: 'bpe' | 'estimate';
  encoding: EncodingName | null;
}

export interface PromptCountOptions {
  exactMaxChars?: number;
}

class Tally {
  readonly texts: string[] = [];
  chars = 0;
  fixed = 0;
  constructor(readonly imageTokens: number) {}

  text(v: unknown): void {
    if (typeof v === 'string' && v.length > 0) {
      this.texts.push(v);
      this.chars += v.length;
    }
  }

  json(v: unknown): void {
    if (v !== undefined && v !== null) this.text(typeof v === 'string' ? v : JSON.stringify(v));
  }

  parts(list: readonly PromptPart[]): void {
    for (const p of list) {
      switch (p.type) {
        case 'text':
        case 'thinking':
          this.text(p.text);
          break;
        case 'image':
          this.fixed += p.low ? IMAGE_LOW : this.imageTokens;
          break;
        case 'call':
          this.text(p.name);
          this.json(p.input);
          this.fixed += CALL_OVERHEAD;
          break;
        case 'result':
          this.parts(p.parts);
          break;
        case 'tokens':
          this.fixed += p.count;
          break;
        case 'other':
          // Audio, files and part types not known yet: their JSON (base64 included) errs high.
          this.json(p.value);
      }
    }
  }

  tools(list: readonly PromptTool[]): void {
    if (list.length === 0) return;
    const defs: ChatCompletionFunctionDefinition[] = list.map((t) => ({
      name: t.name,
      ...(t.description !== undefined ? { description: t.description } : {}),
      ...(t.parameters !== undefined ? { parameters: t.parameters as never } : {}),
    }));
    try {
      this.text(formatFunctionDefinitions(defs));
      this.fixed += FUNCTIONS_OVERHEAD;
    } catch {
      // A JSON schema shape the formatter does not model: its raw JSON errs high.
      this.json(defs);
    }
  }
}

function tally(prompt: PromptParts, imageTokens: number): Tally {
  const t = new Tally(imageTokens);
  const { instructions, messages } = prompt;
  if (instructions !== null) {
    if (instructions.framed) t.fixed += MESSAGE_OVERHEAD;
    t.parts(instructions.parts);
  }
  for (const m of messages) {
    t.fixed += MESSAGE_OVERHEAD;
    t.text(m.label);
    if (m.name !== undefined) {
      t.text(m.name);
      t.fixed += NAME_OVERHEAD;
    }
    t.parts(m.parts);
  }
  if (messages.length > 0) t.fixed += REPLY_PRIMING;
  t.parts(prompt.input);
  t.tools(prompt.tools);
  for (const v of prompt.shown) t.json(v);
  return t;
}

/**
 * Prompt tokens of a request's prompt. Text is collected once, then either counted with the
 * model's BPE (OpenAI models, prompt under `exactMaxChars`) or estimated, so no part of a large
 * prompt is tokenized twice. BPE counting never materializes token arrays.
 *
 * @example
 *   countPromptTokens('gpt-4o', openaiWire.prompt('chat', { messages: [{ role: 'user', content: 'hi' }] })) // { tokens: 8, method: 'bpe', encoding: 'o200k_base' }
 */
export function countPromptTokens(model: string, prompt: PromptParts, options: PromptCountOptions = {}): PromptTokens {
  const encoding = encodingForModel(model);
  const t = tally(prompt, encoding === null ? IMAGE_OTHER : IMAGE_OPENAI);
  const exact = encoding !== null && t.chars <= (options.exactMaxChars ?? DEFAULT_EXACT_MAX_CHARS);
  let tokens = t.fixed;
  if (exact) for (const s of t.texts) tokens += countPromptText(s, encoding);
  else for (const s of t.texts) tokens += estimateTokens(s);
  return { tokens, method: exact ? 'bpe' : 'estimate', encoding: exact ? encoding : null };
}

export interface OutputTokens {
  tokens: number;
  /** 'default' when the request set no limit, so the reservation is a guess, not a bound. */
  source: 'request' | 'default';
}

/**
 * The most output the request may be billed for: its own limit or `defaultMaxOutputTokens`,
 * times the number of choices it asks for. Pass 0 as the default for endpoints without output,
 * such as embeddings.
 *
 * @example
 *   estimateMaxOutputTokens({ limit: 100, choices: 3, thinking: 0 }) // { tokens: 300, source: 'request' }
 */
export function estimateMaxOutputTokens(ask: OutputAsk, defaultMaxOutputTokens: number = DEFAULT_MAX_OUTPUT_TOKENS): OutputTokens {
  const limit = toCount(ask.limit);
  const choices = Math.max(1, toCount(ask.choices));
  return limit > 0 ? { tokens: limit * choices, source: 'request' } : { tokens: toCount(defaultMaxOutputTokens) * choices, source: 'default' };
}
