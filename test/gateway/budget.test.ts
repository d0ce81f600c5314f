import { afterEach, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { parsePriceOverrides, SPEC_PRICE_OVERRIDES } from '../../src/domain/budget/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { FakeService } from '../helpers/http.js';
import { startMailbox } from '../helpers/mail.js';
import { agentToken, ROOT, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

const upstream = useFakeLlm();

function gatewayConfig(extra: Partial<Config['gateway']> = {}): Config['gateway'] {
  return upstream.gateway({ key: 'sk-real-provider-key', timeoutMs: 2000 }, { pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES), retry: { attempts: 2, baseMs: 1, maxMs: 5 }, ...extra });
}

const chat = (t: TestRuntime, token: string, body: object) =>
  fetch(`${t.rt.url}/v1/chat/completions`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

describe('cost and budget through a real upstream', () => {
  it('a GPT-4 call of 1000 tokens costs exactly $0.03 under the spec price, and the real key goes upstream', async () => {
    t = await startTestRuntime({ config: { gateway: gatewayConfig() } });
    const a = await agentToken(t, { budgetUsd: 50 });
    upstream.answer({ text: 'fine', usage: { prompt_tokens: 400, completion_tokens: 600 } });
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const r = await client.chat.completions.create({ model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.choices[0]!.message.content).toBe('fine');
    const seen = upstream.requests.at(-1)!;
    expect(seen.headers.authorization).toBe('Bearer sk-real-provider-key');
    expect(seen.body.model).toBe('gpt-4');
    const c = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(c.spentUsd).toBe(0.03);
    expect(c.display.usage).toBe('$0.03 / $50.00 (0.1%)');
    const row = sqliteOf(t.rt.state).prepare('SELECT cost_micros, prompt_tokens, completion_tokens, usage_source FROM llm_requests').get();
    expect(row).toEqual({ cost_micros: 30_000, prompt_tokens: 400, completion_tokens: 600, usage_source: 'provider' });
    // GPT-3.5 at $0.002/1K
    upstream.answer({ text: 'x', usage: { prompt_tokens: 1000, completion_tokens: 0 } });
    await client.chat.completions.create({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'hi' }] });
    expect((await (await t.api(`/api/agents/${a.agentId}/costs`)).json()).spentUsd).toBe(0.032);
  });

  it('prices prompt-cache reads at their own rate', async () => {
    t = await startTestRuntime({ config: { gateway: gatewayConfig({ pricing: parsePriceOverrides({ 'cachey-model': { input_per_1m: 10, output_per_1m: 10, cache_read_per_1m: 1 } }) }) } });
    const a = await agentToken(t, { budgetUsd: 5 });
    upstream.answer({ text: 'x', usage: { prompt_tokens: 1000, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 800 } } });
    expect((await chat(t, a.token, { model: 'cachey-model', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    // 200 fresh tokens at $10/M plus 800 cached at $1/M: $0.0028.
    const row = sqliteOf(t.rt.state).prepare('SELECT cost_micros FROM llm_requests').get() as { cost_micros: number };
    expect(row.cost_micros).toBe(2_800);
  });

  it('50 concurrent requests against a nearly spent budget never settle past the limit', async () => {
    t = await startTestRuntime({ config: { gateway: gatewayConfig() } });
    const a = await agentToken(t, { budgetUsd: 1 });
    // $0.97 of $1 spent first.
    upstream.answer({ text: 'x', usage: { prompt_tokens: 32_333, completion_tokens: 0 } });
    const warm = await chat(t, a.token, { model: 'gpt-4', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] });
    expect(warm.status).toBe(200);
    // The provider holds every answer until each of the 50 calls is with it, refused, or waiting
    // for headroom, so all those it serves are in flight at once.
    let all!: () => void;
    upstream.answer({ text: 'y', usage: { prompt_tokens: 50, completion_tokens: 50 }, after: new Promise<void>((r) => (all = r)) });
    const sent = upstream.requests.length;
    let refusedSoFar = 0;
    const calls = Array.from({ length: 50 }, () =>
      chat(t!, a.token, { model: 'gpt-4', max_tokens: 100, messages: [{ role: 'user', content: 'hello there' }] }).then((r) => {
        if (r.status === 402) refusedSoFar++;
        return r;
      }),
    );
    const waiting = async () => (await (await t!.api(`/api/agents/${a.agentId}/status`)).json()).budget.waiting as number;
    await until(async () => upstream.requests.length - sent + refusedSoFar + (await waiting()) === 50);
    all();
    const results = await Promise.all(calls);
    const ok = results.filter((r) => r.status === 200);
    const refused = results.filter((r) => r.status === 402);
    expect(ok.length + refused.length).toBe(50);
    expect(ok.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.headers.get('x-should-retry')).toBe('false');
      const body = await r.json();
      expect(body.error).toMatchObject({ type: 'insufficient_quota', code: 'budget_exceeded' });
      expect(body.error.message).toMatch(/budget of \$1\.00 for agent .* would be exceeded/);
    }
    const c = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(c.spentUsd).toBeLessThanOrEqual(1);
    expect(c.reservedUsd).toBe(0);
    const sum = sqliteOf(t.rt.state).prepare('SELECT sum(cost_micros) AS s FROM llm_requests').get() as { s: number };
    expect(sum.s).toBeLessThanOrEqual(1_000_000);
    expect(c.requests).toBe(1 + ok.length);
  });

  it('warns once at 90% by e-mail (real SMTP) and webhook, then once at 100%, and refuses what no longer fits until the limit is raised', async () => {
    const smtp = await startMailbox();
    const mails = smtp.received;
    const hook = await FakeService.start();
    const hooks = () => hook.json();
    try {
      t = await startTestRuntime({
        config: {
          // The burn-rate alarm off: two calls of $0.45 within a second would raise it too (test/budget/runway.test.ts).
          gateway: gatewayConfig({ budgetPolicy: { ...DEFAULTS.gateway.budgetPolicy, runwayAlertMinutes: 0 } }),
          alerts: {
            webhookUrl: `${hook.url}/slack`,
            email: { to: 'ops@company.com', from: 'cage@company.com', smtpUrl: smtp.url },
          },
        },
      });
      const a = await agentToken(t, { budgetUsd: 1 });
      upstream.answer({ text: 'x', usage: { prompt_tokens: 15_000, completion_tokens: 0 } }); // $0.45 each at $0.03/1K
      expect((await chat(t, a.token, { model: 'gpt-4', max_tokens: 1, messages: [{ role: 'user', content: 'a' }] })).status).toBe(200);
      const crossed = Date.now();
      expect((await chat(t, a.token, { model: 'gpt-4', max_tokens: 1, messages: [{ role: 'user', content: 'b' }] })).status).toBe(200); // $0.90
      await until(() => mails.length >= 1 && hooks().length >= 1, 5000);
      expect(mails[0]!.at - crossed).toBeLessThan(5000);
      expect(mails[0]!.raw).toContain('To: ops@company.com');
      expect(mails[0]!.raw).toMatch(/Subject: .*90/);
      expect(hooks()[0].text).toMatch(/90/);
      expect(Array.isArray(hooks()[0].blocks)).toBe(true);
      const { events } = await (await t.api(`/api/events?agentId=${a.agentId}&limit=1000`)).json();
      const warnings = events.filter((e: any) => e.type === 'budget.threshold');
      expect(warnings).toHaveLength(1);
      expect(warnings[0].data).toMatchObject({ threshold: 0.9, percentUsed: 90, action: { method: 'POST', path: `/api/agents/${a.agentId}/budget` } });
      expect(warnings[0].message).toMatch(/Approve \$[\d.,]+ increase/);
      // Small calls below 100% do not warn again; then the next big one is refused.
      upstream.answer({ text: 'x', usage: { prompt_tokens: 100, completion_tokens: 0 } });
      expect((await chat(t, a.token, { model: 'gpt-4', max_tokens: 1, messages: [{ role: 'user', content: 'c' }] })).status).toBe(200);
      const refused = await chat(t, a.token, { model: 'gpt-4', max_tokens: 5000, messages: [{ role: 'user', content: 'd' }] });
      expect(refused.status).toBe(402);
      // Barrier: a call that costs more than is left crosses 100%, and that alert must be the
      // second message on each channel. An alert from the small call or the refusal
      // would have been sent before it, so it would sit in second place (or make a third).
      upstream.answer({ text: 'x', usage: { prompt_tokens: 10_000, completion_tokens: 0 } });
      expect((await chat(t, a.token, { model: 'gpt-4', max_tokens: 1, messages: [{ role: 'user', content: 'e' }] })).status).toBe(200);
      await until(() => mails.length >= 2 && hooks().length >= 2, 5000);
      expect(mails[1]!.raw).toMatch(/Subject: .*Budget exhausted/);
      expect(hooks()[1].text).toMatch(/exhausted/i);
      expect(mails).toHaveLength(2);
      expect(hooks()).toHaveLength(2);
      // Raise it live: the same call now goes through.
      const raised = await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: 2 }) });
      expect(raised.status).toBe(200);
      expect((await raised.json()).budget.limitUsd).toBe(2);
      expect((await chat(t, a.token, { model: 'gpt-4', max_tokens: 5000, messages: [{ role: 'user', content: 'd' }] })).status).toBe(200);
      const viewer = await t.rt.tokens.issue({ role: 'viewer', name: 'v' });
      expect((await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', token: viewer, body: JSON.stringify({ limitUsd: 9 }) })).status).toBe(403);
      expect((await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: -1 }) })).status).toBe(400);
      expect((await t.api(`/api/agents/${a.agentId}/budget`, { method: 'POST', body: JSON.stringify({ limitUsd: 0.5 }) })).status).toBe(409);
    } finally {
      await smtp.close();
      await hook.close();
    }
  });

  it('a dead webhook and a dead SMTP server are logged, never fatal', async () => {
    t = await startTestRuntime({
      config: {
        gateway: gatewayConfig({ budgetPolicy: { ...DEFAULTS.gateway.budgetPolicy, runwayAlertMinutes: 0 } }),
        alerts: { webhookUrl: 'http://127.0.0.1:9/dead', email: { to: 'ops@company.com', from: 'c@company.com', smtpUrl: 'smtp://127.0.0.1:9' } },
      },
    });
    const a = await agentToken(t, { budgetUsd: 0.01 });
    upstream.answer({ text: 'x', usage: { prompt_tokens: 300, completion_tokens: 0 } }); // $0.009 = 90%
    expect((await chat(t, a.token, { model: 'gpt-4', max_tokens: 1, messages: [{ role: 'user', content: 'a' }] })).status).toBe(200);
    const failed = await until(async () => {
      const { events } = await (await t!.api(`/api/events?agentId=${a.agentId}&limit=1000`)).json();
      const d = events.filter((e: any) => e.type === 'alert.delivery' && !e.data.ok);
      return d.length === 2 ? d : null;
    }, 20_000);
    expect(failed.map((e: any) => e.data.channel).sort()).toEqual(['email', 'webhook']);
    expect((await t.api('/api/health', { token: null })).status).toBe(200);
  });

  it('a supervised agent is stopped when its budget is exhausted', async () => {
    // The simulated provider reports honest usage: about $0.0005 a call at the spec GPT-4 price.
    t = await startTestRuntime({
      agent: { script: join(ROOT, 'test/fixtures/agents/spender.py') },
      env: { SPENDER_HOLD: '1' },
      config: { budgetMicros: 5_000, gateway: { ...DEFAULTS.gateway, pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES) } },
    });
    const outcome = await t.rt.agentDone!;
    expect(outcome.status).toBe('stopped');
    const { events } = await (await t.api(`/api/events?agentId=${t.rt.agentId}&limit=1000`)).json();
    expect(events.some((e: any) => e.type === 'budget.refused' || e.type === 'budget.exhausted')).toBe(true);
    const status = await (await t.api(`/api/agents/${t.rt.agentId}/status`)).json();
    expect(status.budget.spentUsd).toBeLessThanOrEqual(0.005);
    expect(status.budget.spentUsd).toBeGreaterThan(0.004);
    expect(t.log()).toMatch(/Budget exhausted: stopping the agent/);
  });
});

