import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sqliteOf } from '../helpers/db.js';
import { FakeService } from '../helpers/http.js';
import { agentToken, startTestRuntime, type AgentToken, type TestRuntime } from '../helpers/runtime.js';
import { raw, withTools } from '../tools/helpers.js';

// Cost per step against a live runtime and the simulated provider: each row records the agent's
// step and the chain (tool) that led to it, and GET /api/agents/:id/steps (from the rollups kept
// in each row's transaction) equals the ledger summed by hand.

let up: FakeService;
let t: TestRuntime;
let a: AgentToken;

const chat = async (body: object) => {
  const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, ...body }),
  });
  expect(r.status).toBe(200);
  await r.text();
};
const ask = (content: string, extra: object = {}) => chat({ messages: [{ role: 'user', content }], ...extra });
const progress = async (done: number) => {
  const r = await t.api(`/api/agents/${a.agentId}/progress`, { method: 'POST', token: a.token, body: JSON.stringify({ done, total: 5, unit: 'leads' }) });
  expect(r.status).toBe(200);
};
const rows = () =>
  sqliteOf(t.rt.state)
    .prepare('SELECT id, step, chain, model, status, cost_micros AS cost, prompt_tokens AS pt, completion_tokens AS ct FROM llm_requests WHERE agent_id = ? ORDER BY id')
    .all(a.agentId) as Array<{
    id: number;
    step: number | null;
    chain: string | null;
    model: string;
    status: string;
    cost: number;
    pt: number;
    ct: number;
  }>;

beforeAll(async () => {
  up = await FakeService.start();
  t = await startTestRuntime({ config: withTools({ crm: { url: up.url } }) });
  a = await agentToken(t, { budgetUsd: null });
});
afterAll(async () => {
  await t?.stop();
  await up?.close();
});

describe('each call records its step and chain', () => {
  it('step: progress done + 1 when the call started (null before any report); chain: the last function result, else the last tool service since the previous call', async () => {
    await ask('before any progress');
    await progress(0);
    await ask('lead 1, first');
    expect((await raw(t.rt.url, 'GET', '/tools/crm/contacts/1', { token: a.token })).status).toBe(200);
    await ask('after a crm call');
    // The tool mark is used up by the call it led to.
    await ask('no tool since');
    await progress(1);
    // A function result in the request wins over a tool-proxy call.
    expect((await raw(t.rt.url, 'GET', '/tools/crm/contacts/2', { token: a.token })).status).toBe(200);
    await chat({
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'find lead 2' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'lookup_lead', arguments: '{"id":2}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'Lead 2: Acme' },
      ],
    });
    // A stream: its row opens pending and is closed by the settle (the rollup counts it once, then).
    await ask('lead 2, streamed', { stream: true });
    await progress(2);
    await ask('lead 3');
    await ask('lead 3 again', { model: 'gpt-4o' });
    const r = rows();
    expect(r.map((x) => [x.step, x.chain])).toEqual([
      [null, null],
      [1, null],
      [1, 'crm'],
      [1, null],
      [2, 'lookup_lead'],
      [2, null],
      [3, null],
      [3, null],
    ]);
    expect(r.every((x) => x.status === 'ok' && x.cost > 0)).toBe(true);
  });

  it('GET /api/agents/:id/steps equals the ledger summed by hand', async () => {
    const ledger = rows();
    const body = await (await t.api(`/api/agents/${a.agentId}/steps?limit=2`)).json();
    const perStep = new Map<number, { calls: number; cost: number; pt: number; ct: number }>();
    for (const x of ledger) {
      // A call before the agent's first progress report is its first unit's.
      const step = x.step ?? 1;
      const s = perStep.get(step) ?? { calls: 0, cost: 0, pt: 0, ct: 0 };
      s.calls++;
      s.cost += x.cost;
      s.pt += x.pt;
      s.ct += x.ct;
      perStep.set(step, s);
    }
    const dearest = [...perStep].sort((p, q) => q[1].cost - p[1].cost || q[0] - p[0]).slice(0, 2);
    expect(body.unit).toBe('leads');
    expect(body.steps).toBe(3);
    expect(body.top.map((s: any) => [s.step, s.label, s.calls, s.promptTokens, s.completionTokens, Math.round(s.costUsd * 1e6)])).toEqual(
      dearest.map(([step, s]) => [step, `lead ${step}`, s.calls, s.pt, s.ct, s.cost]),
    );
    expect(Date.parse(body.top[0].firstTs)).toBeLessThanOrEqual(Date.parse(body.top[0].lastTs));
    // The average is the projection's: all the spend over the units the agent said are done (2).
    const spent = ledger.reduce((n, x) => n + x.cost, 0);
    expect(Math.round(body.avgStepUsd * 1e6)).toBe(Math.round(spent / 2));
    const costs = await (await t.api(`/api/agents/${a.agentId}/costs`)).json();
    expect(body.avgStepUsd).toBe(costs.avgPerUnitUsd);
    const sum = (pred: (x: (typeof ledger)[number]) => boolean) => ({
      calls: ledger.filter(pred).length,
      cost: ledger.filter(pred).reduce((n, x) => n + x.cost, 0),
    });
    const chains = Object.fromEntries(body.byChain.map((c: any) => [String(c.chain), { calls: c.calls, cost: Math.round(c.costUsd * 1e6) }]));
    expect(chains).toEqual({
      crm: sum((x) => x.chain === 'crm'),
      lookup_lead: sum((x) => x.chain === 'lookup_lead'),
      null: sum((x) => x.chain === null),
    });
    const models = Object.fromEntries(body.byModel.map((m: any) => [m.model, { calls: m.calls, cost: Math.round(m.costUsd * 1e6) }]));
    expect(models).toEqual({ 'gpt-4o-mini': sum((x) => x.model === 'gpt-4o-mini'), 'gpt-4o': sum((x) => x.model === 'gpt-4o') });
    // Dearest first.
    expect(body.byModel[0].costUsd).toBeGreaterThanOrEqual(body.byModel[1].costUsd);
  });

  it('a bad query is a 400 naming it; an unknown agent a 404', async () => {
    for (const q of ['limit=0', 'limit=101', 'limit=abc', 'limit=1.5', 'sort=cost']) {
      const r = await t.api(`/api/agents/${a.agentId}/steps?${q}`);
      expect(r.status, q).toBe(400);
      expect(await r.text()).toMatch(q.startsWith('sort') ? /sort/ : /limit/);
    }
    expect((await t.api('/api/agents/nobody/steps')).status).toBe(404);
    // An agent sees its own steps only.
    const other = await agentToken(t, { budgetUsd: null });
    expect((await t.api(`/api/agents/${a.agentId}/steps`, { token: other.token })).status).toBe(404);
    expect((await t.api(`/api/agents/${a.agentId}/steps`, { token: a.token })).status).toBe(200);
  });
});
