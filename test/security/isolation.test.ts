import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { DEFAULTS } from '../../src/config/index.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';
import { breakers, raw, withTools } from '../tools/helpers.js';
import { FakeService } from '../helpers/http.js';

// One agent never receives an answer cached for
// another (or for other headers), and only the service's own sickness counts against its
// breaker: not an agent hanging up or giving up, not a request that breaks the provider.

let t: TestRuntime;
let echo: FakeService; // answers with the X-User it was asked for; cached
let stuck: FakeService; // never answers
let llm: FakeLlm; // a real provider that never answers, until told to
let alice: string;
let bob: string;

beforeAll(async () => {
  [echo, stuck, llm] = await Promise.all([FakeService.start(), FakeService.start(), FakeLlm.start()]);
  llm.answer({ hang: true });
  echo.reply = (req) => ({
    status: 200,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ order: 7, user: req.headers['x-user'] ?? null, lang: req.headers['accept-language'] ?? null }),
  });
  stuck.reply = () => 'hang';
  t = await startTestRuntime({
    config: {
      ...withTools({
        echo: { url: echo.url, cache_ttl_s: 3600, breaker: { failure_threshold: 50, cooldown_s: 60 } },
        stuck: { url: stuck.url, timeout_ms: 20_000, cache_ttl_s: 0, breaker: { failure_threshold: 2, cooldown_s: 60 } },
      }),
      gateway: {
        ...DEFAULTS.gateway,
        retry: { attempts: 1, baseMs: 1, maxMs: 1 },
        providers: { ...DEFAULTS.gateway.providers, openai: { baseUrl: llm.openaiUrl, apiKey: 'sk-test', timeoutMs: 60_000 } },
      },
    },
  });
  // Agents this iron-cage knows: a token of one it does not opens no door.
  for (const id of ['lg-0000000a', 'lg-0000000b']) t.rt.state.registerAgent({ id, name: id, kind: 'external', script: null, args: [], limitMicros: null });
  alice = (await t.rt.tokens.issueRun({ name: 'lg-0000000a', agentId: 'lg-0000000a' })).token;
  bob = (await t.rt.tokens.issueRun({ name: 'lg-0000000b', agentId: 'lg-0000000b' })).token;
});
afterAll(async () => {
  // The services first: the calls still held there end, so the gateway has nothing left to wait for.
  await Promise.all([echo, stuck, llm].map((u) => u?.close()));
  await t?.stop();
});

const order = (token: string, headers: Record<string, string>) => raw(t.rt.url, 'GET', '/tools/echo/orders?id=7', { token, headers });

describe('tool cache isolation', () => {
  it("agent B never gets agent A's cached answer, nor A for other headers; A still gets its own from the cache", async () => {
    const live = await order(alice, { 'x-user': 'alice' });
    expect(live.headers['x-iron-cage-tier']).toBe('live');
    expect(live.json().user).toBe('alice');

    echo.failWith(500);
    try {
      const other = await order(bob, { 'x-user': 'bob' });
      expect(other.status).toBe(503);
      expect(other.body).not.toContain('alice');
      // Same agent, same headers as A, another agent: still not A's answer.
      const sameHeaders = await order(bob, { 'x-user': 'alice' });
      expect(sameHeaders.status).toBe(503);
      expect(sameHeaders.body).not.toContain('alice');
      // Same agent, a header that shapes the answer differs: not the cached answer either.
      expect((await order(alice, { 'x-user': 'bob' })).status).toBe(503);
      expect((await order(alice, { 'x-user': 'alice', 'accept-language': 'fr' })).status).toBe(503);

      // The cache still works for the one it belongs to, header order and tracing ids aside.
      const again = await order(alice, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', 'x-user': 'alice' });
      expect(again.status).toBe(200);
      expect(again.headers['x-iron-cage-tier']).toBe('cache');
      expect(again.json().user).toBe('alice');
    } finally {
      echo.reply = (req) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: 7, user: req.headers['x-user'] ?? null }) });
    }
  });

  it('an API token never gets the cached answers of an earlier token of the same name (revoked, then the name reused)', async () => {
    const mint = async () => (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'admin', name: 'ops' }) })).json()) as { id: string; token: string };
    const first = await mint();
    const path = '/tools/echo/orders?id=8';
    const live = await raw(t.rt.url, 'GET', path, { token: first.token, headers: { 'x-user': 'carol' } });
    expect(live.headers['x-iron-cage-tier']).toBe('live');
    expect((await t.api(`/api/tokens/${first.id}`, { method: 'DELETE' })).status).toBe(200);
    const second = await mint();
    echo.failWith(500);
    try {
      const other = await raw(t.rt.url, 'GET', path, { token: second.token, headers: { 'x-user': 'carol' } });
      expect(other.status).toBe(503);
      expect(other.body).not.toContain('carol');
    } finally {
      echo.reply = (req) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ order: 7, user: req.headers['x-user'] ?? null }) });
    }
  });

  it('refuses TRACE and every method a policy rule cannot name (PURGE, PROPFIND, MKCOL…) with 405 before anything goes upstream', async () => {
    const from = echo.seen.length;
    // Any of the others would pass a rule that holds `[POST, PUT, DELETE]`: no rule can name them.
    for (const method of ['TRACE', 'PURGE', 'PROPFIND', 'MKCOL', 'LOCK', 'SEARCH', 'QUERY', 'REPORT']) {
      const r = await raw(t.rt.url, method, '/tools/echo/orders', { token: alice, headers: { 'x-user': 'alice' } });
      expect(r.status, method).toBe(405);
      expect(r.headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
      expect(r.json().error.code).toBe('method_not_allowed');
    }
    expect(echo.since(from)).toHaveLength(0);
  });
});