describe('bad input gets the provider-shaped 4xx and the ledger stays exact', () => {
  it('malformed JSON, missing fields, wrong types, oversized bodies, unknown and revoked tokens', async () => {
    t = await startTestRuntime({ config: { gateway: { ...gatewayConfig(), maxRequestBytes: 64 * 1024 } } });
    const a = await agentToken(t, { budgetUsd: 5 });
    const raw = (body: string | Buffer, token = a.token) =>
      fetch(`${t!.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : new Uint8Array(body),
      });
    const cases: Array<[string | Buffer, number, RegExp]> = [
      ['{"model": "gpt-4", ', 400, /could not parse the JSON body/],
      // Bytes that are not UTF-8 (a prompt in Latin-1) were read as U+FFFD, sent changed and charged.
      [Buffer.from('{"model": "gpt-4", "messages": [{"role": "user", "content": "caf\xe9"}]}', 'latin1'), 400, /could not parse the JSON body of your request: it is not valid UTF-8/],
      ['[]', 400, /must be a JSON object/],
      ['{"messages": [{"role": "user", "content": "x"}]}', 400, /Missing required parameter: 'model'/],
      ['{"model": "gpt-4"}', 400, /Missing required parameter: 'messages'/],
      ['{"model": 4, "messages": []}', 400, /Invalid type for 'model'/],
      ['{"model": "gpt-4", "messages": "hi"}', 400, /Invalid type for 'messages'/],
      ['{"model": "gpt-4", "messages": [{"content": "x"}]}', 400, /messages\[0\]\.role/],
      // What an upstream would refuse, never sent or charged: a role no model has, content parts that are none.
      ['{"model": "gpt-4", "messages": [{"role": "bogus", "content": "x"}]}', 400, /Invalid value: 'bogus'\. Supported values are: 'system', 'developer', 'user', 'assistant', 'tool', 'function'\./],
      ['{"model": "gpt-4", "messages": [{"role": "user", "content": [1, 2]}]}', 400, /Invalid type for 'messages\[0\]\.content\[0\]'/],
      ['{"model": "gpt-4", "messages": [{"role": "user", "content": "x"}], "max_tokens": "ten"}', 400, /Invalid type for 'max_tokens': expected an integer/],
      ['{"model": "gpt-4", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', 400, /Invalid type for 'stream'/],
      [JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content: 'x'.repeat(70_000) }] }), 413, /larger than the gateway's limit/],
    ];
    for (const [body, status, message] of cases) {
      const r = await raw(body);
      expect(r.status, body.slice(0, 60).toString()).toBe(status);
      const j = await r.json();
      expect(j.error.message).toMatch(message);
      expect(j.error.type).toBeTypeOf('string');
    }
    const huge = await raw('{"model": "gpt-4", "messages": [{"role": "user", "content": "x"}], "max_tokens": 9000000000000000}');
    expect(huge.status).toBe(400);
    expect((await huge.json()).error.message).toMatch(/Invalid 'max_tokens': integer above maximum value\. Expected a value <= 10000000/);
    expect((await raw('{}', 'ic_unknown')).status).toBe(401);
    const del = await t.api(`/api/tokens/${(await (await t.api('/api/tokens')).json())[0].id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    const revoked = await raw('{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}');
    expect(revoked.status).toBe(401);
    expect((await revoked.json()).error.message).toMatch(/revoked/);
    expect(upstream.requests.filter((r) => r.body?.messages?.[0]?.content?.length === 70_000)).toHaveLength(0);
    const n = sqliteOf(t.rt.state).prepare('SELECT count(*) AS n FROM llm_requests').get() as { n: number };
    expect(n.n).toBe(0);
  });

  // A hang-up does not stop what the provider generates and bills: the stream is read to its
  // end for its usage, and the call is charged exactly what the same answer read in full is.
  it('a streaming client that disconnects midway is charged what the provider produced, read to its end; nothing stays reserved', async () => {
    t = await startTestRuntime({ config: { gateway: gatewayConfig() } });
    const a = await agentToken(t, { budgetUsd: 5 });
    const body = JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: `Repeat exactly: ${'word '.repeat(60)}` }] });
    const headers = { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' };
    // The provider sends its first piece, then the other 59 once the agent has hung up, and bills all 60.
    let rest!: () => void;
    const usage = { prompt_tokens: 70, completion_tokens: 60 };
    upstream.answer({ text: 'word '.repeat(60), usage, hold: new Promise<void>((r) => (rest = r)) });
    const ac = new AbortController();
    const r = await fetch(`${t.rt.url}/v1/chat/completions`, { method: 'POST', signal: ac.signal, headers, body });
    const reader = r.body!.getReader();
    let got = '';
    while (!got.includes('word')) got += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await t.api('/api/health', { token: null });
    rest();
    const rowOf = (status: string) => () =>
      (sqliteOf(t!.rt.state).prepare('SELECT status, completion_tokens, cost_micros, usage_source FROM llm_requests WHERE status = ?').get(status) as any) ?? null;
    const row = await until(rowOf('aborted'));
    // The same request read in full, for the reference figures.
    upstream.answer({ text: 'word '.repeat(60), usage });
    await (await fetch(`${t.rt.url}/v1/chat/completions`, { method: 'POST', headers, body })).text();
    const whole = await until(rowOf('ok'));
    expect(row).toEqual({ ...whole, status: 'aborted' });
    expect(row.usage_source).toBe('provider');
    expect(row.completion_tokens).toBeGreaterThanOrEqual(60);
    const c = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(c.reservedUsd).toBe(0);
    expect(c.spentUsd * 1_000_000).toBeCloseTo(row.cost_micros * 2, 3);
  });

  it('an Anthropic stream the agent cuts short is charged its full usage, not what it delivered, nor the opening count of 1', async () => {
    t = await startTestRuntime({ config: { gateway: upstream.gateway({ anthropic: true, timeoutMs: 2000 }, { pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES) }) } });
    const a = await agentToken(t, { budgetUsd: 5 });
    const headers = { 'x-api-key': a.token, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
    const body = JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 500, stream: true, messages: [{ role: 'user', content: `Repeat exactly: ${'word '.repeat(80)}` }] });
    // As Anthropic does: message_start opens with 1 output token, message_delta brings the full 80.
    // The provider sends 12 pieces, then the other 68 once the agent has hung up.
    let rest!: () => void;
    const answer = { text: 'word '.repeat(80), startUsage: { input_tokens: 90, output_tokens: 1 }, usage: { output_tokens: 80 } };
    upstream.answer({ ...answer, holdAt: 12, hold: new Promise<void>((r) => (rest = r)) });
    const ac = new AbortController();
    const r = await fetch(`${t.rt.url}/v1/messages`, { method: 'POST', signal: ac.signal, headers, body });
    const reader = r.body!.getReader();
    let got = '';
    while ((got.match(/text_delta/g) ?? []).length < 12) got += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    await t.api('/api/health', { token: null });
    rest();
    const rowOf = (status: string) => () => (sqliteOf(t!.rt.state).prepare('SELECT status, completion_tokens, cost_micros FROM llm_requests WHERE status = ?').get(status) as any) ?? null;
    const row = await until(rowOf('aborted'));
    upstream.answer(answer);
    await (await fetch(`${t.rt.url}/v1/messages`, { method: 'POST', headers, body })).text();
    const whole = await until(rowOf('ok'));
    expect(row).toEqual({ ...whole, status: 'aborted' });
    expect(row.completion_tokens).toBeGreaterThanOrEqual(80);
  });

  it('upstream failures are retried, then passed through in the provider shape; timeouts become 504', async () => {
    t = await startTestRuntime({ config: { gateway: gatewayConfig() } });
    const a = await agentToken(t, { budgetUsd: 5 });
    let calls = 0;
    upstream.answer(() => (++calls === 1 ? { status: 500 } : { text: 'second time lucky', usage: { prompt_tokens: 3, completion_tokens: 3 } }));
    const before = upstream.requests.length;
    const r = await chat(t, a.token, { model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] });
    expect(r.status).toBe(200);
    expect(upstream.requests.length - before).toBe(2);
    upstream.answer({ status: 400, body: { error: { message: 'model does not exist', type: 'invalid_request_error', param: 'model', code: 'model_not_found' } } });
    const bad = await chat(t, a.token, { model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('model_not_found');
    upstream.answer({ hang: true });
    const slow = await chat(t, a.token, { model: 'gpt-4', messages: [{ role: 'user', content: 'x' }] });
    expect(slow.status).toBe(504);
    expect((await slow.json()).error.type).toBe('timeout_error');
    const c = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(c.reservedUsd).toBe(0);
  });
});

