import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentToken, startTestRuntime, tempDir, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';
import { MCP_PROVIDER, RequestsStore, schemaVersion } from '../../src/state/index.js';
import { ANNOUNCED_LEDGER_SQL } from '../../src/state/runtime/schema-runtime.js';

// Nothing a request (or start-up) runs may read the whole ledger or the whole event log: the
// statements each path really runs are caught as they run (on the Statement prototype of
// better-sqlite3), then their plans read with EXPLAIN QUERY PLAN on the same file. A `SCAN` of
// llm_requests or events is a pass over every row (a day compressed is millions: npm run bench -- scale).

const BIG = ['llm_requests', 'events'];
const proto = Object.getPrototypeOf(new Database(':memory:').prepare('SELECT 1')) as Record<string, (...a: unknown[]) => unknown>;
const ran = new Set<string>();

let t: TestRuntime;
let agent: { token: string; agentId: string };
/** Agents whose ledger rows a test wrote as the store holds them, with no llm.request event. */
const unannounced = new Set<string>();

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
    // The last call is in a step of the agent's work (a stream: its row opens pending, the steps rollup counts it when it settles).
    if (i === 2) expect((await t.api(`/api/agents/${agent.agentId}/progress`, { method: 'POST', token: agent.token, body: JSON.stringify({ done: 0, total: 3, unit: 'leads' }) })).status).toBe(200);
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

/** Big tables a request may read only a page of: an index walk there needs a LIMIT (and no sort before it). */
const PAGED = ['llm_requests', 'events', 'tool_calls'];

/**
 * Reads along an index of a big table that no LIMIT bounds: every row of an agent, however long
 * it has run (the performance panel read all of an agent's calls: 0.7 s a request after a day).
 * Partial indexes are allowed, as in `scans`.
 */
const unbounded = (plans: Array<{ sql: string; plan: string[] }>) =>
  plans.flatMap((p) =>
    p.plan
      // An index walk or a range of the rowid (a bare `SEARCH events` is max(seq): one row).
      .filter((d) => PAGED.some((table) => new RegExp(`^SEARCH ${table} USING ((COVERING )?INDEX|INTEGER PRIMARY KEY \\(rowid[<>])`).test(d)))
      .filter((d) => !PARTIAL.some((ix) => d.includes(`USING INDEX ${ix}`) || d.includes(`USING COVERING INDEX ${ix}`)))
      .filter(() => !(/\blimit \?/i.test(p.sql) && !p.plan.some((x) => x.startsWith('USE TEMP B-TREE'))))
      .map((d) => `${d} ← ${p.sql}`),
  );

