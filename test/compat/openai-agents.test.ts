import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { Agent, OpenAIChatCompletionsModel, OpenAIResponsesModel, run, tool, type Model } from '@openai/agents';
import { countingFetch, exportAgentEnv, metered, NO_BUDGET_USD, Person, refusedOnce, startCompatServer, WEATHER, type CompatServer } from '../helpers/compat.js';

// The OpenAI Agents SDK (`@openai/agents`). Its default (an Agent with a model name) uses the
// Responses API through an OpenAI client it builds from OPENAI_BASE_URL / OPENAI_API_KEY, which
// iron-cage exports; the chat-completions model is the SDK's documented alternative.
let s: CompatServer;
beforeAll(async () => {
  s = await startCompatServer('openai-agents');
  exportAgentEnv(s);
  // As docs/api.md tells users: the SDK's traces would go straight to api.openai.com, past the cage.
  process.env.OPENAI_AGENTS_DISABLE_TRACING = '1';
});
afterAll(async () => s?.stop());

const weather = tool({
  name: WEATHER.name,
  description: WEATHER.description,
  parameters: WEATHER.args,
  execute: async ({ city }) => JSON.stringify(WEATHER.result(city)),
});

describe.each([
  { api: 'the Responses API (default)', endpoint: 'responses', model: (): string | Model => 'gpt-4o-mini' },
  { api: 'chat completions (OpenAIChatCompletionsModel)', endpoint: 'chat', model: (): string | Model => new OpenAIChatCompletionsModel(new OpenAI(), 'gpt-4o-mini') },
])('@openai/agents on $api', ({ endpoint, model }) => {
  it('text: run', async () => {
    const agent = new Agent({ name: 'echo', instructions: 'Answer briefly.', model: model() });
    const r = await metered(s, s.agent, [endpoint], () => run(agent, 'Repeat exactly: agents hello'));
    expect(r.finalOutput).toBe('agents hello');
  });

  it('stream: run with stream: true', async () => {
    const agent = new Agent({ name: 'echo', instructions: 'Answer briefly.', model: model() });
    const text = await metered(s, s.agent, [endpoint], async () => {
      const r = await run(agent, 'Repeat exactly: agents streamed words', { stream: true });
      let out = '';
      for await (const d of r.toTextStream()) out += d;
      await r.completed;
      return out;
    });
    expect(text).toBe('agents streamed words');
  });

  it('tools: Agent + tool() + run (tool call, tool result, answer)', async () => {
    const agent = new Agent({ name: 'weather', instructions: 'Use your tools.', model: model(), tools: [weather] });
    const r = await metered(s, s.agent, [endpoint, endpoint], () => run(agent, WEATHER.prompt, { maxTurns: 3 }));
    const items = r.newItems.map((i) => i.type);
    expect(items).toContain('tool_call_item');
    expect(items).toContain('tool_call_output_item');
    expect(r.finalOutput).toBeTypeOf('string');
    expect((r.finalOutput as string).length).toBeGreaterThan(0);
  });

  it('structured output: outputType', async () => {
    const agent = new Agent({ name: 'leads', instructions: 'Invent a sales lead.', model: model(), outputType: Person });
    const r = await metered(s, s.agent, [endpoint], () => run(agent, 'Invent a sales lead.'));
    expect(Person.parse(r.finalOutput)).toEqual(r.finalOutput);
  });

  it('budget refusal: raised at once (no retry), naming the budget', async () => {
    const poor = await s.mint(`openai-agents-poor-${endpoint}`, NO_BUDGET_USD);
    const counter = countingFetch();
    const client = new OpenAI({ baseURL: s.openaiBaseUrl, apiKey: poor.token, fetch: counter.fetch });
    const m = endpoint === 'responses' ? new OpenAIResponsesModel(client, 'gpt-4o-mini') : new OpenAIChatCompletionsModel(client, 'gpt-4o-mini');
    await refusedOnce(s, poor, counter, () => run(new Agent({ name: 'poor', model: m }), 'hi'));
  });
});