/** Send a request and hang up once the server has it, without waiting for an answer. */
/** A request whose client hangs up once `when` says so (the call is with the service by then). */
function hangUp(path: string, token: string, when: () => Promise<unknown>): Promise<void> {
  const u = new URL(t.rt.url);
  return new Promise((resolve) => {
    const req = request({ host: u.hostname, port: u.port, method: 'GET', path, headers: { authorization: `Bearer ${token}` }, agent: false });
    req.on('error', () => resolve());
    req.on('close', () => resolve());
    req.end(() => void when().then(() => req.destroy()));
  });
}

describe('breakers count only the service, not what the agent or its request did', () => {
  it('agents giving up on a stuck tool service (their own timeout, a hang-up) leave its breaker CLOSED', async () => {
    // Each token verified once first (a revocation elsewhere empties the verification cache).
    for (const token of [alice, bob]) expect((await t.api('/api/whoami', { token })).status).toBe(200);
    for (let i = 0; i < 4; i++) {
      const before = stuck.seen.length;
      // The request reached the service before the agent gave up on it (one that hangs up
      // sooner is never sent at all).
      await hangUp('/tools/stuck/slow', i % 2 === 0 ? alice : bob, () => until(() => stuck.seen.length > before));
    }
    const rows = await until(async () => {
      const r = (await (await t.api('/api/tools/calls?service=stuck')).json()) as { calls: any[] };
      return r.calls.length >= 4 ? r.calls : null;
    });
    expect(rows.every((c) => c.reason === 'client_aborted')).toBe(true);
    const b = (await breakers(t)).stuck;
    expect(b.state).toBe('CLOSED');
    expect(b.failures).toBe(0);
    expect(b.consecutiveFailures).toBe(0);
  });

  const chat = (token: string, body: unknown) =>
    fetch(`${t.rt.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  it('LLM calls the agent gives up on, and requests that break the provider, leave the provider breaker CLOSED', async () => {
    const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'iso', budgetUsd: 5 }) })).json()) as { token: string; agentId: string };
    const breakerOf = async (name: string) => ((await (await t.api('/api/gateway/providers')).json()) as any[]).find((p) => p.name === name).breaker;
    // The provider does not answer: six calls whose agent gives up first (its own timeout, a hang-up).
    for (let i = 0; i < 6; i++) {
      const before = llm.requests.length;
      const ctl = new AbortController();
      const call = fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        signal: ctl.signal,
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
      }).catch(() => null);
      await until(() => llm.requests.length > before);
      ctl.abort();
      await call;
    }
    // Past the breaker's threshold of five: had they counted, this call would be refused.
    llm.answer({ text: 'on time' });
    const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(r.status).toBe(200);
    expect(await breakerOf('openai')).toMatchObject({ state: 'CLOSED' });

    // 100,000 levels of nesting: whatever the gateway does with it, it is the request's fault.
    const deep = `{"model":"claude-3-5-haiku-latest","max_tokens":10,"messages":[{"role":"user","content":${'['.repeat(100_000)}${']'.repeat(100_000)}}]}`;
    for (let i = 0; i < 6; i++) {
      const r = await chat(a.token, deep);
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    }
    expect(await breakerOf('anthropic')).toMatchObject({ state: 'CLOSED' });
    const ok = await chat(a.token, { model: 'claude-3-5-haiku-latest', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    expect(ok.status).toBe(200);
  });
});
