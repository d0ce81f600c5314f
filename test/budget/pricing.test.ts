import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/core/errors.js';
import { formatUsd } from '../../src/core/money.js';
import {
  BudgetTracker,
  costOf,
  estimateRequestCost,
  flatSchedule,
  parseModelRates,
  parsePriceOverrides,
  PriceBook,
  SPEC_PRICE_OVERRIDES,
  summarizeCosts,
  usdPerMillion,
} from '../../src/domain/budget/index.js';
import { emptyPrompt } from '../../src/core/prompt.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';

const spec = () => new PriceBook({ overrides: parsePriceOverrides(SPEC_PRICE_OVERRIDES) });

describe('spec prices through overrides', () => {
  it('prices a GPT-4 call of 1000 tokens at exactly $0.03, however the tokens split', () => {
    const book = spec();
    for (const [inputTokens, outputTokens] of [
      [1000, 0],
      [400, 600],
      [0, 1000],
      [999, 1],
    ] as const) {
      const q = book.price('gpt-4', { inputTokens, outputTokens });
      expect(q.costMicros).toBe(30_000);
      expect(q.source).toBe('override');
      expect(q.unknownModel).toBe(false);
    }
    expect(formatUsd(book.price('gpt-4', { inputTokens: 600, outputTokens: 400 }).costMicros)).toBe('$0.03');
  });

  it('prices GPT-3.5 at $0.002 per 1K, dated snapshots included', () => {
    const book = spec();
    expect(book.price('gpt-3.5-turbo', { inputTokens: 700, outputTokens: 300 }).costMicros).toBe(2_000);
    expect(book.price('gpt-3.5-turbo-0125', { inputTokens: 10_000, outputTokens: 0 }).costMicros).toBe(20_000);
    expect(book.lookup('gpt-4-0613').matched).toBe('gpt-4');
  });

  it('increments a budget by exactly $0.03 for a GPT-4 call of 1000 tokens', () => {
    const book = spec();
    const tracker = new BudgetTracker();
    tracker.restore('lg-1', { limitMicros: 50_000_000, spentMicros: 5_290_000 });
    const r = tracker.reserve('lg-1', 100_000);
    if (!r.ok) throw new Error(r.message);
    const after = tracker.settle(r.reservationId, book.price('gpt-4', { inputTokens: 250, outputTokens: 750 }).costMicros);
    expect(after.snapshot.spentMicros - 5_290_000).toBe(30_000);
    expect(after.snapshot.spentMicros).toBe(5_320_000);
  });
});

describe('maintained table', () => {
  const book = new PriceBook();
  const cases = [
    ['gpt-4o', 1_234, 567],
    ['gpt-4o-mini', 10_000, 2_000],
    ['gpt-4o-2024-08-06', 1_000_000, 0],
    ['gpt-3.5-turbo', 1_000, 1_000],
    ['claude-3-haiku-20240307', 3_333, 777],
    ['claude-sonnet-4-20250514', 50_000, 4_000],
    ['gemini-2.5-pro', 150_000, 1_000],
  ] as const;

  it('agrees with genai-prices to the micro-dollar, rounded up', () => {
    for (const [model, inputTokens, outputTokens] of cases) {
      const q = book.price(model, { inputTokens, outputTokens });
      const ref = calcPrice({ input_tokens: inputTokens, output_tokens: outputTokens }, model);
      expect(q.source, model).toBe('catalog');
      expect(q.costMicros, model).toBe(Math.ceil(ref!.total_price * 1_000_000 - 1e-6));
    }
  });

  it('names the entry it matched', () => {
    expect(book.lookup('gpt-4o-2024-08-06').matched).toBe('openai/gpt-4o');
    expect(book.lookup('claude-sonnet-4-20250514', 'anthropic').matched).toBe('anthropic/claude-sonnet-4-0');
    // a provider id the table does not know falls back to matching by model name
    expect(book.lookup('gpt-4o', 'simulated').matched).toBe('openai/gpt-4o');
  });

  it('applies long-context tiers to the whole request, as the table does', () => {
    for (const inputTokens of [100_000, 200_000, 200_001, 300_000]) {
      const q = book.price('claude-sonnet-4-5', { inputTokens, outputTokens: 1_000 });
      const ref = calcPrice({ input_tokens: inputTokens, output_tokens: 1_000 }, 'claude-sonnet-4-5');
      expect(q.costMicros, String(inputTokens)).toBe(Math.round(ref!.total_price * 1_000_000));
    }
    expect(book.price('claude-sonnet-4-5', { inputTokens: 300_000, outputTokens: 0 }).costMicros).toBe(1_800_000);
  });

  it('prices cache reads at the cache rate', () => {
    // gpt-4o: $2.50/M input, $1.25/M cached input
    expect(book.price('gpt-4o', { inputTokens: 1_000, outputTokens: 0, cacheReadTokens: 400 }).costMicros).toBe(600 * 2.5 + 400 * 1.25);
    // cache counts beyond the prompt are clamped
    expect(book.price('gpt-4o', { inputTokens: 100, outputTokens: 0, cacheReadTokens: 5_000 }).costMicros).toBe(125);
  });

  it('can be switched off, leaving only overrides and the default', () => {
    expect(new PriceBook({ catalog: false }).lookup('gpt-4o').source).toBe('default');
  });
});

