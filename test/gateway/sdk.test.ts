import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { join } from 'node:path';
import { ROOT, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { DEFAULTS } from '../../src/config/index.js';

let t: TestRuntime;
let agentId: string;
let token: string;

beforeAll(async () => {
  t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
  const created = await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'sdk-tests', budgetUsd: 5 }) })).json();
  agentId = created.agentId;
  token = created.token;
});
afterAll(async () => t?.stop());

const costs = async () => (await t.api(`/api/agents/${agentId}/costs`)).json();

describe('the official SDKs against the gateway (simulated provider)', () => {
  it('openai: chat completion, metered', async () => {
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token });
    const before = (await costs()).requests;
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: hello from the cage' }] });
    expect(r.choices[0]!.message.content).toBe('hello from the cage');
    expect(r.usage!.prompt_tokens).toBeGreaterThan(0);
    const c = await costs();
    expect(c.requests).toBe(before + 1);
    expect(c.byModel.find((m: any) => m.model === 'gpt-4o-mini').promptTokens).toBeGreaterThanOrEqual(r.usage!.prompt_tokens);
    expect(c.spentUsd).toBeGreaterThan(0);
  });

  it('openai: streaming chat, usage counted without the agent asking for it', async () => {
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'Repeat exactly: one two three four five' }] });
    let text = '';
    let sawUsageChunk = false;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      if (chunk.usage) sawUsageChunk = true;
    }
    expect(text).toBe('one two three four five');
    expect(sawUsageChunk).toBe(false); // the agent did not ask for it; we hid the one we asked for
    const { events } = await (await t.api(`/api/events?agentId=${agentId}&limit=1000`)).json();
    const last = events.filter((e: any) => e.type === 'llm.request').at(-1);
    expect(last.data).toMatchObject({ model: 'gpt-4o', stream: true, status: 'ok', usageSource: 'provider', completionTokens: 5 });
  });

  it('openai: streaming with include_usage passes the usage chunk through', async () => {
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token });
    const stream = await client.chat.completions.create({ model: 'gpt-4o', stream: true, stream_options: { include_usage: true }, messages: [{ role: 'user', content: 'hi' }] });
    let usage: any = null;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: expect.any(Number), completion_tokens: expect.any(Number) });
  });

  it('openai: completions, embeddings and models', async () => {
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token });
    const c = await client.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Repeat exactly: legacy' });
    expect(c.choices[0]!.text).toBe('legacy');
    const e = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a', 'b'] });
    expect(e.data).toHaveLength(2);
    expect(e.data[0]!.embedding).toHaveLength(1536);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toContain('gpt-4o-mini');
  });

  it('anthropic: messages, plain and streaming', async () => {
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: token });
    const m = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user', content: 'Repeat exactly: bonjour' }] });
    expect(m.content[0]).toMatchObject({ type: 'text', text: 'bonjour' });
    expect(m.usage.input_tokens).toBeGreaterThan(0);
    const stream = client.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 100, messages: [{ role: 'user', content: 'Repeat exactly: streamed words here' }] });
    let text = '';
    stream.on('text', (d) => (text += d));
    const final = await stream.finalMessage();
    expect(text).toBe('streamed words here');
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    const c = await costs();
    expect(c.byModel.map((x: any) => x.model)).toContain('claude-3-5-haiku-latest');
  });

  it('errors come back in the provider shape so the SDKs raise their usual exceptions', async () => {
    const bad = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: 'sk-not-ours', maxRetries: 0 });
    await expect(bad.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.AuthenticationError);
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token, maxRetries: 0 });
    const err = await client.chat.completions.create({ model: 'gpt-4o', messages: [] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.BadRequestError);
    expect(err.message).toContain("Invalid 'messages': empty array");
    const ant = new Anthropic({ baseURL: t.rt.url, apiKey: token, maxRetries: 0 });
    const aerr = await ant.messages.create({ model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'x' }] } as never).catch((e) => e);
    expect(aerr).toBeInstanceOf(Anthropic.BadRequestError);
    expect(aerr.message).toContain('max_tokens: Field required');
    const viewer = await t.rt.tokens.issue({ role: 'viewer', name: 'v' });
    const v = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: viewer, maxRetries: 0 });
    await expect(v.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })).rejects.toBeInstanceOf(OpenAI.PermissionDeniedError);
  });
});

describe('a python agent using only urllib under iron-cage', () => {
  it('is metered: its calls show up in its costs and events', async () => {
    const u = await startTestRuntime({ agent: { script: join(ROOT, 'test/fixtures/agents/urllib_llm.py') }, config: { budgetMicros: 1_000_000 } });
    try {
      const outcome = await u.rt.agentDone!;
      expect(outcome).toEqual({ status: 'completed', exitCode: 0 });
      const id = u.rt.agentId!;
      const c = await (await u.api(`/api/agents/${id}/costs`)).json();
      expect(c.requests).toBe(3);
      expect(c.byModel[0]).toMatchObject({ model: 'gpt-4o-mini', requests: 3 });
      expect(c.spentUsd).toBeGreaterThan(0);
      expect(c.limitUsd).toBe(1);
      const status = await (await u.api(`/api/agents/${id}/status`)).json();
      expect(status.budget.spentUsd).toBeCloseTo(c.spentUsd, 9);
      expect(u.log()).toContain('urllib agent saw 3 replies');
      // The agent never saw a provider key: only its own iron-cage token.
      expect(u.log()).toContain('key is an iron-cage token: True');
    } finally {
      await u.stop();
    }
  });
});
