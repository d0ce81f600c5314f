// The simulated provider fails the way a real provider does on a model no provider has,
// and on a model that does not do what the endpoint asks, in each wire's own shape, and nothing is
// charged. Agents are developed against it: a typo in a model name must not pass until production.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { DEFAULTS } from '../../src/config/index.js';
import { parsePriceOverrides, PriceBook } from '../../src/domain/budget/index.js';
import { simulatedCatalog } from '../../src/gateway/providers/sim/catalog.js';
import { sqliteOf } from '../helpers/db.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

describe('the models the simulator has', () => {
  const g = { ...DEFAULTS.gateway, modelFallbacks: { 'team-model': ['gpt-4o', 'their-backup'] }, routing: { 'local-*': 'simulated' as const, 'exact-model': 'simulated' as const } };
  const kindOf = simulatedCatalog(new PriceBook({ overrides: parsePriceOverrides({ 'my-finetune': { input_per_1k: 0.001, output_per_1k: 0.002 } }) }), g);

  it.each([
    ['gpt-4o', 'chat'],
    ['claude-3-5-haiku-latest', 'chat'],
    ['gpt-4o-2024-08-06', 'chat'],
    ['text-embedding-3-small', 'embedding'],
    // Configured by the operator: a price, a fallback on either side, a route.
    ['my-finetune', 'chat'],
    ['team-model', 'chat'],
    ['their-backup', 'chat'],
    ['local-llama', 'chat'],
    ['exact-model', 'chat'],
    // Nobody's: the default price, or only a family's guess.
    ['no-such-model-xyz', null],
    ['gpt-4o-2099-01-01', null],
  ])('%s: %s', (model, kind) => {
    expect(kindOf(model)).toBe(kind);
  });
});

describe('refused as a provider refuses, never charged', () => {
  let t: TestRuntime;
  let a: { token: string; agentId: string };
  beforeAll(async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    a = await agentToken(t, { name: 'typos', budgetUsd: 1 });
  });
  afterAll(() => t?.stop());

  const openai = () => new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
  const rows = () =>
    sqliteOf(t.rt.state).prepare('SELECT model, status, http_status AS httpStatus, cost_micros AS cost, attempts FROM llm_requests WHERE agent_id = ? ORDER BY id').all(a.agentId) as Array<{
      model: string;
      status: string;
      httpStatus: number;
      cost: number;
      attempts: number;
    }>;
  const budget = async () => (await (await t.api(`/api/agents/${a.agentId}/costs`)).json()) as { spentUsd: number; reservedUsd: number };

  it('an unknown model: OpenAI 404 model_not_found on chat, Responses and embeddings (NotFoundError, tried once)', async () => {
    const client = openai();
    const chat = await client.chat.completions.create({ model: 'no-such-model-xyz', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(chat).toBeInstanceOf(OpenAI.NotFoundError);
    expect((chat as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual({
      message: 'The model `no-such-model-xyz` does not exist or you do not have access to it.',
      type: 'invalid_request_error',
      param: null,
      code: 'model_not_found',
    });
    const streamed = await client.chat.completions.create({ model: 'no-such-model-xyz', stream: true, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(streamed).toMatchObject({ status: 404, code: 'model_not_found' });
    const responses = await client.responses.create({ model: 'no-such-model-xyz', input: 'hi' }).catch((e: unknown) => e);
    expect(responses).toMatchObject({ status: 404, code: 'model_not_found' });
    const embeddings = await client.embeddings.create({ model: 'no-such-embedder', input: 'hi' }).catch((e: unknown) => e);
    expect(embeddings).toMatchObject({ status: 404, code: 'model_not_found' });
    const r = rows();
    expect(r).toHaveLength(4);
    for (const row of r) expect(row).toMatchObject({ status: 'error', httpStatus: 404, cost: 0, attempts: 1 });
    expect(await budget()).toMatchObject({ spentUsd: 0, reservedUsd: 0 });
  });

  it('an unknown model on the Anthropic wire: 404 not_found_error "model: x"', async () => {
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token });
    const err = await client.messages.create({ model: 'claude-no-such-model', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.NotFoundError);
    expect((err as InstanceType<typeof Anthropic.NotFoundError>).error).toEqual({ type: 'error', error: { type: 'not_found_error', message: 'model: claude-no-such-model' } });
    expect(rows().at(-1)).toMatchObject({ model: 'claude-no-such-model', status: 'error', httpStatus: 404, cost: 0 });
  });

  it('embeddings from a chat model: 403; a chat or Responses call to an embedding model: 404 "not a chat model"', async () => {
    const client = openai();
    const embed = await client.embeddings.create({ model: 'gpt-4o-mini', input: 'hi' }).catch((e: unknown) => e);
    expect(embed).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((embed as InstanceType<typeof OpenAI.PermissionDeniedError>).error).toEqual({
      message: 'You are not allowed to generate embeddings from this model',
      type: 'invalid_request_error',
      param: null,
      code: null,
    });
    const chat = await client.chat.completions.create({ model: 'text-embedding-3-small', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(chat).toBeInstanceOf(OpenAI.NotFoundError);
    expect((chat as InstanceType<typeof OpenAI.NotFoundError>).error).toEqual({
      message: 'This is not a chat model and thus not supported in the v1/chat/completions endpoint. Did you mean to use v1/completions?',
      type: 'invalid_request_error',
      param: 'model',
      code: null,
    });
    const resp = await client.responses.create({ model: 'text-embedding-3-small', input: 'hi' }).catch((e: unknown) => e);
    expect(resp).toMatchObject({ status: 404, param: 'model' });
    expect(
      rows()
        .slice(-3)
        .map((r) => [r.httpStatus, r.cost]),
    ).toEqual([
      [403, 0],
      [404, 0],
      [404, 0],
    ]);
    // The right model on each still works, and is charged.
    expect((await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hi' })).data).toHaveLength(1);
    expect((await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] })).choices).toHaveLength(1);
    expect((await budget()).spentUsd).toBeGreaterThan(0);
  });
});
