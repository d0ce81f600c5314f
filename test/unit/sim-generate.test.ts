import { describe, expect, it } from 'vitest';
import { generate, MAX_INVENTED_ROUNDS } from '../../src/gateway/providers/sim/generate.js';
import { fromPattern } from '../../src/gateway/providers/sim/pattern.js';
import { simRequest } from '../../src/gateway/providers/sim/request.js';
import type { JsonSchema, SimRequest, SimTool, SimTurn } from '../../src/gateway/providers/sim/types.js';
import { encode as o200k } from 'gpt-tokenizer/encoding/o200k_base';
import { schemaProblem } from '../../src/gateway/wire/schema.js';
import { expectAtMost, expectEqual, expectIs } from '../helpers/cheap-expect.js';
import { schemaErrors } from '../helpers/sim-validate.js';

const req = (over: Partial<SimRequest> & { prompt?: string }): SimRequest => {
  const { prompt, ...rest } = over;
  return {
    model: 'gpt-4o',
    turns: [{ role: 'user', text: prompt ?? 'hello' }],
    tools: [],
    customTools: [],
    toolChoice: 'auto',
    parallelToolCalls: true,
    format: { type: 'text' },
    n: 1,
    logprobs: null,
    maxTokens: null,
    seed: JSON.stringify(over),
    ...rest,
  };
};

const weather: SimTool = {
  name: 'get_weather',
  description: 'Get the current weather for a city',
  parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } }, required: ['city'], additionalProperties: false },
};
const orders: SimTool = {
  name: 'lookup_order',
  description: 'Find an order by its number',
  parameters: { type: 'object', properties: { order_id: { type: 'integer', minimum: 1 }, email: { type: 'string', format: 'email' } }, required: ['order_id'] },
};

/** Every keyword the providers accept, nested: what a generated value must satisfy all at once. */
const RICH: JsonSchema = {
  type: 'object',
  properties: {
    title: { type: 'string', minLength: 12, maxLength: 40 },
    code: { type: 'string', pattern: '^[A-Z]{3}-\\d{4}$' },
    when: { type: 'string', format: 'date' },
    at: { type: 'string', format: 'date-time' },
    contact: { type: 'string', format: 'email' },
    site: { type: 'string', format: 'uri' },
    ref: { type: 'string', format: 'uuid' },
    level: { type: 'string', enum: ['low', 'mid', 'high'] },
    kind: { const: 'invoice' },
    qty: { type: 'integer', minimum: 3, maximum: 9 },
    price: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1, multipleOf: 0.05 },
    step: { type: 'integer', multipleOf: 25, minimum: 60 },
    paid: { type: 'boolean' },
    note: { type: ['string', 'null'] },
    tags: { type: 'array', items: { type: 'string', enum: ['a', 'b', 'c', 'd'] }, minItems: 3, maxItems: 4, uniqueItems: true },
    pair: { type: 'array', prefixItems: [{ type: 'integer' }, { type: 'string' }], minItems: 2 },
    either: { anyOf: [{ type: 'null' }, { type: 'object', properties: { x: { type: 'number', maximum: -5 } }, required: ['x'], additionalProperties: false }] },
    one: { oneOf: [{ type: 'string', maxLength: 3 }, { type: 'integer' }] },
    both: {
      allOf: [
        { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
        { properties: { b: { type: 'integer' } }, required: ['b'] },
      ],
    },
    addr: { $ref: '#/$defs/address' },
    legacy: { $ref: '#/definitions/legacy' },
    tree: { $ref: '#/$defs/node' },
    scores: { type: 'object', additionalProperties: { type: 'integer', maximum: 0 }, minProperties: 2 },
  },
  required: [
    'title',
    'code',
    'when',
    'at',
    'contact',
    'site',
    'ref',
    'level',
    'kind',
    'qty',
    'price',
    'step',
    'paid',
    'note',
    'tags',
    'pair',
    'either',
    'one',
    'both',
    'addr',
    'legacy',
    'tree',
    'scores',
  ],
  additionalProperties: false,
  $defs: {
    address: { type: 'object', properties: { street: { type: 'string' }, zip: { type: 'string', pattern: '^\\d{5}$' } }, required: ['street', 'zip'], additionalProperties: false },
    node: { type: 'object', properties: { value: { type: 'integer' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } }, required: ['value', 'children'], additionalProperties: false },
  },
  definitions: { legacy: { type: 'object', properties: { id: { type: 'string' } }, required: ['id'] } },
};

