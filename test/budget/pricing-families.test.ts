import { calcPrice } from '@pydantic/genai-prices';
import { describe, expect, it } from 'vitest';
import { DEFAULT_UNKNOWN_MODEL_RATES, estimateRequestCost, PriceBook, usdPerMillion } from '../../src/domain/budget/index.js';
import { familiesOf } from '../../src/domain/budget/family.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';

// Every model family the two providers list, priced from the maintained table whichever
// provider serves it (the simulated one included), and what a model the table lacks costs.

const book = new PriceBook();

/** The table's own rates for `model`, in µ$ per million tokens. */
function tableRates(model: string, providerId: string) {
  const p = calcPrice({}, model, { providerId })!.model_price;
  const rate = (k: string) => {
    const v = p[k];
    return usdPerMillion(typeof v === 'number' ? v : (v?.base ?? 0));
  };
  return { input: rate('input_mtok'), output: rate('output_mtok') };
}

const OPENAI = [
  'gpt-5',
  'gpt-5-mini',
  'gpt-5-nano',
  'gpt-4.1',
  'gpt-4.1-mini',
  'gpt-4.1-nano',
  'gpt-4o',
  'gpt-4o-mini',
  'chatgpt-4o-latest',
  'gpt-4-turbo',
  'gpt-4',
  'gpt-3.5-turbo',
  'gpt-3.5-turbo-instruct',
  'o1',
  'o1-mini',
  'o1-pro',
  'o3',
  'o3-mini',
  'o3-pro',
  'o4-mini',
  'codex-mini-latest',
  'computer-use-preview',
  'gpt-4o-search-preview',
  // audio and image models, at their text-token rates
  'gpt-4o-audio-preview',
  'gpt-4o-realtime-preview',
  'gpt-realtime',
  'gpt-4o-transcribe',
  'gpt-4o-mini-tts',
  'gpt-image-1',
];
const EMBEDDINGS: Array<[string, number]> = [
  ['text-embedding-3-small', 0.02],
  ['text-embedding-3-large', 0.13],
  ['text-embedding-ada-002', 0.1],
];
const ANTHROPIC = [
  'claude-opus-4-1',
  'claude-opus-4-20250514',
  'claude-sonnet-4-5',
  'claude-sonnet-4-20250514',
  'claude-haiku-4-5',
  'claude-3-7-sonnet-latest',
  'claude-3-5-sonnet-latest',
  'claude-3-5-sonnet-20241022',
  'claude-3-5-haiku-latest',
  'claude-3-opus-latest',
  'claude-3-haiku-20240307',
  'claude-2.1',
];

describe('every listed model family is priced from the table, whichever provider serves it', () => {
  for (const [models, providerId] of [
    [OPENAI, 'openai'],
    [ANTHROPIC, 'anthropic'],
  ] as const) {
    for (const model of models) {
      it(`${model} (${providerId}, simulated, custom)`, () => {
        for (const served of [providerId, 'simulated', 'my-proxy']) {
          const p = book.lookup(model, served);
          expect(p.source).toBe('catalog');
          expect(p.unknownModel).toBe(false);
          expect({ input: p.schedule.rates.input, output: p.schedule.rates.output }).toEqual(tableRates(model, providerId));
        }
      });
    }
  }

  it('embeddings at their real input price and no output price, also on the simulated provider', () => {
    for (const [model, usd] of EMBEDDINGS) {
      for (const served of ['openai', 'simulated']) {
        const p = book.lookup(model, served);
        expect(p).toMatchObject({ source: 'catalog', matched: `openai/${model}`, unknownModel: false });
        expect(p.schedule.rates).toMatchObject({ input: usdPerMillion(usd), output: 0 });
      }
    }
    // 1M tokens of text-embedding-3-small: $0.02, not the $10 default.
    expect(book.price('text-embedding-3-small', { inputTokens: 1_000_000, outputTokens: 0 }, 'simulated').costMicros).toBe(20_000);
  });

  it('moderation is free', () => {
    expect(book.price('omni-moderation-latest', { inputTokens: 10_000, outputTokens: 0 }, 'openai')).toMatchObject({ costMicros: 0, unknownModel: false });
  });
});

describe('embeddings reserve their input only', () => {
  it('a short embedding reserves its prompt at the input price and no output', () => {
    const body = { model: 'text-embedding-3-small', input: 'hi' };
    const e = estimateRequestCost(book, {
      model: 'text-embedding-3-small',
      provider: 'simulated',
      prompt: openaiWire.prompt('embeddings', body),
      output: openaiWire.output('embeddings', body),
      defaultMaxOutputTokens: 0,
    });
    expect(e.maxOutputTokens).toBe(0);
    // 'hi' is one token; at $0.02 per million that is 0.02 µ$, rounded up once to 1.
    expect(e.promptTokens).toBe(1);
    expect(e.costMicros).toBe(1);
  });
});

