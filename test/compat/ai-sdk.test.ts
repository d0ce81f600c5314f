import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { embedMany, generateObject, generateText, Output, stepCountIs, streamText, tool, type LanguageModel, type ModelMessage } from 'ai';
import { createOpenAI, type OpenAIProvider } from '@ai-sdk/openai';
import { createAnthropic, type AnthropicProvider } from '@ai-sdk/anthropic';
import { countingFetch, exportAgentEnv, metered, NO_BUDGET_USD, Person, refusedOnce, startCompatServer, WEATHER, type CompatAgent, type CompatServer } from '../helpers/compat.js';
import { sqliteOf } from '../helpers/db.js';

// The Vercel AI SDK (ai 6). The agent's own calls use providers built with no options, as the
// default `import { openai } from '@ai-sdk/openai'` is: configured only by the variables iron-cage exports;
// the refusal tests build providers with `baseURL` set from those same printed values (for
// Anthropic: no /v1; the provider appends /messages).
let s: CompatServer;
let defaults: { openai: OpenAIProvider; anthropic: AnthropicProvider };
beforeAll(async () => {
  s = await startCompatServer('ai-sdk');
  exportAgentEnv(s);
  // What the modules' default `openai` / `anthropic` exports are, built now that the variables
  // are set (the exports themselves were built when this file imported the modules).
  defaults = { openai: createOpenAI(), anthropic: createAnthropic() };
});
afterAll(async () => s?.stop());

interface Flavour {
  name: string;
  /** The ledger endpoint each call lands on. */
  endpoint: string;
  /** The model as the agent uses it (default provider instance). */
  model: () => LanguageModel;
  /** The same model from a provider with an explicit `baseURL`, another agent's key and a fetch. */
  explicit: (agent: CompatAgent, fetch: typeof globalThis.fetch) => LanguageModel;
}

const FLAVOURS: Flavour[] = [
  // `openai(model)` is the Responses API since AI SDK 5: what most users get by default.
  {
    name: "openai('gpt-4o-mini') (Responses API)",
    endpoint: 'responses',
    model: () => defaults.openai('gpt-4o-mini'),
    explicit: (a, fetch) => createOpenAI({ baseURL: s.openaiBaseUrl, apiKey: a.token, fetch })('gpt-4o-mini'),
  },
  {
    name: "openai.chat('gpt-4o-mini')",
    endpoint: 'chat',
    model: () => defaults.openai.chat('gpt-4o-mini'),
    explicit: (a, fetch) => createOpenAI({ baseURL: s.openaiBaseUrl, apiKey: a.token, fetch }).chat('gpt-4o-mini'),
  },
  {
    name: "anthropic('claude-3-5-haiku-latest')",
    endpoint: 'messages',
    model: () => defaults.anthropic('claude-3-5-haiku-latest'),
    explicit: (a, fetch) => createAnthropic({ baseURL: s.anthropicBaseUrl, apiKey: a.token, fetch })('claude-3-5-haiku-latest'),
  },
];

const weather = tool({
  description: WEATHER.description,
  inputSchema: WEATHER.args,
  execute: async ({ city }) => WEATHER.result(city),
});

describe.each(FLAVOURS)('AI SDK: $name', (f) => {
  it('text: generateText', async () => {
    const r = await metered(s, s.agent, [f.endpoint], () => generateText({ model: f.model(), prompt: 'Repeat exactly: ai sdk hello' }));
    expect(r.text).toBe('ai sdk hello');
    expect(r.usage.inputTokens).toBeGreaterThan(0);
  });

  it('stream: streamText', async () => {
    const text = await metered(s, s.agent, [f.endpoint], async () => {
      const r = streamText({ model: f.model(), prompt: 'Repeat exactly: ai sdk streamed words' });
      let out = '';
      for await (const d of r.textStream) out += d;
      return out;
    });
    expect(text).toBe('ai sdk streamed words');
  });

  it('tools: a multi-step loop with stopWhen: stepCountIs(3)', async () => {
    const r = await metered(s, s.agent, [f.endpoint, f.endpoint], () => generateText({ model: f.model(), tools: { [WEATHER.name]: weather }, stopWhen: stepCountIs(3), prompt: WEATHER.prompt }));
    expect(r.steps).toHaveLength(2);
    expect(r.steps[0]!.toolCalls.map((c) => c.toolName)).toEqual([WEATHER.name]);
    expect(r.steps[0]!.toolResults[0]!.output).toEqual(WEATHER.result((r.steps[0]!.toolCalls[0]!.input as { city: string }).city));
    expect(r.text.length).toBeGreaterThan(0);
  });

  it('tools: the same loop streamed (streamText with stopWhen)', async () => {
    const text = await metered(s, s.agent, [f.endpoint, f.endpoint], async () => {
      const r = streamText({ model: f.model(), tools: { [WEATHER.name]: weather }, stopWhen: stepCountIs(3), prompt: WEATHER.prompt });
      let out = '';
      for await (const d of r.textStream) out += d;
      expect((await r.steps).map((st) => st.toolCalls.length)).toEqual([1, 0]);
      return out;
    });
    expect(text.length).toBeGreaterThan(0);
  });

  it("tools: toolChoice 'required' streams a valid tool call", async () => {
    const calls = await metered(s, s.agent, [f.endpoint], async () => {
      const r = streamText({ model: f.model(), tools: { [WEATHER.name]: weather }, toolChoice: 'required', prompt: 'Oslo?' });
      return r.toolCalls;
    });
    expect(calls).toHaveLength(1);
    expect(calls[0]!.input).toEqual({ city: expect.any(String) });
  });

  it('structured output: generateObject', async () => {
    const r = await metered(s, s.agent, [f.endpoint], () => generateObject({ model: f.model(), schema: Person, prompt: 'Invent a sales lead.' }));
    expect(Person.parse(r.object)).toEqual(r.object);
  });

  it('structured output: generateText with Output.object', async () => {
    const r = await metered(s, s.agent, [f.endpoint], () => generateText({ model: f.model(), output: Output.object({ schema: Person }), prompt: 'Invent a sales lead.' }));
    expect(Person.parse(r.output)).toEqual(r.output);
  });

  it('budget refusal: raised at once (no retry), naming the budget', async () => {
    const poor = await s.mint(`ai-sdk-poor-${f.endpoint}`, NO_BUDGET_USD);
    const counter = countingFetch();
    // The AI SDK's default maxRetries (2) stays on: the refusal must not trigger it.
    const err = await refusedOnce(s, poor, counter, () => generateText({ model: f.explicit(poor, counter.fetch), prompt: 'hi' }));
    expect(err).toMatchObject({ statusCode: 402, isRetryable: false });
  });
});

