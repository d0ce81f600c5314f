import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { agentToken, startTestRuntime, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';

// Nothing a request (or start-up) runs may read the whole ledger or the whole event log: the
// statements each path really runs are caught as they run (on the Statement prototype of
// better-sqlite3), then their plans read with EXPLAIN QUERY PLAN on the same file. A `SCAN` of
// llm_requests or events is a pass over every row (a day compressed is millions: npm run bench -- scale).

const BIG = ['llm_requests', 'events'];
const proto = Object.getPrototypeOf(new Database(':memory:').prepare('SELECT 1')) as Record<string, (...a: unknown[]) => unknown>;
const ran = new Set<string>();

let t: TestRuntime;
let agent: { token: string; agentId: string };

beforeAll(async () => {
  for (const m of ['all', 'get', 'run', 'iterate'] as const) {
    const real = proto[m]!;
    vi.spyOn(proto, m).mockImplementation(function (this: { source: string }, ...a: unknown[]) {
      ran.add(this.source);
      return real.apply(this, a);
    });
  }
  t = await startTestRuntime();
  agent = await agentToken(t, { budgetUsd: null });
  for (let i = 0; i < 3; i++) {
    const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 8, stream: i === 2, messages: [{ role: 'user', content: `call ${i}` }] }),
    });
    expect(r.status).toBe(200);
    await r.text();
  }
});

afterAll(async () => {
  vi.restoreAllMocks();
  await t?.stop();
});

/** The statements `f` runs, each with its plan's lines. */
async function plansOf(f: () => Promise<unknown>): Promise<Array<{ sql: string; plan: string[] }>> {
  ran.clear();
  await f();
  const statements = [...ran].filter((s) => /^\s*(SELECT|UPDATE|DELETE|WITH)/i.test(s));
  const db = new Database(t.rt.config.db, { readonly: true });
  try {
    return statements.map((sql) => {
      const params = (sql.match(/\?/g) ?? []).map(() => 'x');
      const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail);
      return { sql, plan };
    });
  } finally {
    db.close();
  }
}

/** Partial indexes: a pass over one reads only the rows its condition holds (pending calls, budget-tagged ones, a few event types). */
const PARTIAL = ['llm_requests_pending', 'llm_requests_budgets', 'events_agent_type'];

/**
 * The passes over a big table in these plans. Two are bounded and allowed: along the key with a
 * LIMIT and no sort (`ORDER BY seq DESC LIMIT 200` reads 200 rows), and over a partial index.
 */
const scans = (plans: Array<{ sql: string; plan: string[] }>) =>
  plans.flatMap((p) =>
    p.plan
      .filter((d) => BIG.some((table) => new RegExp(`^SCAN ${table}\\b`).test(d)))
      .filter((d) => !PARTIAL.some((ix) => d.includes(`USING INDEX ${ix}`) || d.includes(`USING COVERING INDEX ${ix}`)))
      .filter((d) => !(/^SCAN \w+$/.test(d) && /order by "\w+"\."(seq|id)"( desc)? limit \?$/i.test(p.sql.trim()) && !p.plan.some((x) => x.startsWith('USE TEMP B-TREE'))))
      .map((d) => `${d} ← ${p.sql}`),
  );

const get = async (path: string) => {
  const r = await t.api(path);
  expect(r.status, path).toBe(200);
  return r.json();
};

