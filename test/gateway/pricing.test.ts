import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { DEFAULTS } from '../../src/config/index.js';
import { startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// Prices through a real server on the simulated provider: embeddings at their real price and
// input only, and a model the table lacks warned about once and priced by its family.

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function agent(rt: TestRuntime, budgetUsd: number) {
  const r = await rt.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: `pr${Math.random().toString(36).slice(2, 7)}`, budgetUsd }) });
  return (await r.json()) as { token: string; agentId: string };
}

const events = async (rt: TestRuntime, agentId: string) => (await (await rt.api(`/api/events?agentId=${agentId}&limit=1000`)).json()).events as any[];

describe('embeddings', () => {
  it('a one-cent budget pays for embeddings: input only, at the real price', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agent(t, 0.01);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    for (const model of ['text-embedding-3-small', 'text-embedding-3-large', 'text-embedding-ada-002']) {
      const r = await client.embeddings.create({ model, input: 'The quick brown fox jumps over the lazy dog' });
      expect(r.data[0]!.embedding.length).toBeGreaterThan(0);
    }
    const rows = sqliteOf(t.rt.state).prepare("SELECT model, prompt_tokens, completion_tokens, cost_micros FROM llm_requests WHERE endpoint = 'embeddings' ORDER BY id").all() as any[];
    expect(rows.map((r) => r.model)).toEqual(['text-embedding-3-small', 'text-embedding-3-large', 'text-embedding-ada-002']);
    const perMillion = [20_000, 130_000, 100_000];
    rows.forEach((r, i) => {
      expect(r.completion_tokens).toBe(0);
      expect(r.cost_micros).toBe(Math.ceil((r.prompt_tokens * perMillion[i]!) / 1_000_000));
    });
    expect((await events(t, a.agentId)).some((e) => e.type === 'llm.unknown_model' || e.type === 'budget.refused')).toBe(false);
  });
});

describe('a model with no price', () => {
  it('is warned about once (event and log line) and charged the dearest price of its family', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agent(t, 5);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'gpt-4o-2099-01-01', max_tokens: 20, messages: [{ role: 'user', content: `hello ${i}` }] });
    const warned = (await events(t, a.agentId)).filter((e) => e.type === 'llm.unknown_model');
    expect(warned).toHaveLength(1);
    expect(warned[0].severity).toBe('warn');
    expect(warned[0].data).toMatchObject({ model: 'gpt-4o-2099-01-01', family: 'gpt-4o' });
    expect(warned[0].data.pricedAs).toMatch(/^openai\/gpt-4o/);
    expect(warned[0].message).toMatch(
      /No price known for model gpt-4o-2099-01-01: charging the price of openai\/gpt-4o\S*, the dearest gpt-4o\* model \(\$[\d.]+\/M input, \$[\d.]+\/M output\); set pricing\.gpt-4o-2099-01-01 in the config to fix/,
    );
    expect(
      t
        .log()
        .split('\n')
        .filter((l) => l.includes('No price known for model gpt-4o-2099-01-01')),
    ).toHaveLength(1);
    const rows = sqliteOf(t.rt.state).prepare('SELECT prompt_tokens, completion_tokens, cost_micros FROM llm_requests').all() as any[];
    const [input, output] = [Math.round(warned[0].data.inputPerMillionUsd * 1e6), Math.round(warned[0].data.outputPerMillionUsd * 1e6)];
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r.cost_micros).toBe(Math.ceil((r.prompt_tokens * input + r.completion_tokens * output) / 1e6));
  });
});
