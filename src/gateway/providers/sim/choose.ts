/**
 * Which tools an answer calls. A prompt that names a tool calls it; otherwise the tool whose
 * name, description and parameter names share the most words with the prompt, if it shares
 * enough to say the prompt asks for what the tool does ("weather in Paris" → get_weather).
 */
import { contentWords, identifierWords, stem, type PromptFacts } from './facts.js';
import type { SimTool, SimToolChoice } from './types.js';

/** Verbs every tool name has; matching them says nothing about what the prompt wants. */
const GENERIC = new Set(['get', 'set', 'fetch', 'retrieve', 'lookup', 'look', 'call', 'run', 'do', 'tool', 'function', 'api', 'use', 'execute', 'perform', 'make', 'create']);
const NAMED = 100;
const NAME_WORD = 3;
/** What `auto` needs to call: one word of the tool's name, or three of its description. */
const THRESHOLD = 3;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function score(tool: SimTool, facts: PromptFacts): number {
  if (facts.mentions(tool.name)) return NAMED;
  let s = 0;
  for (const w of new Set(identifierWords(tool.name).map(stem))) if (!GENERIC.has(w) && facts.words.has(w)) s += NAME_WORD;
  for (const w of new Set(contentWords(tool.description ?? ''))) if (facts.words.has(w)) s += 1;
  const props = isObject(tool.parameters?.properties) ? Object.keys(tool.parameters.properties) : [];
  for (const p of props.slice(0, 50)) if (identifierWords(p).some((w) => facts.words.has(stem(w)))) s += 1;
  return s;
}

/**
 * The tools to call for this prompt under `choice` (empty: answer in text).
 * @example chooseTools([{ name: 'get_weather' }], 'auto', facts('weather in Paris?'), true) // [{ name: 'get_weather' }]
 */
export function chooseTools(tools: readonly SimTool[], choice: SimToolChoice, facts: PromptFacts, parallel: boolean): SimTool[] {
  if (tools.length === 0 || choice === 'none') return [];
  if (typeof choice === 'object') {
    const named = tools.find((t) => t.name === choice.name);
    return named ? [named] : [];
  }
  const scored = tools.map((tool, i) => ({ tool, i, s: score(tool, facts) })).sort((a, b) => b.s - a.s || a.i - b.i);
  const named = scored.filter((x) => x.s >= NAMED).map((x) => x.tool);
  if (named.length > 0) return parallel ? named : named.slice(0, 1);
  const best = scored[0]!;
  if (choice === 'required' || best.s >= THRESHOLD) return [best.tool];
  return [];
}