describe('a model the table lacks: the dearest price of its family, flagged', () => {
  it('names its families longest first; one word only for a brand or an o-series', () => {
    expect(familiesOf('gpt-4o-2099-01-01')).toEqual(['gpt-4o-2099-01-01', 'gpt-4o-2099-01', 'gpt-4o-2099', 'gpt-4o', 'gpt']);
    expect(familiesOf('acme-chat-1')).toEqual(['acme-chat-1', 'acme-chat']);
    expect(familiesOf('o3-2099-01-01')).toEqual(['o3-2099-01-01', 'o3-2099-01', 'o3-2099', 'o3']);
    expect(familiesOf('mystery')).toEqual([]);
  });

  it('a new gpt-4o snapshot costs what the dearest gpt-4o model costs', () => {
    const p = book.lookup('gpt-4o-2099-01-01', 'openai');
    expect(p).toMatchObject({ source: 'family', family: 'gpt-4o', unknownModel: true });
    const [provider, id] = p.matched!.split('/');
    expect(provider).toBe('openai');
    expect(id!.startsWith('gpt-4o')).toBe(true);
    // Dearer than (or as dear as) every plain gpt-4o entry checked here, and far below the flat default.
    for (const known of ['gpt-4o', 'gpt-4o-mini', 'gpt-4o-2024-05-13']) {
      const k = tableRates(known, 'openai');
      expect(p.schedule.rates.input + p.schedule.rates.output).toBeGreaterThanOrEqual(k.input + k.output);
    }
    expect(p.schedule.rates).not.toEqual(DEFAULT_UNKNOWN_MODEL_RATES);
  });

  it('a plain new snapshot is not priced like an audio, realtime, tts or pro variant; a variant is priced with its kind', () => {
    for (const [model, family] of [
      ['gpt-4o-2099-01-01', 'gpt-4o'],
      ['gpt-4o-mini-2099-01-01', 'gpt-4o-mini'],
      ['gpt-5-2099-01-01', 'gpt-5'],
    ] as const) {
      const p = book.lookup(model, 'openai');
      expect(p).toMatchObject({ source: 'family', family });
      expect(
        p
          .matched!.split('/')[1]!
          .split('-')
          .some((w) => ['audio', 'tts', 'realtime', 'transcribe', 'search', 'pro'].includes(w)),
        `${model} priced as ${p.matched}`,
      ).toBe(false);
    }
    const mini = book.lookup('gpt-4o-mini-2099-01-01', 'openai');
    expect(mini.schedule.rates.output).toBeLessThanOrEqual(tableRates('gpt-4o-mini', 'openai').output * 2);
    expect(book.lookup('gpt-4o-audio-2099', 'openai').matched).toMatch(/audio/);
  });

  it('a new o-series snapshot is priced like its series, not the flat default', () => {
    for (const model of ['o1-2099-12-17', 'o3-2099-01-01']) {
      const p = book.lookup(model, 'openai');
      expect(p).toMatchObject({ source: 'family', family: model.split('-')[0] });
      expect(p.schedule.rates).not.toEqual(DEFAULT_UNKNOWN_MODEL_RATES);
    }
    expect(book.lookup('o1-2099-12-17', 'openai').schedule.rates.output).toBeGreaterThanOrEqual(tableRates('o1', 'openai').output);
  });

  it('an unknown claude-3-5-* is priced like claude-3-5 sonnet; an unknown claude generation like the dearest claude', () => {
    const next = book.lookup('claude-3-5-turbo', 'simulated');
    expect(next).toMatchObject({ source: 'family', family: 'claude-3-5', matched: 'anthropic/claude-3-5-sonnet', unknownModel: true });
    expect({ input: next.schedule.rates.input, output: next.schedule.rates.output }).toEqual(tableRates('claude-3-5-sonnet-latest', 'anthropic'));
    const gen = book.lookup('claude-9-ultra', 'anthropic');
    expect(gen).toMatchObject({ source: 'family', family: 'claude' });
    expect(gen.schedule.rates.output).toBeGreaterThanOrEqual(tableRates('claude-opus-4-1', 'anthropic').output);
  });

  it('a new embedding model is priced like the dearest embedding: input only', () => {
    const p = book.lookup('text-embedding-4-small', 'simulated');
    expect(p).toMatchObject({ source: 'family', family: 'text-embedding', matched: 'openai/text-embedding-3-large' });
    expect(p.schedule.rates).toMatchObject({ input: usdPerMillion(0.13), output: 0 });
  });

  it('a model of no known family keeps the documented default', () => {
    for (const m of ['mystery-model-9000', 'acme-chat-1', 'o9']) {
      expect(book.lookup(m, 'simulated')).toMatchObject({ source: 'default', family: null, matched: null, unknownModel: true });
    }
  });
});
