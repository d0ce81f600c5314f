import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { PROVIDER_CLASSIFY } from '../../src/gateway/index.js';
import { CircuitBreaker, RequestError, statusClassifier } from '../../src/domain/reliability/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// The LLM providers' breakers are saved across restarts like the tool
// services', shown in /api/breakers beside them, and a client error never opens them.

const upstream = useFakeLlm();

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

function config(): Partial<Config> {
  const g = DEFAULTS.gateway;
  return { gateway: { ...g, providers: { ...g.providers, openai: { baseUrl: upstream.openaiUrl, apiKey: 'sk-upstream', timeoutMs: 5000 } }, retry: { attempts: 1, baseMs: 1, maxMs: 1 } } };
}

const chat = (rt: TestRuntime, token: string) =>
  fetch(`${rt.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] }),
  });

async function openaiBreaker(rt: TestRuntime) {
  const r = await rt.api('/api/breakers');
  expect(r.status).toBe(200);
  const body = (await r.json()) as { services: unknown[]; providers: Array<{ provider: string; state: string; failures: number; successes: number; lastFailure: string | null }> };
  expect(Array.isArray(body.services)).toBe(true);
  return body.providers.find((p) => p.provider === 'openai')!;
}

describe('provider breakers', () => {
  it('a provider OPEN when the process stops is OPEN when it starts again, and calls are not sent to it', async () => {
    const dir = tempDir();
    try {
      t = await startTestRuntime({ config: config(), dir: dir.dir });
      const a = await agentToken(t, { budgetUsd: 10 });
      upstream.answer({ status: 503 });
      for (let i = 0; i < 5; i++) expect((await chat(t, a.token)).status).toBe(503);
      expect(await openaiBreaker(t)).toMatchObject({ state: 'OPEN', failures: 5, lastFailure: 'http_503' });
      await t.stop();
      t = await startTestRuntime({ config: config(), dir: dir.dir });
      expect(await openaiBreaker(t)).toMatchObject({ state: 'OPEN', lastFailure: 'http_503' });
      const before = upstream.requests.length;
      const r = await chat(t, a.token);
      expect(r.status).toBe(503);
      expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/circuit is open/);
      expect(upstream.requests.length).toBe(before);
      // A call that failed is still a row ("every request is a row"): error, $0, and why.
      const last = sqliteOf(t.rt.state)
        .prepare(`SELECT status, http_status AS httpStatus, cost_micros AS cost, error FROM llm_requests WHERE agent_id = ? ORDER BY id DESC LIMIT 1`)
        .get(a.agentId) as {
        status: string;
        httpStatus: number;
        cost: number;
        error: string;
      };
      expect(last).toMatchObject({ status: 'error', httpStatus: 503, cost: 0 });
      expect(last.error).toMatch(/circuit is open/);
      const restored = sqliteOf(t.rt.state).prepare(`SELECT message FROM events WHERE type = 'breaker.restored'`).all() as Array<{ message: string }>;
      expect(restored.map((e) => e.message).join('\n')).toMatch(/Circuit openai \(LLM provider\) restored OPEN/);
      expect(t.rt.state.lastEvents(1000).find((e) => e.type === 'breaker.restored')).toMatchObject({ severity: 'warn', data: { kind: 'provider', service: 'openai', state: 'OPEN', problems: [] } });

      // An admin closes it again, like a tool service's; the next call reaches the provider.
      expect((await t.api('/api/breakers/providers/openai/reset', { method: 'POST' })).status).toBe(200);
      expect(await openaiBreaker(t)).toMatchObject({ state: 'CLOSED', failures: 5 });
      const reset = t.rt.state.lastEvents(1000).filter((e) => e.type === 'breaker.reset');
      expect(reset.at(-1)).toMatchObject({ message: 'Circuit openai (LLM provider) reset by admin runtime (was OPEN)', data: { kind: 'provider', service: 'openai' } });
      upstream.answer({ text: 'ok', usage: { prompt_tokens: 5, completion_tokens: 2 } });
      expect((await chat(t, a.token)).status).toBe(200);
      expect(upstream.requests.length).toBe(before + 1);
    } finally {
      await t?.stop();
      t = undefined;
      dir.cleanup();
    }
  });

  it('client errors from the provider (400, 404, 408, 422, 429) never count as breaker failures', async () => {
    t = await startTestRuntime({ config: config() });
    const a = await agentToken(t, { budgetUsd: 10 });
    const statuses = [400, 404, 408, 422, 429, 400, 404, 408, 422, 429];
    const before = upstream.requests.length;
    upstream.answer(({ n }) => ({ status: statuses[(n - before - 1) % statuses.length]!, headers: { 'retry-after': '0' } }));
    for (const s of statuses) expect((await chat(t, a.token)).status).toBe(s);
    expect(await openaiBreaker(t)).toMatchObject({ state: 'CLOSED', failures: 0 });
  });
});

describe('what a provider breaker counts', () => {
  it('a request the in-process provider threw on (our validation should have refused it) is ignored; 5xx and timeouts fail', async () => {
    const b = new CircuitBreaker('simulated', { classify: PROVIDER_CLASSIFY, failureThreshold: 3 });
    const judge = statusClassifier((r: { status: number }) => r.status, b.options.classify);
    for (let i = 0; i < 10; i++) {
      await expect(b.call(() => Promise.reject(new RequestError(new Error('bad schema'))), judge)).rejects.toBeInstanceOf(RequestError);
      await b.call(() => Promise.resolve({ status: [400, 408, 413, 422, 429][i % 5]! }), judge);
    }
    expect(b.snapshot()).toMatchObject({ state: 'CLOSED', consecutiveFailures: 0, counters: { failures: 0 } });
    for (let i = 0; i < 3; i++) await b.call(() => Promise.resolve({ status: 502 }), judge);
    expect(b.state).toBe('OPEN');
  });
});

describe('provider breaker counters survive a kill -9', () => {
  it('are saved while the process runs, not only on a transition or at shutdown', async () => {
    t = await startTestRuntime({ config: config() });
    const a = await agentToken(t, { budgetUsd: 10 });
    for (let i = 0; i < 3; i++) expect((await chat(t, a.token)).status).toBe(200);
    const stored = () => {
      const row = sqliteOf(t!.rt.state).prepare(`SELECT snapshot FROM breakers WHERE service = 'llm:openai'`).get() as { snapshot: string } | undefined;
      return row ? (JSON.parse(row.snapshot) as { counters: { successes: number } }).counters.successes : 0;
    };
    // Still running (no stop, no transition): what a kill -9 now would leave on disk.
    expect(await until(() => (stored() >= 3 ? stored() : null))).toBe(3);
  });
});
