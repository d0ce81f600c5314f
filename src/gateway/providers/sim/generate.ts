import { mulberry32 } from '../../../core/random.js';
import { countTextTokens } from '../../../domain/budget/index.js';
import { chooseTools } from './choose.js';
import { PromptFacts } from './facts.js';
import { jsonHint } from './json-hint.js';
import { logprobsFor } from './logprobs.js';
import { proseAnswer } from './prose.js';
import type { JsonSchema, SimChoice, SimGeneration, SimRequest, SimTool, SimToolCall, SimTurn } from './types.js';
import { MAX_VALUES, valueFor, type ValueContext } from './values.js';

/** Prompts that ask for an exact reply get it: `Repeat exactly: <text>` (tests and the demo). */
const ECHO = /^\s*Repeat exactly:\s?([\s\S]*)$/;
/** Rounds of tool calls the generator invents in one conversation at most (see generate()). */
export const MAX_INVENTED_ROUNDS = 3;
/** How much of one tool result the answer quotes. */
const QUOTE_CHARS = 300;

/** FNV-1a: a stable 32-bit seed from text. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** A seeded generator in [0, 1): every random choice follows from the request. */
export const seededRandom = (seed: string): (() => number) => mulberry32(fnv1a(seed));

function lastUserText(turns: readonly SimTurn[]): string {
  for (let i = turns.length - 1; i >= 0; i--) if (turns[i]!.role === 'user') return turns[i]!.text;
  return turns.length > 0 ? turns[turns.length - 1]!.text : '';
}

/** How many of `units` (at least `keep`) fit in `maxTokens` joined by `sep`: a binary search,
 * since each count is a BPE pass over the prefix and a long answer has thousands of units. */
function unitsWithin(units: string[], sep: string, model: string, maxTokens: number, keep: number): number {
  let lo = keep;
  let hi = units.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (countTextTokens(units.slice(0, mid).join(sep), model) <= maxTokens) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Cut `text` to about `maxTokens` tokens on a word boundary (inside a word if it has none). */
export function limitTokens(text: string, model: string, maxTokens: number | null): { text: string; cut: boolean } {
  if (maxTokens === null || countTextTokens(text, model) <= maxTokens) return { text, cut: false };
  if (maxTokens === 0) return { text: '', cut: true };
  const words = text.split(' ');
  const k = unitsWithin(words, ' ', model, maxTokens, 1);
  if (k > 1 || countTextTokens(words[0]!, model) <= maxTokens) return { text: words.slice(0, k).join(' '), cut: true };
  const parts = jsonPieces(words[0]!);
  return { text: parts.slice(0, unitsWithin(parts, '', model, maxTokens, 0)).join(''), cut: true };
}

/** Word-sized deltas, spaces kept, like a real tokenizer-driven stream. */
export function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/** Token-sized deltas of JSON text (`{"`, `city`, `":"`, `Paris`, `"}`), as a stream sends arguments. */
export function jsonPieces(text: string): string[] {
  return text.match(/[\p{L}\p{N}_]+|[^\p{L}\p{N}_]+/gu) ?? [];
}

/**
 * Tool results since the assistant's last call, each with the name of the tool that gave it. The
 * user's own text beside them counts as part of the same turn: Anthropic's tool results come in a
 * user message that may carry text blocks after them (Claude Code appends its reminders there),
 * and read as a fresh question they made every answer another tool call, a loop a coding agent
 * never left.
 */
function toolResults(turns: readonly SimTurn[]): Array<{ name: string; text: string }> {
  const names = new Map<string, string>();
  for (const t of turns) for (const c of t.toolCalls ?? []) names.set(c.id, c.name);
  const out: Array<{ name: string; text: string }> = [];
  for (let i = turns.length - 1; i >= 0 && (turns[i]!.role === 'tool' || turns[i]!.role === 'user'); i--)
    if (turns[i]!.role === 'tool') out.unshift({ name: names.get(turns[i]!.toolCallId ?? '') ?? 'the tool', text: turns[i]!.text });
  return out;
}

/** The assistant's answers with tool calls in the conversation so far. */
function toolRounds(turns: readonly SimTurn[]): number {
  let n = 0;
  for (const t of turns) if (t.role === 'assistant' && (t.toolCalls?.length ?? 0) > 0) n++;
  return n;
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const scalar = (v: unknown) => v === null || ['string', 'number', 'boolean'].includes(typeof v);
const quote = (s: string) => (s.length > QUOTE_CHARS ? `${s.slice(0, QUOTE_CHARS)}…` : s);

/** A text answer built on the tool results: their fields, or their text quoted. */
function resultAnswer(results: Array<{ name: string; text: string }>): string {
  return results
    .map(({ name, text }) => {
      const v = parse(text);
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
        const fields = Object.entries(v)
          .slice(0, 8)
          .map(([k, x]) => `${k} ${scalar(x) ? quote(String(x)) : Array.isArray(x) ? `(${x.length} items)` : '(details)'}`);
        return `According to ${name}: ${fields.join(', ') || 'nothing to report'}.`;
      }
      if (Array.isArray(v)) return `According to ${name}, there are ${v.length} results${v.length > 0 && scalar(v[0]) ? `, starting with ${quote(String(v[0]))}` : ''}.`;
      return `According to ${name}: ${quote(String(v).trim())}`;
    })
    .join(' ');
}

/** Top-level scalar fields of the tool results: a structured answer reuses them by name. */
function knownFields(results: Array<{ text: string }>): Record<string, unknown> {
  const known: Record<string, unknown> = {};
  for (const r of results) {
    const v = parse(r.text);
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) for (const [k, x] of Object.entries(v)) if (scalar(x) && !(k in known)) known[k] = x;
  }
  return known;
}

