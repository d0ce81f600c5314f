import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { zodOutputFormat } from '@anthropic-ai/sdk/helpers/zod';
import type { MessageParam, Tool } from '@anthropic-ai/sdk/resources/messages';
import { z } from 'zod';
import { countingFetch, exportAgentEnv, metered, NO_BUDGET_USD, Person, refusedOnce, startCompatServer, WEATHER, type CompatServer } from '../helpers/compat.js';

// The official `@anthropic-ai/sdk` as an unmodified agent uses it: `new Anthropic()`, configured
// only by the ANTHROPIC_BASE_URL (no /v1) / ANTHROPIC_API_KEY iron-cage exports.
let s: CompatServer;
let client: Anthropic;
beforeAll(async () => {
  s = await startCompatServer('anthropic-sdk');
  exportAgentEnv(s);
  client = new Anthropic();
});
afterAll(async () => s?.stop());

const MODEL = 'claude-3-5-haiku-latest';
const weatherTool: Tool = {
  name: WEATHER.name,
  description: WEATHER.description,
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

describe('@anthropic-ai/sdk: messages', () => {
  it('text', async () => {
    const m = await metered(s, s.agent, ['messages'], () => client.messages.create({ model: MODEL, max_tokens: 200, messages: [{ role: 'user', content: 'Repeat exactly: caged bonjour' }] }));
    expect(m.content[0]).toMatchObject({ type: 'text', text: 'caged bonjour' });
  });

  it('stream', async () => {
    const text = await metered(s, s.agent, ['messages'], async () => {
      const stream = client.messages.stream({ model: MODEL, max_tokens: 200, messages: [{ role: 'user', content: 'Repeat exactly: streamed claude words' }] });
      let out = '';
      stream.on('text', (d) => (out += d));
      await stream.finalMessage();
      return out;
    });
    expect(text).toBe('streamed claude words');
  });

  it('tools: a multi-step loop (tool_use, tool_result, answer)', async () => {
    const messages: MessageParam[] = [{ role: 'user', content: WEATHER.prompt }];
    const answer = await metered(s, s.agent, ['messages', 'messages'], async () => {
      for (let step = 0; step < 3; step++) {
        const m = await client.messages.create({ model: MODEL, max_tokens: 300, messages, tools: [weatherTool] });
        const uses = m.content.filter((b) => b.type === 'tool_use');
        if (uses.length === 0) return m.content.flatMap((b) => (b.type === 'text' ? [b.text] : [])).join('');
        expect(m.stop_reason).toBe('tool_use');
        messages.push({ role: 'assistant', content: m.content });
        messages.push({
          role: 'user',
          content: uses.map((u) => {
            expect(u.name).toBe(WEATHER.name);
            expect(u.input).toEqual({ city: expect.any(String) });
            return { type: 'tool_result' as const, tool_use_id: u.id, content: JSON.stringify(WEATHER.result((u.input as { city: string }).city)) };
          }),
        });
      }
      return null;
    });
    expect(answer).toBeTypeOf('string');
    expect(answer!.length).toBeGreaterThan(0);
  });

  it('tools: streamed input_json deltas assemble into the tool input', async () => {
    const final = await metered(s, s.agent, ['messages'], () =>
      client.messages
        .stream({ model: MODEL, max_tokens: 300, messages: [{ role: 'user', content: 'Weather in Oslo?' }], tools: [weatherTool], tool_choice: { type: 'tool', name: WEATHER.name } })
        .finalMessage(),
    );
    const use = final.content.find((b) => b.type === 'tool_use');
    expect(use?.input).toEqual({ city: expect.any(String) });
  });

  it('structured output: a forced tool returns input valid against its schema', async () => {
    const record: Tool = { name: 'record_person', description: 'Record a sales lead', input_schema: z.toJSONSchema(Person) as Tool['input_schema'] };
    const m = await metered(s, s.agent, ['messages'], () =>
      client.messages.create({ model: MODEL, max_tokens: 300, messages: [{ role: 'user', content: 'Invent a sales lead.' }], tools: [record], tool_choice: { type: 'tool', name: 'record_person' } }),
    );
    const use = m.content.find((b) => b.type === 'tool_use');
    expect(Person.safeParse(use?.input).success).toBe(true);
  });

  it('structured output: messages.parse with output_config.format', async () => {
    const m = await metered(s, s.agent, ['messages'], () =>
      client.messages.parse({ model: MODEL, max_tokens: 300, messages: [{ role: 'user', content: 'Invent a sales lead.' }], output_config: { format: zodOutputFormat(Person) } }),
    );
    expect(Person.parse(m.parsed_output)).toEqual(m.parsed_output);
  });

  it("countTokens, models.retrieve and models.list answer in Anthropic's shapes", async () => {
    const n = await client.messages.countTokens({ model: MODEL, messages: [{ role: 'user', content: 'How many tokens is this?' }] });
    expect(n.input_tokens).toBeGreaterThan(0);
    const model = await client.models.retrieve(MODEL);
    expect(model).toMatchObject({ type: 'model', id: MODEL, display_name: expect.any(String) });
    expect(Number.isNaN(Date.parse(model.created_at))).toBe(false);
    const ids: string[] = [];
    for await (const m of client.models.list()) ids.push(m.id);
    expect(ids).toContain(MODEL);
    await expect(client.models.retrieve('claude-no-such-model')).rejects.toMatchObject({ status: 404, error: { type: 'error', error: { type: 'not_found_error' } } });
  });
});

describe('@anthropic-ai/sdk: budget refusal', () => {
  it('raises a billing error at once (402, one attempt, nothing charged), naming the budget', async () => {
    const poor = await s.mint('anthropic-sdk-poor', NO_BUDGET_USD);
    const counter = countingFetch();
    const c = new Anthropic({ baseURL: s.anthropicBaseUrl, apiKey: poor.token, fetch: counter.fetch });
    const err = await refusedOnce(s, poor, counter, () => c.messages.create({ model: MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] }));
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err).not.toBeInstanceOf(Anthropic.RateLimitError);
    expect((err as InstanceType<typeof Anthropic.APIError>).status).toBe(402);
    expect((err as InstanceType<typeof Anthropic.APIError>).error).toMatchObject({ type: 'error', error: { type: 'billing_error' } });
  });
});
