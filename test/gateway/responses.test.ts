import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { zodTextFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { DEFAULTS } from '../../src/config/index.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { schemaErrors } from '../helpers/sim-validate.js';
import { sqliteOf } from '../helpers/db.js';

// The Responses API through the gateway on the simulated provider, with the official openai
// client unmodified: whole, streamed, tools, structured output, refusals, metering.

let t: TestRuntime;
let agentId: string;
let token: string;
let client: OpenAI;

beforeAll(async () => {
  t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
  const created = await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'responses-tests', budgetUsd: 5 }) })).json();
  agentId = created.agentId;
  token = created.token;
  client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token, maxRetries: 0 });
});
afterAll(async () => t?.stop());

interface Row {
  endpoint: string;
  model: string;
  stream: number;
  status: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
  usage_source: string;
  redactions: number;
}
const rows = (): Row[] => sqliteOf(t.rt.state).prepare('SELECT * FROM llm_requests WHERE agent_id = ? ORDER BY id').all(agentId) as Row[];
const spent = async (): Promise<number> => (await (await t.api(`/api/agents/${agentId}/costs`)).json()).spentUsd;

/** A raw request, for what the SDK would hide: status, headers and the exact bytes. */
const post = (body: object) => fetch(`${t.rt.url}/v1/responses`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** An SSE body as its events, each with its `event:` name and parsed data. */
function events(text: string): Array<{ event: string; data: any }> {
  return text
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((b) => ({ event: /^event: (.*)$/m.exec(b)?.[1] ?? '', data: JSON.parse(/^data: (.*)$/m.exec(b)![1]!) }));
}

describe('POST /v1/responses with the official openai client (simulated provider)', () => {
  it('answers a string input whole, with output_text, usage, and a ledger row for endpoint responses', async () => {
    const before = rows().length;
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: hello from the responses API' });
    expect(r.object).toBe('response');
    expect(r.status).toBe('completed');
    expect(r.output_text).toBe('hello from the responses API');
    expect(r.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: 'hello from the responses API', annotations: [] }] });
    expect(r.usage!.input_tokens).toBeGreaterThan(0);
    expect(r.usage!.total_tokens).toBe(r.usage!.input_tokens + r.usage!.output_tokens);
    const row = rows().at(-1)!;
    expect(rows()).toHaveLength(before + 1);
    expect(row).toMatchObject({
      endpoint: 'responses',
      model: 'gpt-4o-mini',
      stream: 0,
      status: 'ok',
      usage_source: 'provider',
      prompt_tokens: r.usage!.input_tokens,
      completion_tokens: r.usage!.output_tokens,
    });
    expect(row.cost_micros).toBeGreaterThan(0);
  });

  it('reads instructions and an item list of messages with input_text and output_text parts', async () => {
    const r = await client.responses.create({
      model: 'gpt-4o',
      instructions: 'You are terse.',
      input: [
        { role: 'user', content: 'Say something.' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Something.' }] },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Repeat exactly: items work' }] },
      ],
    } as never);
    expect(r.output_text).toBe('items work');
    expect(r.instructions).toBe('You are terse.');
  });

  it('streams typed events with event: lines and gapless sequence numbers; responses.stream() assembles them', async () => {
    const stream = client.responses.stream({ model: 'gpt-4o', input: 'Repeat exactly: one two three four five' });
    const seen: Array<{ type: string; sequence_number: number }> = [];
    let deltas = '';
    for await (const ev of stream) {
      seen.push(ev);
      if (ev.type === 'response.output_text.delta') deltas += ev.delta;
    }
    const final = await stream.finalResponse();
    expect(deltas).toBe('one two three four five');
    expect(final.output_text).toBe('one two three four five');
    expect(seen.map((e) => e.sequence_number)).toEqual(seen.map((_, i) => i));
    const types = [...new Set(seen.map((e) => e.type))];
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      'response.output_text.delta',
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const done = seen.at(-1) as any;
    expect(done.response.usage).toMatchObject({ input_tokens: expect.any(Number), output_tokens: 5, input_tokens_details: { cached_tokens: 0 }, output_tokens_details: { reasoning_tokens: 0 } });
    expect(rows().at(-1)).toMatchObject({ endpoint: 'responses', stream: 1, status: 'ok', usage_source: 'provider', completion_tokens: 5 });

    // The raw bytes: every event names itself on an `event:` line, and the body is not re-chunked for usage.
    const raw = await (await post({ model: 'gpt-4o', input: 'Repeat exactly: raw bytes', stream: true })).text();
    for (const e of events(raw)) expect(e.event).toBe(e.data.type);
    expect(raw).not.toContain('[DONE]');
  });

  it('create({ stream: true }) iterates the same events', async () => {
    const s = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: iterated', stream: true });
    let text = '';
    for await (const ev of s) if (ev.type === 'response.output_text.delta') text += ev.delta;
    expect(text).toBe('iterated');
  });

  it('cuts at max_output_tokens: status incomplete, reason max_output_tokens, charged what it produced', async () => {
    const long = Array.from({ length: 60 }, (_, i) => `word${i}`).join(' ');
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: `Repeat exactly: ${long}`, max_output_tokens: 16 });
    expect(r.status).toBe('incomplete');
    expect(r.incomplete_details).toEqual({ reason: 'max_output_tokens' });
    expect(r.usage!.output_tokens).toBeLessThanOrEqual(16);
    expect(long.startsWith(r.output_text)).toBe(true);
    const s = client.responses.stream({ model: 'gpt-4o-mini', input: `Repeat exactly: ${long}`, max_output_tokens: 16 });
    const last = await s.finalResponse();
    expect(last.status).toBe('incomplete');
    expect(rows().at(-1)).toMatchObject({ status: 'ok', usage_source: 'provider', completion_tokens: last.usage!.output_tokens });
  });
});

