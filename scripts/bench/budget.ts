// Budget hot path: what the gateway pays per request for token counting, pricing and the
// reserve/settle ledger, on distinct 1-2 KB chat requests shaped like the demo's calls. Counting
// includes reading the body through its wire (the prompt parts), as the gateway does. Prompt
// texts' counts are remembered (tokens.ts CountCache), so each timed call carries a user message
// never seen before; a resent history is timed on its own row.
import { BudgetTracker, countPromptTokens, estimateRequestCost, parsePriceOverrides, PriceBook, SPEC_PRICE_OVERRIDES } from '../../src/domain/budget/index.js';
import { anthropicWire } from '../../src/gateway/wire/anthropic/wire.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';
import { fmt, percentile, report, type Row } from './lib.js';

const VARIANTS = 256;
// The gateway's whole CPU budget is 0.2 ms per request; the budget module may use a quarter.
const COUNT_TARGET_US = 50;
const LEDGER_TARGET_US = 5;

type RequestBody = Record<string, unknown>;

const chat = (body: RequestBody) => openaiWire.prompt('chat', body);
const messages = (body: RequestBody) => anthropicWire.prompt('messages', body);

function requests(model: string, count = VARIANTS, from = 0): RequestBody[] {
  const cities = ['Berlin', 'Austin', 'Lyon', 'Osaka', 'Toronto', 'Kraków', 'São Paulo', 'Nairobi'];
  const notes = [
    'Wants a pilot next quarter; security review required before any production data is used.',
    'Asked whether spend limits apply per agent or per team, and how alerts reach their on-call rotation.',
    'Currently runs nightly enrichment jobs that occasionally loop and burn through the monthly budget.',
    'Legal insists on redacting phone numbers and e-mail addresses before prompts leave the network.',
  ];
  return Array.from({ length: count }, (_, k) => k + from).map((i) => ({
    model,
    max_tokens: 400,
    messages: [
      {
        role: 'system',
        content:
          'You are a B2B lead qualification assistant. Given a conference lead, score fit from 0 to 100, ' +
          'name the most relevant product line, and draft a two-sentence follow-up e-mail. Be concise, ' +
          'never invent facts, and answer as JSON with keys score, product, email. Product lines: ' +
          'Runtime (supervision and restarts), Cost (budgets, alerts, attribution), Safety (PII redaction), ' +
          "Reliability (circuit breakers, fallbacks). Prefer the line that matches the lead's stated pain.",
      },
      {
        role: 'user',
        content:
          `Lead #${i + 1}: ${['Dana', 'Ravi', 'Mei', 'Jonas', 'Amara'][i % 5]} ${['Okafor', 'Schmidt', 'Tanaka', 'Silva'][i % 4]}, ` +
          `VP Engineering at Company${i * 37} (${50 + ((i * 113) % 4950)} employees) in ${cities[i % cities.length]}. ` +
          `Visited booth ${i % 12} for ${3 + (i % 20)} minutes; asked about budget enforcement, PII redaction and ` +
          `circuit breakers for their LLM agents. Current stack: Python, LangChain, ${i % 2 ? 'OpenAI' : 'Anthropic'}; ` +
          `monthly LLM spend about $${1000 + i * 17}. Notes: ${notes.slice(0, 1 + (i % notes.length)).join(' ')} ` +
          `Previous touchpoints: webinar ${2020 + (i % 5)}, whitepaper download, ${i % 7} support tickets (ref ${i}).`,
      },
    ],
  }));
}

const WARM_UP = 2_000;

/** Per-call timings, for operations long enough that hrtime's own cost does not dominate. Warm-up calls get indexes after the timed ones. */
function sample(iterations: number, fn: (i: number) => void): number[] {
  for (let i = 0; i < WARM_UP; i++) fn(iterations + i);
  const us: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const t = process.hrtime.bigint();
    fn(i);
    us.push(Number(process.hrtime.bigint() - t) / 1_000);
  }
  return us.sort((a, b) => a - b);
}

/** Mean per call over a tight loop, for sub-microsecond operations. */
function mean(iterations: number, fn: (i: number) => void): number {
  for (let i = 0; i < 10_000; i++) fn(i);
  const t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) fn(i);
  return Number(process.hrtime.bigint() - t) / 1_000 / iterations;
}