/** Rows of `sql` read on a connection of the test's own. */
const query = (sql: string) => {
  const db = new Database(t.rt.config.db, { readonly: true });
  try {
    return db.prepare(sql).all();
  } finally {
    db.close();
  }
};

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
    expect(unbounded(plans)).toEqual([]);
    // A run this short has its spend series drawn per call: from the newest rows, bounded (above); never a sum of the ledger.
    expect(plans.filter((p) => /\bllm_requests\b/.test(p.sql) && !/\blimit \?$/i.test(p.sql.trim())).map((p) => p.sql)).toEqual([]);
    // Along the keys of tables WITHOUT ROWID: the agent's few totals, and its running totals one
    // seek a bucket edge (LIMIT 1); never a sum over its every minute.
    expect(plans.some((p) => p.plan.some((d) => /^SEARCH llm_totals USING PRIMARY KEY \(agent_id=\?\)/.test(d)))).toBe(true);
    const running = plans.filter((p) => /\bllm_running\b/.test(p.sql));
    expect(running.length).toBeGreaterThan(0);
    expect(running.filter((p) => !/\blimit \?$/i.test(p.sql.trim()) || !p.plan.some((d) => /^SEARCH llm_running USING PRIMARY KEY \(agent_id=\?/.test(d))).map((p) => p.sql)).toEqual([]);
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
      expect(unbounded(plans), query).toEqual([]);
    }
  });

  it.each(['performance', 'protection', 'status', 'metrics', 'budget', 'steps'])('GET /api/agents/:id/%s', async (what) => {
    const plans = await plansOf(() => get(`/api/agents/${agent.agentId}/${what}`));
    expect(scans(plans)).toEqual([]);
    expect(unbounded(plans)).toEqual([]);
  });

  it("GET /api/agents/:id/steps reads its dearest steps from the agent's own rollup rows (by key), never the ledger", async () => {
    const plans = await plansOf(async () => expect((await get(`/api/agents/${agent.agentId}/steps?limit=5`)).top.map((s: { step: number }) => s.step)).toEqual([1]));
    const top = plans.find((p) => /\bllm_steps\b/.test(p.sql) && /limit \?/i.test(p.sql))!;
    expect(top.plan.some((d) => /SEARCH llm_steps USING PRIMARY KEY \(agent_id=\?\)/.test(d))).toBe(true);
    expect(plans.filter((p) => /\bllm_requests\b/.test(p.sql)).map((p) => p.sql)).toEqual([]);
  });

  it('GET /api/agents/:id/timeline, every way of asking, and its overview', async () => {
    const latest = await get(`/api/agents/${agent.agentId}/timeline?limit=2`);
    expect(latest.items.length).toBe(2);
    const cursor = latest.last as string;
    const paths = [
      `/api/agents/${agent.agentId}/timeline`,
      `/api/agents/${agent.agentId}/timeline?lanes=llm,watch,progress`,
      `/api/agents/${agent.agentId}/timeline?lanes=pii`,
      `/api/agents/${agent.agentId}/timeline?before=${cursor}&limit=50`,
      `/api/agents/${agent.agentId}/timeline?after=${latest.before}&limit=50`,
      `/api/agents/${agent.agentId}/timeline?around=${Date.now()}`,
      `/api/agents/${agent.agentId}/timeline/overview`,
    ];
    for (const path of paths) {
      const plans = await plansOf(() => get(path));
      expect(plans.length, path).toBeGreaterThan(0);
      expect(scans(plans), path).toEqual([]);
      expect(unbounded(plans), path).toEqual([]);
      // Each page of a big table along an index by time (or a seek of one), never the whole agent's rows.
      expect(
        plans
          .filter(
            (p) =>
              /\b(llm_requests|tool_calls|events)\b/.test(p.sql) &&
              !p.plan.some((d) =>
                /USING (COVERING )?INDEX (llm_requests_agent_ts|tool_calls_agent_ts|tool_calls_agent_errors|events_timeline|events_progress|llm_requests_pending|tool_calls_service|tool_calls_agent)\b/.test(
                  d,
                ),
              ),
          )
          .map((p) => `${p.sql} → ${p.plan.join('; ')}`),
        path,
      ).toEqual([]);
      // The approvals lane: a page along approvals_agent in its own order (no sort before the LIMIT).
      expect(
        plans
          .filter((p) => /\bfrom "approvals"/i.test(p.sql))
          .filter(
            (p) => !/\blimit \?/i.test(p.sql) || !p.plan.some((d) => /^SEARCH approvals USING (COVERING )?INDEX approvals_agent\b/.test(d)) || p.plan.some((d) => d.startsWith('USE TEMP B-TREE')),
          )
          .map((p) => `${p.sql} → ${p.plan.join('; ')}`),
        path,
      ).toEqual([]);
    }
    // Every page read the approvals lane (the overview its two ends).
    const lane = await plansOf(() => get(`/api/agents/${agent.agentId}/timeline?lanes=approval`));
    expect(lane.filter((p) => /\bfrom "approvals"/i.test(p.sql))).toHaveLength(1);
  });

  it('GET /api/events, all and one agent', async () => {
    for (const path of ['/api/events?limit=100', `/api/events?agentId=${agent.agentId}&limit=100`]) {
      const plans = await plansOf(() => get(path));
      expect(plans.length, path).toBeGreaterThan(0);
      expect(scans(plans), path).toEqual([]);
      expect(unbounded(plans), path).toEqual([]);
    }
  });

  it("GET /api/mcp/servers' figures come from the rollups (mcp_totals by its key, llm_totals), never the call rows or the ledger", async () => {
    // This runtime has no MCP server (the route then asks nothing): the store the route reads, as it reads it.
    const { McpStore } = await import('../../src/state/index.js');
    const store = new McpStore(t.rt.state);
    for (const agentId of [null, agent.agentId]) {
      const plans = await plansOf(async () => store.tools(['github', 'search'], agentId));
      expect(plans.map((p) => p.sql.match(/\bfrom "(\w+)"/i)?.[1]).sort()).toEqual(['llm_totals', 'mcp_totals']);
      expect(scans(plans)).toEqual([]);
      expect(unbounded(plans)).toEqual([]);
      expect(plans.find((p) => /from "mcp_totals"/.test(p.sql))!.plan.join('\n')).toMatch(/SEARCH mcp_totals USING (COVERING )?INDEX sqlite_autoindex_mcp_totals_1 \(server=\?/);
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

describe('the rollups the cost report reads', () => {
  // The settled rows: a pending one (a stream under way, charged nothing yet) joins the rollup when it settles.
  const ledger = () =>
    query(
      "SELECT agent_id, provider, model, status, count(*) AS n, sum(prompt_tokens) AS p, sum(completion_tokens) AS c, sum(cost_micros) AS cost FROM llm_requests WHERE status <> 'pending' GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
    );
  const rollup = () =>
    query(
      'SELECT agent_id, provider, model, status, sum(requests) AS n, sum(prompt_tokens) AS p, sum(completion_tokens) AS c, sum(cost_micros) AS cost FROM llm_totals GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4',
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
    expect(query("SELECT count(*) AS n FROM llm_totals WHERE status = 'pending' OR requests = 0")).toEqual([{ n: 0 }]);
    const costs = await get(`/api/agents/${agent.agentId}/costs`);
    expect(costs.requests).toBe(5);
    expect(costs.byStatus.interrupted).toBe(2);
    expect(costs.overTime.reduce((a: number, b: { requests: number }) => a + b.requests, 0)).toBe(5);
  });

  it('llm_steps and llm_chains sum the ledger rows that have a step or a chain', async () => {
    const { RequestsStore } = await import('../../src/state/index.js');
    const requests = new RequestsStore(t.rt.state);
    const row = { ...ROW, agentId: agent.agentId, step: 2, chain: 'crm', status: 'pending' };
    // Written as the ledger holds them, without the llm.request event the gateway writes with each.
    unannounced.add(agent.agentId);
    // A pending row counts once it settles (here: as interrupted, at its reservation, at the next start).
    await t.rt.state.writeSoon((tx) => requests.insert(tx, row), null);
    await t.rt.state.writeSoon((tx) => requests.insert(tx, { ...row, status: 'ok', costMicros: 1234, step: 1, chain: null }), null);
    requests.settleInterrupted();
    const settled = "status <> 'pending'";
    expect(query('SELECT agent_id, step, calls, prompt_tokens AS p, completion_tokens AS c, cost_micros AS cost FROM llm_steps ORDER BY 1, 2')).toEqual(
      query(
        `SELECT agent_id, step, count(*) AS calls, sum(prompt_tokens) AS p, sum(completion_tokens) AS c, sum(cost_micros) AS cost FROM llm_requests WHERE step IS NOT NULL AND ${settled} GROUP BY 1, 2 ORDER BY 1, 2`,
      ),
    );
    expect(query('SELECT agent_id, chain, calls, cost_micros AS cost FROM llm_chains ORDER BY 1, 2')).toEqual(
      query(`SELECT agent_id, chain, count(*) AS calls, sum(cost_micros) AS cost FROM llm_requests WHERE chain IS NOT NULL AND ${settled} GROUP BY 1, 2 ORDER BY 1, 2`),
    );
    expect(query('SELECT count(*) AS n FROM llm_steps')).not.toEqual([{ n: 0 }]);
    expect(query('SELECT count(*) AS n FROM llm_chains')).toEqual([{ n: 1 }]);
  });

  it("kept by SQLite's triggers: each row's minute and charge time to the millisecond, a stream closed once, a failed write counted nowhere", async () => {
    const { RequestsStore } = await import('../../src/state/index.js');
    const requests = new RequestsStore(t.rt.state);
    const own = await agentToken(t, { budgetUsd: null });
    // Rows written here as the ledger holds them, without the llm.request event the gateway writes with each.
    unannounced.add(own.agentId);
    const at = (ts: string, o: Record<string, unknown> = {}) => ({ ...ROW, agentId: own.agentId, ts, status: 'ok', stream: false, ...o });
    const write = <T>(f: (tx: Parameters<typeof requests.insert>[0]) => T) => t.rt.state.writeSoon(f, null).then((w) => w.result);
    // The last millisecond of a minute, the first of the next, a free call (no charge time), a step.
    await write((tx) => requests.insert(tx, at('2026-11-24T05:41:59.999Z', { costMicros: 10, step: 7 })));
    await write((tx) => requests.insert(tx, at('2026-11-24T05:42:00.000Z', { costMicros: 20, step: 7 })));
    await write((tx) => requests.insert(tx, at('2026-11-24T05:42:30.500Z', { costMicros: 0 })));
    // A stream opened pending in the first minute, closed later: its row's own time, counted once.
    const id = await write((tx) => requests.insert(tx, at('2026-11-24T05:41:10.250Z', { status: 'pending', step: 7, chain: 'crm' })));
    const end = {
      status: 'ok',
      httpStatus: 200,
      promptTokens: 3,
      completionTokens: 4,
      costMicros: 40,
      usageSource: 'provider',
      latencyMs: 5,
      firstByteMs: 1,
      redactions: 0,
      error: null,
      model: 'gpt-4o',
      attempts: 1,
      budgets: null,
    };
    await write((tx) => requests.finish(tx, id, end));
    await expect(write((tx) => requests.finish(tx, id, end))).rejects.toThrow(`request ${id} is already settled (ok)`);
    await expect(write((tx) => requests.finish(tx, 999_999_999, end))).rejects.toThrow('request 999999999 is not on record');
    // A write that fails after its row went in takes the row's rollups back with it.
    await expect(
      write((tx) => {
        requests.insert(tx, at('2026-11-24T05:42:40.000Z', { costMicros: 1_000, step: 7, chain: 'crm' }));
        throw new Error('refused');
      }),
    ).rejects.toThrow('refused');
    const minute = Date.parse('2026-11-24T05:41:00Z');
    // Running totals: the second minute holds the first's too.
    expect(query(`SELECT minute, requests, errors, cost_micros AS cost, last_charged_ms AS last FROM llm_running WHERE agent_id = '${own.agentId}' ORDER BY minute`)).toEqual([
      { minute, requests: 2, errors: 0, cost: 50, last: Date.parse('2026-11-24T05:41:59.999Z') },
      { minute: minute + 60_000, requests: 4, errors: 0, cost: 70, last: Date.parse('2026-11-24T05:42:00.000Z') },
    ]);
    expect(query(`SELECT step, calls, cost_micros AS cost, first_ms AS first, last_ms AS last FROM llm_steps WHERE agent_id = '${own.agentId}'`)).toEqual([
      { step: 7, calls: 3, cost: 70, first: Date.parse('2026-11-24T05:41:10.250Z'), last: Date.parse('2026-11-24T05:42:00.000Z') },
    ]);
    expect(query(`SELECT chain, calls, cost_micros AS cost FROM llm_chains WHERE agent_id = '${own.agentId}'`)).toEqual([{ chain: 'crm', calls: 1, cost: 40 }]);
  });
});

/** A row as the gateway would write it. */
const ROW = {
  endpoint: 'chat',
  provider: 'openai',
  model: 'gpt-4o',
  stream: true,
  status: 'ok',
  httpStatus: null,
  promptTokens: 10,
  completionTokens: 5,
  costMicros: 0,
  reservedMicros: 555,
  usageSource: 'estimate',
  latencyMs: null,
  firstByteMs: null,
  redactions: 0,
  error: null,
  attempts: null,
  budgets: null,
};

describe('the event counts /metrics reads', () => {
  /** Of every agent but those whose ledger rows a test wrote by hand (no event announces them). */
  const announced = (rows: unknown[]) => rows.filter((r) => !unannounced.has((r as { agent_id: string }).agent_id));
  const fromLog = () => announced(query('SELECT agent_id, type, severity, count(*) AS n FROM events WHERE agent_id IS NOT NULL GROUP BY 1, 2, 3 ORDER BY 1, 2, 3'));
  // event_counts, and the llm.request events as StateManager.eventCounts reads them (migration
  // 0028): the agent's ledger rows an event announces, by status, from llm_totals.
  const kept = () =>
    announced(
      query(`SELECT agent_id, type, severity, n FROM event_counts UNION ALL
        SELECT agent_id, 'llm.request', CASE WHEN status = 'ok' THEN 'debug' ELSE 'warn' END, sum(requests) FROM llm_totals WHERE ${ANNOUNCED_LEDGER_SQL} GROUP BY 1, 3
        ORDER BY 1, 2, 3`),
    );

  it('equal the log, through lone events, batches and a write of a batch that failed (its event undone with it)', async () => {
    const state = t.rt.state;
    // Calls of an agent of its own through the gateway (a stream, an answer, a refusal): each row
    // with its llm.request event, counted from llm_totals.
    const caller = await agentToken(t, { budgetUsd: null });
    for (const body of [{ stream: true }, { stream: false }, { stream: false, max_tokens: 'many' }]) {
      const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${caller.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 8, messages: [{ role: 'user', content: 'count me' }], ...body }),
      });
      await r.text();
    }
    expect(kept().filter((r) => (r as { agent_id: string }).agent_id === caller.agentId && (r as { type: string }).type === 'llm.request')).toEqual([
      { agent_id: caller.agentId, type: 'llm.request', severity: 'debug', n: 2 },
    ]);
    expect(kept().length).toBeGreaterThan(0);
    expect(kept()).toEqual(fromLog());
    state.record({ agentId: caller.agentId, type: 'agent.output', severity: 'info', message: 'a line', data: { stream: 'stdout' } });
    const batch = [
      state.writeSoon(() => undefined, { agentId: caller.agentId, type: 'agent.output', severity: 'warn', message: 'two', data: { stream: 'stderr' } }),
      state.writeSoon(
        () => {
          throw new Error('refused');
        },
        { agentId: caller.agentId, type: 'agent.output', severity: 'critical', message: 'never', data: { stream: 'stderr' } },
      ),
      state.writeSoon(() => undefined, { agentId: null, type: 'agent.output', severity: 'info', message: 'no agent', data: { stream: 'stdout' } } as never),
    ];
    const settled = await Promise.allSettled(batch);
    expect(settled.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(kept()).toEqual(fromLog());
    // Ledger rows no llm.request event announces: an MCP server's charged call (written as
    // FixedCharges writes it) and a stream start-up settles as interrupted.
    const requests = new RequestsStore(state);
    await state.writeSoon((tx) => requests.insert(tx, { ...ROW, agentId: caller.agentId, endpoint: 'mcp', provider: MCP_PROVIDER, model: 'web/search', costMicros: 5_000 }), null);
    await state.writeSoon((tx) => requests.insert(tx, { ...ROW, agentId: caller.agentId, status: 'pending' }), null);
    expect(requests.settleInterrupted()).toBe(1);
    expect(kept()).toEqual(fromLog());
    const m = await get(`/api/agents/${caller.agentId}/metrics`);
    const mine = (fromLog() as Array<{ agent_id: string; type: string; severity: string; n: number }>).filter((r) => r.agent_id === caller.agentId);
    expect(m.events.total).toBe(mine.reduce((a, r) => a + r.n, 0));
    expect(m.events.output).toBe(mine.filter((r) => r.type === 'agent.output').reduce((a, r) => a + r.n, 0));
    expect(m.events.warn).toBe(mine.filter((r) => r.severity === 'warn').reduce((a, r) => a + r.n, 0));
    expect(m.events.critical).toBe(0);
  });
});

describe('an older database', () => {
  it('has the events written before event_counts existed counted once, at its first start', async () => {
    const { StateManager } = await import('../../src/state/index.js');
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'old.db');
    try {
      const sm = StateManager.open(path);
      sm.registerAgent({ id: 'old-00000001', name: 'old', kind: 'external', script: null, args: [], limitMicros: null });
      for (let i = 0; i < 30; i++) sm.record({ agentId: 'old-00000001', type: 'agent.output', severity: i % 3 === 0 ? 'warn' : 'info', message: `line ${i}`, data: { stream: 'stdout' } });
      await sm.close();
      // As the file was before migration 0012: no trigger, nothing counted, and none of what the
      // migrations after it add (each one's undone here).
      const journal = JSON.parse(readFileSync(join(import.meta.dirname, '../../src/state/migrations/sqlite/meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> };
      const at = journal.entries.findIndex((e) => e.tag.endsWith('_event_counts_kept'));
      const raw = new Database(path);
      raw.exec('DROP TRIGGER events_counted; DELETE FROM event_counts;');
      // The ledger's rollups kept by triggers.
      raw.exec('DROP TRIGGER llm_requests_rolled; DROP TRIGGER llm_requests_settled;');
      // Cost per step.
      raw.exec('DROP TABLE llm_steps; DROP TABLE llm_chains; ALTER TABLE llm_requests DROP COLUMN step; ALTER TABLE llm_requests DROP COLUMN chain;');
      // The rollups that replaced llm_spend (0017-0018): llm_spend as it was (0010's, WITHOUT ROWID).
      raw.exec(`DROP TABLE llm_totals; DROP TABLE llm_running;
        CREATE TABLE llm_spend (agent_id text NOT NULL, minute integer NOT NULL, provider text NOT NULL, model text NOT NULL, status text NOT NULL,
          requests integer NOT NULL, prompt_tokens integer NOT NULL, completion_tokens integer NOT NULL, cost_micros integer NOT NULL, last_charged_ms integer,
          PRIMARY KEY (agent_id, minute, provider, model, status)) WITHOUT ROWID;`);
      // An agent's pause.
      raw.exec('ALTER TABLE agents DROP COLUMN paused;');
      // What the agent may touch (0022).
      raw.exec('ALTER TABLE agents DROP COLUMN sandbox;');
      // What each agent keeps stored, and its triggers (0024).
      raw.exec(
        'DROP TRIGGER responses_stored_in; DROP TRIGGER responses_stored_out; DROP TRIGGER responses_stored_changed; DROP TRIGGER response_items_stored_in; DROP TRIGGER response_items_stored_out; DROP TRIGGER response_items_stored_changed; DROP TRIGGER conversations_stored_in; DROP TRIGGER conversations_stored_out; DROP TRIGGER conversations_stored_changed; DROP TRIGGER conversation_items_stored_in; DROP TRIGGER conversation_items_stored_out; DROP TRIGGER conversation_items_stored_changed; DROP TABLE stored_usage;',
      );
      // The approvals and their triggers (0025).
      raw.exec('DROP TABLE approvals;');
      // The MCP calls counted, and their trigger (0026).
      raw.exec('DROP TRIGGER tool_calls_mcp; DROP TABLE mcp_totals;');
      // The ledger's refusal of DELETE (0027).
      raw.exec('DROP TRIGGER llm_requests_no_delete;');
      // The ledger's second index by agent (0020 drops it).
      raw.exec('CREATE INDEX llm_requests_agent ON llm_requests (agent_id, id);');
      // The timeline's indexes.
      for (const ix of ['events_timeline', 'events_progress', 'llm_requests_agent_ts', 'tool_calls_agent_ts', 'tool_calls_agent_errors']) raw.exec(`DROP INDEX IF EXISTS ${ix}`);
      // The indexes by agent and creation time that nothing read (0021 drops them).
      raw.exec('CREATE INDEX responses_agent ON responses (agent_id, created_at); CREATE INDEX conversations_agent ON conversations (agent_id, created_at);');
      raw.pragma(`user_version = ${schemaVersion() - (journal.entries.length - at)}`);
      raw.close();
      const again = StateManager.open(path);
      expect(again.eventCounts('old-00000001')).toEqual({ debug: 0, info: 21, warn: 10, error: 0, critical: 0, total: 31, output: 30 });
      await again.close();
    } finally {
      cleanup();
    }
  });
});

describe('a long-running agent: what a request reads stays bounded by the answer, not the history', () => {
  const DAY_CALLS = 1_500; // one a minute for 25 hours
  let long: { agentId: string };
  const t0 = Date.parse('2026-11-20T00:00:00Z');
  const rowAt = (i: number) => ({
    ts: new Date(t0 + i * 60_000 + (i % 60) * 500).toISOString(),
    endpoint: 'chat',
    provider: i % 3 === 0 ? 'anthropic' : 'openai',
    model: i % 3 === 0 ? 'claude-3-5-haiku-latest' : 'gpt-4o-mini',
    stream: false,
    status: i % 10 === 9 ? 'error' : 'ok',
    httpStatus: i % 10 === 9 ? 502 : 200,
    promptTokens: 100 + (i % 50),
    completionTokens: i % 10 === 9 ? 0 : 20 + (i % 7),
    costMicros: i % 10 === 9 ? 0 : 40 + (i % 13),
    reservedMicros: 900,
    usageSource: 'provider',
    latencyMs: (i * 7919) % 1000,
    firstByteMs: null,
    redactions: 0,
    error: null,
    attempts: 1,
    budgets: null,
  });

  beforeAll(async () => {
    const { RequestsStore } = await import('../../src/state/index.js');
    const requests = new RequestsStore(t.rt.state);
    long = await agentToken(t, { budgetUsd: null });
    await t.rt.state.writeSoon((tx) => {
      for (let i = 0; i < DAY_CALLS; i++) requests.insert(tx, { ...rowAt(i), agentId: long.agentId });
    }, null);
  });

  it('the cost report sums a day in ten-minute buckets: every call, every micro-dollar, at most REPORT_MAX_BUCKETS points', async () => {
    const { REPORT_MAX_BUCKETS } = await import('../../src/domain/budget/index.js');
    const { SERIES_PER_CALL_MAX } = await import('../../src/budget/budget.routes.js');
    expect(DAY_CALLS).toBeGreaterThan(SERIES_PER_CALL_MAX);
    let costs: any;
    const plans = await plansOf(async () => (costs = await get(`/api/agents/${long.agentId}/costs`)));
    // Past SERIES_PER_CALL_MAX calls, the report reads the rollup only.
    expect(plans.filter((p) => /\bllm_requests\b/.test(p.sql)).map((p) => p.sql)).toEqual([]);
    const rows = Array.from({ length: DAY_CALLS }, (_, i) => rowAt(i));
    const cost = rows.reduce((a, r) => a + r.costMicros, 0);
    expect(costs.bucketMinutes).toBe(10);
    expect(costs.requests).toBe(DAY_CALLS);
    expect(costs.byStatus).toEqual({ ok: rows.filter((r) => r.status === 'ok').length, error: rows.filter((r) => r.status === 'error').length });
    expect(costs.overTime.length).toBeLessThanOrEqual(REPORT_MAX_BUCKETS);
    expect(costs.overTime.length).toBe(new Set(rows.map((r) => Math.floor(Date.parse(r.ts) / 600_000))).size);
    expect(costs.overTime.reduce((a: number, b: { requests: number }) => a + b.requests, 0)).toBe(DAY_CALLS);
    expect(Math.round(costs.overTime.reduce((a: number, b: { costUsd: number }) => a + b.costUsd, 0) * 1e6)).toBe(cost);
    // The series: one point per bucket, at its last charged call, running up to the whole spend.
    const last = new Map<number, number>();
    for (const r of rows.filter((x) => x.costMicros > 0)) last.set(Math.floor(Date.parse(r.ts) / 600_000), Date.parse(r.ts));
    expect(costs.series.map((p: [number, number]) => p[0])).toEqual([...last.values()]);
    expect(Math.round(costs.series.at(-1)[1] * 1e6)).toBe(cost);
    expect(costs.byModel.map((m: { model: string; requests: number }) => [m.model, m.requests]).sort()).toEqual([
      ['claude-3-5-haiku-latest', DAY_CALLS / 3],
      ['gpt-4o-mini', (DAY_CALLS * 2) / 3],
    ]);
  });

  it('the performance figures are over the last PERFORMANCE_WINDOW calls, read along the index with a LIMIT', async () => {
    const { PERFORMANCE_WINDOW } = await import('../../src/agents/metrics.js');
    expect(DAY_CALLS).toBeGreaterThan(PERFORMANCE_WINDOW);
    const plans = await plansOf(async () => {
      const perf = await get(`/api/agents/${long.agentId}/performance`);
      const recent = Array.from({ length: PERFORMANCE_WINDOW }, (_, k) => rowAt(DAY_CALLS - 1 - k)).filter((r) => r.status === 'ok');
      const sorted = recent.map((r) => r.latencyMs).sort((a, b) => a - b);
      const rank = (p: number) => sorted[Math.ceil(p * sorted.length) - 1];
      expect(perf.llm).toEqual({ calls: recent.length, latencyMs: { p50: rank(0.5), p95: rank(0.95), p99: rank(0.99) }, window: PERFORMANCE_WINDOW });
    });
    expect(unbounded(plans)).toEqual([]);
  });
});
