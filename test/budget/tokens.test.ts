import { encode as encodeCl100k } from 'gpt-tokenizer/encoding/cl100k_base';
import { encode as encodeO200k } from 'gpt-tokenizer/encoding/o200k_base';
import { formatFunctionDefinitions } from 'gpt-tokenizer/functionCalling';
import { countChatCompletionTokens } from 'gpt-tokenizer/model/gpt-4o';
import { describe, expect, it } from 'vitest';
import { countBpeTokens, CountCache } from '../../src/domain/budget/tokens.js';
import { countPromptTokens as countParts, countTextTokens, encodingForModel, estimateMaxOutputTokens, estimateTokens, type PromptCountOptions } from '../../src/domain/budget/index.js';
import { anthropicWire } from '../../src/gateway/wire/anthropic/wire.js';
import { openaiWire } from '../../src/gateway/wire/openai/wire.js';
import { responsesWire } from '../../src/gateway/wire/responses/wire.js';
import type { Endpoint } from '../../src/gateway/wire/types.js';
import { WIRE_OF } from '../../src/gateway/wire/wires.js';

const plain = { disallowedSpecial: new Set<string>() };

/** Prompt tokens of a request body as the gateway counts it: read by the endpoint's wire, then counted. */
function countPromptTokens(model: string, body: Record<string, unknown>, endpoint: Endpoint = 'chat', options?: PromptCountOptions) {
  return countParts(model, WIRE_OF[endpoint].prompt(endpoint, body), options);
}

describe('encodingForModel', () => {
  it('picks o200k for gpt-4o, gpt-4.1, gpt-5 and the o-series, cl100k for gpt-4 and gpt-3.5', () => {
    for (const m of ['gpt-4o', 'gpt-4o-mini-2024-07-18', 'chatgpt-4o-latest', 'gpt-4.1-nano', 'gpt-5', 'o1', 'o3-mini', 'o4-mini', 'GPT-4o']) {
      expect(encodingForModel(m), m).toBe('o200k_base');
    }
    for (const m of ['gpt-4', 'gpt-4-0613', 'gpt-4-turbo', 'gpt-4-32k', 'gpt-3.5-turbo', 'gpt-3.5-turbo-0125', 'text-embedding-3-small']) {
      expect(encodingForModel(m), m).toBe('cl100k_base');
    }
  });

  it('sees through provider prefixes and fine-tune names', () => {
    expect(encodingForModel('openai/gpt-4o')).toBe('o200k_base');
    expect(encodingForModel('ft:gpt-4o-mini-2024-07-18:acme::abc123')).toBe('o200k_base');
    expect(encodingForModel('ft:gpt-3.5-turbo-0613:acme::x')).toBe('cl100k_base');
  });

  it('has no exact tokenizer for Anthropic and unknown models', () => {
    for (const m of ['claude-3-5-sonnet-latest', 'claude-sonnet-4-20250514', 'llama-3.1-8b', 'mistral-large', 'sim-small']) {
      expect(encodingForModel(m), m).toBeNull();
    }
  });
});

describe('countTextTokens', () => {
  const samples = [
    'Hello, world!',
    'tiktoken is great!',
    'The quick brown fox jumps over the lazy dog.',
    'def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n',
    'Zürich – naïve café, 東京タワー, emoji 🚀🔥 and mixed   whitespace\t\n',
  ];

  it('equals gpt-tokenizer for every sample in both encodings', () => {
    for (const s of samples) {
      expect(countTextTokens(s, 'gpt-4o'), s).toBe(encodeO200k(s).length);
      expect(countTextTokens(s, 'gpt-4'), s).toBe(encodeCl100k(s).length);
    }
  });

  it('matches published counts', () => {
    // openai-cookbook: "tiktoken is great!" is 6 tokens in cl100k_base
    expect(countTextTokens('tiktoken is great!', 'gpt-3.5-turbo')).toBe(6);
    expect(countTextTokens('Hello, world!', 'gpt-4')).toBe(4);
    expect(countTextTokens('Hello, world!', 'gpt-4o')).toBe(4);
    expect(countTextTokens('', 'gpt-4o')).toBe(0);
  });

  it('encodes special-token strings in user text as plain text instead of throwing', () => {
    const s = 'ignore <|endoftext|> and <|im_start|>system';
    expect(countTextTokens(s, 'gpt-4')).toBe(encodeCl100k(s, plain).length);
    expect(countTextTokens(s, 'gpt-4o')).toBe(encodeO200k(s, plain).length);
    expect(countTextTokens(s, 'gpt-4')).toBeGreaterThan(3);
  });

  it('estimates other models', () => {
    expect(countTextTokens('a'.repeat(400), 'claude-3-haiku')).toBe(100);
  });
});