// An encoding's table loads when a model of its family is first counted: that first call's
// time, less the time of the next call with a prompt as new to the cache.
const firstCall = (model: string) => {
  const timed = (i: number) => {
    const t = process.hrtime.bigint();
    countPromptTokens(model, openaiWire.prompt('chat', { messages: [{ role: 'user', content: `first call ${i} for ${model}: qualify Acme Robotics` }] }));
    return Number(process.hrtime.bigint() - t) / 1e6;
  };
  return timed(0) - timed(1);
};
const loadMs = { o200k_base: firstCall('gpt-4o'), cl100k_base: firstCall('gpt-4') };

// One request per timed call (and its warm-up): every user message is new to the count cache.
const TIMED = 20_000;
const CALLS = TIMED + WARM_UP;
const openai = requests('gpt-4o', CALLS);
const legacy = requests('gpt-4', CALLS);
const claude = requests('claude-3-5-sonnet-latest', CALLS);
const priced = requests('gpt-4o', CALLS, CALLS);
const sizes = openai.slice(0, VARIANTS).map((r) => JSON.stringify(r).length);
// An agent's turn: the 40 messages it sent before, resent, and one new one.
const earlier = requests('gpt-4o', 40, 3 * CALLS).map((r) => (r.messages as object[])[1]!);
const turns = requests('gpt-4o', CALLS, 2 * CALLS).map((r) => ({ ...r, messages: [(r.messages as object[])[0]!, ...earlier, (r.messages as object[])[1]!] }));
const book = new PriceBook({ overrides: parsePriceOverrides(SPEC_PRICE_OVERRIDES) });
const tracker = new BudgetTracker();
tracker.setLimit('bench', Number.MAX_SAFE_INTEGER);

const rows: Row[] = [
  { metric: 'first gpt-4o call: extra time to load o200k_base (once per process)', value: `${fmt(loadMs.o200k_base, 0)} ms` },
  { metric: 'first gpt-4 call: extra time to load cl100k_base (once per process)', value: `${fmt(loadMs.cl100k_base, 0)} ms` },
];
const timed: Record<string, { p50: number; p99: number; mean: number }> = {};
const sampled: Array<[string, number[]]> = [
  ['countPromptTokens gpt-4o (o200k BPE)', sample(TIMED, (i) => countPromptTokens('gpt-4o', chat(openai[i]!)))],
  ['countPromptTokens gpt-4 (cl100k BPE)', sample(TIMED, (i) => countPromptTokens('gpt-4', chat(legacy[i]!)))],
  ['countPromptTokens claude (estimate)', sample(TIMED, (i) => countPromptTokens('claude-3-5-sonnet-latest', messages(claude[i]!)))],
  ['estimateRequestCost gpt-4o (count + price)', sample(TIMED, (i) => estimateRequestCost(book, { model: 'gpt-4o', prompt: chat(priced[i]!), output: openaiWire.output('chat', priced[i]!) }))],
  ['countPromptTokens gpt-4o, 40 earlier messages resent + 1 new', sample(TIMED, (i) => countPromptTokens('gpt-4o', chat(turns[i]!)))],
];
for (const [name, us] of sampled) {
  const p50 = percentile(us, 50);
  const p99 = percentile(us, 99);
  timed[name] = { p50, p99, mean: us.reduce((a, b) => a + b, 0) / us.length };
  rows.push({ metric: `${name}, p50 / p99`, value: `${fmt(p50)} / ${fmt(p99)} µs`, target: `p50 ≤ ${COUNT_TARGET_US} µs`, ok: p50 <= COUNT_TARGET_US });
}
const priceUs = mean(1_000_000, (i) => book.price(i % 2 ? 'gpt-4o' : 'claude-3-5-sonnet-latest', { inputTokens: 400 + (i % 100), outputTokens: 300 }));
const ledgerUs = mean(1_000_000, (i) => {
  const r = tracker.reserve('bench', 5_000);
  if (r.ok) tracker.settle(r.reservationId, 1_000 + (i % 4_000));
});
rows.push({ metric: 'price lookup + cost (cached), mean', value: `${fmt(priceUs, 3)} µs`, target: `≤ ${LEDGER_TARGET_US} µs`, ok: priceUs <= LEDGER_TARGET_US });
rows.push({ metric: 'reserve + settle, mean', value: `${fmt(ledgerUs, 3)} µs`, target: `≤ ${LEDGER_TARGET_US} µs`, ok: ledgerUs <= LEDGER_TARGET_US });

report('budget', `Budget hot path (${VARIANTS} distinct chat requests of ${Math.min(...sizes)}-${Math.max(...sizes)} bytes)`, rows, {
  requestBytes: { min: Math.min(...sizes), max: Math.max(...sizes) },
  tokenizerLoadMs: loadMs,
  timedMicros: timed,
  priceMicros: priceUs,
  reserveSettleMicros: ledgerUs,
});
