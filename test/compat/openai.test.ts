import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import type { ResponseInputItem } from 'openai/resources/responses/responses';
import { zodResponseFormat, zodTextFormat } from 'openai/helpers/zod';
import { countingFetch, exportAgentEnv, metered, NO_BUDGET_USD, Person, refusedOnce, startCompatServer, WEATHER, type CompatServer } from '../helpers/compat.js';

// The official `openai` SDK as an unmodified agent uses it: `new OpenAI()`, configured only by
// the OPENAI_BASE_URL / OPENAI_API_KEY iron-cage exports.
let s: CompatServer;
let client: OpenAI;
beforeAll(async () => {
  s = await startCompatServer('openai-sdk');
  exportAgentEnv(s);
  client = new OpenAI();
});
afterAll(async () => s?.stop());

const weatherTool: ChatCompletionTool = {
  type: 'function',
  function: {
    name: WEATHER.name,
    description: WEATHER.description,
    parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
    strict: true,
  },
};

describe('openai SDK: chat completions', () => {
  it('text', async () => {
    const r = await metered(s, s.agent, ['chat'], () => client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: caged hello' }] }));
    expect(r.choices[0]!.message.content).toBe('caged hello');
  });

  it('stream', async () => {
    const text = await metered(s, s.agent, ['chat'], async () => {
      const stream = await client.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'Repeat exactly: one two three' }] });
      let out = '';
      for await (const chunk of stream) out += chunk.choices[0]?.delta?.content ?? '';
      return out;
    });
    expect(text).toBe('one two three');
  });

  it('tools: a multi-step loop (tool call, tool result, answer)', async () => {
    const messages: ChatCompletionMessageParam[] = [{ role: 'user', content: WEATHER.prompt }];
    const answer = await metered(s, s.agent, ['chat', 'chat'], async () => {
      for (let step = 0; step < 3; step++) {
        const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools: [weatherTool] });
        const msg = r.choices[0]!.message;
        if (!msg.tool_calls?.length) return msg.content;
        expect(r.choices[0]!.finish_reason).toBe('tool_calls');
        messages.push(msg);
        for (const call of msg.tool_calls) {
          if (call.type !== 'function') throw new Error(`unexpected tool call type ${call.type}`);
          expect(call.function.name).toBe(WEATHER.name);
          expect(JSON.parse(call.function.arguments)).toEqual({ city: expect.any(String) });
          messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify(WEATHER.result(JSON.parse(call.function.arguments).city)) });
        }
      }
      return null;
    });
    expect(typeof answer).toBe('string');
    expect(answer!.length).toBeGreaterThan(0);
  });

  it('tools: streamed tool-call arguments assemble into valid JSON', async () => {
    const final = await metered(s, s.agent, ['chat'], () =>
      client.chat.completions.stream({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools: [weatherTool], tool_choice: 'required' }).finalChatCompletion(),
    );
    const call = final.choices[0]!.message.tool_calls![0]!;
    expect(call.type === 'function' && JSON.parse(call.function.arguments)).toEqual({ city: expect.any(String) });
  });

  it('structured output: chat.completions.parse with a zod schema', async () => {
    const r = await metered(s, s.agent, ['chat'], () =>
      client.chat.completions.parse({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Invent a sales lead.' }], response_format: zodResponseFormat(Person, 'person') }),
    );
    expect(Person.parse(r.choices[0]!.message.parsed)).toEqual(r.choices[0]!.message.parsed);
  });

  it('structured output: json_object mode returns a JSON object', async () => {
    const r = await metered(s, s.agent, ['chat'], () =>
      client.chat.completions.create({ model: 'gpt-4o-mini', response_format: { type: 'json_object' }, messages: [{ role: 'user', content: 'Describe a lead as JSON.' }] }),
    );
    const parsed: unknown = JSON.parse(r.choices[0]!.message.content!);
    expect(parsed).toBeTypeOf('object');
    expect(Array.isArray(parsed)).toBe(false);
  });

  it('embeddings', async () => {
    const e = await metered(s, s.agent, ['embeddings'], () => client.embeddings.create({ model: 'text-embedding-3-small', input: ['first lead', 'second lead'] }));
    expect(e.data.map((d) => d.embedding.length)).toEqual([1536, 1536]);
  });
});