describe('crash safety', () => {
  it('kill -9 mid-run, restart on the same db: spend equals the sum of recorded requests', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const db = join(dir, 'state.db');
      const cli = join(ROOT, 'bin/iron-cage.js');
      // From a folder of its own: a sandboxed run killed with -9 leaves its empty placeholders (src/sandbox/placeholders.ts) where it ran.
      const child = spawn(process.execPath, [cli, 'start', join(ROOT, 'test/fixtures/agents/spender.py'), '--port', '0', '--db', db, '--budget', '100'], {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, SPENDER_CALLS: '100000', SPENDER_STREAM: '1' },
      });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      await until(() => (out.match(/spent call/g) ?? []).length >= 20, 20_000);
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const again = await startTestRuntime({ dir, config: { db } });
      try {
        const id = (await (await again.api('/api/agents')).json())[0].id;
        const d = sqliteOf(again.rt.state);
        const sum = (d.prepare('SELECT sum(cost_micros) AS s FROM llm_requests WHERE agent_id = ?').get(id) as { s: number }).s;
        const pending = (d.prepare("SELECT count(*) AS n FROM llm_requests WHERE status = 'pending'").get() as { n: number }).n;
        expect(pending).toBe(0);
        const status = await (await again.api(`/api/agents/${id}/status`)).json();
        expect(status.status).toBe('crashed');
        expect(Math.round(status.budget.spentUsd * 1_000_000)).toBe(sum);
        expect(sum).toBeGreaterThan(0);
      } finally {
        await again.stop();
      }
    } finally {
      cleanup();
    }
  });
});