describe('estimateTokens', () => {
  it('is chars/4 rounded up for ASCII', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
    expect(estimateTokens('x'.repeat(4000))).toBe(1000);
  });

  it('counts each non-ASCII code point as a token, surrogate pairs once', () => {
    expect(estimateTokens('東京タワー')).toBe(5);
    expect(estimateTokens('🚀')).toBe(1);
    expect(estimateTokens('café')).toBe(1 + 1);
  });
});

// openai-cookbook "How to count tokens with tiktoken": these messages count 129 prompt tokens
// on gpt-3.5-turbo-0613 / gpt-4-0613 and 124 on gpt-4o / gpt-4o-mini.
const cookbook = [
  { role: 'system', content: 'You are a helpful, pattern-following assistant that translates corporate jargon into plain English.' },
  { role: 'system', name: 'example_user', content: 'New synergies will help drive top-line growth.' },
  { role: 'system', name: 'example_assistant', content: 'Things working well together will increase revenue.' },
  { role: 'system', name: 'example_user', content: "Let's circle back when we have more bandwidth to touch base on opportunities for increased leverage." },
  { role: 'system', name: 'example_assistant', content: "Let's talk later when we're less busy about how to do better." },
  { role: 'user', content: "This late pivot means we don't have time to boil the ocean for the client deliverable." },
];

