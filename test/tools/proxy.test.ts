import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';
import { breakers, eventsOf, raw, withTools } from './helpers.js';
import { FakeService } from '../helpers/http.js';

let t: TestRuntime;
let li: FakeService; // "LinkedIn": cache, no placeholder
let search: FakeService; // a placeholder, opens after 2 failures
let slow: FakeService; // short timeout
let flaky: FakeService; // short cooldown
let agentToken: string;
let viewerToken: string;
const AGENT = 'lg-0000abcd';

beforeAll(async () => {
  [li, search, slow, flaky] = await Promise.all([FakeService.start(), FakeService.start(), FakeService.start(), FakeService.start()]);
  t = await startTestRuntime({
    config: withTools({
      linkedin: {
        url: `${li.url}/v2`,
        headers: { 'X-Api-Key': 'li-secret-123' },
        cost_per_call_usd: 0.1,
        cache_ttl_s: 3600,
        breaker: { failure_threshold: 5, cooldown_s: 60 },
      },
      search: { url: search.url, placeholder: { results: [], placeholder: true }, breaker: { failure_threshold: 2, cooldown_s: 60 } },
      slow: { url: slow.url, timeout_ms: 200, cache_ttl_s: 0 },
      flaky: { url: flaky.url, breaker: { failure_threshold: 1, cooldown_s: 0.3 } },
    }),
  });
  // An agent this iron-cage knows: a token of one it does not opens no door.
  t.rt.state.registerAgent({ id: AGENT, name: AGENT, kind: 'external', script: null, args: [], limitMicros: null });
  agentToken = (await t.rt.tokens.issueRun({ name: AGENT, agentId: AGENT })).token;
  viewerToken = await t.rt.tokens.issue({ role: 'viewer', name: 'viewer' });
});
afterAll(async () => {
  await t?.stop();
  await Promise.all([li, search, slow, flaky].map((u) => u?.close()));
});

const get = (path: string, token: string | null = agentToken) => raw(t.rt.url, 'GET', path, { token });

