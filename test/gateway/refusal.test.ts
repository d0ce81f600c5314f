import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { request } from 'node:http';
import { DEFAULTS } from '../../src/config/index.js';
import { serve, type TestServer } from '../helpers/http.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// Refusals the official clients raise at once: each SDK keeps its default retries (2), and a
// counting relay in front of the gateway shows how many attempts actually arrived.

let t: TestRuntime | undefined;
let relay: TestServer | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
  await t?.stop();
  t = undefined;
});

/** Forwards everything to `target` and counts the requests per path. */
async function countingRelay(target: string): Promise<{ url: string; count: (path: string) => number }> {
  const seen: string[] = [];
  const to = new URL(target);
  relay = await serve((req, res) => {
    seen.push((req.url ?? '').split('?', 1)[0]!);
    const up = request({ host: to.hostname, port: to.port, path: req.url, method: req.method, headers: { ...req.headers, host: to.host } }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    req.pipe(up);
  });
  return { url: relay.url, count: (path) => seen.filter((p) => p === path).length };
}

describe('budget refusal: 402 on every wire, one attempt, a message that says what to do', () => {
  it('openai SDK: a chat call raises a 402 naming the budget and the route to raise it, after exactly one request', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agentToken(t, { budgetUsd: 0.000_01 });
    const r = await countingRelay(t.rt.url);
    const client = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: a.token });
    const err = await client.chat.completions.create({ model: 'gpt-4o', max_tokens: 1000, messages: [{ role: 'user', content: 'hello' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(OpenAI.APIError);
    expect(err.status).toBe(402);
    expect(err.code).toBe('budget_exceeded');
    expect(err.type).toBe('insufficient_quota');
    expect(err.headers.get('x-should-retry')).toBe('false');
    expect(err.message).toMatch(new RegExp(`budget of \\$0\\.000010 for agent ${a.agentId} would be exceeded: \\$0\\.00 spent, \\$[\\d.]+ requested`));
    expect(err.message).toContain(`POST /api/agents/${a.agentId}/budget {"limitUsd": `);
    expect(err.message).toMatch(/Approve/);
    expect(r.count('/v1/chat/completions')).toBe(1);
    const c = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(c).toMatchObject({ requests: 0, spentUsd: 0, reservedUsd: 0 });
  });

  it('the limit the message suggests lets the same call through', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agentToken(t, { budgetUsd: 0.000_01 });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const call = () => client.chat.completions.create({ model: 'gpt-4o', max_tokens: 1000, messages: [{ role: 'user', content: 'hello' }] });
    const err = await call().catch((e) => e);
    const suggested = Number(/\{"limitUsd": ([\d.]+)\}/.exec(err.message)![1]);
    const raised = await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: suggested }) });
    expect(raised.status).toBe(200);
    expect((await call()).choices).toHaveLength(1);
  });

  it('@anthropic-ai/sdk: a 402 billing_error (not a RateLimitError) naming the budget, after exactly one request', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agentToken(t, { budgetUsd: 0.000_01 });
    const r = await countingRelay(t.rt.url);
    const client = new Anthropic({ baseURL: r.url, apiKey: a.token });
    const err = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 1000, messages: [{ role: 'user', content: 'hello' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err).not.toBeInstanceOf(Anthropic.RateLimitError);
    expect(err.status).toBe(402);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'billing_error' } });
    expect(err.message).toMatch(new RegExp(`budget of \\$0\\.000010 for agent ${a.agentId} would be exceeded`));
    expect(err.message).toContain(`POST /api/agents/${a.agentId}/budget`);
    expect(r.count('/v1/messages')).toBe(1);
  });

  it('an exhausted budget says so, with what was spent', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agentToken(t, { budgetUsd: 0.001 });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    // Spend the budget with calls whose reservation fits, until one is refused.
    let err: any = null;
    for (let i = 0; i < 100 && err === null; i++) {
      err = await client.chat.completions
        .create({ model: 'gpt-4o', max_tokens: 20, messages: [{ role: 'user', content: `Repeat exactly: ${'spend '.repeat(15)}` }] })
        .then(() => null)
        .catch((e) => e);
    }
    expect(err.status).toBe(402);
    expect(err.message).toMatch(/budget of \$0\.0010* for agent \S+ (is exhausted|would be exceeded): \$0\.000\d+ spent/);
    expect(err.message).toContain(`POST /api/agents/${a.agentId}/budget`);
  });
});

describe('PII block: 400 on both wires, not retried', () => {
  it('a prompt with PII under block mode is a 400 invalid_request_error the SDKs raise after one request', async () => {
    t = await startTestRuntime({ config: { safetyMode: 'block', safety: { ...DEFAULTS.safety, redactPrompts: true }, gateway: { ...DEFAULTS.gateway } } });
    const a = await agentToken(t, { budgetUsd: 5 });
    const r = await countingRelay(t.rt.url);
    const openai = new OpenAI({ baseURL: `${r.url}/v1`, apiKey: a.token });
    const e1 = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'mail ceo@acme.com' }] }).catch((e) => e);
    expect(e1).toBeInstanceOf(OpenAI.BadRequestError);
    expect(e1).toMatchObject({ status: 400, code: 'pii_blocked', type: 'invalid_request_error' });
    expect(e1.message).not.toContain('ceo@acme.com');
    const anthropic = new Anthropic({ baseURL: r.url, apiKey: a.token });
    const e2 = await anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 50, messages: [{ role: 'user', content: 'mail ceo@acme.com' }] }).catch((e) => e);
    expect(e2).toBeInstanceOf(Anthropic.BadRequestError);
    expect(e2.error).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(r.count('/v1/chat/completions')).toBe(1);
    expect(r.count('/v1/messages')).toBe(1);
  });
});
