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
    // The pangram is 9 tokens (The| quick| brown| fox| jumps| over| the| lazy| dog). OpenAI's
    // prices per million input tokens, each call rounded up to a whole micro-dollar:
    //   text-embedding-3-small $0.02: 9 × 0.02 = 0.18 µ$ → 1
    //   text-embedding-3-large $0.13: 9 × 0.13 = 1.17 µ$ → 2
    //   text-embedding-ada-002 $0.10: 9 × 0.10 = 0.90 µ$ → 1
    expect(rows).toEqual([
      { model: 'text-embedding-3-small', prompt_tokens: 9, completion_tokens: 0, cost_micros: 1 },
      { model: 'text-embedding-3-large', prompt_tokens: 9, completion_tokens: 0, cost_micros: 2 },
      { model: 'text-embedding-ada-002', prompt_tokens: 9, completion_tokens: 0, cost_micros: 1 },
    ]);
    expect((await events(t, a.agentId)).some((e) => e.type === 'llm.unknown_model' || e.type === 'budget.refused')).toBe(false);
  });
});

describe('a model with no price', () => {
  it('is warned about once (event and log line) and charged the dearest price of its family', async () => {
    // Routed by the operator, so the simulated provider has it (a name no one configured would be its 404).
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway, routing: { 'gpt-4o-2099-01-01': 'openai' } } } });
    const a = await agent(t, 5);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    for (let i = 0; i < 3; i++) await client.chat.completions.create({ model: 'gpt-4o-2099-01-01', max_tokens: 20, messages: [{ role: 'user', content: `hello ${i}` }] });
    const warned = (await events(t, a.agentId)).filter((e) => e.type === 'llm.unknown_model');
    expect(warned).toHaveLength(1);
    expect(warned[0].severity).toBe('warn');
    // The dearest gpt-4o* model is gpt-4o-2024-05-13: $5 per million input tokens, $15 per million output.
    expect(warned[0].data).toMatchObject({ model: 'gpt-4o-2099-01-01', family: 'gpt-4o', inputPerMillionUsd: 5, outputPerMillionUsd: 15 });
    expect(warned[0].data.pricedAs).toMatch(/^openai\/gpt-4o/);
    expect(warned[0].message).toMatch(
      /No price known for model gpt-4o-2099-01-01: charging the price of openai\/gpt-4o\S*, the dearest gpt-4o\* model \(\$5\.00\/M input, \$15\.00\/M output\); set pricing\.gpt-4o-2099-01-01 in the config to fix/,
    );
    expect(
      t
        .log()
        .split('\n')
        .filter((l) => l.includes('No price known for model gpt-4o-2099-01-01')),
    ).toHaveLength(1);
    const rows = sqliteOf(t.rt.state).prepare('SELECT prompt_tokens, completion_tokens, cost_micros FROM llm_requests').all() as any[];
    expect(rows).toHaveLength(3);
    for (const r of rows) {
      // 'hello N' is 10 prompt tokens: <|im_start|>user<|im_sep|>, hello| |N, <|im_end|>, and 3 priming the answer.
      expect(r.prompt_tokens).toBe(10);
      // $5/M and $15/M are 5 and 15 µ$ a token: 10 × 5 + 20 × 15 = 350 µ$ for an answer of 20 tokens.
      expect(r.cost_micros).toBe(10 * 5 + r.completion_tokens * 15);
    }
  });
});
