import { formatFunctionDefinitions, type ChatCompletionFunctionDefinition } from 'gpt-tokenizer/functionCalling';
import { toCount } from './int.js';
import { countPromptText, encodingForModel, estimateTokens, type EncodingName } from './tokens.js';

// Prompt tokens of a whole request body (OpenAI chat/completions/embeddings/responses and
// Anthropic messages), for the reservation made before the call is forwarded.
//
// Chat overhead follows OpenAI's documented formula (openai-cookbook, "How to count tokens
// with tiktoken", num_tokens_from_messages): 3 tokens per message, +1 per `name`, +3 to prime
// the reply. It is exact for plain messages on gpt-3.5-turbo-0613 and later, gpt-4 and the
// o200k models; the retired gpt-3.5-turbo-0301 format (4/-1) is not special-cased. Tools are
// rendered the way OpenAI renders them to the model (gpt-tokenizer's TypeScript-namespace
// formatter) plus its fixed overhead, which is close but not exact; images cost a fixed
// typical amount because their dimensions are not known here.

export type RequestBody = Readonly<Record<string, unknown>>;

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
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function call(t: Tally, fn: Record<string, unknown>): void {
  t.text(fn.name);
  t.json(fn.arguments);
  t.fixed += CALL_OVERHEAD;
}

function image(t: Tally, part: Record<string, unknown>): void {
  const detail = isObject(part.image_url) ? part.image_url.detail : part.detail;
  t.fixed += detail === 'low' ? IMAGE_LOW : t.imageTokens;
}

function content(t: Tally, value: unknown): void {
  if (typeof value === 'string') return t.text(value);
  if (!Array.isArray(value)) return;
  for (const part of value) {
    if (typeof part === 'string') {
      t.text(part);
      continue;
    }
    if (!isObject(part)) continue;
    switch (part.type) {
      case 'text':
      case 'input_text':
      case 'output_text':
        t.text(part.text);
        break;
      case 'refusal':
        t.text(part.refusal);
        break;
      case 'thinking':
        t.text(part.thinking);
        break;
      case 'image_url':
      case 'image':
      case 'input_image':
        image(t, part);
        break;
      case 'tool_use':
        call(t, { name: part.name, arguments: part.input });
        break;
      case 'tool_result':
        content(t, part.content);
        break;
      default:
        // Audio, files and future part types: their JSON (base64 included) errs high.
        t.json(part);
    }
  }
}

function messages(t: Tally, list: readonly unknown[]): void {
  for (const m of list) {
    if (!isObject(m)) continue;
    t.fixed += MESSAGE_OVERHEAD;
    t.text(m.role);
    if (typeof m.name === 'string' && m.type !== 'function_call') {
      t.text(m.name);
      t.fixed += NAME_OVERHEAD;
    }
    content(t, m.content);
    if (isObject(m.function_call)) call(t, m.function_call);
    if (Array.isArray(m.tool_calls)) {
      for (const c of m.tool_calls) if (isObject(c)) call(t, isObject(c.function) ? c.function : c);
    }
    // Responses API items
    if (m.type === 'function_call') call(t, m);
    if (m.type === 'function_call_output') t.json(m.output);
  }
  if (list.length > 0) t.fixed += REPLY_PRIMING;
}

function toolDefinition(tool: unknown): ChatCompletionFunctionDefinition | null {
  if (!isObject(tool)) return null;
  const fn = isObject(tool.function) ? tool.function : tool;
  if (typeof fn.name !== 'string') return null;
  const parameters = fn.parameters ?? fn.input_schema;
  return {
    name: fn.name,
    ...(typeof fn.description === 'string' ? { description: fn.description } : {}),
    ...(isObject(parameters) ? { parameters: parameters as never } : {}),
  };
}

function tools(t: Tally, list: readonly unknown[]): void {
  const defs: ChatCompletionFunctionDefinition[] = [];
  for (const tool of list) {
    const def = toolDefinition(tool);
    if (def) defs.push(def);
    else t.json(tool); // built-in tools (web search, code interpreter): their JSON is plenty
  }
  if (defs.length === 0) return;
  try {
    t.text(formatFunctionDefinitions(defs));
    t.fixed += FUNCTIONS_OVERHEAD;
  } catch {
    // A JSON schema shape the formatter does not model: its raw JSON errs high.
    t.json(defs);
  }
}

/** `prompt` / `input`: a string, strings, token ids, arrays of token ids, or message items. */
function inputs(t: Tally, value: unknown): void {
  if (typeof value === 'string') return t.text(value);
  if (!Array.isArray(value)) return;
  const items: unknown[] = [];
  for (const v of value) {
    if (typeof v === 'string') t.text(v);
    else if (typeof v === 'number') t.fixed += 1;
    else if (Array.isArray(v)) t.fixed += v.length;
    else items.push(v);
  }
  if (items.length > 0) messages(t, items);
}

function tally(body: RequestBody, imageTokens: number): Tally {
  const t = new Tally(imageTokens);
  if (body.system !== undefined && body.system !== null) {
    t.fixed += MESSAGE_OVERHEAD;
    content(t, body.system);
  }
  t.text(body.instructions);
  if (Array.isArray(body.messages)) messages(t, body.messages);
  inputs(t, body.prompt);
  inputs(t, body.input);
  if (Array.isArray(body.tools)) tools(t, body.tools);
  if (Array.isArray(body.functions)) tools(t, body.functions);
  if (isObject(body.response_format)) t.json(body.response_format.json_schema);
  // The Responses API's structured output: the schema is shown to the model like chat's.
  if (isObject(body.text) && isObject(body.text.format)) t.json(body.text.format.schema);
  return t;
}

/**
 * Prompt tokens of a request body. Text is collected once, then either counted with the
 * model's BPE (OpenAI models, prompt under `exactMaxChars`) or estimated, so no part of a
 * large prompt is tokenized twice. BPE counting never materializes token arrays.
 */
export function countPromptTokens(model: string, body: RequestBody, options: PromptCountOptions = {}): PromptTokens {
  const encoding = encodingForModel(model);
  const t = tally(body, encoding === null ? IMAGE_OTHER : IMAGE_OPENAI);
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
 * The most output the request may be billed for: its own limit (`max_completion_tokens`, which
 * covers o-series reasoning tokens, else `max_tokens`, else the Responses API's
 * `max_output_tokens`) or `defaultMaxOutputTokens`, times the number of choices it asks for
 * (`n`, `best_of`). Pass 0 as the default for endpoints without output, such as embeddings.
 */
export function estimateMaxOutputTokens(body: RequestBody, defaultMaxOutputTokens: number = DEFAULT_MAX_OUTPUT_TOKENS): OutputTokens {
  const limit = toCount(body.max_completion_tokens) || toCount(body.max_tokens) || toCount(body.max_output_tokens);
  const choices = Math.max(1, toCount(body.n), toCount(body.best_of));
  return limit > 0 ? { tokens: limit * choices, source: 'request' } : { tokens: toCount(defaultMaxOutputTokens) * choices, source: 'default' };
}
