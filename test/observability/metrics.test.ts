import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { upgradeStatus } from '../security/sess-helpers.js';
import Anthropic from '@anthropic-ai/sdk';
import { DEFAULTS } from '../../src/config/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';
import { parseExposition, sample, sumOf } from '../helpers/exposition.js';
import { isLoopbackPeer } from '../../src/observability/index.js';

// GET /metrics on a runtime: the GenAI client metrics and ours, counted from the calls the
// gateway served, checked against the ledger the same calls wrote.

const upstream = useFakeLlm();

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
  upstream.reset();
});

const scrape = async (rt: TestRuntime, token: string | null = null) => {
  const r = await fetch(`${rt.rt.url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
};

describe('isLoopbackPeer', () => {
  it('is this machine: 127.0.0.0/8, ::1 and IPv4-mapped loopback; nothing else', () => {
    for (const a of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) expect(isLoopbackPeer(a)).toBe(true);
    for (const a of [undefined, '', '10.0.0.1', '::ffff:10.0.0.1', '0.0.0.0', '::', 'fe80::1', '128.0.0.1', 'localhost']) expect(isLoopbackPeer(a)).toBe(false);
  });
});

describe('GET /metrics', () => {
  it('counts tokens, spend and calls exactly as the ledger holds them, by the conventions names and buckets', async () => {
    t = await startTestRuntime({ config: { gateway: upstream.gateway({ anthropic: true }) } });
    const a = await agentToken(t, { name: 'lead-qualifier', budgetUsd: 5 });
    const openai = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    const anthropic = new Anthropic({ baseURL: t.rt.url, apiKey: a.token, maxRetries: 0 });
    upstream.answer((req) =>
      req.path.endsWith('/messages') ? { text: 'hi there', usage: { input_tokens: 11, output_tokens: 3 } } : { text: 'a b c', usage: { prompt_tokens: 17, completion_tokens: 5, total_tokens: 22 } },
    );
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hello' }] });
    await openai.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] });
    const stream = await openai.chat.completions.create({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: 'hello' }] });
    for await (const _ of stream) {
      /* read to its end */
    }
    await anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 50, messages: [{ role: 'user', content: 'hello' }] });
    upstream.answer({ usage: { prompt_tokens: 9, total_tokens: 9 } });
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: 'hello' });

    const m = await scrape(t);
    expect(m.status).toBe(200);
    expect(m.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const series = parseExposition(m.text);
    const db = sqliteOf(t.rt.state);
    const ledger = db.prepare('select sum(prompt_tokens) p, sum(completion_tokens) c, sum(cost_micros) cost, count(*) n from llm_requests').get() as { p: number; c: number; cost: number; n: number };
    expect(ledger.n).toBe(5);
    expect(sumOf(series, 'gen_ai_client_token_usage_sum', { gen_ai_token_type: 'input' })).toBe(ledger.p);
    expect(sumOf(series, 'gen_ai_client_token_usage_sum', { gen_ai_token_type: 'output' })).toBe(ledger.c);
    // Money: exact to the micro-dollar, not a float sum drifting from the ledger.
    expect(Math.round(sumOf(series, 'iron_cage_spend_usd_total') * 1e6)).toBe(ledger.cost);
    expect(sumOf(series, 'iron_cage_llm_calls_total', { agent: 'lead-qualifier', status: 'ok' })).toBe(5);
    // The conventions' attributes as labels, and their bucket boundaries.
    expect(
      sample(series, 'gen_ai_client_token_usage_count', {
        gen_ai_operation_name: 'chat',
        gen_ai_provider_name: 'anthropic',
        gen_ai_request_model: 'claude-3-5-haiku-latest',
        gen_ai_token_type: 'output',
      }),
    ).toBe(1);
    expect(sample(series, 'gen_ai_client_token_usage_count', { gen_ai_operation_name: 'embeddings', gen_ai_token_type: 'input' })).toBe(1);
    expect(sample(series, 'gen_ai_client_token_usage_bucket', { gen_ai_request_model: 'gpt-4o', gen_ai_token_type: 'input', le: '16' })).toBe(0);
    expect(sample(series, 'gen_ai_client_token_usage_bucket', { gen_ai_request_model: 'gpt-4o', gen_ai_token_type: 'input', le: '64' })).toBe(1);
    expect(series.filter((s) => s.name === 'gen_ai_client_operation_duration_seconds_bucket' && s.labels.gen_ai_request_model === 'gpt-4o').map((s) => s.labels.le)).toEqual([
      '0.01',
      '0.02',
      '0.04',
      '0.08',
      '0.16',
      '0.32',
      '0.64',
      '1.28',
      '2.56',
      '5.12',
      '10.24',
      '20.48',
      '40.96',
      '81.92',
      '+Inf',
    ]);
    expect(sumOf(series, 'gen_ai_client_operation_duration_seconds_count')).toBe(5);
    // Time to first chunk: the stream only.
    expect(sumOf(series, 'gen_ai_client_operation_time_to_first_chunk_seconds_count')).toBe(1);
    // The cage's own time, less the upstream's: one per call that reached a provider, each a part
    // of that call's whole duration (how small it is, the gateway bench measures: a loaded
    // machine's scheduler would decide a bound here).
    expect(sumOf(series, 'iron_cage_gateway_overhead_seconds_count')).toBe(5);
    const overhead = sumOf(series, 'iron_cage_gateway_overhead_seconds_sum');
    expect(overhead).toBeGreaterThan(0);
    expect(overhead).toBeLessThan(sumOf(series, 'gen_ai_client_operation_duration_seconds_sum'));
    // The budget, exact at scrape time.
    const budget = (await (await t.api(`/api/agents/${a.agentId}/costs`)).json()) as { limitUsd: number; spentUsd: number };
    expect(sample(series, 'iron_cage_budget_limit_usd', { scope: 'agent', budget: 'lead-qualifier' })).toBe(5);
    expect(sample(series, 'iron_cage_budget_spent_usd', { scope: 'agent', budget: 'lead-qualifier' })).toBeCloseTo(budget.spentUsd, 9);
    expect(sample(series, 'iron_cage_budget_reserved_usd', { scope: 'agent', budget: 'lead-qualifier' })).toBe(0);
    expect(sample(series, 'iron_cage_breaker_state', { kind: 'provider', service: 'openai' })).toBe(0);
  });

  it('counts refusals by reason, PII by type and action, and a failed call by its error.type', async () => {
    t = await startTestRuntime({ config: { gateway: upstream.gateway() } });
    const a = await agentToken(t, { name: 'pii-agent', budgetUsd: 5 });
    const poor = await agentToken(t, { name: 'poor-agent', budgetUsd: 0.000_001 });
    upstream.answer({ text: 'Mail ceo@acme.com or call +1 415 555 0100', usage: { prompt_tokens: 5, completion_tokens: 9 } });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'who?' }] });
    const refused = await new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: poor.token, maxRetries: 0 }).chat.completions
      .create({ model: 'gpt-4o', max_tokens: 500, messages: [{ role: 'user', content: 'hi' }] })
      .catch((e) => e);
    expect(refused.status).toBe(402);
    upstream.answer({ status: 500 });
    const failed = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(failed.status).toBe(500);

    const series = parseExposition((await scrape(t)).text);
    const db = sqliteOf(t.rt.state);
    const pii = db.prepare('select type, count(*) n from pii_audit group by type').all() as Array<{ type: string; n: number }>;
    expect(pii.length).toBeGreaterThan(0);
    for (const { type, n } of pii) expect(sample(series, 'iron_cage_pii_detections_total', { type, action: 'redacted', location: 'llm.output' })).toBe(n);
    expect(sample(series, 'iron_cage_refusals_total', { reason: 'budget_exhausted', kind: 'llm' })).toBe(1);
    expect(sample(series, 'gen_ai_client_operation_duration_seconds_count', { gen_ai_request_model: 'gpt-4o', error_type: 'budget_exhausted' })).toBe(1);
    expect(sample(series, 'gen_ai_client_operation_duration_seconds_count', { gen_ai_request_model: 'gpt-4o-mini', error_type: '500' })).toBe(1);
    // The refused call reached no provider: no overhead figure, no tokens.
    expect(sumOf(series, 'iron_cage_gateway_overhead_seconds_count')).toBe(2);
  });

  it("the overhead is the cage's own time: a retry's backoff and the upstream's time are not in it", async () => {
    t = await startTestRuntime({ config: { gateway: upstream.gateway({}, { retry: { attempts: 3, baseMs: 400, maxMs: 400 } }) } });
    const a = await agentToken(t);
    let n = 0;
    // Retry-After: 1 s, capped by max_ms: a 400 ms wait the cage spends doing nothing.
    upstream.answer(() => (++n === 1 ? { status: 503, headers: { 'retry-after': '1' } } : { usage: { prompt_tokens: 5, completion_tokens: 2 } }));
    const started = performance.now();
    await new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    // The call took the 400 ms wait and two upstream answers...
    expect(n).toBe(2);
    expect(performance.now() - started).toBeGreaterThan(390);
    const series = parseExposition((await scrape(t)).text);
    expect(sumOf(series, 'iron_cage_gateway_overhead_seconds_count')).toBe(1);
    // ...none of which is the cage's (the first call of a process loads the tokenizer: the cage's, but far below a backoff).
    const duration = sumOf(series, 'gen_ai_client_operation_duration_seconds_sum');
    expect(duration).toBeGreaterThan(0.39);
    expect(sumOf(series, 'iron_cage_gateway_overhead_seconds_sum')).toBeLessThan(duration - 0.39);
  });

  it('bounds the agent label: past max_agents, names are counted under other', async () => {
    t = await startTestRuntime({ config: { gateway: upstream.gateway(), metrics: { ...DEFAULTS.metrics, maxAgents: 2 } } });
    upstream.answer({ usage: { prompt_tokens: 5, completion_tokens: 2 } });
    for (const name of ['one', 'two', 'three', 'four']) {
      const a = await agentToken(t, { name });
      await new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, maxRetries: 0 }).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    }
    const series = parseExposition((await scrape(t)).text);
    const agents = new Set(series.filter((s) => s.name === 'iron_cage_llm_calls_total').map((s) => s.labels.agent));
    expect(agents).toEqual(new Set(['one', 'two', 'other']));
    expect(sample(series, 'iron_cage_llm_calls_total', { agent: 'other' })).toBe(2);
    expect(sumOf(series, 'iron_cage_metrics_label_overflow_total')).toBeGreaterThan(0);
    // No request ids or free text anywhere in a label.
    for (const s of series) for (const v of Object.values(s.labels)) expect(v).not.toMatch(/chatcmpl|req_|hi$/);
  });

  it('who may scrape: loopback without a token by default, a metrics or admin token, never a viewer or agent token', async () => {
    t = await startTestRuntime({ config: { gateway: upstream.gateway() } });
    expect((await scrape(t)).status).toBe(200);
    const made = async (role: string) => {
      const r = await t!.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role, name: `${role}-scraper` }) });
      expect(r.status).toBe(201);
      return ((await r.json()) as { token: string }).token;
    };
    const metrics = await made('metrics');
    const viewer = await made('viewer');
    expect((await scrape(t, metrics)).status).toBe(200);
    expect((await scrape(t, t.rt.adminToken)).status).toBe(200);
    const v = await scrape(t, viewer);
    expect(v.status).toBe(403);
    expect(v.text).toContain('metrics or admin token');
    expect((await scrape(t, 'not-a-token')).status).toBe(401);
    // A metrics token reads /metrics and nothing else.
    expect((await t.api('/api/agents', { token: metrics })).status).toBe(403);
    expect((await fetch(`${t.rt.url}/metrics`, { method: 'POST' })).status).toBe(405);
    // Nor may it call a model, a tool or open the live feed.
    const llm = await fetch(`${t.rt.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${metrics}`, 'content-type': 'application/json' }, body: '{}' });
    expect(llm.status).toBe(403);
    expect((await fetch(`${t.rt.url}/tools/any/x`, { headers: { authorization: `Bearer ${metrics}` } })).status).toBe(403);
    expect(await upgradeStatus(t.rt.url, metrics)).toBe(403);
    // A request a proxy forwarded is not this machine's, whatever socket it came on.
    expect((await fetch(`${t.rt.url}/metrics`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).status).toBe(401);
    expect((await fetch(`${t.rt.url}/metrics`, { headers: { forwarded: 'for=203.0.113.9' } })).status).toBe(401);
    expect((await fetch(`${t.rt.url}/metricsx`)).status).toBe(404);
  });

  it('metrics.auth: token: every scrape needs a token, loopback included; metrics.enabled: false serves none', async () => {
    t = await startTestRuntime({ config: { metrics: { ...DEFAULTS.metrics, auth: 'token' } } });
    const r = await scrape(t);
    expect(r.status).toBe(401);
    expect(r.text).toContain('iron-cage token create --role metrics');
    expect((await scrape(t, t.rt.adminToken)).status).toBe(200);
    await t.stop();
    t = await startTestRuntime({ config: { metrics: { ...DEFAULTS.metrics, enabled: false } } });
    expect((await scrape(t)).status).toBe(404);
  });
});