describe('the statements on a request path use an index, never a pass over the ledger or the event log', () => {
  it('GET /api/agents/:id/costs reads the rollup, not the ledger', async () => {
    const plans = await plansOf(async () => expect((await get(`/api/agents/${agent.agentId}/costs`)).requests).toBe(3));
    expect(plans.length).toBeGreaterThan(0);
    expect(scans(plans)).toEqual([]);
    expect(plans.filter((p) => /\bllm_requests\b/.test(p.sql)).map((p) => p.sql)).toEqual([]);
    expect(plans.some((p) => p.plan.some((d) => /^SEARCH llm_spend USING (INDEX|PRIMARY KEY)/.test(d)))).toBe(true);
  });

  it("the dashboard's snapshot (/ws first frame), fresh and resumed", async () => {
    for (const query of ['', '&after=1']) {
      const plans = await plansOf(async () => {
        const ws = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}${query}`);
        await until(() => ws.messages.some((m) => m.type === 'snapshot'));
        await ws.close();
      });
      expect(plans.length, query).toBeGreaterThan(0);
      expect(scans(plans), query).toEqual([]);
    }
  });

  it.each(['performance', 'protection', 'status'])('GET /api/agents/:id/%s', async (what) => {
    const plans = await plansOf(() => get(`/api/agents/${agent.agentId}/${what}`));
    expect(scans(plans)).toEqual([]);
  });

  it('GET /api/events, all and one agent', async () => {
    for (const path of ['/api/events?limit=100', `/api/events?agentId=${agent.agentId}&limit=100`]) {
      const plans = await plansOf(() => get(path));
      expect(plans.length, path).toBeGreaterThan(0);
      expect(scans(plans), path).toEqual([]);
    }
  });

  it("start-up's reads of the ledger (pending rows, spend per budget tag) take their partial indexes", async () => {
    const { RequestsStore } = await import('../../src/state/index.js');
    const requests = new RequestsStore(t.rt.state);
    const plans = await plansOf(async () => {
      requests.settleInterrupted();
      requests.spendByBudget();
      requests.spendByAgent();
    });
    expect(scans(plans)).toEqual([]);
    const details = plans.flatMap((p) => p.plan);
    expect(details.some((d) => d.includes('llm_requests_pending'))).toBe(true);
    expect(details.some((d) => d.includes('llm_requests_budgets'))).toBe(true);
  });
});

describe('the rollup the cost report reads', () => {
  const byGroup = (sql: string) => {
    const db = new Database(t.rt.config.db, { readonly: true });
    try {
      return db.prepare(sql).all();
    } finally {
      db.close();
    }
  };
  // The settled rows: a pending one (a stream under way, charged nothing yet) joins the rollup when it settles.
  const ledger = () =>
    byGroup(
      "SELECT agent_id, provider, model, status, count(*) AS n, sum(prompt_tokens) AS p, sum(completion_tokens) AS c, sum(cost_micros) AS cost FROM llm_requests WHERE status <> 'pending' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    );
  const rollup = () =>
    byGroup(
      'SELECT agent_id, provider, model, status, sum(requests) AS n, sum(prompt_tokens) AS p, sum(completion_tokens) AS c, sum(cost_micros) AS cost FROM llm_spend GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4',
    );

  it('sums the ledger: calls, a stream closed after it opened, and rows left pending then settled as interrupted', async () => {
    const { RequestsStore } = await import('../../src/state/index.js');
    const requests = new RequestsStore(t.rt.state);
    expect(ledger().length).toBeGreaterThan(0);
    expect(rollup()).toEqual(ledger());
    const pending = {
      agentId: agent.agentId,
      endpoint: 'chat',
      provider: 'openai',
      model: 'gpt-4o',
      stream: true,
      status: 'pending',
      httpStatus: null,
      promptTokens: 0,
      completionTokens: 0,
      costMicros: 0,
      reservedMicros: 777,
      usageSource: 'estimate',
      latencyMs: null,
      firstByteMs: null,
      redactions: 0,
      error: null,
      attempts: null,
      budgets: null,
    };
    await t.rt.state.writeSoon((tx) => requests.insert(tx, pending), null);
    const before = rollup();
    await t.rt.state.writeSoon((tx) => requests.insert(tx, { ...pending, model: 'gpt-4o-mini' }), null);
    expect(rollup()).toEqual(before);
    expect(rollup()).toEqual(ledger());
    expect(requests.settleInterrupted()).toBe(2);
    expect(rollup()).toEqual(ledger());
    expect(byGroup("SELECT count(*) AS n FROM llm_spend WHERE status = 'pending' OR requests = 0")).toEqual([{ n: 0 }]);
    const costs = await get(`/api/agents/${agent.agentId}/costs`);
    expect(costs.requests).toBe(5);
    expect(costs.byStatus.interrupted).toBe(2);
    expect(costs.overTime.reduce((a: number, b: { requests: number }) => a + b.requests, 0)).toBe(5);
  });
});