const args = (g: ReturnType<typeof generate>, i = 0) => JSON.parse(g.choices[0]!.toolCalls[i]!.arguments);

describe('generate(): tool calls', () => {
  it('calls the tool the prompt asks for, with arguments drawn from the prompt', () => {
    const g = generate(req({ prompt: "What's the weather in Paris, in celsius?", tools: [orders, weather] }));
    const c = g.choices[0]!;
    expect(c.finish).toBe('tool_calls');
    expect(c.toolCalls).toHaveLength(1);
    expect(c.toolCalls[0]!.name).toBe('get_weather');
    expect(c.toolCalls[0]!.id).toMatch(/^call_[A-Za-z0-9]{24}$/);
    expect(args(g)).toEqual({ city: 'Paris', unit: 'celsius' });
    expect(c.toolCalls[0]!.arguments).toBe('{"city":"Paris","unit":"celsius"}');
    expect(c.toolCalls[0]!.argumentPieces!.join('')).toBe(c.toolCalls[0]!.arguments);
    // Names and arguments are output tokens, in gpt-4o's o200k: get|_weather is 2, and
    // {"|city|":"|Paris|","|unit|":"|c|elsius|"} is 10.
    expect(c.completionTokens).toBe(2 + 10);
    expect(g.completionTokens).toBe(c.completionTokens);
  });

  it('a prompt that names a tool calls it; numbers and emails come from the prompt', () => {
    const g = generate(req({ prompt: 'Use lookup_order for order id 4172, my email is ana@example.org', tools: [weather, orders] }));
    expect(g.choices[0]!.toolCalls[0]!.name).toBe('lookup_order');
    expect(args(g)).toEqual({ order_id: 4172, email: 'ana@example.org' });
  });

  it("tool_choice: 'none' never calls; 'auto' answers an unrelated prompt in text; 'required' and a named tool always call", () => {
    const ask = "What's the weather in Paris?";
    expect(generate(req({ prompt: ask, tools: [weather], toolChoice: 'none' })).choices[0]!.toolCalls).toEqual([]);
    const chat = generate(req({ prompt: 'Tell me a joke', tools: [weather] })).choices[0]!;
    expect(chat).toMatchObject({ toolCalls: [], finish: 'stop' });
    expect(chat.text.length).toBeGreaterThan(0);
    expect(generate(req({ prompt: 'Tell me a joke', tools: [weather], toolChoice: 'required' })).choices[0]!.toolCalls[0]!.name).toBe('get_weather');
    expect(generate(req({ prompt: ask, tools: [weather, orders], toolChoice: { name: 'lookup_order' } })).choices[0]!.toolCalls[0]!.name).toBe('lookup_order');
  });

  it('calls every tool the prompt names when parallel calls are allowed, one otherwise', () => {
    const prompt = 'Run get_weather for Lisbon and lookup_order for order 7';
    expect(generate(req({ prompt, tools: [weather, orders] })).choices[0]!.toolCalls.map((c) => c.name)).toEqual(['get_weather', 'lookup_order']);
    expect(generate(req({ prompt, tools: [weather, orders], parallelToolCalls: false })).choices[0]!.toolCalls).toHaveLength(1);
  });

  it('after a tool result it answers in text that uses the result', () => {
    const call = { id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' };
    const turns: SimTurn[] = [
      { role: 'user', text: "What's the weather in Paris?" },
      { role: 'assistant', text: '', toolCalls: [call] },
      { role: 'tool', text: '{"temperature":21,"conditions":"sunny"}', toolCallId: 'call_1' },
    ];
    const c = generate(req({ turns, tools: [weather] })).choices[0]!;
    expect(c.toolCalls).toEqual([]);
    expect(c.text).toBe('According to get_weather: temperature 21, conditions sunny.');
  });

  it('a tool result with the user’s text beside it (Anthropic’s tool_result blocks and a reminder) is still answered in text, not with another call', () => {
    const call = { id: 'toolu_1', name: 'get_weather', arguments: '{"city":"Paris"}' };
    const turns: SimTurn[] = [
      { role: 'user', text: "What's the weather in Paris? Use get_weather." },
      { role: 'assistant', text: '', toolCalls: [call] },
      { role: 'tool', text: '{"temperature":21}', toolCallId: 'toolu_1' },
      { role: 'user', text: '<system-reminder>Use get_weather whenever the weather is asked.</system-reminder>' },
    ];
    const c = generate(req({ turns, tools: [weather] })).choices[0]!;
    expect(c.toolCalls).toEqual([]);
    expect(c.text).toContain('get_weather');
    // A new question after the answer is a new turn: it may call the tool again.
    const next: SimTurn[] = [...turns, { role: 'assistant', text: c.text }, { role: 'user', text: 'And the weather in Rome? Use get_weather.' }];
    expect(generate(req({ turns: next, tools: [weather] })).choices[0]!.toolCalls.map((t) => t.name)).toEqual(['get_weather']);
  });

  it(`invents at most ${MAX_INVENTED_ROUNDS} rounds of tool calls in one conversation, then answers in text (a coding agent's harness is not led on until the budget is gone)`, () => {
    const turns: SimTurn[] = [];
    const rounds: number[] = [];
    for (let i = 0; i < MAX_INVENTED_ROUNDS + 2; i++) {
      turns.push({ role: 'user', text: `What's the weather in city ${i}? Use get_weather.` });
      const c = generate(req({ turns, tools: [weather] })).choices[0]!;
      rounds.push(c.toolCalls.length);
      if (c.toolCalls.length === 0) {
        turns.push({ role: 'assistant', text: c.text });
        continue;
      }
      turns.push({ role: 'assistant', text: '', toolCalls: c.toolCalls }, { role: 'tool', text: '{"temperature":1}', toolCallId: c.toolCalls[0]!.id });
      turns.push({ role: 'assistant', text: generate(req({ turns, tools: [weather] })).choices[0]!.text });
    }
    expect(rounds).toEqual([...Array(MAX_INVENTED_ROUNDS).fill(1), 0, 0]);
    // A tool the request demands is still called: only the invented ones stop.
    expect(generate(req({ turns, tools: [weather], toolChoice: 'required' })).choices[0]!.toolCalls).toHaveLength(1);
  });

  it('arguments are valid against every keyword, whatever the seed', () => {
    const tool = { name: 'file_invoice', description: 'File an invoice', parameters: RICH };
    expect(schemaProblem(RICH, "function 'file_invoice'")).toBeNull();
    for (let i = 0; i < 60; i++) {
      const g = generate(req({ prompt: `file invoice number ${i}`, tools: [tool], toolChoice: 'required', seed: `seed-${i}` }));
      const value = args(g);
      expect(schemaErrors(RICH, value)).toEqual([]);
    }
  });
});

describe('generate(): structured output, n, logprobs', () => {
  it('json_schema answers JSON valid against the schema, json_object a small object', () => {
    for (let i = 0; i < 30; i++) {
      const c = generate(req({ prompt: `summarise ${i}`, format: { type: 'json_schema', name: 'rich', schema: RICH, strict: false }, seed: `s${i}` })).choices[0]!;
      expect(schemaErrors(RICH, JSON.parse(c.text))).toEqual([]);
      expect(c.pieces.join('')).toBe(c.text);
    }
    const o = JSON.parse(generate(req({ prompt: 'answer in JSON', format: { type: 'json_object' } })).choices[0]!.text);
    expect(typeof o).toBe('object');
    expect(Object.keys(o).length).toBeGreaterThan(0);
  });

  it("honours the keywords Anthropic's SDK moves into descriptions ({enum: [...], minimum: N})", () => {
    // As @anthropic-ai/sdk's transformJSONSchema writes them for Claude's strict mode.
    const moved: JsonSchema = {
      type: 'object',
      properties: {
        role: { type: 'string', description: '{enum: ["lead","contact"]}' },
        age: { type: 'integer', description: 'Age in years\n\n{minimum: 18, maximum: 99}' },
        tags: { type: 'array', items: { type: 'string' }, description: '{minItems: 2, maxItems: 3}' },
      },
      required: ['role', 'age', 'tags'],
      additionalProperties: false,
    };
    const stated: JsonSchema = {
      type: 'object',
      properties: {
        role: { type: 'string', enum: ['lead', 'contact'] },
        age: { type: 'integer', minimum: 18, maximum: 99 },
        tags: { type: 'array', items: { type: 'string' }, minItems: 2, maxItems: 3 },
      },
      required: ['role', 'age', 'tags'],
    };
    for (let i = 0; i < 20; i++) {
      const c = generate(req({ prompt: `a person ${i}`, format: { type: 'json_schema', schema: moved }, seed: `d${i}` })).choices[0]!;
      expect(schemaErrors(stated, JSON.parse(c.text))).toEqual([]);
    }
  });

  it('structured output after a tool call reuses the result fields by name', () => {
    const schema = { type: 'object', properties: { city: { type: 'string' }, temperature: { type: 'number' } }, required: ['city', 'temperature'], additionalProperties: false };
    const turns: SimTurn[] = [
      { role: 'user', text: 'Weather in Oslo?' },
      { role: 'assistant', text: '', toolCalls: [{ id: 'call_9', name: 'get_weather', arguments: '{}' }] },
      { role: 'tool', text: '{"temperature":-3}', toolCallId: 'call_9' },
    ];
    expect(JSON.parse(generate(req({ turns, format: { type: 'json_schema', schema } })).choices[0]!.text)).toEqual({ city: 'Oslo', temperature: -3 });
  });

  it('json_object follows a schema or an example object the prompt gives', () => {
    const fromExample = generate(req({ prompt: 'Ana is 31. Reply as JSON like {"name": "Bo", "age": 2, "tags": ["x"]}', format: { type: 'json_object' } })).choices[0]!;
    expect(JSON.parse(fromExample.text)).toMatchObject({ name: 'Ana', age: 31, tags: expect.any(Array) });
    const schema = { type: 'object', properties: { ok: { type: 'boolean' }, level: { enum: ['low', 'high'] } }, required: ['ok', 'level'] };
    const turns: SimTurn[] = [
      { role: 'system', text: `Answer with JSON matching this schema: ${JSON.stringify(schema)}` },
      { role: 'user', text: 'Is it high?' },
    ];
    const fromSchema = JSON.parse(generate(req({ turns, format: { type: 'json_object' } })).choices[0]!.text);
    expect(schemaErrors(schema, fromSchema)).toEqual([]);
    expect(fromSchema.level).toBe('high');
  });

  it('n gives n distinct choices, each with well-formed logprobs', () => {
    const g = generate(req({ prompt: 'Describe the lead', n: 3, logprobs: { top: 5 } }));
    expect(g.choices).toHaveLength(3);
    expect(new Set(g.choices.map((c) => c.text)).size).toBe(3);
    // The choices' texts counted by the reference tokenizer (gpt-tokenizer's o200k), not by ours.
    expect(g.completionTokens).toBe(g.choices.reduce((s, c) => s + o200k(c.text).length, 0));
    for (const c of g.choices) {
      expect(c.logprobs!.map((l) => l.token).join('')).toBe(c.text);
      for (const l of c.logprobs!) {
        expectAtMost(l.logprob, 0);
        expectEqual(l.bytes, [...Buffer.from(l.token)]);
        if (l.top_logprobs.length !== 5) expect(l.top_logprobs).toHaveLength(5);
        expectEqual(l.top_logprobs[0], { token: l.token, logprob: l.logprob, bytes: l.bytes });
        const lps = l.top_logprobs.map((t) => t.logprob);
        expectEqual(
          [...lps].sort((a, b) => b - a),
          lps,
        );
        expectIs(new Set(l.top_logprobs.map((t) => t.token)).size, 5);
      }
    }
  });

  it('is deterministic, and keeps the exact-reply protocol', () => {
    const r = req({ prompt: 'weather in Rome', tools: [weather], n: 2 });
    expect(generate(r)).toEqual(generate(r));
    expect(generate(req({ prompt: 'Repeat exactly: a b c', tools: [weather] })).choices[0]!.text).toBe('a b c');
  });

  it('max tokens cut prose on a word boundary and JSON inside its one long word, with finish length', () => {
    const c = generate(req({ prompt: 'x', format: { type: 'json_schema', schema: RICH }, maxTokens: 5 })).choices[0]!;
    expect(c.finish).toBe('length');
    expect(o200k(c.text).length).toBeLessThanOrEqual(5);
    expect(c.text.length).toBeGreaterThan(0);
    const words = Array.from({ length: 3000 }, (_, i) => `w${i}`).join(' ');
    const cut = generate(req({ prompt: `Repeat exactly: ${words}`, maxTokens: 100 })).choices[0]!;
    expect(cut.finish).toBe('length');
    expect(words.startsWith(cut.text)).toBe(true);
    // Each word is 2 tokens in o200k (w|0, then  w|1,  w|2 ... up to  w|999): 50 words are the
    // 100 allowed, and a 51st (102) would not have fitted.
    expect(cut.text).toBe(words.split(' ').slice(0, 50).join(' '));
  });
});

describe('the simulator and deep agent input', () => {
  it('100k-deep message content, tool inputs and schemas neither overflow nor hang', () => {
    const deepArray = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000));
    const deepObject = JSON.parse(`${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`);
    const deepSchema = JSON.parse(`${'{"type":"object","required":["x"],"properties":{"x":'.repeat(100_000)}{"type":"string"}${'}}'.repeat(100_000)}`);
    const chat = simRequest(
      'chat',
      {
        model: 'gpt-4o',
        messages: [{ role: 'user', content: [deepArray, { type: 'text', text: 'weather in Paris' }] }],
        tools: [{ type: 'function', function: { name: 'deep', parameters: deepSchema } }],
        tool_choice: 'required',
      },
      'gpt-4o',
      '{"raw":1}',
    );
    expect(chat.seed).toBe('{"raw":1}');
    expect(generate(chat).choices[0]!.toolCalls[0]!.name).toBe('deep');
    const msgs = simRequest(
      'messages',
      {
        model: 'c',
        max_tokens: 9,
        messages: [
          { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'x', input: deepObject }] },
          { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [deepArray] }] },
        ],
      },
      'c',
      '{}',
    );
    expect(generate(msgs).choices[0]!.text).toContain('According to x');
    // Tool results nested 100k deep: the reader stops at a result's own content.
    let nested: Record<string, unknown> = { type: 'tool_result', tool_use_id: 't', content: 'deepest' };
    for (let i = 0; i < 100_000; i++) nested = { type: 'tool_result', tool_use_id: 't', content: [nested] };
    const deepResults = simRequest('messages', { model: 'c', max_tokens: 9, messages: [{ role: 'user', content: [nested] }] }, 'c', '{}');
    expect(deepResults.turns).toEqual([{ role: 'tool', text: '', toolCallId: 't' }]);
  });
});