describe('unknown models', () => {
  it('are flagged and priced at the default price, never $0', () => {
    const q = new PriceBook().price('mystery-model-9000', { inputTokens: 1_000, outputTokens: 1_000 });
    expect(q.unknownModel).toBe(true);
    expect(q.source).toBe('default');
    expect(q.matched).toBeNull();
    // The default is $10 per million input tokens and $30 per million output, 10 and 30 µ$ a
    // token: 1,000 × 10 + 1,000 × 30 = 40,000 µ$.
    expect(q.costMicros).toBe(40_000);
  });

  it('use the configured default price', () => {
    const book = new PriceBook({ defaultRates: parseModelRates({ input_per_1k: 0.001, output_per_1k: 0.002 }) });
    expect(book.price('local-llama', { inputTokens: 1_000, outputTokens: 1_000 })).toMatchObject({ costMicros: 3_000, unknownModel: true });
  });
});

describe('rounding', () => {
  it('rounds each request up once, on the exact sum', () => {
    const s = flatSchedule({ input: usdPerMillion(0.15), output: usdPerMillion(0.6) });
    expect(costOf(s, { inputTokens: 1, outputTokens: 0 })).toBe(1); // 0.15 µ$
    expect(costOf(s, { inputTokens: 7, outputTokens: 0 })).toBe(2); // 1.05 µ$
    expect(costOf(s, { inputTokens: 5, outputTokens: 1 })).toBe(2); // 0.75 + 0.6 = 1.35 µ$, one ceil
    expect(costOf(s, { inputTokens: 20, outputTokens: 0 })).toBe(3); // exactly 3 µ$
  });

  it('stays exact past 2^53 intermediates', () => {
    const s = flatSchedule({ input: usdPerMillion(1_000), output: usdPerMillion(1_000) });
    expect(costOf(s, { inputTokens: 10_000_000, outputTokens: 0 })).toBe(10_000_000_000);
    expect(costOf(s, { inputTokens: 10_000_001, outputTokens: 3 })).toBe(10_000_004_000);
  });

  it('treats nonsense usage from the wire as zero', () => {
    const s = flatSchedule({ input: usdPerMillion(1), output: usdPerMillion(1) });
    expect(costOf(s, { inputTokens: Number.NaN, outputTokens: -4 })).toBe(0);
  });
});

