import type { PromptFacts } from './facts.js';

// The simulated provider's prose answer to the prompt asked: presenters read answers
// aloud, so a weather question gets a weather report, a sum its result, a greeting a greeting,
// and a question about leads or a company the sales notes it always had. Deterministic: every
// choice follows from the request's seeded generator.

const SALES = [
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

const GENERAL = [
  'It depends mostly on what you want to optimise for.',
  'A small first step, measured, is usually the safest way in.',
  'The common choice works well until the volume grows.',
  'Two things matter most here: cost and how often it runs.',
  'Start with the simplest version and add to it once it is in use.',
  'Most teams find the trade-off worth it after a few weeks.',
  'Write down what "done" means first; the rest follows from it.',
  'The quickest check is to try it on a handful of real cases.',
];

const CONDITIONS = ['sunny', 'partly cloudy', 'overcast', 'light rain', 'clear', 'breezy and bright'];
const WINDS = ['a light westerly breeze', 'calm air', 'a gentle breeze from the north', 'gusts from the south-west'];
const LATER = ['the afternoon stays dry', 'showers are possible this evening', 'it clears up later', 'tomorrow looks much the same'];

const pick = <T>(xs: readonly T[], rng: () => number): T => xs[Math.floor(rng() * xs.length)]!;

/** `n` sentences of a bank, distinct, in a seeded order. */
function some(bank: readonly string[], n: number, rng: () => number): string {
  const left = [...bank];
  const out: string[] = [];
  for (let i = 0; i < n && left.length > 0; i++) out.push(left.splice(Math.floor(rng() * left.length), 1)[0]!);
  return out.join(' ');
}

/**
 * A sum asked for, when the question is that sum: `What is 12 * 4?`, `calculate 7+5`, `9 - 3` alone,
 * `6 x 7`; only punctuation may end it (`2 + 3 * 4` is no `2 + 3`). A minus only between spaces and
 * nothing but the sum after the question, so no date (`2026-11-25`, `11/25` in a sentence), no
 * thousands (`1,000 + 2`) and no longer sum is read as another one.
 */
const ARITHMETIC = /(?:^\s*|\b(?:what\s+is|what's|calculate|compute|how\s+much\s+is)\s+)(-?\d+(?:\.\d+)?)\s*([+*/×÷]|\sx\s|\s-\s)\s*(-?\d+(?:\.\d+)?)\s*(?:[?!=]|\.(?!\d)|$)/i;

function arithmetic(text: string): string | null {
  const m = ARITHMETIC.exec(text);
  if (!m) return null;
  const [a, op, b] = [Number(m[1]), m[2]!.trim().toLowerCase(), Number(m[3])];
  const sign = op === 'x' || op === '×' || op === '*' ? '×' : op === '÷' || op === '/' ? '÷' : op;
  if (sign === '÷' && b === 0) return `${m[1]} ÷ 0 has no answer: nothing can be divided by zero.`;
  const r = sign === '+' ? a + b : sign === '-' ? a - b : sign === '×' ? a * b : a / b;
  const shown = Number.isInteger(r) ? String(r) : String(Math.round(r * 1e6) / 1e6);
  return `${m[1]} ${sign} ${m[3]} = ${shown}.`;
}

const has = (facts: PromptFacts, ...words: string[]) => words.some((w) => facts.words.has(w));

/** The prose answer to a prompt, drawn from `rng` (the request's seeded generator). */
export function proseAnswer(prompt: string, facts: PromptFacts, rng: () => number): string {
  const n = 2 + Math.floor(rng() * 3);
  if (has(facts, 'weather', 'forecast', 'temperature', 'rain', 'sunny', 'umbrella')) {
    const city = facts.string('city');
    const now = 8 + Math.floor(rng() * 20);
    const where = city ? `In ${city}` : 'Right now';
    return `${where} it is ${now}°C and ${pick(CONDITIONS, rng)}, with ${pick(WINDS, rng)}; ${pick(LATER, rng)}, around ${now + 1 + Math.floor(rng() * 4)}°C at the warmest.`;
  }
  // A sum asked for: `What is 12 * 4?`, `calculate 7+5`, or the sum alone.
  const sum = arithmetic(prompt);
  if (sum) return sum;
  if (/^\s*(hi|hello|hey|good (morning|afternoon|evening))\b/i.test(prompt)) return 'Hello! How can I help you today?';
  // A summary asked for: its first words, said back short.
  const summary = /^\s*(?:summari[sz]e|tl;?dr)\b[^:\n]*:\s*([\s\S]+)/i.exec(prompt);
  if (summary) {
    const words = summary[1]!.trim().split(/\s+/);
    return `In short: ${words
      .slice(0, 24)
      .join(' ')
      .replace(/[.,;:]$/, '')}${words.length > 24 ? '…' : '.'}`;
  }
  if (has(facts, 'lead', 'company', 'prospect', 'customer', 'sale', 'pitch', 'deal', 'account', 'crm', 'outreach', 'qualify')) return some(SALES, n, rng);
  return some(GENERAL, n, rng);
}
