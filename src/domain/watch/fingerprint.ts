import { hash } from 'node:crypto';
import type { PromptPart, PromptParts } from '../../core/prompt.js';

// What makes two calls "the same": fingerprints of a tool call, a function call the model made
// and a prompt, each a short hash (never the text). Arguments are compared normalised (JSON
// parsed, keys sorted, whitespace gone), so `{"a": 1, "b":2}` and `{"b":2,"a":1}` are one call.

/** A short, stable hash of `text` (sha1, 16 hex digits): enough to tell calls apart, never the text. */
export function digest(text: string | Uint8Array): string {
  // The one-shot hash: no Hash object, no stream of updates (a third of createHash's time).
  return hash('sha1', text, 'hex').slice(0, 16);
}

/** JSON with object keys sorted at every depth and no whitespace. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
}

/**
 * Arguments as one comparable string: JSON text (OpenAI's `arguments`) or an object (Anthropic's
 * `input`) in canonical JSON; text that is no JSON with its whitespace runs collapsed.
 *
 * @example normaliseArgs('{ "b": 2, "a": [1, 2] }') // '{"a":[1,2],"b":2}'
 */
export function normaliseArgs(input: unknown): string {
  if (typeof input !== 'string') return canonicalJson(input ?? null);
  const text = input.trim();
  if (text === '') return '';
  try {
    return canonicalJson(JSON.parse(text));
  } catch {
    return text.replace(/\s+/g, ' ');
  }
}

/** Arguments that say nothing (`{}`, `[]`, `null`, ``): every call of a no-argument function looks alike, which is no loop (openlit's lesson). */
export function emptyArgs(normalised: string): boolean {
  return normalised === '' || normalised === '{}' || normalised === '[]' || normalised === 'null' || normalised === '""';
}

/** A query string with its parameters sorted (`b=2&a=1` and `a=1&b=2` are one call). */
export function sortedQuery(query: string): string {
  const q = query.startsWith('?') ? query.slice(1) : query;
  if (q === '') return '';
  return q.split('&').sort().join('&');
}

/** What identifies one tool-proxy call: service, method, path, sorted query and the body (JSON normalised). */
export interface ToolCallShape {
  service: string;
  method: string;
  path: string;
  query: string;
  body: Uint8Array | null;
}

export function toolKey(t: ToolCallShape): string {
  let body = '';
  if (t.body !== null && t.body.length > 0) {
    const text = Buffer.from(t.body.buffer, t.body.byteOffset, t.body.byteLength).toString('utf8');
    body = digest(normaliseArgs(text));
  }
  return digest(`tool\0${t.service}\0${t.method.toUpperCase()}\0${t.path}\0${sortedQuery(t.query)}\0${body}`);
}

/** A function call the model made, as a later request's history carries it. */
export interface FunctionCall {
  id: string;
  name: string;
  /** Normalised arguments (see normaliseArgs). */
  args: string;
}

/**
 * The function calls a prompt's history holds, in order; `skip(id)` true: a call already counted,
 * whose arguments are not normalised again (a long conversation carries every earlier call).
 */
export function functionCalls(prompt: PromptParts, skip: (id: string) => boolean = () => false): FunctionCall[] {
  const out: FunctionCall[] = [];
  const walk = (parts: PromptPart[]): void => {
    for (const p of parts) {
      if (p.type === 'call') {
        if (!skip(p.id)) out.push({ id: p.id, name: p.name, args: normaliseArgs(p.input) });
      } else if (p.type === 'result' || p.type === 'other') walk(p.parts);
    }
  };
  for (const m of prompt.messages) walk(m.parts);
  walk(prompt.input);
  return out;
}

export function functionKey(c: Pick<FunctionCall, 'name' | 'args'>): string {
  return digest(`function\0${c.name}\0${c.args}`);
}

/**
 * The prompt's fingerprint for one model: every text and call in order (instructions, messages
 * with their roles, input), as sent: an agent repeating itself sends the same bytes, and the
 * hash is on every call's path (no normalising of a long history). Null for a prompt with no
 * text at all.
 */
export function promptKey(model: string, prompt: PromptParts): string | null {
  // The bytes hashed are built as one string and hashed once (a prompt's few parts: cheaper than a Hash fed piece by piece).
  let text = '';
  let any = false;
  const add = (s: string): void => {
    any = true;
    text += `${s}\0`;
  };
  const walk = (parts: PromptPart[]): void => {
    for (const p of parts) {
      if (p.type === 'text') add(p.text);
      else if (p.type === 'call') add(`${p.name}\0${typeof p.input === 'string' ? p.input : JSON.stringify(p.input ?? null)}`);
      else if (p.type === 'result' || p.type === 'other') walk(p.parts);
    }
  };
  if (prompt.instructions) walk(prompt.instructions.parts);
  for (const m of prompt.messages) {
    text += `${m.role}\0`;
    walk(m.parts);
  }
  walk(prompt.input);
  if (!any) return null;
  return digest(`${text}model\0${model}`);
}

/** The last text of a prompt (what the agent asked last), for a loop's label; '' if none. */
export function lastText(prompt: PromptParts): string {
  const texts: string[] = [];
  const walk = (parts: PromptPart[]): void => {
    for (const p of parts) {
      if (p.type === 'text') texts.push(p.text);
      else if (p.type === 'result' || p.type === 'other') walk(p.parts);
    }
  };
  walk(prompt.input);
  for (let i = prompt.messages.length - 1; i >= 0 && texts.length === 0; i--) walk(prompt.messages[i]!.parts);
  if (texts.length === 0 && prompt.instructions) walk(prompt.instructions.parts);
  return (texts.at(-1) ?? '').replace(/\s+/g, ' ').trim();
}

/** A label at most `max` characters long (an ellipsis marks a cut). */
export function clip(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
