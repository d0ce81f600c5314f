import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isRefusal } from '../../src/domain/outcomes/index.js';
import { batchOf, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// A call the cage refused is an outcome of its own on the panel. A runtime
// reports an agent whose calls were answered, failed, blocked for PII, refused by a central
// budget (no row, an event), refused as a tool call and denied or rate-limited by a policy (and
// one a policy allowed): the fleet's agent counts each refusal once, as refused, never as an
// error or a success, whichever batch carried it, and a batch sent twice counts nothing twice.

let server: TestPostgres;
let t: TestPanel;
let token: string;

beforeAll(async () => {
  server = await startPostgres();
  t = await startTestPanel(server.url);
  token = ((await (await t.api('/api/runtimes', { token: t.admin, body: { id: 'rt-refusals', user: 'ann' } })).json()) as { token: string }).token;
}, 60_000);
afterAll(async () => {
  await t?.close();
  await server?.destroy();
});

const ts = () => new Date().toISOString();
const event = (seq: number, type: string, data: unknown) => ({ seq, ts: ts(), agentId: 'lg-1', type, severity: 'warn', message: type, data: JSON.stringify(data) });

describe('refused calls on the panel', () => {
  it('counts budget, tool, policy and PII refusals per agent, apart from calls and errors, once', async () => {
    const first = batchOf('rt-refusals', 1, { n: 4, ts: ts() });
    first.llmRequests = first.llmRequests!.map((r, i) => ({ ...(r as object), status: ['ok', 'ok', 'error', 'blocked'][i], httpStatus: [200, 200, 502, 400][i] })) as never;
    first.events = [
      event(1, 'budget.refused', { requestedUsd: 0.01, spentUsd: 1, limitUsd: 1, model: 'gpt-4o', central: 'sales' }),
      event(2, 'budget.refused', { requestedUsd: 0.01, spentUsd: 1, limitUsd: 1, model: 'gpt-4o', central: 'sales' }),
      event(3, 'tool.refused', { service: 'crm', reason: 'unknown_service', status: 404 }),
      event(4, 'policy.decision', { kind: 'http', service: 'crm', tool: 'crm.contacts', method: 'DELETE', rule: 'policies[0]', action: 'deny', approvalId: null, retryAfterMs: null }),
      event(5, 'policy.decision', { kind: 'http', service: 'search', tool: 'search.q', method: 'GET', rule: 'policies[1]', action: 'rate_limited', approvalId: null, retryAfterMs: 1000 }),
      event(6, 'policy.decision', { kind: 'http', service: 'crm', tool: 'crm.contacts', method: 'GET', rule: 'policies[2]', action: 'allow', approvalId: null, retryAfterMs: null }),
      // Malformed data from a runtime is never cast: the batch still lands.
      { ...event(7, 'policy.decision', null), data: '{not json' },
      event(8, 'llm.request', { n: 1 }),
    ] as never;
    const send = (b: unknown) => t.api('/api/telemetry', { token, body: b });
    expect((await send(first)).status).toBe(200);
    // The same batch again: a duplicate, nothing counted twice.
    expect((await send(first)).status).toBe(200);
    const second = batchOf('rt-refusals', 2, { from: 5, n: 1, ts: ts() });
    second.events = [
      event(9, 'budget.refused', { requestedUsd: 0.01, spentUsd: 1, limitUsd: 1, model: 'gpt-4o' }),
      // A prompt injection it read: counted apart (the fleet view's own figure), not a refusal.
      event(100, 'injection.detected', { source: 'tool.response', action: 'detected', callId: null, score: 0.9, signals: ['addressed-to-model'], excerpt: '…', requestRef: 'tool:crm' }),
    ] as never;
    expect((await send(second)).status).toBe(200);

    // The shared definition, as the trigger applies it.
    const sent = [...(first.events as Array<{ type: string; data: string }>), ...(second.events as Array<{ type: string; data: string }>)];
    const byDefinition = sent.filter((e) => {
      try {
        return isRefusal(e.type, JSON.parse(e.data));
      } catch {
        return false;
      }
    }).length;
    expect(byDefinition).toBe(6);

    const agents = (await (await t.api('/api/fleet/agents', { token: t.admin })).json()) as {
      agents: Array<{ runtimeId: string; id: string; calls: number; errors: number; refused: number; injections: number }>;
    };
    const a = agents.agents.find((x) => x.runtimeId === 'rt-refusals' && x.id === 'lg-1')!;
    // 5 rows: 3 ok, 1 error, 1 blocked (PII: a refusal, not an error); 6 refusal events (3 budget, 1 tool, a deny, a rate limit).
    expect({ calls: a.calls, errors: a.errors, refused: a.refused, injections: a.injections }).toEqual({ calls: 5, errors: 1, refused: 6 + 1, injections: 1 });
    const drill = (await (await t.api('/api/fleet/runtimes/rt-refusals/agents/lg-1', { token: t.admin })).json()) as { agent: { refused: number; errors: number } };
    expect(drill.agent).toMatchObject({ refused: 7, errors: 1 });
    // The injection on its runtime's row and in the fleet's totals (read by one agent), once.
    const fleet = (await (await t.api('/api/fleet', { token: t.admin })).json()) as {
      overview: { injections: { total: number; agents: number } };
      runtimes: Array<{ id: string; injections: number }>;
    };
    expect(fleet.runtimes.find((r) => r.id === 'rt-refusals')?.injections).toBe(1);
    expect(fleet.overview.injections).toEqual({ total: 1, agents: 1 });
  });

  it("counts a central budget's refusals on its card, in its window, from the events naming it; a key naming no budget or another window counts nothing", async () => {
    expect((await t.api('/api/budgets', { token: t.admin, body: { id: 'sales', scope: 'fleet', limitUsd: 5 } })).status).toBe(201);
    // The runtime is told of the budget's window by a lease answer, as before any refusal naming it.
    expect((await t.api('/api/leases', { token, body: { budgets: [{ budget: 'sales', window: 0, want: 1_000_000 }] } })).status).toBe(200);
    const refusal = (seq: number, central: string | undefined) => event(seq, 'budget.refused', { requestedUsd: 0.5, spentUsd: 4.8, limitUsd: 5, model: 'gpt-4o', ...(central ? { central } : {}) });
    const b = batchOf('rt-refusals', 3, { from: 6, n: 1, ts: ts() });
    b.events = [
      refusal(10, 'sales@0'),
      refusal(11, 'sales@0'),
      refusal(12, 'sales@123'),
      refusal(13, 'nobody@0'),
      refusal(14, undefined),
      { ...refusal(15, 'sales@0'), data: '{"central":"sales@0"' },
    ] as never;
    expect((await t.api('/api/telemetry', { token, body: b })).status).toBe(200);
    const view = (await (await t.api('/api/budgets', { token: t.admin })).json()) as { budgets: Array<{ id: string; refused: number; state: string }> };
    // Two well-formed refusals of this window, and the malformed one whose text still names it.
    expect(view.budgets.find((x) => x.id === 'sales')).toMatchObject({ refused: 3, state: 'ok' });
    // And the agent counts all six as refused, whatever budget they named.
    const agents = (await (await t.api('/api/fleet/agents', { token: t.admin })).json()) as { agents: Array<{ runtimeId: string; id: string; refused: number }> };
    expect(agents.agents.find((x) => x.runtimeId === 'rt-refusals' && x.id === 'lg-1')!.refused).toBe(7 + 6);

    // Spend by runtime and the overview count the LLM calls refused (the budget's events, whatever
    // budget they named, and the PII-blocked row) beside calls and errors, never as errors.
    const spend = (await (await t.api('/api/fleet/spend?by=runtime&window=24h', { token: t.admin })).json()) as {
      rows: Array<{ key: string; calls: number; errors: number; refused: number }>;
      total: { refused: number };
    };
    expect(spend.rows.find((r) => r.key === 'rt-refusals')).toMatchObject({ calls: 6, errors: 1, refused: 1 + 3 + 6 });
    expect(spend.total.refused).toBe(10);
    const byModel = (await (await t.api('/api/fleet/spend?by=model&window=30d', { token: t.admin })).json()) as { rows: Array<{ key: string; refused: number }> };
    expect(byModel.rows.find((r) => r.key === 'gpt-4o')?.refused).toBe(3 + 5);
    const overview = (await (await t.api('/api/fleet', { token: t.admin })).json()) as { overview: { today: { refused: number; errors: number } } };
    expect(overview.overview.today).toMatchObject({ refused: 10, errors: 1 });
  });

  it("counts on a budget's card only the refusals of runtimes the panel told of it: another user's runtime naming it counts nothing there", async () => {
    expect((await t.api('/api/budgets', { token: t.admin, body: { id: 'bob-only', scope: 'user', users: ['bob'], limitUsd: 5 } })).status).toBe(201);
    // Ann's runtime (rt-refusals) was never leased bob's budget: its events naming it are its agent's refusals, not the budget's.
    const b = batchOf('rt-refusals', 4, { from: 7, n: 1, ts: ts() });
    b.events = [16, 17, 18].map((seq) => event(seq, 'budget.refused', { requestedUsd: 0.5, spentUsd: 4.8, limitUsd: 5, model: 'gpt-4o', central: 'bob-only@0' })) as never;
    expect((await t.api('/api/telemetry', { token, body: b })).status).toBe(200);
    const view = (await (await t.api('/api/budgets', { token: t.admin })).json()) as { budgets: Array<{ id: string; refused: number }> };
    expect(view.budgets.find((x) => x.id === 'bob-only')!.refused).toBe(0);
    const agents = (await (await t.api('/api/fleet/agents', { token: t.admin })).json()) as { agents: Array<{ runtimeId: string; id: string; refused: number }> };
    expect(agents.agents.find((x) => x.runtimeId === 'rt-refusals' && x.id === 'lg-1')!.refused).toBe(7 + 6 + 3);
  });
});