describe('tools and structured output on /v1/responses', () => {
  const weather = {
    type: 'function' as const,
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: { type: 'object', properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } }, required: ['city', 'unit'], additionalProperties: false },
    strict: true,
  };

  it('a function_call, then its function_call_output, then a text answer (the agent loop)', async () => {
    const before = rows().length;
    const input: any[] = [{ role: 'user', content: 'What is the weather in Paris right now?' }];
    const first = await client.responses.create({ model: 'gpt-4o', input, tools: [weather] });
    const call = first.output.find((o) => o.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error(`expected a function_call, got ${JSON.stringify(first.output)}`);
    expect(call).toMatchObject({ name: 'get_weather', status: 'completed', call_id: expect.any(String), id: expect.any(String) });
    expect(schemaErrors(weather.parameters, JSON.parse(call.arguments))).toEqual([]);
    expect(first.output_text).toBe('');
    input.push(...first.output, { type: 'function_call_output', call_id: call.call_id, output: JSON.stringify({ temperature: 18, sky: 'clear' }) });
    const second = await client.responses.create({ model: 'gpt-4o', input, tools: [weather] });
    expect(second.output.map((o) => o.type)).toEqual(['message']);
    expect(second.output_text.length).toBeGreaterThan(0);
    expect(
      rows()
        .slice(before)
        .map((r) => [r.endpoint, r.status]),
    ).toEqual([
      ['responses', 'ok'],
      ['responses', 'ok'],
    ]);
    expect(rows().at(-2)!.completion_tokens).toBeGreaterThan(0);
  });

  it('takes an output the client writes of its own, named instead of answering a call (Codex CLI’s goal), and reads it as any tool output', async () => {
    // As Codex CLI 0.169 sends its goal: no call_id, a name and a namespace.
    const goal = { type: 'function_call_output', id: 'fco_01a219fc-e645-7743-8b12-cd9a152df4f3', name: 'goal_objective', namespace: 'agent', output: 'Summarize the notes for ada@example.com' };
    const r = await post({ model: 'gpt-4o', input: [{ role: 'user', content: 'Go on.' }, goal] });
    expect(r.status).toBe(200);
    expect((await r.json()).status).toBe('completed');
    // Its text went through the PII scan like any tool output.
    expect(rows().at(-1)).toMatchObject({ endpoint: 'responses', status: 'ok', redactions: 1 });
  });

  it('streams the arguments as deltas; tool_choice required forces a call', async () => {
    const s = client.responses.stream({ model: 'gpt-4o', input: 'Hello there.', tools: [weather], tool_choice: 'required' });
    const deltas: string[] = [];
    let done: any = null;
    s.on('response.function_call_arguments.delta', (e) => deltas.push(e.delta));
    s.on('response.function_call_arguments.done', (e) => (done = e));
    const final = await s.finalResponse();
    const call = final.output[0]!;
    if (call.type !== 'function_call') throw new Error(`expected a function_call, got ${call.type}`);
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.join('')).toBe(call.arguments);
    expect(done).toMatchObject({ name: 'get_weather', arguments: call.arguments, item_id: call.id });
    expect(schemaErrors(weather.parameters, JSON.parse(call.arguments))).toEqual([]);
    expect(rows().at(-1)).toMatchObject({ endpoint: 'responses', stream: 1, status: 'ok', usage_source: 'provider' });
  });

  it('text.format json_schema: JSON valid against the schema, and responses.parse with a zod format', async () => {
    const schema = {
      type: 'object',
      properties: { company: { type: 'string' }, score: { type: 'integer', minimum: 0, maximum: 10 }, tags: { type: 'array', items: { type: 'string', enum: ['hot', 'cold'] } } },
      required: ['company', 'score', 'tags'],
      additionalProperties: false,
    };
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'Rate the lead Acme Robotics.', text: { format: { type: 'json_schema', name: 'lead', schema, strict: true } } });
    expect(schemaErrors(schema, JSON.parse(r.output_text))).toEqual([]);
    const Lead = z.object({ company: z.string(), score: z.number().int().min(0).max(10), hot: z.boolean() });
    const parsed = await client.responses.parse({ model: 'gpt-4o-mini', input: 'Rate the lead Acme Robotics.', text: { format: zodTextFormat(Lead, 'lead') } });
    expect(Lead.parse(parsed.output_parsed)).toEqual(parsed.output_parsed);
    const streamed = await client.responses.stream({ model: 'gpt-4o-mini', input: 'Rate the lead Acme Robotics.', text: { format: zodTextFormat(Lead, 'lead') } }).finalResponse();
    expect(Lead.parse(streamed.output_parsed)).toEqual(streamed.output_parsed);
  });
});

