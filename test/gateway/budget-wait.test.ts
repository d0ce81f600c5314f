import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// Unspent budget is spendable (calls wait for in-flight ones instead of
// being refused), near_limit: clamp, and the ledger agreeing with its rows.

const upstream = useFakeLlm();

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

type Policy = Partial<Config['gateway']['budgetPolicy']>;

function simulated(latencyMs: number, policy: Policy = {}): Partial<Config> {
  const g = DEFAULTS.gateway;
  return { gateway: { ...g, providers: { ...g.providers, simulated: { latencyMs, chunkDelayMs: 0, failures: [] } }, budgetPolicy: { ...g.budgetPolicy, ...policy } } };
}

function viaMock(policy: Policy = {}): Partial<Config> {
  const g = DEFAULTS.gateway;
  return { gateway: upstream.gateway({ key: 'sk-upstream', timeoutMs: 10_000, anthropic: true }, { retry: { attempts: 1, baseMs: 1, maxMs: 1 }, budgetPolicy: { ...g.budgetPolicy, ...policy } }) };
}

const chat = (rt: TestRuntime, token: string, body: object, signal?: AbortSignal) =>
  fetch(`${rt.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });

const status = async (rt: TestRuntime, id: string) =>
  (await (await rt.api(`/api/agents/${id}/status`)).json()) as { budget: { spentUsd: number; reservedUsd: number; limitUsd: number; waiting: number } };
const rowsOf = (rt: TestRuntime, id: string) =>
  sqliteOf(rt.rt.state).prepare('SELECT status, cost_micros, reserved_micros, completion_tokens FROM llm_requests WHERE agent_id = ?').all(id) as Array<{
    status: string;
    cost_micros: number;
    reserved_micros: number;
    completion_tokens: number;
  }>;
const sumOf = (rows: Array<{ cost_micros: number }>) => rows.reduce((a, r) => a + r.cost_micros, 0);

describe('unspent budget is spendable', () => {
  it('16 concurrent gpt-4o calls whose worst cases hold 3x a $0.10 budget all get answered: the rest wait, the status and the WebSocket show it', async () => {
    t = await startTestRuntime({ config: simulated(300) });
    const a = await agentToken(t, { budgetUsd: 0.1 });
    const ws = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`);
    await ws.opened;
    const calls = Array.from({ length: 16 }, () => chat(t!, a.token, { model: 'gpt-4o', max_tokens: 2000, messages: [{ role: 'user', content: 'Say hello to the team.' }] }));
    const seen = await until(async () => ((await status(t!, a.agentId)).budget.waiting > 0 ? (await status(t!, a.agentId)).budget : null));
    expect(seen.reservedUsd).toBeLessThanOrEqual(0.1);
    const results = await Promise.all(calls);
    expect(results.map((r) => r.status)).toEqual(Array(16).fill(200));
    const waitingEvent = await ws.waitForEvent((e) => e.type === 'budget.waiting' && e.agentId === a.agentId && e.data.waiting > 0);
    expect(waitingEvent.data).toMatchObject({ model: 'gpt-4o' });
    expect(waitingEvent.data.inFlight).toBeGreaterThan(0);
    await ws.waitForEvent((e) => e.type === 'budget.waiting' && e.agentId === a.agentId && e.data.waiting === 0);
    expect(ws.agentStates().some((s) => s.id === a.agentId && s.budget?.waiting > 0)).toBe(true);
    await ws.close();
    const s = await status(t, a.agentId);
    expect(s.budget).toMatchObject({ reservedUsd: 0, waiting: 0 });
    const rows = rowsOf(t, a.agentId);
    expect(rows).toHaveLength(16);
    expect(s.budget.spentUsd * 1_000_000).toBeCloseTo(sumOf(rows), 3);
    expect(sumOf(rows)).toBeLessThanOrEqual(100_000);
  });

  it('near_limit: clamp answers a call whose worst case no longer fits with a shorter answer (finish_reason length) instead of a 402', async () => {
    t = await startTestRuntime({ config: simulated(0, { nearLimit: 'clamp' }) });
    const a = await agentToken(t, { budgetUsd: 0.001 });
    const body = { model: 'gpt-4o', max_tokens: 2000, messages: [{ role: 'user', content: `Repeat exactly: ${'word '.repeat(200)}` }] };
    const r = await chat(t, a.token, body);
    expect(r.status).toBe(200);
    const answer = (await r.json()) as { choices: Array<{ finish_reason: string; message: { content: string } }>; usage: { prompt_tokens: number; completion_tokens: number } };
    expect(answer.choices[0]!.finish_reason).toBe('length');
    expect(answer.choices[0]!.message.content.length).toBeGreaterThan(0);
    const [row] = rowsOf(t, a.agentId);
    // The clamped worst case fitted the budget, and the provider kept to it.
    expect(row!.reserved_micros).toBeLessThanOrEqual(1000);
    expect(row!.cost_micros).toBeLessThanOrEqual(row!.reserved_micros);
    expect(answer.usage.completion_tokens).toBeLessThan(200);
    const s = await status(t, a.agentId);
    expect(s.budget.spentUsd).toBeLessThanOrEqual(0.001);
    expect(s.budget.reservedUsd).toBe(0);
  });

  it('clamp on the Responses and Anthropic wires: the simulated provider keeps to the lowered max_output_tokens / max_tokens', async () => {
    t = await startTestRuntime({ config: simulated(0, { nearLimit: 'clamp' }) });
    const text = `Repeat exactly: ${'word '.repeat(200)}`;
    const responses = await agentToken(t, { budgetUsd: 0.001 });
    const r1 = await fetch(`${t.rt.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${responses.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', max_output_tokens: 2000, input: text }),
    });
    expect(r1.status).toBe(200);
    const a1 = (await r1.json()) as { status: string; incomplete_details: { reason: string } | null; usage: { output_tokens: number } };
    expect(a1).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } });
    const anthropic = await agentToken(t, { budgetUsd: 0.0005 });
    const r2 = await fetch(`${t.rt.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': anthropic.token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 2000, messages: [{ role: 'user', content: text }] }),
    });
    expect(r2.status).toBe(200);
    const a2 = (await r2.json()) as { stop_reason: string; usage: { output_tokens: number } };
    expect(a2.stop_reason).toBe('max_tokens');
    for (const [agent, limit] of [
      [responses, 1000],
      [anthropic, 500],
    ] as const) {
      const [row] = rowsOf(t, agent.agentId);
      expect(row!.reserved_micros).toBeLessThanOrEqual(limit);
      expect(row!.cost_micros).toBeLessThanOrEqual(row!.reserved_micros);
      expect((await status(t, agent.agentId)).budget.spentUsd * 1_000_000).toBeLessThanOrEqual(limit);
    }
  });

  it('a dearer fallback is clamped too: sent with a lower output limit that fits what is left; refused without clamp', async () => {
    upstream.answer(({ body }) => (body.model === 'gpt-4o-mini' ? { status: 500 } : { text: 'from the fallback', usage: { prompt_tokens: 20, completion_tokens: 5 } }));
    const fallback = (policy: Policy) => {
      const c = viaMock(policy);
      return { ...c, gateway: { ...c.gateway!, modelFallbacks: { 'gpt-4o-mini': ['gpt-4o'] } } };
    };
    const body = { model: 'gpt-4o-mini', max_tokens: 2000, messages: [{ role: 'user', content: 'qualify this lead' }] };
    // $0.005: gpt-4o-mini's worst case (~$0.0012) fits; gpt-4o's (~$0.02) does not.
    t = await startTestRuntime({ config: fallback({ nearLimit: 'clamp' }) });
    const a = await agentToken(t, { budgetUsd: 0.005 });
    const r = await chat(t, a.token, body);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]!.message.content).toBe('from the fallback');
    const sent = upstream.requests.at(-1)!.body;
    expect(sent.model).toBe('gpt-4o');
    expect(sent.max_tokens).toBeGreaterThan(16);
    expect(sent.max_tokens).toBeLessThan(500);
    const [row] = rowsOf(t, a.agentId);
    expect(row!.status).toBe('ok');
    expect(row!.reserved_micros).toBeLessThanOrEqual(5000);
    expect((await status(t, a.agentId)).budget.reservedUsd).toBe(0);
    await t.stop();
    t = await startTestRuntime({ config: fallback({}) });
    const b = await agentToken(t, { budgetUsd: 0.005 });
    const before = upstream.requests.length;
    expect((await chat(t, b.token, body)).status).toBe(402);
    // Only the first model was asked; the refused fallback is a row at $0.
    expect(upstream.requests.slice(before).map((q) => q.body.model)).toEqual(['gpt-4o-mini']);
    expect(rowsOf(t, b.agentId).map((x) => [x.status, x.cost_micros])).toEqual([['error', 0]]);
  });

  it('without clamp the same call is refused (402), and nothing was sent upstream', async () => {
    t = await startTestRuntime({ config: simulated(0) });
    const a = await agentToken(t, { budgetUsd: 0.001 });
    const r = await chat(t, a.token, { model: 'gpt-4o', max_tokens: 2000, messages: [{ role: 'user', content: 'hello' }] });
    expect(r.status).toBe(402);
    expect(rowsOf(t, a.agentId)).toHaveLength(0);
  });

  it('an agent that hangs up while it waits leaves the queue, and nothing of it reaches the provider', async () => {
    t = await startTestRuntime({ config: viaMock() });
    const a = await agentToken(t, { budgetUsd: 0.02 });
    let releaseFirst!: () => void;
    const held = new Promise<void>((r) => (releaseFirst = r));
    upstream.answer({ text: 'one two three', usage: { prompt_tokens: 5, completion_tokens: 3 }, hold: held });
    const before = upstream.requests.length;
    const body = { model: 'gpt-4o', max_tokens: 1900, stream: true, messages: [{ role: 'user', content: 'hi' }] };
    const first = await chat(t, a.token, body);
    const reader = first.body!.getReader();
    await reader.read();
    const gone = new AbortController();
    const waiting = chat(t, a.token, { ...body, stream: false }, gone.signal).catch((e: Error) => e);
    await until(async () => (await status(t!, a.agentId)).budget.waiting === 1);
    gone.abort();
    expect(await waiting).toBeInstanceOf(Error);
    await until(async () => (await status(t!, a.agentId)).budget.waiting === 0);
    releaseFirst();
    while (!(await reader.read()).done);
    await until(async () => (await status(t!, a.agentId)).budget.reservedUsd === 0);
    expect(upstream.requests.length - before).toBe(1);
    expect(rowsOf(t, a.agentId).map((r) => r.status)).toEqual(['ok']);
  });
});

