import { afterEach, describe, expect, it } from 'vitest';
import Anthropic from '@anthropic-ai/sdk';
import { DEFAULTS } from '../../src/config/index.js';
import { startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// The Anthropic wire through the official @anthropic-ai/sdk, answered by the simulated
// provider (`Repeat exactly:` echoes the text, word by word when streamed).

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

async function agent(rt: TestRuntime, budgetUsd: number) {
  const r = await rt.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: `an${Math.random().toString(36).slice(2, 7)}`, budgetUsd }) });
  return (await r.json()) as { token: string; agentId: string };
}

const events = async (rt: TestRuntime, agentId: string) => (await (await rt.api(`/api/events?agentId=${agentId}&limit=1000`)).json()).events as any[];

describe('Anthropic wire: budget refusals', () => {
  it('a refused call is 402 billing_error with x-should-retry: false, and the SDK raises at once without retrying', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agent(t, 0.000_01);
    // Default maxRetries (2): only the gateway's "do not retry" keeps the SDK from asking again.
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token });
    const err = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 1000, messages: [{ role: 'user', content: 'hello' }] }).catch((e) => e);
    expect(err).toBeInstanceOf(Anthropic.APIError);
    expect(err.status).toBe(402);
    expect(err.error).toMatchObject({ type: 'error', error: { type: 'billing_error' } });
    expect(err.error.error.message).toMatch(/budget of \$0\.000010 for agent .* would be exceeded/);
    expect(err.headers.get('x-should-retry')).toBe('false');
    expect((await events(t, a.agentId)).filter((e) => e.type === 'budget.refused')).toHaveLength(1);
    const c = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(c).toMatchObject({ requests: 0, spentUsd: 0, reservedUsd: 0 });
  });

  it('the OpenAI wire answers a refusal with 402 insufficient_quota too', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agent(t, 0.000_01);
    const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', max_tokens: 1000, messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(r.status).toBe(402);
    expect(r.headers.get('x-should-retry')).toBe('false');
    expect((await r.json()).error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exceeded' });
  });
});

describe('Anthropic wire: PII in the model output', () => {
  const PII = 'Card 4111 1111 1111 1111 and mail jane.doe@corp.example now';
  const CLEAN = 'Card [CREDIT_CARD_REDACTED] and mail [EMAIL_REDACTED] now';

  it('is redacted in a whole message, audited and counted, and the value is kept nowhere', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agent(t, 5);
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token });
    const m = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 200, messages: [{ role: 'user', content: `Repeat exactly: ${PII}` }] });
    expect(m.content).toEqual([expect.objectContaining({ type: 'text', text: CLEAN })]);
    expect(m.usage.output_tokens).toBeGreaterThan(0);
    const audit = await (await t.api(`/api/audit/pii?agentId=${a.agentId}`)).json();
    expect(audit.records.map((r: any) => r.type).sort()).toEqual(['CREDIT_CARD', 'EMAIL']);
    expect(audit.records.every((r: any) => r.location === 'llm.output' && r.action === 'redacted')).toBe(true);
    const row = sqliteOf(t.rt.state).prepare('SELECT endpoint, status, redactions, usage_source FROM llm_requests').get();
    expect(row).toEqual({ endpoint: 'messages', status: 'ok', redactions: 2, usage_source: 'provider' });
    const evs = await events(t, a.agentId);
    expect(JSON.stringify(evs)).not.toContain('jane.doe@corp.example');
    expect(JSON.stringify(evs)).not.toContain('4111 1111 1111 1111');
  });

  it('is redacted in a stream even when a value spans several events', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agent(t, 5);
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token });
    const stream = client.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 200, messages: [{ role: 'user', content: `Repeat exactly: ${PII}` }] });
    let text = '';
    let deltas = 0;
    stream.on('text', (d) => {
      text += d;
      deltas++;
    });
    const final = await stream.finalMessage();
    expect(deltas).toBeGreaterThan(3);
    expect(text).toBe(CLEAN);
    expect(final.content).toEqual([expect.objectContaining({ type: 'text', text: CLEAN })]);
    expect(final.usage.output_tokens).toBeGreaterThan(0);
    const audit = await (await t.api(`/api/audit/pii?agentId=${a.agentId}`)).json();
    expect(audit.records.map((r: any) => r.type).sort()).toEqual(['CREDIT_CARD', 'EMAIL']);
    const row = sqliteOf(t.rt.state).prepare('SELECT endpoint, stream, status, redactions, usage_source FROM llm_requests').get();
    expect(row).toEqual({ endpoint: 'messages', stream: 1, status: 'ok', redactions: 2, usage_source: 'provider' });
  });

  it('carries the values in no raw SSE event, whichever field a delta sits in', async () => {
    t = await startTestRuntime({ config: { gateway: { ...DEFAULTS.gateway } } });
    const a = await agent(t, 5);
    const raw = await fetch(`${t.rt.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': a.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 200, stream: true, messages: [{ role: 'user', content: `Repeat exactly: ${PII}` }] }),
    });
    expect(raw.status).toBe(200);
    const sse = await raw.text();
    expect(sse).toContain('event: message_stop');
    expect(sse).toContain('[CREDIT_CARD_REDACTED]');
    for (const leak of ['4111', 'jane.doe', 'corp.example']) expect(sse).not.toContain(leak);
  });

  it('in block mode, a stream is cut off with an error event the SDK raises', async () => {
    t = await startTestRuntime({ config: { safetyMode: 'block', gateway: { ...DEFAULTS.gateway } } });
    const a = await agent(t, 5);
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0 });
    const stream = client.messages.stream({ model: 'claude-3-5-haiku-latest', max_tokens: 200, messages: [{ role: 'user', content: `Repeat exactly: ${PII}` }] });
    let text = '';
    stream.on('text', (d) => (text += d));
    const err = await stream.finalMessage().catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String(err.message)).toMatch(/blocked this response: it contained PII/);
    expect(text).not.toContain('4111');
    expect(text).not.toContain('jane.doe');
    // The SDK raises on the error event; the row is settled just after it was written.
    const row = await until(() => {
      const x = sqliteOf(t!.rt.state).prepare('SELECT status, redactions FROM llm_requests').get() as { status: string } | undefined;
      return x && x.status !== 'pending' ? x : null;
    });
    expect(row).toMatchObject({ status: 'blocked' });
  });
});