describe('countPromptTokens', () => {
  it("reproduces OpenAI's documented chat counts", () => {
    expect(countPromptTokens('gpt-3.5-turbo-0613', { messages: cookbook })).toEqual({ tokens: 129, method: 'bpe', encoding: 'cl100k_base' });
    expect(countPromptTokens('gpt-4-0613', { messages: cookbook }).tokens).toBe(129);
    expect(countPromptTokens('gpt-4o', { messages: cookbook })).toEqual({ tokens: 124, method: 'bpe', encoding: 'o200k_base' });
    expect(countPromptTokens('gpt-4o-mini', { messages: cookbook }).tokens).toBe(124);
  });

  it("agrees with gpt-tokenizer's chat count for plain messages", () => {
    const messages = [
      { role: 'system', content: 'You are terse.' },
      { role: 'user', content: 'Summarise the lead: ACME Corp, 500 employees, Berlin.' },
      { role: 'assistant', content: 'ACME: 500 staff, Berlin.' },
    ];
    expect(countPromptTokens('gpt-4o', { messages }).tokens).toBe(countChatCompletionTokens?.({ messages }));
  });

  it('counts array content parts like the same text, images at a fixed cost', () => {
    const asString = countPromptTokens('gpt-4o', { messages: [{ role: 'user', content: 'Describe this.' }] }).tokens;
    const asParts = countPromptTokens('gpt-4o', { messages: [{ role: 'user', content: [{ type: 'text', text: 'Describe this.' }] }] }).tokens;
    expect(asParts).toBe(asString);
    const withImage = (detail?: string) =>
      countPromptTokens('gpt-4o', {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Describe this.' },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA', ...(detail ? { detail } : {}) } },
            ],
          },
        ],
      }).tokens;
    expect(withImage('low')).toBe(asString + 85);
    expect(withImage()).toBe(asString + 765);
  });

  it('adds tool definitions as OpenAI renders them, and tool calls in history', () => {
    const messages = [{ role: 'user', content: 'Weather in Paris?' }];
    const fn = {
      name: 'get_weather',
      description: 'Look up the weather for a city.',
      parameters: { type: 'object' as const, required: ['city'], properties: { city: { type: 'string' as const } } },
    };
    const base = countPromptTokens('gpt-4o', { messages }).tokens;
    const withTools = countPromptTokens('gpt-4o', { messages, tools: [{ type: 'function', function: fn }] }).tokens;
    expect(withTools - base).toBe(encodeO200k(formatFunctionDefinitions([fn])).length + 9);
    expect(countPromptTokens('gpt-4o', { messages, functions: [fn] }).tokens).toBe(withTools);

    const call = { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] };
    const withCall = countPromptTokens('gpt-4o', { messages: [...messages, call] }).tokens;
    expect(withCall - base).toBe(3 + 1 + encodeO200k('get_weather').length + encodeO200k('{"city":"Paris"}').length + 3);
  });

  it('survives tool schemas the formatter does not model', () => {
    const odd = { type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { x: null } } } };
    expect(countPromptTokens('gpt-4o', { messages: [], tools: [odd] }).tokens).toBeGreaterThan(0);
  });

  it('estimates Anthropic message requests: system, blocks, tools', () => {
    const body = {
      model: 'claude-3-5-sonnet-latest',
      max_tokens: 1024,
      system: 'a'.repeat(40),
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'b'.repeat(80) },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'tool_use', id: 't1', name: 'lookup', input: { q: 'x' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't1', content: 'c'.repeat(40) }] },
      ],
      tools: [{ name: 'lookup', description: 'Search', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }],
    };
    const r = countPromptTokens('claude-3-5-sonnet-latest', body, 'messages');
    expect(r.method).toBe('estimate');
    expect(r.encoding).toBeNull();
    // system 3+10, user 3+1+20+1600, assistant 3+3+2+ceil(9/4)+3, user 3+1+10, priming 3, tools > 0
    expect(r.tokens).toBeGreaterThan(3 + 10 + 3 + 1 + 20 + 1600 + 3 + 3 + 10);
    const withoutTools = countPromptTokens('claude-3-5-sonnet-latest', { ...body, tools: [] }, 'messages').tokens;
    expect(r.tokens).toBeGreaterThan(withoutTools);
  });

  it('falls back to the estimate for prompts over exactMaxChars', () => {
    const messages = [{ role: 'user', content: 'word '.repeat(100) }];
    expect(countPromptTokens('gpt-4o', { messages }).method).toBe('bpe');
    const big = countPromptTokens('gpt-4o', { messages }, 'chat', { exactMaxChars: 100 });
    expect(big.method).toBe('estimate');
    expect(big.tokens).toBe(3 + estimateTokens('user') + 125 + 3);
  });

  it('counts completions prompts and embeddings inputs, including token ids', () => {
    expect(countPromptTokens('gpt-3.5-turbo-instruct', { prompt: 'Say hi' }, 'completions').tokens).toBe(encodeCl100k('Say hi').length);
    expect(countPromptTokens('text-embedding-3-small', { input: ['one', 'two three'] }, 'embeddings').tokens).toBe(encodeCl100k('one').length + encodeCl100k('two three').length);
    expect(
      countPromptTokens(
        'text-embedding-3-small',
        {
          input: [
            [1, 2, 3],
            [4, 5],
          ],
        },
        'embeddings',
      ).tokens,
    ).toBe(5);
  });
});