describe('schemas that multiply', () => {
  it('end in a bounded answer instead of hanging: nested minItems, twin self-references, huge minLength and quantifiers', () => {
    const arrays = {
      type: 'object',
      properties: { a: { type: 'array', minItems: 1000, items: { type: 'array', minItems: 1000, items: { type: 'array', minItems: 1000, items: { type: 'string' } } } } },
      required: ['a'],
    };
    const twins = { type: 'object', properties: { l: { $ref: '#' }, r: { $ref: '#' } }, required: ['l', 'r'] };
    const long = { type: 'object', properties: { s: { type: 'string', minLength: 1e9 }, p: { type: 'string', pattern: '^(a{1000}){1000}$' } }, required: ['s', 'p'], minProperties: 1e9 };
    for (const schema of [arrays, twins, long]) {
      const c = generate(req({ prompt: 'go', format: { type: 'json_schema', schema } })).choices[0]!;
      expect(c.text.length).toBeLessThan(1_000_000);
      expect(typeof JSON.parse(c.text)).toBe('object');
    }
  });
});

describe('fromPattern', () => {
  it('writes strings matching the patterns tools declare, and gives up on the rest', () => {
    for (const p of ['^[A-Z]{3}-\\d{4}$', '^(asc|desc)$', '^\\w+@\\w+\\.com$', '^[^0-9]{2,}x?$', '^(?:ab)+c*$', '^#[0-9a-fA-F]{6}$']) {
      const s = fromPattern(p);
      expect(s, p).not.toBeNull();
      expect(new RegExp(p, 'u').test(s!)).toBe(true);
    }
    expect(fromPattern('^(a)\\1$')).toBeNull();
    expect(fromPattern('('.repeat(5000))).toBeNull();
  });
});
