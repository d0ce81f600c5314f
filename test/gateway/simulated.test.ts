// An agent developed against the gateway with no provider key: the official clients call tools,
// get structured output, n choices and logprobs from the simulated provider, whole and streamed,
// and are refused (400, nothing charged) exactly where the real provider would refuse them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { schemaErrors } from '../helpers/sim-validate.js';
import { DEFAULTS } from '../../src/config/index.js';

let t: TestRuntime;
let agentId: string;
let token: string;

beforeAll(async () => {
  t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
  const created = await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'sim-tests', budgetUsd: 5 }) })).json();
  agentId = created.agentId;
  token = created.token;
});
afterAll(async () => t?.stop());

const costs = async () => (await t.api(`/api/agents/${agentId}/costs`)).json();
const openai = () => new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token, maxRetries: 0 });
const anthropic = () => new Anthropic({ baseURL: t.rt.url, apiKey: token, maxRetries: 0 });

const weatherSchema = {
  type: 'object',
  properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
  required: ['city', 'unit', 'days'],
  additionalProperties: false,
};
const tools: OpenAI.ChatCompletionTool[] = [
  {
    type: 'function',
    function: { name: 'lookup_order', description: 'Find an order by number', parameters: { type: 'object', properties: { order_id: { type: 'integer' } }, required: ['order_id'] } },
  },
  { type: 'function', function: { name: 'get_weather', description: 'Get the weather forecast for a city', parameters: weatherSchema, strict: true } },
];
const ask = "What's the weather in Paris for 3 days, in fahrenheit?";

describe('openai client: tools, structured output, n, logprobs', () => {
  it('a tool call round trip: the call, then an answer that uses the result, both metered', async () => {
    const client = openai();
    const before = (await costs()).requests;
    const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: ask }], tools });
    const choice = first.choices[0]!;
    expect(choice.finish_reason).toBe('tool_calls');
    expect(choice.message.content).toBeNull();
    const call = choice.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(call).toMatchObject({ type: 'function', id: expect.stringMatching(/^call_[A-Za-z0-9]{24}$/), function: { name: 'get_weather' } });
    const args = JSON.parse(call.function.arguments);
    expect(args).toEqual({ city: 'Paris', unit: 'fahrenheit', days: 3 });
    expect(schemaErrors(weatherSchema, args)).toEqual([]);
    expect(first.usage!.completion_tokens).toBeGreaterThan(0);

    const second = await client.chat.completions.create({
      model: 'gpt-4o-mini',
      tools,
      messages: [{ role: 'user', content: ask }, choice.message, { role: 'tool', tool_call_id: call.id, content: JSON.stringify({ forecast: 'sunny', high: 75 }) }],
    });
    expect(second.choices[0]!.finish_reason).toBe('stop');
    expect(second.choices[0]!.message.content).toBe('According to get_weather: forecast sunny, high 75.');
    const c = await costs();
    expect(c.requests).toBe(before + 2);
  });

  it('a streamed tool call arrives as an id and name, then argument fragments that join to the same call', async () => {
    const client = openai();
    const whole = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: ask }], tools });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: ask }], tools, stream: true });
    const fragments: string[] = [];
    let head: any = null;
    let finish: string | null = null;
    for await (const chunk of stream) {
      const tc = chunk.choices[0]?.delta.tool_calls?.[0];
      if (tc?.id) head = tc;
      else if (tc?.function?.arguments) fragments.push(tc.function.arguments);
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    const wholeCall = whole.choices[0]!.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    expect(head).toMatchObject({ index: 0, id: wholeCall.id, type: 'function', function: { name: 'get_weather', arguments: '' } });
    expect(fragments.length).toBeGreaterThan(3);
    expect(fragments.join('')).toBe(wholeCall.function.arguments);
    expect(finish).toBe('tool_calls');
    // The SDK's own accumulator agrees.
    const final = await client.chat.completions.stream({ model: 'gpt-4o', messages: [{ role: 'user', content: ask }], tools }).finalChatCompletion();
    expect(final.choices[0]!.message.tool_calls![0]).toMatchObject({ id: wholeCall.id, function: { arguments: wholeCall.function.arguments } });
  });

  it("tool_choice 'required' calls a tool whatever the prompt; 'none' never does", async () => {
    const client = openai();
    const forced = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello there' }], tools, tool_choice: 'required' });
    expect(forced.choices[0]!.message.tool_calls).toHaveLength(1);
    const named = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: ask }], tools, tool_choice: { type: 'function', function: { name: 'lookup_order' } } });
    expect((named.choices[0]!.message.tool_calls![0] as OpenAI.ChatCompletionMessageFunctionToolCall).function.name).toBe('lookup_order');
    const none = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: ask }], tools, tool_choice: 'none' });
    expect(none.choices[0]!.message.tool_calls).toBeUndefined();
    expect(none.choices[0]!.message.content!.length).toBeGreaterThan(0);
  });

  it('response_format json_schema is parsed by chat.completions.parse with zod, whole and streamed', async () => {
    const Lead = z.object({
      company: z.string(),
      employees: z.number().int().min(1).max(5000),
      stage: z.enum(['seed', 'series_a', 'growth']),
      contacts: z.array(z.object({ name: z.string(), email: z.string() })),
      score: z.number().nullable(),
    });
    const client = openai();
    const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: 'user', content: 'Extract the lead: Northwind is a series_a startup.' }];
    const r = await client.chat.completions.parse({ model: 'gpt-4o', messages, response_format: zodResponseFormat(Lead, 'lead') });
    const parsed = r.choices[0]!.message.parsed!;
    expect(Lead.parse(parsed)).toEqual(parsed);
    expect(parsed.stage).toBe('series_a');
    const streamed = await client.chat.completions.stream({ model: 'gpt-4o', messages, response_format: zodResponseFormat(Lead, 'lead') }).finalChatCompletion();
    expect(streamed.choices[0]!.message.parsed).toEqual(parsed);
    const obj = await client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Reply in JSON' }], response_format: { type: 'json_object' } });
    expect(typeof JSON.parse(obj.choices[0]!.message.content!)).toBe('object');
  });

  it('n=3 gives three distinct choices, usage counting all of them; logprobs are well formed', async () => {
    const client = openai();
    const r = await client.chat.completions.create({ model: 'gpt-4o', n: 3, logprobs: true, top_logprobs: 3, messages: [{ role: 'user', content: 'Describe the account' }] });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(new Set(r.choices.map((c) => c.message.content)).size).toBe(3);
    for (const c of r.choices) {
      const lp = c.logprobs!.content!;
      expect(lp.map((x) => x.token).join('')).toBe(c.message.content);
      for (const x of lp) {
        expect(x.logprob).toBeLessThanOrEqual(0);
        expect(x.top_logprobs).toHaveLength(3);
      }
    }
    const ledger = (await (await t.api(`/api/events?agentId=${agentId}&limit=1000`)).json()).events.filter((e: any) => e.type === 'llm.request').at(-1);
    expect(ledger.data.completionTokens).toBe(r.usage!.completion_tokens);

    const stream = await client.chat.completions.create({ model: 'gpt-4o', n: 2, stream: true, logprobs: true, messages: [{ role: 'user', content: 'Describe the account' }] });
    const texts = ['', ''];
    for await (const chunk of stream) {
      for (const c of chunk.choices) {
        texts[c.index] += c.delta.content ?? '';
        // Under PII redaction (the default) a stream's tokens are withheld: a piece's tokens
        // would leave before the redactor knows whether it is PII (test/gateway/logprobs.test.ts).
        expect(c.logprobs ?? null).toBeNull();
      }
    }
    expect(texts).toEqual(r.choices.slice(0, 2).map((c) => c.message.content));

    const legacy = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say something', n: 2, logprobs: 2 });
    expect(legacy.choices).toHaveLength(2);
    expect(legacy.choices[0]!.logprobs!.tokens!.join('')).toBe(legacy.choices[0]!.text);
    expect(Object.keys(legacy.choices[0]!.logprobs!.top_logprobs![0]!)).toHaveLength(2);
  });
});