describe('refusals on /v1/responses: OpenAI-shaped 400s, nothing charged', () => {
  const cases: Array<[string, object, RegExp]> = [
    [
      'a conversation and a previous_response_id',
      { input: 'hi', conversation: 'conv_123', previous_response_id: 'resp_1' },
      /^400 Mutually exclusive parameters: .*'previous_response_id' or 'conversation'/,
    ],
    ['a conversation that is no id', { input: 'hi', conversation: { name: 'x' } }, /Invalid type for 'conversation'/],
    ['a previous_response_id that is not a string', { input: 'hi', previous_response_id: 42 }, /Invalid type for 'previous_response_id'/],
    [
      'an unknown item type',
      {
        input: [
          { type: 'message', role: 'user', content: 'hi' },
          { type: 'telepathy', text: 'x' },
        ],
      },
      /Invalid value for 'input\[1\]\.type': "telepathy"\. Supported values are: 'message', 'function_call', 'function_call_output'/,
    ],
    ['an unknown content part', { input: [{ role: 'user', content: [{ type: 'text', text: 'hi' }] }] }, /Invalid value for 'input\[0\]\.content\[0\]\.type': "text"/],
    ['a message with a bad role', { input: [{ role: 'robot', content: 'hi' }] }, /Invalid value for 'input\[0\]\.role': "robot"/],
    ['a function_call_output without call_id', { input: [{ type: 'function_call_output', output: '42' }] }, /Missing required parameter: 'input\[0\]\.call_id'/],
    ['an item reference without its id', { input: [{ type: 'item_reference' }] }, /Missing required parameter: 'input\[0\]\.id'/],
    ['no input', {}, /Missing required parameter: 'input'/],
    ['a chat-shaped tool', { input: 'hi', tools: [{ type: 'function', function: { name: 'f', parameters: {} } }] }, /Missing required parameter: 'tools\[0\]\.name'/],
    [
      'a tool schema that is not JSON Schema',
      { input: 'hi', tools: [{ type: 'function', name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'town' } } } }] },
      /Invalid schema for function 'get_weather'/,
    ],
    ['an unknown tool type', { input: 'hi', tools: [{ type: 'teleport' }] }, /Invalid value for 'tools\[0\]\.type': "teleport"/],
    [
      'tool_choice naming no tool',
      { input: 'hi', tools: [{ type: 'function', name: 'a', parameters: { type: 'object', properties: {} } }], tool_choice: { type: 'function', name: 'b' } },
      /function 'b' is not among the functions in 'tools'/,
    ],
    ['an unknown text.format', { input: 'hi', text: { format: { type: 'yaml' } } }, /Invalid value for 'text\.format\.type': "yaml"/],
    ['a json_schema format without a schema', { input: 'hi', text: { format: { type: 'json_schema', name: 'x' } } }, /Missing required parameter: 'text\.format\.schema'/],
    ['a bad json_schema schema', { input: 'hi', text: { format: { type: 'json_schema', name: 'answer', schema: { type: 'object', required: 'x' } } } }, /Invalid schema for response_format 'answer'/],
    ['json_object without the word json', { input: 'hi', text: { format: { type: 'json_object' } } }, /must contain the word 'json'/],
    ['max_output_tokens below 16', { input: 'hi', max_output_tokens: 5 }, /Invalid 'max_output_tokens': integer below minimum value\. Expected a value >= 16, but got 5 instead\./],
    ['a temperature above 2', { input: 'hi', temperature: 5 }, /Invalid 'temperature': decimal above maximum value/],
    ['background mode', { input: 'hi', background: true }, /does not run background responses/],
    ['a chat parameter (n)', { input: 'hi', n: 3 }, /Unknown parameter: 'n'\. The Responses API gives one answer per request\./],
    ['a chat parameter (messages)', { input: 'hi', messages: [{ role: 'user', content: 'hi' }] }, /Unknown parameter: 'messages'\./],
    ['an empty input list', { input: [] }, /Invalid 'input': empty array/],
    ['a reasoning item without its summary', { input: [{ type: 'reasoning' }, { role: 'user', content: 'hi' }] }, /Missing required parameter: 'input\[0\]\.summary'/],
    ['a computer_call without call_id', { input: [{ type: 'computer_call' }] }, /Missing required parameter: 'input\[0\]\.call_id'/],
  ];

  it.each(cases)('refuses %s', async (_name, body, message) => {
    const before = { rows: rows().length, spent: await spent() };
    const err = await client.responses.create({ model: 'gpt-4o-mini', ...body } as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    const e = err as InstanceType<typeof OpenAI.BadRequestError>;
    expect(e.status).toBe(400);
    expect(e.type).toBe('invalid_request_error');
    expect(e.message).toMatch(message);
    expect(rows()).toHaveLength(before.rows);
    expect(await spent()).toBe(before.spent);
  });

  it('the raw 400 is OpenAI-shaped', async () => {
    const r = await post({ model: 'gpt-4o', input: 'hi', conversation: 'conv_1', previous_response_id: 'resp_1' });
    expect(r.status).toBe(400);
    expect(await r.json()).toEqual({ error: { message: expect.stringContaining('conversation'), type: 'invalid_request_error', param: null, code: null } });
  });
});
