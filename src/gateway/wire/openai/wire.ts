import type { SseEvent } from '../../../core/sse.js';
import { openaiLimitOutput, openaiOutput, openaiPrompt } from './request.js';
import { OpenAIStream, put } from './stream.js';
import { ChatToolStream, chatToolCalls, withholdChat } from './tools.js';
import { openaiNumber, openaiParamsProblem } from '../params.js';
import { otherStrings, wholeSlot } from '../strings.js';
import type { Endpoint, ErrorKind, StreamInspection, TextSlot, Usage, Wire } from '../types.js';
import { count, knownUsage } from '../usage.js';

const TYPE: Record<ErrorKind, string> = {
  invalid_request: 'invalid_request_error',
  auth: 'authentication_error',
  permission: 'permission_error',
  not_found: 'not_found_error',
  too_large: 'invalid_request_error',
  budget: 'insufficient_quota',
  rate_limit: 'rate_limit_error',
  upstream: 'api_error',
  unavailable: 'api_error',
  timeout: 'timeout_error',
  blocked: 'invalid_request_error',
};
const CODE: Partial<Record<ErrorKind, string>> = { auth: 'invalid_api_key', budget: 'budget_exceeded', too_large: 'request_too_large', blocked: 'pii_blocked' };

/** No model produces more; larger values would only overflow the reservation arithmetic. */
export const MAX_OUTPUT_TOKENS = 10_000_000;

function checkMessages(messages: unknown): string | null {
  if (messages === undefined) return "Missing required parameter: 'messages'.";
  if (!Array.isArray(messages)) return "Invalid type for 'messages': expected an array.";
  if (messages.length === 0) return "Invalid 'messages': empty array. Expected an array with minimum length 1.";
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i] as Record<string, unknown> | null;
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return `Invalid type for 'messages[${i}]': expected an object.`;
    if (typeof m.role !== 'string') return `Missing required parameter: 'messages[${i}].role'.`;
    if (!ROLES.has(m.role)) return `Invalid value: '${m.role.slice(0, 40)}'. Supported values are: ${[...ROLES].map((r) => `'${r}'`).join(', ')}.`;
    const c = m.content;
    if (c !== undefined && c !== null && typeof c !== 'string' && !Array.isArray(c)) return `Invalid type for 'messages[${i}].content': expected a string or an array of content parts.`;
    if (Array.isArray(c))
      for (let j = 0; j < c.length; j++) {
        const part = c[j] as Record<string, unknown> | null;
        if (typeof part !== 'object' || part === null || Array.isArray(part) || typeof part.type !== 'string')
          return `Invalid type for 'messages[${i}].content[${j}]': expected a content part object with a 'type'.`;
      }
  }
  return null;
}

/** The roles a chat message may have (what OpenAI's API takes). */
const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

/** An embeddings `input`: a string, or a non-empty array of strings, of token ids, or of arrays of token ids. */
function checkInput(input: unknown): string | null {
  if (input === undefined) return "Missing required parameter: 'input'.";
  if (typeof input === 'string') return null;
  if (!Array.isArray(input)) return "Invalid type for 'input': expected a string or an array.";
  if (input.length === 0) return "Invalid 'input': empty array. Expected an array with minimum length 1.";
  const ok = input.every((x) => typeof x === 'string') || input.every((x) => Number.isInteger(x)) || input.every((x) => Array.isArray(x) && x.length > 0 && x.every((t) => Number.isInteger(t)));
  return ok ? null : "Invalid 'input': expected a string, an array of strings, an array of token ids or an array of arrays of token ids.";
}

/**
 * An OpenAI usage block, whole answer or a stream's usage chunk. An embeddings answer has no
 * completion count because it has no completion (`outputless`): that one is 0.
 */
function usageOf(u: any, outputless = false): Partial<Usage> {
  if (!u || typeof u !== 'object') return {};
  return knownUsage(count(u.prompt_tokens), count(u.completion_tokens) ?? (outputless ? 0 : undefined), count(u.prompt_tokens_details?.cached_tokens));
}