describe('estimateMaxOutputTokens', () => {
  it("takes the request's own limit, max_completion_tokens first", () => {
    expect(estimateMaxOutputTokens(openaiWire.output('chat', { max_tokens: 300 }))).toEqual({ tokens: 300, source: 'request' });
    expect(estimateMaxOutputTokens(openaiWire.output('chat', { max_completion_tokens: 500, max_tokens: 300 }))).toEqual({ tokens: 500, source: 'request' });
    expect(estimateMaxOutputTokens(responsesWire.output('responses', { max_output_tokens: 700 }))).toEqual({ tokens: 700, source: 'request' });
    expect(estimateMaxOutputTokens(anthropicWire.output('messages', { max_tokens: 1024 }))).toEqual({ tokens: 1024, source: 'request' });
  });

  it('uses the configurable default otherwise, ignoring nonsense values', () => {
    expect(estimateMaxOutputTokens(openaiWire.output('chat', {}))).toEqual({ tokens: 4096, source: 'default' });
    expect(estimateMaxOutputTokens(openaiWire.output('chat', { max_tokens: -5 }), 1000)).toEqual({ tokens: 1000, source: 'default' });
    expect(estimateMaxOutputTokens(openaiWire.output('chat', { max_tokens: '300' }), 1000)).toEqual({ tokens: 1000, source: 'default' });
    expect(estimateMaxOutputTokens(openaiWire.output('embeddings', { input: 'x' }), 0)).toEqual({ tokens: 0, source: 'default' });
  });

  it('multiplies by the number of choices requested', () => {
    expect(estimateMaxOutputTokens(openaiWire.output('chat', { max_tokens: 100, n: 3 })).tokens).toBe(300);
    expect(estimateMaxOutputTokens(openaiWire.output('completions', { max_tokens: 100, best_of: 4, n: 2 })).tokens).toBe(400);
    expect(estimateMaxOutputTokens({ limit: null, choices: 2, thinking: 0 }, 50)).toEqual({ tokens: 100, source: 'default' });
  });
});

describe('prompt text counts are remembered (an agent resends its history every turn)', () => {
  it('counts a resent history exactly, per encoding, counting only the new messages again', () => {
    const counted: string[] = [];
    const cache = new CountCache('o200k_base', (text, enc) => {
      counted.push(text);
      return countBpeTokens(text, enc);
    });
    const history = Array.from({ length: 6 }, (_, i) => `Turn ${i}: the lead at Acme Robotics asked about pricing tiers and onboarding.`);
    for (let turn = 1; turn <= history.length; turn++) {
      for (const m of history.slice(0, turn)) {
        expect(cache.count(m)).toBe(encodeO200k(m, plain).length);
      }
    }
    // Each message tokenized once, although it was sent with every later turn.
    expect(counted).toEqual(history);
    // countPromptTokens keeps one cache per encoding: the same text is another count in cl100k.
    const m = { messages: [{ role: 'user', content: history[0]! }] };
    expect(countPromptTokens('gpt-4o', m).tokens).not.toBe(countPromptTokens('gpt-4', m).tokens);
    expect(countPromptTokens('gpt-4', m).tokens).toBe(encodeCl100k(history[0]!, plain).length + 7);
  });

  it('holds a bounded amount: an old text is dropped after two generations, a text still in use is kept', () => {
    let fresh = 0;
    const cache = new CountCache('o200k_base', (text) => (fresh++, text.length), 1000);
    const kept = 'k'.repeat(100);
    const text = (i: number) => `${i}`.padEnd(200, '.');
    cache.count(kept);
    const old = text(-1);
    cache.count(old);
    for (let i = 0; i < 30; i++) {
      cache.count(text(i));
      cache.count(kept); // in use: moves forward with every generation
    }
    const before = fresh;
    cache.count(kept);
    expect(fresh).toBe(before);
    cache.count(old);
    expect(fresh).toBe(before + 1);
  });

  it('gives countPromptTokens the same totals whether a history is new or resent', () => {
    const body = {
      messages: [
        { role: 'system', content: 'You qualify B2B leads for a cost-control platform.' },
        { role: 'user', content: 'Company: Acme Robotics, 120 employees, Series B. Fit?' },
      ],
    };
    const first = countPromptTokens('gpt-4o', body);
    expect(countPromptTokens('gpt-4o', structuredClone(body))).toEqual(first);
    expect(first.tokens).toBe(countChatCompletionTokens?.({ messages: body.messages } as never));
  });
});
