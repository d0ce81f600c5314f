import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { createAnthropic } from '@ai-sdk/anthropic';
import { generateText } from 'ai';
import { DEFAULTS } from '../../src/config/index.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// The smaller surfaces the SDKs touch: model retrieval, Anthropic's token count, the Anthropic
// paths without /v1, message batches, and 404s in the shape of the wire that was called.

let t: TestRuntime;
let token: string;
let agentId: string;

beforeAll(async () => {
  t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
  ({ token, agentId } = await agentToken(t, { name: 'surfaces' }));
});
afterAll(async () => t?.stop());

const requests = () => (sqliteOf(t.rt.state).prepare('SELECT count(*) AS n FROM llm_requests WHERE agent_id = ?').get(agentId) as { n: number }).n;
const anthropicHeaders = () => ({ 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' });

describe('GET /v1/models/{id}', () => {
  it('models.retrieve returns the OpenAI model object; an unknown id is OpenAI’s 404', async () => {
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token, maxRetries: 0 });
    const m = await client.models.retrieve('gpt-4o-mini');
    expect(m).toMatchObject({ id: 'gpt-4o-mini', object: 'model', owned_by: expect.any(String) });
    const err = await client.models.retrieve('no-such-model').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect((err as Error).message).toContain("The model 'no-such-model' does not exist");
    const raw = await fetch(`${t.rt.url}/v1/models/no-such-model`, { headers: { authorization: `Bearer ${token}` } });
    expect(raw.status).toBe(404);
    expect((await raw.json()).error).toMatchObject({ type: 'not_found_error', message: expect.stringContaining('no-such-model') });
    // A malformed escape in the id is just an unknown model.
    const odd = await fetch(`${t.rt.url}/v1/models/%E0%A4%A`, { headers: { authorization: `Bearer ${token}` } });
    expect(odd.status).toBe(404);
  });
});

describe('POST /v1/messages/count_tokens', () => {
  it('counts what the call will be charged for, unmetered, with the official Anthropic SDK', async () => {
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: token, maxRetries: 0 });
    const params = { model: 'claude-3-5-haiku-latest', system: 'You are terse.', messages: [{ role: 'user' as const, content: 'Repeat exactly: count me in' }] };
    const before = requests();
    const counted = await client.messages.countTokens(params);
    expect(requests()).toBe(before);
    const m = await client.messages.create({ ...params, max_tokens: 50 });
    expect(counted.input_tokens).toBe(m.usage.input_tokens);
    expect(counted.input_tokens).toBeGreaterThan(0);
    const bad = await client.messages.countTokens({ model: 'claude-3-5-haiku-latest' } as never).catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(Anthropic.BadRequestError);
    expect((bad as Error).message).toContain('messages: Field required');
    const anon = await fetch(`${t.rt.url}/v1/messages/count_tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(params) });
    expect(anon.status).toBe(401);
    expect((await anon.json()).error.type).toBe('authentication_error');
  });
});

describe('count_tokens with a real Anthropic upstream', () => {
  it('asks the upstream (with the real key), and counts locally when it cannot answer', async () => {
    const up = await FakeLlm.start();
    up.answer({ body: { input_tokens: 1234 } });
    const u = await startTestRuntime({ config: { gateway: up.gateway({ anthropic: true, key: 'sk-ant-real', timeoutMs: 2000 }) } });
    try {
      const a = await agentToken(u, { name: 'ct', budgetUsd: 1 });
      const client = new Anthropic({ baseURL: u.rt.url, apiKey: a.token, maxRetries: 0 });
      const params = { model: 'claude-3-5-haiku-latest', messages: [{ role: 'user' as const, content: 'hello' }] };
      expect(await client.messages.countTokens(params)).toEqual({ input_tokens: 1234 });
      expect(up.requests[0]).toMatchObject({ path: '/v1/messages/count_tokens', headers: { 'x-api-key': 'sk-ant-real' }, body: params });
      up.answer({ status: 404, body: { type: 'error', error: { type: 'not_found_error', message: 'no' } } });
      const local = await client.messages.countTokens(params);
      expect(local.input_tokens).toBeGreaterThan(0);
      expect(local.input_tokens).not.toBe(1234);
    } finally {
      await u.stop();
      await up.close();
    }
  });
});

describe('the Anthropic paths without /v1 (the printed ANTHROPIC_BASE_URL)', () => {
  it('serves /messages and /messages/count_tokens, metered like /v1/messages', async () => {
    const before = requests();
    const r = await fetch(`${t.rt.url}/messages`, {
      method: 'POST',
      headers: anthropicHeaders(),
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 50, messages: [{ role: 'user', content: 'Repeat exactly: no v1' }] }),
    });
    expect(r.status).toBe(200);
    expect((await r.json()).content[0].text).toBe('no v1');
    expect(requests()).toBe(before + 1);
    const c = await fetch(`${t.rt.url}/messages/count_tokens`, {
      method: 'POST',
      headers: anthropicHeaders(),
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(await c.json()).toEqual({ input_tokens: expect.any(Number) });
  });

  it('the AI SDK’s Anthropic provider works against it unmodified', async () => {
    const anthropic = createAnthropic({ baseURL: t.rt.url, apiKey: token });
    const r = await generateText({ model: anthropic('claude-3-5-haiku-latest'), prompt: 'Repeat exactly: ai sdk through the cage', maxOutputTokens: 100, maxRetries: 0 });
    expect(r.text).toBe('ai sdk through the cage');
  });
});

describe('message batches and unknown paths', () => {
  it('refuses message batches with an Anthropic error that says what to do', async () => {
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: token, maxRetries: 0 });
    const err = await client.messages.batches
      .create({ requests: [{ custom_id: 'a', params: { model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] } }] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as Error).message).toMatch(/does not pass on the Message Batches API.*Send each request to \/v1\/messages/);
    const list = await client.messages.batches.list().catch((e: unknown) => e);
    expect(list).toBeInstanceOf(Anthropic.NotFoundError);
    const bare = await fetch(`${t.rt.url}/messages/batches/msgbatch_1`, { headers: anthropicHeaders() });
    expect(bare.status).toBe(404);
    expect(await bare.json()).toEqual({ type: 'error', error: { type: 'not_found_error', message: expect.stringContaining('Message Batches') } });
  });

  it('answers an unknown path in the shape of the wire that was called', async () => {
    for (const path of ['/v1/messages/nope', '/messages/nope']) {
      const r = await fetch(`${t.rt.url}${path}`, { method: 'POST', headers: anthropicHeaders(), body: '{}' });
      expect(r.status).toBe(404);
      expect(await r.json()).toEqual({ type: 'error', error: { type: 'not_found_error', message: expect.stringContaining(`Unknown endpoint POST ${path}`) } });
    }
    // The Anthropic SDK on a path we do not serve gets its own shape, so it shows our message.
    const ant = await fetch(`${t.rt.url}/v1/files`, { headers: anthropicHeaders() });
    expect((await ant.json()).error.message).toContain('/v1/messages/count_tokens');
    const oai = await fetch(`${t.rt.url}/v1/nope`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(oai.status).toBe(404);
    expect((await oai.json()).error).toMatchObject({ type: 'not_found_error', message: expect.stringContaining('/v1/responses') });
  });
});