describe('the ledger and its rows agree', () => {
  it('a row that cannot be written is not charged either, and the next call is charged and recorded', async () => {
    t = await startTestRuntime({ config: viaMock() });
    const a = await agentToken(t, { budgetUsd: 1 });
    const db = sqliteOf(t.rt.state);
    db.exec(`CREATE TRIGGER refuse_llm_rows BEFORE INSERT ON llm_requests BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END`);
    upstream.answer({ text: 'lost', usage: { prompt_tokens: 1000, completion_tokens: 1000 } });
    const failed = await chat(t, a.token, { model: 'gpt-4o', max_tokens: 2000, messages: [{ role: 'user', content: 'hi' }] });
    expect(failed.status).toBe(500);
    const after = await status(t, a.agentId);
    expect(after.budget).toMatchObject({ spentUsd: 0, reservedUsd: 0 });
    expect(rowsOf(t, a.agentId)).toHaveLength(0);
    db.exec('DROP TRIGGER refuse_llm_rows');
    upstream.answer({ text: 'kept', usage: { prompt_tokens: 1000, completion_tokens: 1000 } });
    expect((await chat(t, a.token, { model: 'gpt-4o', max_tokens: 2000, messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    const rows = rowsOf(t, a.agentId);
    expect(rows).toHaveLength(1);
    const s = await status(t, a.agentId);
    expect(s.budget.spentUsd * 1_000_000).toBeCloseTo(sumOf(rows), 3);
    expect(sumOf(rows)).toBeGreaterThan(0);
  });

  it('a client that hangs up before the upstream answers still leaves a row, charged for the prompt, and nothing stays reserved', async () => {
    t = await startTestRuntime({ config: viaMock() });
    const a = await agentToken(t, { budgetUsd: 1 });
    // The upstream answers only once the client has hung up.
    let answer!: () => void;
    upstream.answer({ text: 'late', usage: { prompt_tokens: 5, completion_tokens: 2 }, after: new Promise<void>((r) => (answer = r)) });
    const before = upstream.requests.length;
    const gone = new AbortController();
    const pending = chat(t, a.token, { model: 'gpt-4o', max_tokens: 100, messages: [{ role: 'user', content: 'a question that takes a while' }] }, gone.signal).catch((e: Error) => e);
    await until(() => upstream.requests.length > before);
    gone.abort();
    expect(await pending).toBeInstanceOf(Error);
    // A request sent after the hang-up is answered only once the gateway has seen the hang-up.
    await t.api('/api/health', { token: null });
    answer();
    const row = await until(() => rowsOf(t!, a.agentId)[0]);
    expect(row.status).toBe('aborted');
    expect(row.cost_micros).toBeGreaterThan(0);
    const s = await until(async () => {
      const x = await status(t!, a.agentId);
      return x.budget.reservedUsd === 0 ? x : null;
    });
    expect(s.budget.spentUsd * 1_000_000).toBeCloseTo(row.cost_micros, 3);
  });
});

describe('budget.waiting events', () => {
  const burst = async (rt: TestRuntime, token: string) => {
    const calls = Array.from({ length: 16 }, () => chat(rt, token, { model: 'gpt-4o', max_tokens: 2000, messages: [{ role: 'user', content: 'Say hello to the team.' }] }));
    return (await Promise.all(calls)).map((r) => r.status);
  };

  it('a waiting event that cannot be written loses no call: every waiting call is still answered and nothing stays reserved', async () => {
    t = await startTestRuntime({ config: simulated(300) });
    const a = await agentToken(t, { budgetUsd: 0.1 });
    sqliteOf(t.rt.state).exec(`CREATE TRIGGER refuse_waiting BEFORE INSERT ON events WHEN NEW.type = 'budget.waiting' BEGIN SELECT RAISE(ABORT, 'disk I/O error (test)'); END`);
    expect(await burst(t, a.token)).toEqual(Array(16).fill(200));
    expect((await status(t, a.agentId)).budget).toMatchObject({ reservedUsd: 0, waiting: 0 });
    expect(rowsOf(t, a.agentId)).toHaveLength(16);
  });

  it('are announced when calls start and stop waiting, with count updates at most once a second in between, not one per call', async () => {
    t = await startTestRuntime({ config: simulated(300) });
    const a = await agentToken(t, { budgetUsd: 0.1 });
    const t0 = Date.now();
    expect(await burst(t, a.token)).toEqual(Array(16).fill(200));
    const seconds = Math.ceil((Date.now() - t0) / 1000);
    const events = sqliteOf(t.rt.state).prepare(`SELECT data FROM events WHERE agent_id = ? AND type = 'budget.waiting' ORDER BY seq`).all(a.agentId) as Array<{ data: string }>;
    const counts = events.map((e) => (JSON.parse(e.data) as { waiting: number }).waiting);
    expect(counts[0]).toBeGreaterThan(0);
    expect(counts.at(-1)).toBe(0);
    expect(counts.filter((c) => c === 0)).toHaveLength(1);
    expect(counts.length).toBeLessThanOrEqual(2 + seconds);
  });
});

describe('congestion is not an empty budget', () => {
  it('a call that waited the whole bound, or found the queue full, gets a 429 with retry-after on every wire, not a 402 "raise the budget"', async () => {
    t = await startTestRuntime({ config: viaMock({ waitMs: 50 }) });
    const post = (path: string, token: string, body: object) =>
      fetch(`${t!.rt.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const cases = [
      ['/v1/chat/completions', { model: 'gpt-4o', max_tokens: 1900, messages: [{ role: 'user', content: 'hi' }] }],
      ['/v1/responses', { model: 'gpt-4o', max_output_tokens: 1900, input: 'hi' }],
      ['/v1/messages', { model: 'claude-3-5-haiku-latest', max_tokens: 4000, messages: [{ role: 'user', content: 'hi' }] }],
    ] as const;
    for (const [path, body] of cases) {
      const a = await agentToken(t, { budgetUsd: 0.02 });
      // The first call holds its reservation until the second has been answered.
      let answerFirst!: () => void;
      upstream.answer({ after: new Promise<void>((r) => (answerFirst = r)) });
      const first = post(path, a.token, body);
      await until(async () => (await status(t!, a.agentId)).budget.reservedUsd > 0);
      const r = await post(path, a.token, body);
      expect(r.status).toBe(429);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
      const err = (await r.json()) as { type?: string; error: { type: string; message: string } };
      expect(err.error.type).toBe('rate_limit_error');
      if (path === '/v1/messages') expect(err.type).toBe('error');
      expect(err.error.message).toMatch(/in-flight calls hold the headroom|hold the headroom/);
      expect(err.error.message).not.toMatch(/raise the budget/);
      answerFirst();
      expect((await first).status).toBe(200);
    }
  });
});

describe('near_limit: clamp keeps to what providers accept', () => {
  it('never clamps an Anthropic extended-thinking call to max_tokens at or below thinking.budget_tokens: it is refused instead', async () => {
    t = await startTestRuntime({ config: simulated(0, { nearLimit: 'clamp' }) });
    const a = await agentToken(t, { budgetUsd: 0.01 });
    const r = await fetch(`${t.rt.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': a.token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-3-7-sonnet-latest', max_tokens: 4000, thinking: { type: 'enabled', budget_tokens: 1024 }, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(r.status).toBe(402);
    expect(rowsOf(t, a.agentId)).toHaveLength(0);
  });
});