describe('override table', () => {
  it('accepts per-1K and per-1M prices, cache prices and a per-request fee', () => {
    const book = new PriceBook({
      overrides: parsePriceOverrides({
        'my-model': { input_per_1m: 2.5, output_per_1m: 10, cache_read_per_1m: 1.25, per_request: 0.001 },
      }),
    });
    expect(book.price('my-model', { inputTokens: 1_000_000, outputTokens: 0, cacheReadTokens: 1_000_000 }).costMicros).toBe(1_250_000 + 1_000);
  });

  it('takes precedence over the maintained table', () => {
    const book = new PriceBook({ overrides: parsePriceOverrides({ 'gpt-4o': { input_per_1k: 1, output_per_1k: 1 } }) });
    expect(book.price('gpt-4o', { inputTokens: 1, outputTokens: 0 })).toMatchObject({ costMicros: 1_000, source: 'override' });
  });

  it('matches exact names before prefixes, and the longest prefix first', () => {
    const overrides = parsePriceOverrides({
      'claude-*': { input_per_1m: 1, output_per_1m: 1 },
      'claude-3-haiku*': { input_per_1m: 2, output_per_1m: 2 },
      'claude-3-haiku-20240307': { input_per_1m: 3, output_per_1m: 3 },
    });
    expect(overrides.find('claude-opus-4')?.key).toBe('claude-*');
    expect(overrides.find('claude-3-haiku-latest')?.key).toBe('claude-3-haiku*');
    expect(overrides.find('Claude-3-Haiku-20240307')?.key).toBe('claude-3-haiku-20240307');
    expect(overrides.find('gpt-4o')).toBeNull();
  });

  it('reports every problem at once, each with its path', () => {
    let error: unknown;
    try {
      parsePriceOverrides({
        'gpt-4': { input_per_1k: '0.03', output_per_1k: 0.03 },
        'gpt-3.5-turbo': { input_per_1k: 0.002 },
        x: { input_per_1k: 1, input_per_1m: 1, output_per_1k: -1 },
        y: { input_per_1K: 1, output_per_1k: 1, input_per_1k: 1 },
        'GPT-4': { input_per_1k: 1, output_per_1k: 1 },
        'a*b': { input_per_1k: 1, output_per_1k: 1 },
        z: 5,
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain('pricing.overrides["gpt-4"].input_per_1k: expected a non-negative number of dollars, got "0.03"');
    expect(message).toContain('pricing.overrides["gpt-3.5-turbo"]: output_per_1k or output_per_1m is required');
    expect(message).toContain('pricing.overrides["x"]: give input_per_1k or input_per_1m, not both');
    expect(message).toContain('pricing.overrides["x"].output_per_1k: expected a non-negative number of dollars, got -1');
    expect(message).toContain('pricing.overrides["y"].input_per_1K: unknown field');
    expect(message).toContain('pricing.overrides["GPT-4"]: same model as "gpt-4"');
    expect(message).toContain('pricing.overrides["a*b"]: a model name, optionally ending in * to match a prefix');
    expect(message).toContain('pricing.overrides["z"]: expected an object');
  });

  it('rejects a table that is not a table, and accepts none', () => {
    expect(() => parsePriceOverrides([1, 2])).toThrow(/pricing.overrides: expected a table/);
    expect(parsePriceOverrides(undefined).size).toBe(0);
    expect(() => parseModelRates({ input_per_1m: 1 }, 'pricing.default')).toThrow(/pricing.default: output_per_1k or output_per_1m is required/);
  });
});

describe('baseline comparison', () => {
  it('prices the same usage on the baseline model', () => {
    const book = spec();
    const usages = [
      { inputTokens: 1_000, outputTokens: 500 },
      { inputTokens: 2_000, outputTokens: 1_000 },
    ];
    const records = usages.map((u, i) => ({
      model: 'gpt-3.5-turbo',
      provider: 'openai',
      promptTokens: u.inputTokens,
      completionTokens: u.outputTokens,
      costMicros: book.price('gpt-3.5-turbo', u).costMicros,
      ts: i,
      status: 'ok',
    }));
    const summary = summarizeCosts(records, { baseline: { model: 'gpt-4', book } });
    expect(summary.costMicros).toBe(9_000);
    expect(summary.baseline).toEqual({ model: 'gpt-4', costMicros: 135_000, savedMicros: 126_000 });
  });
});

describe('estimateRequestCost', () => {
  it('reserves the counted prompt plus the maximum output', () => {
    const body = { model: 'gpt-4', max_tokens: 100, messages: [{ role: 'user', content: 'Hello, world!' }] };
    const e = estimateRequestCost(spec(), { model: 'gpt-4', prompt: openaiWire.prompt('chat', body), output: openaiWire.output('chat', body) });
    expect(e.promptTokens).toBe(3 + 1 + 4 + 3);
    expect(e.maxOutputTokens).toBe(100);
    expect(e.costMicros).toBe((11 + 100) * 30);
    expect(e).toMatchObject({ promptMethod: 'bpe', outputSource: 'request', source: 'override', unknownModel: false });
  });

  it('flags unknown models and assumes the default output when none is set', () => {
    const e = estimateRequestCost(new PriceBook(), { model: 'sim-large', prompt: emptyPrompt(), output: { limit: null, choices: 1, thinking: 0 }, defaultMaxOutputTokens: 1_000 });
    expect(e).toMatchObject({ promptTokens: 0, maxOutputTokens: 1_000, outputSource: 'default', unknownModel: true, costMicros: 30_000 });
  });
});
