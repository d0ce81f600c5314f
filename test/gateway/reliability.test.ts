import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

const upstream = useFakeLlm();
let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});
const chat = (rt: TestRuntime, token: string, model: string) =>
  fetch(`${rt.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }] }),
  }).then(async (r) => ({ status: r.status, body: await r.json() }));

describe('LLM providers behind circuit breakers, with model fallbacks', () => {
  it("five failures open the simulated provider's circuit: further calls are refused with 503, and nothing is charged", async () => {
    t = await startTestRuntime({
      config: {
        gateway: {
          ...DEFAULTS.gateway,
          retry: { attempts: 1, baseMs: 1, maxMs: 1 },
          providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [{ fromCall: 1, count: 100, status: 500 }] } },
        },
      },
    });
    const a = await agentToken(t, { name: 'rel' });
    for (let i = 0; i < 5; i++) expect((await chat(t, a.token, 'gpt-4o')).status).toBe(500);
    const refused = await chat(t, a.token, 'gpt-4o');
    expect(refused.status).toBe(503);
    expect(refused.body.error.message).toMatch(/circuit is open; retry in \d+s/);
    const { events } = await (await t.api('/api/events?limit=1000')).json();
    const opened = events.find((e: any) => e.type === 'breaker.transition' && e.data.to === 'OPEN');
    expect(opened.data).toMatchObject({ service: 'simulated', from: 'CLOSED', consecutiveFailures: 5 });
    expect(opened.message).toMatch(/Circuit simulated OPEN after 5 consecutive failures/);
    const providers = await (await t.api('/api/gateway/providers')).json();
    expect(providers.find((p: any) => p.name === 'openai')).toMatchObject({ servedBy: 'simulated', real: false, breaker: { state: 'OPEN' } });
    // Nothing was charged for calls that failed or never left.
    const c = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(c.spentUsd).toBe(0);
    expect(c.reservedUsd).toBe(0);
  });

  it("five failures open a real provider's circuit: further calls are refused without reaching it", async () => {
    upstream.answer({ status: 500 });
    t = await startTestRuntime({
      config: {
        gateway: {
          ...DEFAULTS.gateway,
          retry: { attempts: 1, baseMs: 1, maxMs: 1 },
          providers: { ...DEFAULTS.gateway.providers, openai: { baseUrl: upstream.openaiUrl, apiKey: 'sk-x', timeoutMs: 2000 } },
        },
      },
    });
    const a = await agentToken(t, { name: 'rel' });
    for (let i = 0; i < 5; i++) expect((await chat(t, a.token, 'gpt-4o')).status).toBe(500);
    expect(upstream.requests).toHaveLength(5);
    for (let i = 0; i < 3; i++) {
      const refused = await chat(t, a.token, 'gpt-4o');
      expect(refused.status).toBe(503);
      expect(refused.body.error.message).toMatch(/circuit is open; retry in \d+s/);
    }
    expect(upstream.requests).toHaveLength(5);
    const providers = await (await t.api('/api/gateway/providers')).json();
    expect(providers.find((p: any) => p.name === 'openai')).toMatchObject({ servedBy: 'openai', real: true, breaker: { state: 'OPEN' } });
  });

  it('a failing model falls back to the next one in model_fallbacks, priced as the model that answered', async () => {
    upstream.answer(({ body }) => (body.model === 'gpt-4o' ? { status: 503 } : { text: `answered by ${body.model}`, usage: { prompt_tokens: 10, completion_tokens: 5 } }));
    t = await startTestRuntime({
      config: {
        gateway: {
          ...DEFAULTS.gateway,
          retry: { attempts: 2, baseMs: 1, maxMs: 2 },
          modelFallbacks: { 'gpt-4o': ['gpt-4o-mini'] },
          providers: { ...DEFAULTS.gateway.providers, openai: { baseUrl: upstream.openaiUrl, apiKey: 'sk-x', timeoutMs: 2000 } },
        },
      },
    });
    const a = await agentToken(t, { name: 'rel' });
    const r = await chat(t, a.token, 'gpt-4o');
    expect(r.status).toBe(200);
    expect(r.body.choices[0].message.content).toBe('answered by gpt-4o-mini');
    expect(upstream.requests.map((q) => q.body.model)).toEqual(['gpt-4o', 'gpt-4o', 'gpt-4o-mini']);
    const { events } = await (await t.api(`/api/events?agentId=${a.agentId}`)).json();
    expect(events.find((e: any) => e.type === 'llm.fallback').data).toMatchObject({ from: 'gpt-4o', to: 'gpt-4o-mini', reason: 'HTTP 503' });
    const costs = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(costs.byModel.map((m: any) => m.model)).toEqual(['gpt-4o-mini']);
  });
});
