import { afterEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/index.js';
import { SPEC_PRICE_OVERRIDES } from '../../src/budget/index.js';
import { ROOT, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

let t: TestRuntime | undefined;
afterEach(async () => {
  await t?.stop();
  t = undefined;
});

const specGateway = (budgetPolicy = DEFAULTS.gateway.budgetPolicy) => ({ ...DEFAULTS.gateway, budgetPolicy, pricing: SPEC_PRICE_OVERRIDES as Record<string, unknown> });

describe('the cost of a call, on its response', () => {
  it('x-iron-cage-cost-usd is what the ledger charged for that call', async () => {
    t = await startTestRuntime({ config: { gateway: specGateway() } });
    const a = await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'costly', budgetUsd: 5 }) })).json();
    const costs: string[] = [];
    for (const content of ['Repeat exactly: one', 'Repeat exactly: a somewhat longer answer than the first']) {
      const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4', messages: [{ role: 'user', content }] }),
      });
      expect(r.status).toBe(200);
      costs.push(r.headers.get('x-iron-cage-cost-usd')!);
    }
    const rows = t.rt.state.database.prepare('SELECT cost_micros FROM llm_requests WHERE agent_id = ? ORDER BY rowid').all(a.agentId) as { cost_micros: number }[];
    expect(rows).toHaveLength(2);
    expect(rows[0]!.cost_micros).toBeGreaterThan(0);
    expect(rows[1]!.cost_micros).toBeGreaterThan(rows[0]!.cost_micros);
    expect(costs).toEqual(rows.map((r) => (r.cost_micros / 1_000_000).toFixed(6)));
    const spent = (await (await t.api(`/api/agents/${a.agentId}/costs`)).json()).spentUsd;
    expect(spent).toBeCloseTo(costs.reduce((s, c) => s + Number(c), 0), 9);
  });
});

describe('budget_policy.on_exhausted', () => {
  it('refuse: a supervised agent keeps running past its budget; its calls are refused, it is not stopped', async () => {
    // spender.py spends about $0.0005 a call and exits 0 at its first refusal.
    t = await startTestRuntime({
      agent: { script: join(ROOT, 'test/fixtures/agents/spender.py') },
      config: { budgetMicros: 5_000, gateway: specGateway({ ...DEFAULTS.gateway.budgetPolicy, onExhausted: 'refuse' }) },
    });
    const outcome = await t.rt.agentDone!;
    expect(outcome).toEqual({ status: 'completed', exitCode: 0 });
    expect(t.log()).toMatch(/refused at call \d+: 429 \{"error":\{"message":"Iron Cage: budget of \$0\.0050 for agent/);
    const { events } = await (await t.api(`/api/events?agentId=${t.rt.agentId}&limit=1000`)).json();
    const types = events.map((e: any) => e.type);
    const exhausted = events.find((e: any) => e.type === 'budget.exhausted');
    expect(exhausted).toMatchObject({ message: 'Budget exhausted: further LLM calls are refused', data: { policy: 'refuse' } });
    // The agent's own exit comes after the refusal it reacted to: a stop would have been on record first.
    expect(types.indexOf('budget.exhausted')).toBeLessThan(types.lastIndexOf('agent.exited'));
    expect(types).not.toContain('agent.stopping');
    expect(t.log()).not.toMatch(/stopping the agent/);
    const status = await (await t.api(`/api/agents/${t.rt.agentId}/status`)).json();
    expect(status.budget.spentUsd).toBeLessThanOrEqual(0.005);
  });
});