describe('anthropic client: tool use', () => {
  const antTools: Anthropic.Tool[] = [{ name: 'get_weather', description: 'Get the weather forecast for a city', input_schema: weatherSchema as Anthropic.Tool.InputSchema }];

  it('tool_use blocks whole and streamed, then a text answer after the tool_result', async () => {
    const client = anthropic();
    const m = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 300, tools: antTools, messages: [{ role: 'user', content: ask }] });
    expect(m.stop_reason).toBe('tool_use');
    const use = m.content.find((b) => b.type === 'tool_use')! as Anthropic.ToolUseBlock;
    expect(use).toMatchObject({ name: 'get_weather', id: expect.stringMatching(/^toolu_/), input: { city: 'Paris', unit: 'fahrenheit', days: 3 } });

    const streamed = await client.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 300, tools: antTools, messages: [{ role: 'user', content: ask }] }).finalMessage();
    expect(streamed.content).toEqual(m.content);
    expect(streamed.stop_reason).toBe('tool_use');

    const answer = await client.messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 300,
      tools: antTools,
      messages: [
        { role: 'user', content: ask },
        { role: 'assistant', content: m.content },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '{"forecast":"rain"}' }] },
      ],
    });
    expect(answer.stop_reason).toBe('end_turn');
    expect(answer.content).toEqual([{ type: 'text', text: 'According to get_weather: forecast rain.' }]);
  });

  it("tool_choice {type: 'any'} forces a call, {type: 'none'} forbids one", async () => {
    const client = anthropic();
    const any = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 300, tools: antTools, tool_choice: { type: 'any' }, messages: [{ role: 'user', content: 'hi' }] });
    expect(any.content.map((b) => b.type)).toEqual(['tool_use']);
    const none = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 300, tools: antTools, tool_choice: { type: 'none' }, messages: [{ role: 'user', content: ask }] });
    expect(none.content.map((b) => b.type)).toEqual(['text']);
  });
});