describe('openai SDK: Responses API', () => {
  it('text, with instructions', async () => {
    const r = await metered(s, s.agent, ['responses'], () => client.responses.create({ model: 'gpt-4o-mini', instructions: 'Be brief.', input: 'Repeat exactly: responses work' }));
    expect(r.output_text).toBe('responses work');
    expect(r.usage!.input_tokens).toBeGreaterThan(0);
  });

  it('stream: typed events, usage on response.completed', async () => {
    const events = await metered(s, s.agent, ['responses'], async () => {
      const stream = await client.responses.create({ model: 'gpt-4o-mini', input: [{ role: 'user', content: 'Repeat exactly: streamed responses here' }], stream: true });
      const seen: Array<{ type: string; delta?: string; usage?: unknown }> = [];
      for await (const ev of stream) seen.push({ type: ev.type, ...('delta' in ev ? { delta: String(ev.delta) } : {}), ...(ev.type === 'response.completed' ? { usage: ev.response.usage } : {}) });
      return seen;
    });
    expect(events[0]!.type).toBe('response.created');
    expect(
      events
        .filter((e) => e.type === 'response.output_text.delta')
        .map((e) => e.delta)
        .join(''),
    ).toBe('streamed responses here');
    expect(events.at(-1)).toMatchObject({ type: 'response.completed', usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number) } });
  });

  it('tools: function_call, function_call_output, answer', async () => {
    const tools = [{ type: 'function' as const, name: WEATHER.name, description: WEATHER.description, strict: true, parameters: weatherTool.function.parameters! }];
    const input: ResponseInputItem[] = [{ role: 'user', content: WEATHER.prompt }];
    const answer = await metered(s, s.agent, ['responses', 'responses'], async () => {
      for (let step = 0; step < 3; step++) {
        const r = await client.responses.create({ model: 'gpt-4o-mini', input, tools });
        const calls = r.output.filter((o) => o.type === 'function_call');
        if (calls.length === 0) return r.output_text;
        input.push(...r.output.filter((o) => o.type === 'function_call' || o.type === 'message'));
        for (const call of calls) {
          expect(JSON.parse(call.arguments)).toEqual({ city: expect.any(String) });
          input.push({ type: 'function_call_output', call_id: call.call_id, output: JSON.stringify(WEATHER.result(JSON.parse(call.arguments).city)) });
        }
      }
      return null;
    });
    expect(answer).toBeTypeOf('string');
    expect(answer!.length).toBeGreaterThan(0);
  });

  it('structured output: responses.parse with a zod text format', async () => {
    const r = await metered(s, s.agent, ['responses'], () => client.responses.parse({ model: 'gpt-4o-mini', input: 'Invent a sales lead.', text: { format: zodTextFormat(Person, 'person') } }));
    expect(Person.parse(r.output_parsed)).toEqual(r.output_parsed);
  });
});

describe('openai SDK: budget refusal', () => {
  it('raises at once (402, one attempt, nothing charged) on chat and on responses, naming the budget', async () => {
    const poor = await s.mint('openai-sdk-poor', NO_BUDGET_USD);
    const counter = countingFetch();
    // The SDK's default retry policy (2 retries) stays on: the refusal must not trigger it.
    const c = new OpenAI({ baseURL: s.openaiBaseUrl, apiKey: poor.token, fetch: counter.fetch });
    const err = await refusedOnce(s, poor, counter, () => c.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }));
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect((err as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((err as InstanceType<typeof OpenAI.APIError>).code).toBe('budget_exceeded');
    const rerr = await refusedOnce(s, poor, counter, () => c.responses.create({ model: 'gpt-4o-mini', input: 'hi' }));
    expect((rerr as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
  });
});