export const openaiWire: Wire = {
  name: 'openai',

  error(status, kind, message) {
    return { status, body: JSON.stringify({ error: { message, type: TYPE[kind], param: null, code: CODE[kind] ?? null } }) };
  },

  validate(endpoint: Endpoint, b) {
    if (b.model === undefined) return "Missing required parameter: 'model'.";
    if (typeof b.model !== 'string' || b.model.trim() === '') return "Invalid type for 'model': expected a non-empty string.";
    if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') return "Invalid type for 'stream': expected a boolean.";
    // Each message names the bound broken: `n: 0` is below 1, not "not a non-negative integer".
    const limits = openaiNumber(b, 'max_tokens', 0, MAX_OUTPUT_TOKENS, true) ?? openaiNumber(b, 'max_completion_tokens', 0, MAX_OUTPUT_TOKENS, true) ?? openaiNumber(b, 'n', 1, 128, true);
    if (limits) return limits;
    if (b.stream_options !== undefined && b.stream_options !== null && (typeof b.stream_options !== 'object' || Array.isArray(b.stream_options))) {
      return "Invalid type for 'stream_options': expected an object.";
    }
    if (endpoint === 'chat') return checkMessages(b.messages) ?? openaiParamsProblem('chat', b);
    if (endpoint === 'completions') {
      if (b.prompt === undefined) return "Missing required parameter: 'prompt'.";
      if (typeof b.prompt !== 'string' && !Array.isArray(b.prompt)) return "Invalid type for 'prompt': expected a string or an array.";
      if (Array.isArray(b.prompt) && (b.prompt.length === 0 || !b.prompt.every((x: unknown) => typeof x === 'string' || Number.isInteger(x) || Array.isArray(x))))
        return "Invalid 'prompt': expected a string, or a non-empty array of strings or token ids.";
      return openaiParamsProblem('completions', b);
    }
    if (endpoint === 'embeddings') {
      const input = checkInput(b.input) ?? openaiNumber(b, 'dimensions', 1, 65_536, true);
      if (input) return input;
      if (b.encoding_format !== undefined && b.encoding_format !== null && b.encoding_format !== 'float' && b.encoding_format !== 'base64')
        return `Invalid value: '${String(b.encoding_format).slice(0, 40)}'. Supported values are: 'float' and 'base64'.`;
    }
    return null;
  },

  prompt: openaiPrompt,
  output: openaiOutput,
  limitOutput: openaiLimitOutput,

  usage: (json, endpoint) => usageOf(json?.usage, endpoint === 'embeddings'),

  textSlots(json): TextSlot[] {
    const out: TextSlot[] = [];
    const choices = Array.isArray(json?.choices) ? json.choices : [];
    for (const c of choices) {
      const index = typeof c?.index === 'number' ? c.index : 0;
      const m = c?.message;
      if (m && typeof m === 'object') messageSlots(index, m, out);
      else if (typeof c?.text === 'string') out.push({ index, text: c.text, set: (t) => (c.text = t) });
    }
    return out;
  },

  inspect(ev: SseEvent, json): StreamInspection {
    if (ev.data === '[DONE]') return { slots: [], ends: [], last: true };
    const res: StreamInspection = { slots: [], ends: [], last: false };
    if (!json || typeof json !== 'object') return res;
    if (json.usage) res.usage = usageOf(json.usage);
    // An error in the middle of a stream (an object or a bare string) can quote the prompt or
    // the answer; providers add fields of their own (Perplexity's citations, search_results).
    const top = otherStrings(json, 0, [], ['choices', 'usage']);
    if (top.length > 0) res.finals = top;
    const choices = Array.isArray(json.choices) ? json.choices : [];
    for (const c of choices) {
      const index = typeof c?.index === 'number' ? c.index : 0;
      const d = c?.delta;
      if (d && typeof d === 'object') {
        deltaSlots(index, d, res.slots);
        const other = extraSlots(index, d, []);
        if (other.length > 0) (res.finals ??= []).push(...other);
      } else if (typeof c?.text === 'string') res.slots.push({ index, text: c.text, set: (t) => (c.text = t) });
      if (c?.finish_reason) {
        res.ends.push({
          index,
          attach: (t, _seq, slot) => {
            // `t` is the held-back tail, which comes after what this chunk already released.
            if (typeof slot.key === 'number' && !(d && typeof d === 'object') && typeof c.text === 'string') c.text = c.text + t;
            else put((c.delta = d && typeof d === 'object' ? d : {}), slot.key, t);
            return null;
          },
        });
      }
    }
    return res;
  },

  stream: (ctx) => new OpenAIStream(openaiWire, ctx),

  toolCalls: chatToolCalls,
  withhold: withholdChat,
  toolStream: (endpoint) => (endpoint === 'chat' ? new ChatToolStream() : null),

  askUsage(endpoint, body) {
    // Chat and completions streams report usage only when asked (a Responses stream always does).
    if (endpoint !== 'chat' && endpoint !== 'completions') return null;
    const opts = (body.stream_options ?? {}) as Record<string, unknown>;
    return opts.include_usage === true ? null : { ...body, stream_options: { ...opts, include_usage: true } };
  },
};