describe('forwarding', () => {
  it('sends method, path, query, body and safe headers to the base URL only, and says which tier answered', async () => {
    li.reply = () => ({
      status: 201,
      headers: { 'content-type': 'application/json', 'set-cookie': 'upstream=1', 'x-iron-cage-tier': 'forged', 'x-upstream': 'yes' },
      body: '{"ok":true}',
    });
    const from = li.seen.length;
    const r = await raw(t.rt.url, 'POST', '/tools/linkedin/people/search?b=2&a=1', {
      token: agentToken,
      headers: { 'content-type': 'application/json', cookie: 'sid=dashboard', 'x-custom': 'kept', 'x-iron-cage-tier': 'spoofed', 'x-forwarded-for': '10.0.0.9' },
      body: '{"q":"acme"}',
    });
    expect(r.status).toBe(201);
    expect(r.headers['x-iron-cage-tier']).toBe('live');
    expect(r.headers['set-cookie']).toBeUndefined();
    expect(r.headers['x-upstream']).toBe('yes');
    expect(r.json()).toEqual({ ok: true });

    const [seen] = li.since(from);
    expect(seen).toMatchObject({ method: 'POST', url: '/v2/people/search?b=2&a=1', body: '{"q":"acme"}' });
    expect(seen!.headers).toMatchObject({ 'x-api-key': 'li-secret-123', 'x-custom': 'kept', 'content-type': 'application/json', 'accept-encoding': 'identity', host: `127.0.0.1:${li.port}` });
    for (const h of ['authorization', 'cookie', 'x-iron-cage-tier', 'x-forwarded-for']) expect(seen!.headers[h]).toBeUndefined();
    li.heal();
  });

  it('lets agent and admin tokens through, refuses viewers and strangers before anything is forwarded', async () => {
    const from = li.seen.length;
    expect((await get('/tools/linkedin/people/me')).status).toBe(200);
    expect((await get('/tools/linkedin/people/me', t.rt.adminToken)).status).toBe(200);
    const anon = await get('/tools/linkedin/people/me', null);
    expect(anon.status).toBe(401);
    expect(anon.json().error.code).toBe('unauthorized');
    const viewer = await get('/tools/linkedin/people/me', viewerToken);
    expect(viewer.status).toBe(403);
    expect(viewer.json()).toEqual({ error: { code: 'forbidden', message: expect.stringContaining('read-only') } });
    expect((await get('/tools/linkedin/people/me', 'not-a-token')).status).toBe(401);
    const viaApiKey = await raw(t.rt.url, 'GET', '/tools/linkedin/people/me', { headers: { 'x-api-key': agentToken } });
    expect(viaApiKey.status).toBe(200);
    expect(li.since(from)).toHaveLength(3);
    expect(li.since(from).every((s) => s.headers['x-api-key'] === 'li-secret-123')).toBe(true);
  });

  it('refuses unknown services and paths that try to leave the base URL, forwarding nothing', async () => {
    const from = li.seen.length;
    const unknown = await get('/tools/nosuch/people');
    expect(unknown.status).toBe(404);
    expect(unknown.json().error).toEqual({ code: 'not_found', message: expect.stringContaining("no tool service 'nosuch'") });
    const escapes = [
      '/tools/linkedin/../admin',
      '/tools/linkedin/a/../../admin',
      '/tools/linkedin/%2e%2e/admin',
      '/tools/linkedin/%2E%2e/admin',
      '/tools/linkedin/%252e%252e/admin',
      '/tools/linkedin/a/..%2f..%2fadmin',
      '/tools/linkedin/./people',
      '/tools/linkedin//evil.example/x',
      '/tools/linkedin/http://evil.example/x',
      '/tools/linkedin/https:%2F%2Fevil.example',
      '/tools/linkedin/@evil.example/x',
      '/tools/linkedin@evil.example/x',
      '/tools/linkedin/a\\..\\b',
      '/tools/linkedin/a%5c..%5cb',
      '/tools/linkedin/%00',
      '/tools/linkedin/%zz',
      '/tools//people',
    ];
    for (const path of escapes) {
      const r = await get(path);
      expect(r.status, path).toBe(400);
      expect(r.json().error.code, path).toBe('invalid_path');
    }
    expect(li.since(from)).toEqual([]);
    // Ordinary paths with the same characters in harmless places still work.
    expect((await get('/tools/linkedin/users/@me')).status).toBe(200);
    expect((await get('/tools/linkedin/a..b/c.d/')).status).toBe(200);
    expect(li.since(from).map((s) => s.url)).toEqual(['/v2/users/@me', '/v2/a..b/c.d/']);
  });

  it("counts an agent's refused calls as unauthorized actions, on the record without their paths", async () => {
    const a = (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'reacher' }) })).json()) as { token: string; agentId: string };
    const protection = async () => (await (await t.api(`/api/agents/${a.agentId}/protection`)).json()) as any;
    expect(await protection()).toMatchObject({ unauthorizedActions: 0, monitored: { unauthorizedActions: true } });
    expect((await get('/tools/nosuch/people', a.token)).status).toBe(404);
    expect((await get('/tools/linkedin/../admin', a.token)).status).toBe(400);
    expect((await get('/tools/linkedin/http://evil.example/secret-path', a.token)).status).toBe(400);
    // Not the agent's doing: an admin's mistakes, and ordinary calls and failures.
    expect((await get('/tools/nosuch/people', t.rt.adminToken)).status).toBe(404);
    expect((await get('/tools/linkedin/people/me', a.token)).status).toBe(200);
    expect(await protection()).toMatchObject({ unauthorizedActions: 3 });
    const refused = eventsOf(t, 'tool.refused').filter((e) => e.agentId === a.agentId);
    expect(refused.map((e) => [e.data, e.severity])).toEqual([
      [{ service: 'nosuch', reason: 'unknown_service', status: 404 }, 'warn'],
      [{ service: 'linkedin', reason: 'invalid_path', status: 400 }, 'warn'],
      [{ service: 'linkedin', reason: 'invalid_path', status: 400 }, 'warn'],
    ]);
    expect(JSON.stringify(refused)).not.toMatch(/admin|evil|secret-path/);
    // The admin's refusal was nobody's unauthorized action.
    expect(eventsOf(t, 'tool.refused').every((e) => e.agentId !== null)).toBe(true);
  });

  it('refuses a body over 5 MB with 413 and forwards nothing', async () => {
    const from = li.seen.length;
    const declared = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(t.rt.url);
      const req = request(
        { host: u.hostname, port: u.port, method: 'POST', path: '/tools/linkedin/upload', agent: false, headers: { authorization: `Bearer ${agentToken}`, 'content-length': String(6 * 1024 * 1024) } },
        (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', reject);
      req.write(Buffer.alloc(1024));
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error.code).toBe('payload_too_large');

    // Chunked, so no length is declared: the proxy must count. The client stops sending once the
    // answer is in; a connection that fails before any answer fails the test.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const u = new URL(t.rt.url);
      let answered = false;
      const req = request(
        { host: u.hostname, port: u.port, method: 'POST', path: '/tools/linkedin/upload', agent: false, headers: { authorization: `Bearer ${agentToken}`, 'transfer-encoding': 'chunked' } },
        (res) => {
          answered = true;
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode!, body }));
          res.on('error', () => resolve({ status: res.statusCode!, body }));
        },
      );
      req.on('error', (e) => (answered ? undefined : reject(e)));
      const send = (left: number): void => {
        if (answered || left === 0) return void (left === 0 && req.end());
        if (req.write(Buffer.alloc(1024 * 1024))) setImmediate(() => send(left - 1));
        else req.once('drain', () => send(left - 1));
      };
      send(6);
    });
    expect(chunked.status).toBe(413);
    expect(JSON.parse(chunked.body).error.code).toBe('payload_too_large');
    expect(li.since(from)).toEqual([]);
  });
});