describe('budget_policy.on_exhausted and the cost header', () => {
  it('refuse: the exhausted agent keeps running, every further call is refused, nothing stops it', async () => {
    // About $0.0005 a call at the spec GPT-4 price: $0.005 pays for roughly ten of twenty.
    t = await startTestRuntime({
      agent: { script: join(ROOT, 'test/fixtures/agents/keeps_calling.py') },
      env: { KEEP_CALLS: '20' },
      config: { budgetMicros: 5_000, gateway: { ...DEFAULTS.gateway, pricing: parsePriceOverrides(SPEC_PRICE_OVERRIDES), budgetPolicy: { ...DEFAULTS.gateway.budgetPolicy, onExhausted: 'refuse' } } },
    });
    expect(await t.rt.agentDone!).toEqual({ status: 'completed', exitCode: 0 });
    const tally = /tally: (\d+) answered, (\d+) refused/.exec(t.log());
    expect(tally).not.toBeNull();
    const [answered, refused] = [Number(tally![1]), Number(tally![2])];
    expect(answered + refused).toBe(20);
    expect(answered).toBeGreaterThan(0);
    // Once refused, refused to the end: every call after the first refusal was refused too.
    const first = Number(/refused at call (\d+): 402 budget_exceeded/.exec(t.log())![1]);
    expect(refused).toBe(20 - first);
    const { events } = await (await t.api(`/api/events?agentId=${t.rt.agentId}&limit=1000`)).json();
    const exhausted = events.filter((e: any) => e.type === 'budget.exhausted');
    expect(exhausted).toHaveLength(1);
    expect(exhausted[0]).toMatchObject({ message: 'Budget exhausted: further LLM calls are refused', data: { policy: 'refuse' } });
    expect(events.filter((e: any) => e.type === 'budget.refused')).toHaveLength(refused);
    expect(events.some((e: any) => e.type === 'agent.stopping')).toBe(false);
    expect(t.log()).not.toMatch(/stopping the agent/);
    const status = await (await t.api(`/api/agents/${t.rt.agentId}/status`)).json();
    expect(status.budget.spentUsd).toBeLessThanOrEqual(0.005);
  });

  it('x-iron-cage-cost-usd on a whole answer is the settled cost of the call, as recorded', async () => {
    t = await startTestRuntime({ config: { gateway: gatewayConfig() } });
    const a = await agentToken(t, { budgetUsd: 5 });
    upstream.answer({ text: 'priced', usage: { prompt_tokens: 400, completion_tokens: 600 } });
    const r = await chat(t, a.token, { model: 'gpt-4', messages: [{ role: 'user', content: 'hi' }] });
    expect(r.status).toBe(200);
    expect(r.headers.get('x-iron-cage-cost-usd')).toBe('0.030000');
    upstream.answer({ text: 'cheap', usage: { prompt_tokens: 1000, completion_tokens: 0 } });
    const cheap = await chat(t, a.token, { model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'hi' }] });
    expect(cheap.headers.get('x-iron-cage-cost-usd')).toBe('0.002000');
    const rows = sqliteOf(t.rt.state).prepare('SELECT cost_micros FROM llm_requests ORDER BY id').all() as Array<{ cost_micros: number }>;
    expect(rows.map((x) => x.cost_micros)).toEqual([30_000, 2_000]);
  });
});
