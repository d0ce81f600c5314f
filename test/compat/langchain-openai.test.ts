import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatOpenAI, OpenAIEmbeddings } from '@langchain/openai';
import { toolLoop, weather } from '../helpers/compat-langchain.js';
import { z } from 'zod';
import { countingFetch, exportAgentEnv, metered, NO_BUDGET_USD, Person, refusedOnce, startCompatServer, type CompatAgent, type CompatServer } from '../helpers/compat.js';

// LangChain JS (`@langchain/openai`) on chat completions (its default) and on the Responses API
// (`useResponsesApi: true`). The agent's models get no URL or key: they read the OPENAI_BASE_URL /
// OPENAI_API_KEY iron-cage exports; the refusal tests set `configuration.baseURL` from the same
// printed value.
let s: CompatServer;
beforeAll(async () => {
  s = await startCompatServer('langchain-openai');
  exportAgentEnv(s);
});
afterAll(async () => s?.stop());

const chat = (useResponsesApi: boolean) => new ChatOpenAI({ model: 'gpt-4o-mini', useResponsesApi });
const explicitChat = (agent: CompatAgent, useResponsesApi: boolean, fetch: typeof globalThis.fetch) =>
  new ChatOpenAI({ model: 'gpt-4o-mini', apiKey: agent.token, useResponsesApi, configuration: { baseURL: s.openaiBaseUrl, fetch } });

describe.each([
  { api: 'chat completions', useResponsesApi: false, endpoint: 'chat' },
  { api: 'Responses API (useResponsesApi)', useResponsesApi: true, endpoint: 'responses' },
])('LangChain ChatOpenAI on $api', ({ useResponsesApi, endpoint }) => {
  it('text: invoke', async () => {
    const r = await metered(s, s.agent, [endpoint], () => chat(useResponsesApi).invoke('Repeat exactly: langchain hello'));
    expect(r.text).toBe('langchain hello');
    expect(r.usage_metadata?.input_tokens).toBeGreaterThan(0);
  });

  it('stream', async () => {
    const text = await metered(s, s.agent, [endpoint], async () => {
      let out = '';
      for await (const chunk of await chat(useResponsesApi).stream('Repeat exactly: langchain streamed words')) out += chunk.text;
      return out;
    });
    expect(text).toBe('langchain streamed words');
  });

  it('tools: bindTools, a ToolMessage, then the answer', async () => {
    const model = chat(useResponsesApi).bindTools([weather]);
    const answer = await metered(s, s.agent, [endpoint, endpoint], () => toolLoop(model));
    expect(answer).toBeTypeOf('string');
    expect(answer!.length).toBeGreaterThan(0);
  });

  it.each(['jsonSchema', 'functionCalling'] as const)('structured output: withStructuredOutput (method %s), one call', async (method) => {
    const model = chat(useResponsesApi).withStructuredOutput(Person, { method, name: 'person' });
    const r = await metered(s, s.agent, [endpoint], () => model.invoke('Invent a sales lead.'));
    expect(r).toBeDefined();
    expect(Person.parse(r)).toEqual(r);
  });

  it('structured output: withStructuredOutput (method jsonMode), the schema given in the prompt, one call', async () => {
    // json_object sends no schema: as LangChain's docs say, the prompt must describe the format.
    const model = chat(useResponsesApi).withStructuredOutput(Person, { method: 'jsonMode' });
    const prompt = `Invent a sales lead. Answer with one JSON object that follows this JSON Schema: ${JSON.stringify(z.toJSONSchema(Person))}`;
    const r = await metered(s, s.agent, [endpoint], () => model.invoke(prompt));
    expect(Person.parse(r)).toEqual(r);
  });

  it('budget refusal: raised at once (no retry), naming the budget', async () => {
    const poor = await s.mint(`langchain-openai-poor-${endpoint}`, NO_BUDGET_USD);
    const counter = countingFetch();
    // LangChain's default maxRetries (6) stays on: the refusal must not trigger it.
    await refusedOnce(s, poor, counter, () => explicitChat(poor, useResponsesApi, counter.fetch).invoke('hi'));
  });
});

describe('LangChain OpenAIEmbeddings', () => {
  it('embedDocuments and embedQuery', async () => {
    const e = new OpenAIEmbeddings({ model: 'text-embedding-3-small' });
    const [docs, query] = await metered(s, s.agent, ['embeddings', 'embeddings'], async () => [await e.embedDocuments(['first lead', 'second lead']), await e.embedQuery('a lead')] as const);
    expect(docs.map((d) => d.length)).toEqual([1536, 1536]);
    expect(query).toHaveLength(1536);
  });
});