describe('breaker and fallback', () => {
  it('opens after 5 failures, serves the cache while open, and never calls the upstream while open', async () => {
    const base = (await breakers(t)).linkedin;
    const ok = await get('/tools/linkedin/people/1');
    expect(ok.headers['x-iron-cage-tier']).toBe('live');
    const liveBody = ok.body;

    li.failWith(429, { 'retry-after': '30' });
    const from = li.seen.length;
    // Four failures on a cached path: the agent still gets the cached answer.
    for (let i = 0; i < 4; i++) {
      const r = await get('/tools/linkedin/people/1');
      expect(r.status).toBe(200);
      expect(r.headers['x-iron-cage-tier']).toBe('cache');
      expect(r.headers['x-iron-cage-fallback-reason']).toBe('upstream_failure');
      expect(r.headers['x-iron-cage-breaker']).toBeUndefined();
      expect(r.headers['x-iron-cage-cached-at']).toMatch(/^\d{4}-/);
      expect(r.body).toBe(liveBody);
    }
    // The fifth, on a path never cached and with no placeholder: a clean failure.
    const fifth = await get('/tools/linkedin/people/2');
    expect(fifth.status).toBe(503);
    expect(fifth.headers['x-iron-cage-tier']).toBe('failed');
    expect(fifth.headers['retry-after']).toBe('30');
    expect(fifth.json().error).toEqual({ code: 'upstream_unavailable', message: 'linkedin answered 429 and there is no cached answer or placeholder' });
    expect(li.since(from)).toHaveLength(5);

    const open = eventsOf(t, 'breaker.transition').filter((e) => e.data.service === 'linkedin');
    expect(open.at(-1)).toMatchObject({
      severity: 'warn',
      agentId: AGENT,
      message: 'Circuit linkedin OPEN after 5 consecutive failures (429); cooldown 60s',
      data: { from: 'CLOSED', to: 'OPEN', reason: 'consecutive_failures', lastFailure: 'http_429', cooldownMs: 60_000 },
    });
    const fb = eventsOf(t, 'tool.fallback').filter((e) => e.data.service === 'linkedin');
    expect(fb.at(-1)).toMatchObject({ severity: 'warn', message: 'linkedin: serving cached answers (linkedin answered 429)', data: { active: true, tier: 'cache' } });

    // While open: the cache answers, the upstream hears nothing.
    const cached = await get('/tools/linkedin/people/1');
    expect(cached.status).toBe(200);
    expect(cached.headers).toMatchObject({ 'x-iron-cage-tier': 'cache', 'x-iron-cage-breaker': 'open', 'x-iron-cage-fallback-reason': 'circuit_open' });
    const refused = await get('/tools/linkedin/people/3');
    expect(refused.status).toBe(503);
    expect(refused.headers['x-iron-cage-breaker']).toBe('open');
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(50);
    expect(refused.json().error.code).toBe('circuit_open');
    expect(li.since(from)).toHaveLength(5);

    const m = (await breakers(t)).linkedin;
    expect(m.state).toBe('OPEN');
    expect(m.calls - base.calls).toBe(8);
    expect(m.failures - base.failures).toBe(5);
    expect(m.blocked - base.blocked).toBe(2);
    expect(m.served.cache - base.served.cache).toBe(5);
    expect(m.served.failed - base.served.failed).toBe(2);
    expect(m.costSavedUsd).toBeCloseTo(0.2);
    expect(m.display.saved).toBe('$0.20 saved');
    expect(m.retryAfterMs).toBeGreaterThan(50_000);
    expect(m.lastFailure).toBe('http_429');
    expect(m.cacheEntries).toBeGreaterThan(0);
    expect(m.successRate).toBeGreaterThan(0);
    expect(m.successRate).toBeLessThan(1);
    expect(m.cacheHitRate).toBeGreaterThan(0);

    // Every call is on record with its tier.
    const calls = await (await t.api(`/api/tools/calls?service=linkedin&limit=8`)).json();
    expect(calls.calls.map((c: any) => c.tier)).toEqual(['failed', 'cache', 'failed', 'cache', 'cache', 'cache', 'cache', 'live']);
    expect(calls.calls[0]).toMatchObject({ agentId: AGENT, status: 503, reason: 'circuit_open', upstreamStatus: null, method: 'GET', path: '/people/3' });
    expect(calls.calls[2]).toMatchObject({ status: 503, reason: 'upstream_failure', detail: 'http_429', upstreamStatus: 429 });

    // An agent token reads its own calls only; a reset is for admins.
    const mine = await (await t.api('/api/tools/calls?agentId=someone-else', { token: agentToken })).json();
    expect(mine.calls.every((c: any) => c.agentId === AGENT)).toBe(true);
    expect((await t.api('/api/breakers/linkedin/reset', { method: 'POST', token: agentToken })).status).toBe(403);
    expect((await t.api('/api/breakers/linkedin/reset', { method: 'POST', token: viewerToken })).status).toBe(403);
    expect((await t.api('/api/breakers/nosuch/reset', { method: 'POST' })).status).toBe(404);
    const reset = await t.api('/api/breakers/linkedin/reset', { method: 'POST' });
    expect(reset.status).toBe(200);
    expect((await reset.json()).state).toBe('CLOSED');
    expect(eventsOf(t, 'breaker.reset').at(-1)).toMatchObject({ message: expect.stringContaining('reset by admin runtime (was OPEN)') });

    li.heal();
    const back = await get('/tools/linkedin/people/4');
    expect(back.headers['x-iron-cage-tier']).toBe('live');
    expect(eventsOf(t, 'tool.fallback').at(-1)).toMatchObject({ severity: 'info', data: { service: 'linkedin', active: false, served: { cache: 5, failed: 2 } } });
  });

  it('serves the placeholder when the cache has nothing', async () => {
    search.failWith(503);
    const first = await get('/tools/search/q?term=acme');
    expect(first.status).toBe(200);
    expect(first.headers['x-iron-cage-tier']).toBe('placeholder');
    expect(first.json()).toEqual({ results: [], placeholder: true });
    await get('/tools/search/q?term=acme');
    const open = await get('/tools/search/q?term=other');
    expect(open.headers).toMatchObject({ 'x-iron-cage-tier': 'placeholder', 'x-iron-cage-breaker': 'open' });
    expect(search.seen).toHaveLength(2);
    const m = (await breakers(t)).search;
    expect(m).toMatchObject({ state: 'OPEN', failures: 2, blocked: 1, served: { live: 0, cache: 0, placeholder: 3, failed: 0 }, successRate: 1 });
    expect(eventsOf(t, 'tool.fallback').find((e) => e.data.service === 'search')!.message).toBe('search: serving the placeholder (search answered 503, nothing cached)');
  });

  it('answers 504 when the upstream is slower than its timeout, and counts it as a failure', async () => {
    slow.reply = () => 'hang';
    const started = Date.now();
    const r = await get('/tools/slow/report');
    expect(r.status).toBe(504);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(r.json().error).toEqual({ code: 'upstream_timeout', message: 'slow did not answer within 200 ms and there is no cached answer or placeholder' });
    expect((await breakers(t)).slow).toMatchObject({ failures: 1, lastFailure: 'timeout', state: 'CLOSED' });
  });

  it('does not count an agent that hangs up as an upstream failure', async () => {
    slow.reply = () => 'hang';
    const before = (await breakers(t)).slow;
    const u = new URL(t.rt.url);
    const reached = slow.seen.length;
    const req = request({ host: u.hostname, port: u.port, path: '/tools/slow/gone', agent: false, headers: { authorization: `Bearer ${agentToken}` } });
    req.on('error', () => undefined);
    req.end();
    // The agent hangs up once the service has its request.
    await until(() => slow.seen.length > reached);
    req.destroy();
    await until(async () => (await (await t.api('/api/tools/calls?service=slow&limit=1')).json()).calls[0]?.reason === 'client_aborted');
    const after = (await breakers(t)).slow;
    expect(after.failures).toBe(before.failures);
    expect(after.calls).toBe(before.calls + 1);
  });

  it('lets a probe through after the cooldown and closes on its success', async () => {
    flaky.failWith(500);
    expect((await get('/tools/flaky/x')).status).toBe(503);
    expect((await breakers(t)).flaky.state).toBe('OPEN');
    // The cooldown ends on its own (no traffic needed), and the feed says so.
    await until(() => eventsOf(t, 'breaker.transition').some((e) => e.data.service === 'flaky' && e.data.to === 'HALF_OPEN'), 5000);
    expect((await breakers(t)).flaky.state).toBe('HALF_OPEN');
    flaky.reply = () => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: 'fine' });
    const probe = await get('/tools/flaky/x');
    expect(probe.status).toBe(200);
    expect(probe.headers['x-iron-cage-tier']).toBe('live');
    const tr = eventsOf(t, 'breaker.transition')
      .filter((e) => e.data.service === 'flaky')
      .map((e) => [e.data.to, e.severity, e.message]);
    expect(tr).toEqual([
      ['OPEN', 'warn', 'Circuit flaky OPEN after 1 consecutive failure (500); cooldown 0.3s'],
      ['HALF_OPEN', 'info', 'Circuit flaky HALF_OPEN after 0.3s cooldown; letting one probe through'],
      ['CLOSED', 'info', 'Circuit flaky CLOSED: recovery probe succeeded'],
    ]);
    expect((await breakers(t)).flaky.state).toBe('CLOSED');
  });
});

describe('breaker API', () => {
  it('lists every service with metrics and totals for any token', async () => {
    const r = await t.api('/api/breakers', { token: viewerToken });
    expect(r.status).toBe(200);
    const body = await r.json();
    expect(body.services.map((s: any) => s.service)).toEqual(['linkedin', 'search', 'slow', 'flaky']);
    expect(body.totals).toMatchObject({ costSavedUsd: expect.any(Number), display: { saved: expect.stringMatching(/^\$\d+\.\d\d saved$/) } });
    const one = await (await t.api('/api/breakers/linkedin', { token: agentToken })).json();
    expect(one).toMatchObject({ service: 'linkedin', url: `${li.url}/v2`, options: { failureThreshold: 5, cooldownMs: 60_000 } });
    // The configured API key is never shown.
    expect(JSON.stringify(body)).not.toContain('li-secret-123');
    expect(JSON.stringify(t.rt.state.lastEvents(1000))).not.toContain('li-secret-123');
    expect((await t.api('/api/breakers/nosuch')).status).toBe(404);
  });
});