describe('what the provider refuses is refused the same way, and costs nothing', () => {
  it('400 in the provider shape for each bad parameter; no request recorded, nothing spent', async () => {
    const before = await costs();
    const client = openai();
    const base = { model: 'gpt-4o', messages: [{ role: 'user' as const, content: 'hi' }] };
    const refusals: Array<[Promise<unknown>, RegExp]> = [
      [client.chat.completions.create({ ...base, temperature: 5 }), /Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 5 instead/],
      [client.chat.completions.create({ ...base, top_p: 1.5 }), /Invalid 'top_p'/],
      [client.chat.completions.create({ ...base, logprobs: true, top_logprobs: 30 }), /Invalid 'top_logprobs': integer above maximum value/],
      [client.chat.completions.create({ ...base, response_format: { type: 'yaml' } as never }), /Invalid value: 'yaml'. Supported values are: 'json_object', 'json_schema', and 'text'/],
      [
        client.chat.completions.create({ ...base, tools: [{ type: 'function', function: { name: 'f', parameters: { type: 'object', properties: { a: { type: 'strin' } } } } }] }),
        /Invalid schema for function 'f': In context=\('properties', 'a'\), 'type' must be one of/,
      ],
      [client.chat.completions.create({ ...base, tools, tool_choice: { type: 'function', function: { name: 'nope' } } }), /function 'nope' is not one of the functions in 'tools'/],
      // Answered 200 and charged by the simulated provider before: what a real upstream refuses.
      [client.embeddings.create({ model: 'text-embedding-3-small', input: [] }), /Invalid 'input': empty array/],
      [client.embeddings.create({ model: 'text-embedding-3-small', input: [5, 'x'] as never }), /Invalid 'input': expected a string, an array of strings/],
      [client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi', dimensions: -1 }), /Invalid 'dimensions': integer below minimum value/],
      [client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi', encoding_format: 'zzz' as never }), /Invalid value: 'zzz'. Supported values are: 'float' and 'base64'/],
      [client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: [] }), /Invalid 'prompt': expected a string, or a non-empty array/],
    ];
    for (const [p, message] of refusals) {
      const err: any = await p.catch((e) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      expect(err.status).toBe(400);
      expect(err.error.type).toBe('invalid_request_error');
      expect(err.message).toMatch(message);
    }
    const ant = anthropic();
    const abase = { model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user' as const, content: 'hi' }] };
    for (const [body, message] of [
      [{ ...abase, temperature: 1.5 }, 'temperature: Input should be less than or equal to 1'],
      [{ ...abase, n: 2, stream: true }, 'n: Extra inputs are not permitted'],
      [{ ...abase, tools: [{ name: 'f', input_schema: { type: 'object', required: 'a' } }] }, 'tools.0.custom.input_schema: JSON schema is invalid'],
      [{ ...abase, tools: [{ name: 'f', input_schema: { type: 'object' } }], tool_choice: { type: 'tool', name: 'g' } }, "Tool 'g' was not found"],
      [{ ...abase, messages: [] }, 'messages: List should have at least 1 item after validation, not 0'],
    ] as const) {
      const err: any = await ant.messages.create(body as never).catch((e) => e);
      expect(err).toBeInstanceOf(Anthropic.BadRequestError);
      expect(err.error.error.type).toBe('invalid_request_error');
      expect(err.message).toContain(message);
    }
    const after = await costs();
    expect(after.requests).toBe(before.requests);
    expect(after.spentUsd).toBe(before.spentUsd);
  });

  it('100k-deep agent input is refused with a 400, never a crash', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    const post = (path: string, body: string) =>
      fetch(`${t.rt.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'x-api-key': token, 'content-type': 'application/json' }, body });
    for (const [path, body] of [
      ['/v1/chat/completions', `{"model":"gpt-4o","messages":[{"role":"user","content":[{"type":"input_audio","x":${deep}}]}]}`],
      ['/v1/embeddings', `{"model":"text-embedding-3-small","input":[${deep}]}`],
      [
        '/v1/messages',
        `{"model":"claude-3-5-haiku-latest","max_tokens":10,"messages":[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"x","input":{"a":${deep}}}]},{"role":"user","content":"hi"}]}`,
      ],
    ]) {
      const r = await post(path!, body!);
      expect(r.status).toBe(400);
      expect(JSON.stringify(await r.json())).toContain('JSON nested deeper than 64 levels');
    }
    // A deep tool schema is refused the same way, before any schema walk.
    const schema = `${'{"type":"object","properties":{"x":'.repeat(100)}{}${'}}'.repeat(100)}`;
    const bad = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":${schema}}}]}`,
    });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/nested deeper than 64 levels/);
  });
});