// Keys of a choice's streams other than its text: `<choice>.r` its refusal, `<choice>.f` the
// legacy function_call's arguments, `<choice>.t<k>` tool call k's arguments, `<choice>.u<k>`
// custom tool call k's input, `<choice>.a` the audio answer's transcript, `<choice>.c<p>`
// content part p (whole answers only).

/** A whole answer's message: its text (a string or content parts), refusal and tool-call arguments. */
function messageSlots(index: number, m: any, out: TextSlot[]): void {
  if (typeof m.content === 'string') out.push({ index, text: m.content, set: (t) => (m.content = t) });
  else if (Array.isArray(m.content)) {
    m.content.forEach((p: any, i: number) => {
      if (p && typeof p.text === 'string') out.push({ index, key: `${index}.c${i}`, text: p.text, set: (t) => (p.text = t) });
      if (p && typeof p.refusal === 'string') out.push({ index, key: `${index}.cr${i}`, text: p.refusal, set: (t) => (p.refusal = t) });
      if (p?.annotations) otherStrings(p.annotations, index, out);
    });
  }
  deltaSlots(index, m, out, false);
  extraSlots(index, m, out);
}

/**
 * Output besides the streams of pieces: tool names, annotations (url, title). Whole texts: a
 * stream scans each piece once, in one piece.
 */
function extraSlots(index: number, d: any, out: TextSlot[]): TextSlot[] {
  if (d.annotations) otherStrings(d.annotations, index, out);
  if (Array.isArray(d.tool_calls)) {
    for (const tc of d.tool_calls) {
      if (typeof tc?.function?.name === 'string' && tc.function.name) out.push(wholeSlot(index, tc.function.name, (t) => (tc.function.name = t)));
      if (tc?.custom) otherStrings(tc.custom, index, out, ['input']);
    }
  }
  return out;
}

/**
 * A streamed delta's (or a message's) refusal, audio transcript, tool-call arguments and custom
 * tools' input; the content too if `content`.
 */
function deltaSlots(index: number, d: any, out: TextSlot[], content = true): void {
  if (content && typeof d.content === 'string') out.push({ index, text: d.content, set: (t) => (d.content = t) });
  if (typeof d.refusal === 'string') out.push({ index, key: `${index}.r`, text: d.refusal, set: (t) => (d.refusal = t) });
  const audio = d.audio;
  if (audio && typeof audio.transcript === 'string') out.push({ index, key: `${index}.a`, text: audio.transcript, set: (t) => (audio.transcript = t) });
  const f = d.function_call;
  if (f && typeof f.arguments === 'string') out.push({ index, key: `${index}.f`, kind: 'json', text: f.arguments, set: (t) => (f.arguments = t) });
  if (!Array.isArray(d.tool_calls)) return;
  d.tool_calls.forEach((tc: any, pos: number) => {
    // Streamed pieces name their call by `index`; a whole message's calls are in order.
    const k = typeof tc?.index === 'number' ? tc.index : pos;
    const fn = tc?.function;
    if (fn && typeof fn.arguments === 'string') out.push({ index, key: `${index}.t${k}`, kind: 'json', text: fn.arguments, set: (t) => (fn.arguments = t) });
    const custom = tc?.custom;
    if (custom && typeof custom.input === 'string') out.push({ index, key: `${index}.u${k}`, text: custom.input, set: (t) => (custom.input = t) });
  });
}