// `run(agent, input, { previousResponseId })`: each run continues the last by its response id,
// which the gateway resolves from what it kept; the runs within one (a tool call, then the
// answer) chain the same way.
describe.each([false, true])('@openai/agents previousResponseId chain of 10 runs with a tool (stream: %s)', (stream) => {
  it('every run is answered and metered, its whole context counted', async () => {
    const before = s.ledger(s.agent.agentId).length;
    const agent = new Agent({ name: 'chain', instructions: 'Answer briefly.', model: 'gpt-4o-mini', tools: [weather] });
    let previousResponseId: string | undefined;
    for (let i = 0; i < 10; i++) {
      const input = i === 4 ? WEATHER.prompt : `Repeat exactly: agents turn ${i}`;
      let output: unknown;
      if (stream) {
        const r = await run(agent, input, { previousResponseId, stream: true, maxTurns: 3 });
        for await (const _ of r.toTextStream()) {
          /* read to the end */
        }
        await r.completed;
        output = r.finalOutput;
        previousResponseId = r.lastResponseId;
      } else {
        const r = await run(agent, input, { previousResponseId, maxTurns: 3 });
        output = r.finalOutput;
        previousResponseId = r.lastResponseId;
      }
      if (i !== 4) expect(output).toBe(`agents turn ${i}`);
      else expect((output as string).length).toBeGreaterThan(0);
      expect(previousResponseId).toMatch(/^resp_/);
    }
    const rows = s.ledger(s.agent.agentId).slice(before);
    // Ten runs, one of which called the tool first: eleven calls.
    expect(rows).toHaveLength(11);
    for (const r of rows) expect(r).toMatchObject({ endpoint: 'responses', status: 'ok' });
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prompt_tokens).toBeGreaterThan(rows[i - 1]!.prompt_tokens);
  });
});

// `run(agent, input, { conversationId })`: the conversation (created with the SDK's own OpenAI
// client) holds the state; each run sends only its new items and the gateway reads the rest
// from the conversation it keeps, a tool call and its output included.
describe.each([false, true])('@openai/agents conversationId over 5 runs with a tool (stream: %s)', (stream) => {
  it('every run is answered and metered, the conversation growing with each', async () => {
    const conv = await new OpenAI().conversations.create({ metadata: { via: 'agents' } });
    const before = s.ledger(s.agent.agentId).length;
    const agent = new Agent({ name: 'conversing', instructions: 'Answer briefly.', model: 'gpt-4o-mini', tools: [weather] });
    for (let i = 0; i < 5; i++) {
      const input = i === 2 ? WEATHER.prompt : `Repeat exactly: conversation turn ${i}`;
      let output: unknown;
      if (stream) {
        const r = await run(agent, input, { conversationId: conv.id, stream: true, maxTurns: 3 });
        for await (const _ of r.toTextStream()) {
          /* read to the end */
        }
        await r.completed;
        output = r.finalOutput;
      } else {
        output = (await run(agent, input, { conversationId: conv.id, maxTurns: 3 })).finalOutput;
      }
      if (i !== 2) expect(output).toBe(`conversation turn ${i}`);
      else expect((output as string).length).toBeGreaterThan(0);
    }
    const rows = s.ledger(s.agent.agentId).slice(before);
    // Five runs, one of which called the tool first: six calls, each with the conversation so far.
    expect(rows).toHaveLength(6);
    for (const r of rows) expect(r).toMatchObject({ endpoint: 'responses', status: 'ok' });
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prompt_tokens).toBeGreaterThan(rows[i - 1]!.prompt_tokens);
    const items = (await new OpenAI().conversations.items.list(conv.id, { order: 'asc', limit: 100 })).data;
    expect(items.filter((it) => it.type === 'function_call')).toHaveLength(1);
    expect(items.filter((it) => it.type === 'function_call_output')).toHaveLength(1);
    expect(items.filter((it) => it.type === 'message' && it.role === 'user')).toHaveLength(5);
  });
});
