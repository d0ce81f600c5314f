import type { OutputAsk, PromptCall, PromptMessage, PromptPart, PromptParts, PromptText, PromptTool } from '../../core/prompt.js';
import { toCount } from '../../domain/budget/index.js';

// What the wires' request readers (openai-request.ts, anthropic-request.ts,
// responses-request.ts) share: content parts, whose type names the three formats never give
// two meanings (OpenAI chat's `image_url`, Anthropic's `tool_use`, the Responses API's
// `input_text`), input arrays, tool lists and output limits. The readers go into agent input as
// deep as content goes (a message's parts, a tool result's content, the nested content of a part
// of no known kind: a result inside a result is one), never deeper than the 64 levels the gateway
// parses bodies to (MAX_JSON_DEPTH); a part's JSON is made only where it is counted by its JSON.

export type Body = Record<string, any>;

export const isObject = (v: unknown): v is Body => typeof v === 'object' && v !== null && !Array.isArray(v);
export const str = (v: unknown): string => (typeof v === 'string' ? v : '');

/** The string at `holder[key]` as a prompt text that rewrites it there. */
export function textAt(holder: Body, key: string | number): PromptText {
  return { type: 'text', text: holder[key], set: (t) => (holder[key] = t) };
}

/** The text field `key` of a part, if it is a string. */
function textField(p: Body, key: string): PromptText[] {
  return typeof p[key] === 'string' ? [textAt(p, key)] : [];
}

/**
 * How deep the nested content of parts of no known kind is read (a search result in a tool
 * result is two): a part nested deeper is shown to the model as its JSON, its texts unread. The
 * gateway bounds a body's depth (64); a value handed to a reader directly (the simulator's
 * tests) may not be, and must not overflow the stack.
 */
const NESTED_CONTENT = 8;

/** A content value at `holder[key]`: a string, or an array of strings and parts (`inResult`: a tool result's). */
export function contentParts(holder: Body, key: string, inResult = false, depth = 0): PromptPart[] {
  const v = holder[key];
  if (typeof v === 'string') return [textAt(holder, key)];
  if (!Array.isArray(v)) return [];
  const out: PromptPart[] = [];
  for (let i = 0; i < v.length; i++) {
    const p = v[i];
    if (typeof p === 'string') out.push(textAt(v, i));
    else if (isObject(p)) out.push(...part(p, inResult, depth));
  }
  return out;
}

function part(p: Body, inResult: boolean, depth: number): PromptPart[] {
  switch (inResult && p.type === 'tool_result' ? null : p.type) {
    case 'text':
    case 'input_text':
    case 'output_text':
      return textField(p, 'text');
    case 'refusal':
      return textField(p, 'refusal');
    case 'thinking':
      // Signed by the provider: a rewritten thought is refused, so it is shown as sent.
      return typeof p.thinking === 'string' ? [{ type: 'thinking', text: p.thinking }] : [];
    case 'image_url':
    case 'image':
    case 'input_image':
      return [{ type: 'image', low: (isObject(p.image_url) ? p.image_url.detail : p.detail) === 'low' }];
    case 'tool_use':
      return [objectCall(p)];
    case 'tool_result':
      return [{ type: 'result', callId: str(p.tool_use_id), parts: contentParts(p, 'content', true, depth + 1) }];
    default:
      // Parts of no kind above keep the texts inside them the agent's (redacted, read for
      // injection): a `text`, nested `content` (Anthropic's search_result), a text `source`
      // (a document given as plain text).
      return [
        {
          type: 'other',
          value: p,
          parts: [
            ...textField(p, 'text'),
            ...(depth < NESTED_CONTENT ? contentParts(p, 'content', inResult, depth + 1) : []),
            ...(isObject(p.source) && p.source.type === 'text' ? textField(p.source, 'data') : []),
          ],
        },
      ];
  }
}

/** An Anthropic tool_use block: its input is an object, rewritten from JSON text. */
function objectCall(p: Body): PromptCall {
  const call: PromptCall = { type: 'call', id: str(p.id), name: str(p.name), input: p.input };
  if (p.input && typeof p.input === 'object') call.set = (json) => (p.input = JSON.parse(json));
  return call;
}

/** A call whose arguments are JSON text at `fn[key]` (OpenAI's function calls, Responses function_call items). */
export function textCall(id: unknown, fn: Body, key = 'arguments'): PromptCall {
  const call: PromptCall = { type: 'call', id: str(id), name: str(fn.name), input: fn[key] };
  if (typeof fn[key] === 'string') call.set = (json) => (fn[key] = json);
  return call;
}

/**
 * An OpenAI input at `holder[key]` (a completions prompt, embeddings input, a Responses input): a
 * string, or an array of strings, token ids, arrays of token ids and message items (`item`).
 */
export function inputInto(p: PromptParts, holder: Body, key: string, item: (o: Body) => PromptMessage): void {
  const v = holder[key];
  if (typeof v === 'string') return void p.input.push(textAt(holder, key));
  if (!Array.isArray(v)) return;
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (typeof x === 'string') p.input.push(textAt(v, i));
    else if (typeof x === 'number') p.input.push({ type: 'tokens', count: 1 });
    else if (Array.isArray(x)) p.input.push({ type: 'tokens', count: x.length });
    else if (isObject(x)) p.messages.push(item(x));
  }
}

/**
 * A list of tools: each with a name is a tool the model is shown as a function (`def` finds its
 * function object and schema), any other is shown as its JSON.
 */
export function toolsInto(p: PromptParts, list: unknown, def: (t: Body) => { fn: Body; parameters: unknown; callable: boolean }): void {
  if (!Array.isArray(list)) return;
  for (const t of list) {
    const d = isObject(t) ? def(t) : null;
    if (d === null || typeof d.fn.name !== 'string') {
      p.shown.push(t);
      continue;
    }
    const tool: PromptTool = { name: d.fn.name, callable: d.callable };
    if (typeof d.fn.description === 'string') tool.description = d.fn.description;
    if (isObject(d.parameters)) tool.parameters = d.parameters;
    p.tools.push(tool);
  }
}

/** The neutral role of an OpenAI-spelled role (chat messages, Responses message items). */
export function roleOf(role: unknown): PromptMessage['role'] {
  return role === 'system' || role === 'developer' ? 'system' : role === 'assistant' ? 'assistant' : role === 'tool' || role === 'function' ? 'tool' : 'user';
}

/**
 * What a request asks of the output, from the fields its wire reads: the first positive limit in
 * `limits` (in order), the most choices any of `choices` asks for.
 */
export function outputAsk(b: Body, limits: readonly string[], choices: readonly string[] = [], thinking = 0): OutputAsk {
  let limit: number | null = null;
  for (const f of limits) {
    const n = toCount(b[f]);
    if (n > 0) {
      limit = n;
      break;
    }
  }
  let n = 1;
  for (const f of choices) n = Math.max(n, toCount(b[f]));
  return { limit, choices: n, thinking };
}

/**
 * The request with its output limit lowered to `perChoice`: every one of `limits` it carries (the
 * provider may read either), or if it has none the first, the one the endpoint documents.
 */
export function withLimit(b: Body, limits: readonly string[], perChoice: number): Body {
  if (limits.length === 0) return b;
  const out: Body = { ...b };
  const present = limits.filter((f) => typeof b[f] === 'number');
  for (const f of present.length > 0 ? present : limits.slice(0, 1)) out[f] = perChoice;
  return out;
}