/** An OpenAI-shaped call id (`call_` + 24 characters), the same for the same seed. */
export function callId(seed: string): string {
  const rng = seededRandom(seed);
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `call_${Array.from({ length: 24 }, () => abc[Math.floor(rng() * abc.length)]).join('')}`;
}

/** The output tokens of some tool calls: each one's name and arguments. */
export function callTokens(calls: readonly SimToolCall[], model: string): number {
  return calls.reduce((s, c) => s + countTextTokens(c.name, model) + countTextTokens(c.arguments, model), 0);
}

function toolCall(tool: SimTool, ctx: ValueContext, seed: string): SimToolCall {
  const args = JSON.stringify(valueFor(tool.parameters ?? { type: 'object', properties: {} }, { ...ctx, root: tool.parameters ?? {} }) ?? {});
  return { id: callId(seed), name: tool.name, arguments: args, argumentPieces: jsonPieces(args) };
}

/**
 * The answer to a request, decided once for every wire: tool calls when the prompt asks for
 * what a tool does (or `toolChoice` demands one), JSON valid against the requested format, an
 * answer built on tool results after a call, and otherwise seeded prose; `n` distinct choices.
 * @example generate({ model: 'gpt-4o', turns: [{ role: 'user', text: 'Repeat exactly: hi' }], tools: [], customTools: [], toolChoice: 'auto', parallelToolCalls: true, format: { type: 'text' }, n: 1, logprobs: null, maxTokens: null, seed: '{}' }).choices[0].text // 'hi'
 */
export function generate(req: SimRequest): SimGeneration {
  const prompt = lastUserText(req.turns);
  const echo = ECHO.exec(prompt);
  const results = toolResults(req.turns);
  const facts = new PromptFacts(prompt);
  const known = knownFields(results);
  // Past MAX_INVENTED_ROUNDS rounds of tool calls in one conversation, `auto` answers in text: the
  // tools it invents are a guess at what the prompt asks, and a coding agent's harness (Claude
  // Code: its subagents, its skills, their notices) would otherwise be led from one invented call
  // to the next until the budget ran out. A scripted provider (providers.simulated.script) drives
  // longer tasks.
  const afterTool = results.length > 0 || toolRounds(req.turns) >= MAX_INVENTED_ROUNDS;
  // `auto` answers a tool result in text; `required` or a named tool call again, as the providers do.
  const calls = echo || (afterTool && req.toolChoice === 'auto') ? [] : chooseTools(req.tools, req.toolChoice, facts, req.parallelToolCalls);
  const choices: SimChoice[] = [];
  const texts = new Set<string>();
  let hint: JsonSchema | false | undefined;
  for (let i = 0; i < req.n; i++) {
    const seed = `${req.model}\n${req.seed}${i === 0 ? '' : `\n${i}`}`;
    const rng = seededRandom(seed);
    let proseSeed = seed;
    // Deterministic text: the same prompt always gets the same answer, so demos and tests repeat.
    const prose = () => proseAnswer(prompt, facts, seededRandom(proseSeed));
    const ctx: ValueContext = { root: {}, facts, rng, known, fillOptional: true, prose, work: { left: MAX_VALUES } };
    if (calls.length > 0) {
      const toolCalls = calls.map((t, k) => toolCall(t, { ...ctx, fillOptional: false }, `${seed}\n${t.name}\n${k}`));
      choices.push({ text: '', toolCalls, finish: 'tool_calls', pieces: [], completionTokens: callTokens(toolCalls, req.model) });
      continue;
    }
    let raw: string;
    let json = false;
    if (req.format.type === 'json_schema') {
      raw = JSON.stringify(valueFor(req.format.schema, { ...ctx, root: req.format.schema }));
      json = true;
    } else if (req.format.type === 'json_object') {
      // JSON mode has no schema: follow one (or an example) the prompt gives, else a small object.
      hint ??= jsonHint(req.turns) ?? false;
      raw = JSON.stringify(hint ? valueFor(hint, { ...ctx, root: hint }) : { answer: afterTool ? resultAnswer(results) : echo ? echo[1]! : prose() });
      json = true;
    } else if (echo) raw = echo[1]!;
    else if (afterTool) raw = resultAnswer(results);
    else {
      // Choices differ: a repeated draw takes the next seed (a few tries are always enough).
      for (let k = 1; k <= 16 && texts.has(prose()); k++) proseSeed = `${seed}\n#${k}`;
      raw = prose();
    }
    texts.add(raw);
    const { text, cut } = limitTokens(raw, req.model, req.maxTokens);
    const parts = json ? jsonPieces(text) : pieces(text);
    choices.push({
      text,
      toolCalls: [],
      finish: cut ? 'length' : 'stop',
      pieces: parts,
      ...(req.logprobs ? { logprobs: logprobsFor(parts, req.logprobs.top, rng) } : {}),
      completionTokens: countTextTokens(text, req.model),
    });
  }
  return { choices, completionTokens: choices.reduce((s, c) => s + c.completionTokens, 0) };
}
