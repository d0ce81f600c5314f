import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatAnthropic } from '@langchain/anthropic';
import { toolLoop, weather } from '../helpers/compat-langchain.js';
import { countingFetch, exportAgentEnv, metered, NO_BUDGET_USD, Person, refusedOnce, startCompatServer, type CompatServer } from '../helpers/compat.js';

// LangChain JS (`@langchain/anthropic`). The agent's model gets no URL or key: it reads the
// ANTHROPIC_BASE_URL (no /v1) / ANTHROPIC_API_KEY iron-cage exports; the refusal test sets
// `anthropicApiUrl` from the same printed value.
let s: CompatServer;
beforeAll(async () => {
  s = await startCompatServer('langchain-anthropic');
  exportAgentEnv(s);
});
afterAll(async () => s?.stop());

const MODEL = 'claude-3-5-haiku-latest';
const chat = () => new ChatAnthropic({ model: MODEL });

describe('LangChain ChatAnthropic', () => {
  it('text: invoke', async () => {
    const r = await metered(s, s.agent, ['messages'], () => chat().invoke('Repeat exactly: langchain bonjour'));
    expect(r.text).toBe('langchain bonjour');
    expect(r.usage_metadata?.input_tokens).toBeGreaterThan(0);
  });

  it('stream', async () => {
    const text = await metered(s, s.agent, ['messages'], async () => {
      let out = '';
      for await (const chunk of await chat().stream('Repeat exactly: langchain claude streamed')) out += chunk.text;
      return out;
    });
    expect(text).toBe('langchain claude streamed');
  });

  it('tools: bindTools, a ToolMessage, then the answer', async () => {
    const model = chat().bindTools([weather]);
    const answer = await metered(s, s.agent, ['messages', 'messages'], () => toolLoop(model));
    expect(answer).toBeTypeOf('string');
    expect(answer!.length).toBeGreaterThan(0);
  });

  it.each(['functionCalling', 'jsonSchema'] as const)('structured output: withStructuredOutput (method %s), one call', async (method) => {
    const model = chat().withStructuredOutput(Person, { method, name: 'person' });
    const r = await metered(s, s.agent, ['messages'], () => model.invoke('Invent a sales lead.'));
    expect(r).toBeDefined();
    expect(Person.parse(r)).toEqual(r);
  });

  it('budget refusal: raised at once (no retry), naming the budget', async () => {
    const poor = await s.mint('langchain-anthropic-poor', NO_BUDGET_USD);
    const counter = countingFetch();
    // LangChain's default maxRetries (6) stays on: the refusal must not trigger it.
    const model = new ChatAnthropic({ model: MODEL, apiKey: poor.token, anthropicApiUrl: s.anthropicBaseUrl, clientOptions: { fetch: counter.fetch } });
    await refusedOnce(s, poor, counter, () => model.invoke('hi'));
  });
});