describe('AI SDK: embeddings', () => {
  it("embedMany with openai.embedding('text-embedding-3-small')", async () => {
    const r = await metered(s, s.agent, ['embeddings'], () => embedMany({ model: defaults.openai.embedding('text-embedding-3-small'), values: ['first lead', 'second lead'] }));
    expect(r.embeddings.map((e) => e.length)).toEqual([1536, 1536]);
  });
});

// The AI SDK docs' own chat pattern on the default provider (`openai(model)`, the Responses API):
// each turn appends what the last one answered (`messages.push(...r.response.messages, next)`).
// With `store: true` (the provider's default) earlier assistant items go back as item_reference
// ids the gateway resolves from what it kept; with `store: false` they go back whole.
describe.each([
  { store: true, streamed: false },
  { store: true, streamed: true },
  { store: false, streamed: false },
  { store: false, streamed: true },
])('AI SDK chat pattern over 5 turns with tools: store $store, streamed $streamed', ({ store, streamed }) => {
  it('every turn is answered and metered, its whole context counted', async () => {
    const kept = () => (sqliteOf(s.t.rt.state).prepare('SELECT count(*) AS n FROM responses WHERE agent_id = ?').get(s.agent.agentId) as { n: number }).n;
    const keptBefore = kept();
    const rowsBefore = s.ledger(s.agent.agentId).length;
    const turns = [WEATHER.prompt, 'Repeat exactly: second turn', 'What is the weather in Oslo? Use the get_weather tool.', 'Repeat exactly: fourth turn', 'Repeat exactly: fifth turn'];
    const messages: ModelMessage[] = [];
    let calls = 0;
    for (const [i, user] of turns.entries()) {
      messages.push({ role: 'user', content: user });
      const opts = {
        model: defaults.openai('gpt-4o-mini'),
        tools: { [WEATHER.name]: weather },
        stopWhen: stepCountIs(3),
        messages,
        ...(store ? {} : { providerOptions: { openai: { store: false } } }),
      };
      let text: string;
      let steps: number;
      if (streamed) {
        const r = streamText(opts);
        text = '';
        for await (const d of r.textStream) text += d;
        steps = (await r.steps).length;
        messages.push(...(await r.response).messages);
      } else {
        const r = await generateText(opts);
        ({ text } = r);
        steps = r.steps.length;
        messages.push(...r.response.messages);
      }
      calls += steps;
      if (user.startsWith('Repeat exactly: ')) expect(text).toBe(user.slice('Repeat exactly: '.length));
      else expect(steps, `turn ${i + 1} calls the tool, then answers`).toBe(2);
    }
    const rows = s.ledger(s.agent.agentId).slice(rowsBefore);
    expect(rows).toHaveLength(calls);
    for (const r of rows) expect(r).toMatchObject({ endpoint: 'responses', status: 'ok', stream: streamed ? 1 : 0 });
    // Each call sent (and was charged for) everything before it: the prompt only grows.
    for (let i = 1; i < rows.length; i++) expect(rows[i]!.prompt_tokens).toBeGreaterThan(rows[i - 1]!.prompt_tokens);
    expect(kept() - keptBefore).toBe(store ? calls : 0);
  });
});
