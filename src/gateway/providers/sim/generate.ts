import { countTextTokens } from '../../../budget/index.js';
import type { SimChoice, SimGeneration, SimRequest } from './types.js';

// Deterministic text: the same prompt always gets the same answer, so demos and tests repeat.
const SENTENCES = [
  'The company looks like a strong fit for the offer.',
  'Their engineering team has grown steadily over the last year.',
  'A short, specific follow-up usually works best here.',
  'Budget approval is likely to sit with the operations lead.',
  'Recent funding suggests they are expanding into new markets.',
  'The product overlaps with two tools they already use.',
  'A case study from the same industry would help the pitch.',
  'Timing matters: their fiscal year starts next quarter.',
  'They publish openly about reliability and cost control.',
  'A pilot with one team is the natural first step.',
];

/** Prompts that ask for an exact reply get it: `Repeat exactly: <text>` (tests and the demo). */
const ECHO = /^\s*Repeat exactly:\s?([\s\S]*)$/;

/** FNV-1a: a stable 32-bit seed from text. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function lastUserText(req: SimRequest): string {
  for (let i = req.turns.length - 1; i >= 0; i--) if (req.turns[i]!.role === 'user') return req.turns[i]!.text;
  return req.turns.length > 0 ? req.turns[req.turns.length - 1]!.text : '';
}

function sentences(seed: number): string {
  const n = 2 + (seed % 3);
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    seed = Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) >>> 0;
    out.push(SENTENCES[seed % SENTENCES.length]!);
  }
  return out.join(' ');
}

/** Cut `text` to about `maxTokens` tokens on a word boundary; says whether it was cut. */
function limitTokens(text: string, model: string, maxTokens: number | null): { text: string; cut: boolean } {
  if (maxTokens === null || countTextTokens(text, model) <= maxTokens) return { text, cut: false };
  const words = text.split(' ');
  while (words.length > 1 && countTextTokens(words.join(' '), model) > maxTokens) words.pop();
  return { text: maxTokens === 0 ? '' : words.join(' '), cut: true };
}

/** Word-sized deltas, spaces kept, like a real tokenizer-driven stream. */
export function pieces(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

/**
 * The answer to a request, decided once for every wire.
 * @example generate({ model: 'gpt-4o', turns: [{ role: 'user', text: 'Repeat exactly: hi' }], tools: [], toolChoice: 'auto', parallelToolCalls: true, format: { type: 'text' }, n: 1, logprobs: null, maxTokens: null, seed: '{}' }).choices[0].text // 'hi'
 */
export function generate(req: SimRequest): SimGeneration {
  const echo = ECHO.exec(lastUserText(req));
  const choices: SimChoice[] = [];
  for (let i = 0; i < req.n; i++) {
    const raw = echo ? echo[1]! : sentences(fnv1a(`${req.model}\n${req.seed}${i === 0 ? '' : `\n${i}`}`));
    const { text, cut } = limitTokens(raw, req.model, req.maxTokens);
    choices.push({ text, toolCalls: [], finish: cut ? 'length' : 'stop', pieces: pieces(text), completionTokens: countTextTokens(text, req.model) });
  }
  return { choices, completionTokens: choices.reduce((s, c) => s + c.completionTokens, 0) };
}
