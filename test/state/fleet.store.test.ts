import { and, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DAY_MS, HOUR_MS } from '../../src/core/duration.js';
import { FleetStore, ONLINE_WITHIN_MS } from '../../src/state/panel/fleet.store.js';
import { SpendStore } from '../../src/state/panel/spend.store.js';
import { openPostgres, pgSchema, type PanelDb, type Postgres } from '../../src/state/panel/pg.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// The fleet view's queries on a real PostgreSQL, over fixture rows put straight into the tables
// (the ingest that fills them is the panel's): every answer against totals worked out by hand,
// to the micro-dollar; then, on tables with enough rows for the planner to choose, each query's
// plan: indexes and rollups, never a scan of the ledger.

const NOW = Date.parse('2026-11-23T15:30:00.000Z');
const HOUR = Math.floor(NOW / HOUR_MS) * HOUR_MS;
const TODAY = Math.floor(NOW / DAY_MS) * DAY_MS;
const iso = (t: number) => new Date(t).toISOString();
const $ = (usd: number) => Math.round(usd * 1_000_000);

let server: TestPostgres;
let pg: Postgres;
let db: PanelDb;
let fleet: FleetStore;
let spend: SpendStore;

const t = pgSchema;

async function fixtures(): Promise<void> {
  await db.insert(t.users).values([
    { id: 'u-alice', name: 'alice', role: 'viewer', passwordHash: 'x', createdAt: iso(NOW) },
    { id: 'u-bob', name: 'bob', role: 'admin', passwordHash: 'x', createdAt: iso(NOW) },
  ]);
  await db.insert(t.runtimes).values([
    { id: 'laptop-a', userId: 'u-alice', createdAt: iso(NOW - DAY_MS), lastSeq: 12, lastSeenAt: NOW - 5_000, behind: 3, hostname: 'alice-mbp', version: '0.9.0', mcpCalls: 17 },
    { id: 'laptop-b', userId: 'u-bob', createdAt: iso(NOW - DAY_MS), lastSeq: 40, lastSeenAt: NOW - ONLINE_WITHIN_MS - 1, behind: 0, hostname: 'bob-x1', version: '0.9.0' },
    { id: 'ci-1', userId: null, createdAt: iso(NOW - DAY_MS), lastSeq: 0, lastSeenAt: null },
    { id: 'old', userId: 'u-bob', createdAt: iso(NOW - 90 * DAY_MS), removedAt: iso(NOW - 60 * DAY_MS) },
  ]);
  const agent = (runtimeId: string, id: string, name: string, status: string, createdAt: number, extra = {}) => ({
    runtimeId,
    id,
    name,
    kind: 'supervised',
    status,
    createdAt: iso(createdAt),
    startedAt: iso(createdAt),
    ...extra,
  });
  await db
    .insert(t.agents)
    .values([
      agent('laptop-a', 'lg-1', 'lead-gen', 'running', NOW - 3 * HOUR_MS, { progressDone: 40, progressTotal: 100, limitMicros: $(50), sandbox: JSON.stringify({ sandboxed: true, write: ['/w'] }) }),
      agent('laptop-a', 'lg-0', 'lead-gen', 'completed', NOW - 30 * HOUR_MS, { progressDone: 100, progressTotal: 100, limitMicros: $(50), endedAt: iso(NOW - 26 * HOUR_MS) }),
      agent('laptop-b', 'lg-1', 'lead-gen', 'budget_exhausted', NOW - 2 * HOUR_MS, { limitMicros: $(5), sandbox: JSON.stringify({ sandboxed: false, why: 'turned off' }) }),
      agent('laptop-b', 'sum-1', 'summarizer', 'crashed', NOW - 1 * HOUR_MS, { sandbox: '{not json' }),
      agent('ci-1', 'ci-9', 'nightly', 'starting', NOW - 60_000),
    ]);
  // The ledger: the trigger keeps agent_spend; a batch sent twice counts once.
  const call = (runtimeId: string, agentId: string, id: number, cost: number, status = 'ok', at = NOW - 60_000) => ({
    runtimeId,
    id,
    ts: iso(at - (1000 - id) * 1000),
    agentId,
    endpoint: 'chat',
    provider: 'openai',
    model: 'gpt-4o-mini',
    status,
    promptTokens: 100,
    completionTokens: 20,
    costMicros: cost,
  });
  const calls = [
    call('laptop-a', 'lg-1', 1, 1_250_003),
    call('laptop-a', 'lg-1', 2, 2_000_000),
    call('laptop-a', 'lg-1', 3, 0, 'error'),
    call('laptop-a', 'lg-0', 4, 7),
    call('laptop-b', 'lg-1', 1, 4_999_999),
    call('laptop-b', 'lg-1', 2, 1, 'aborted'),
  ];
  await db.insert(t.llmRequests).values(calls).onConflictDoNothing();
  await db.insert(t.llmRequests).values(calls.slice(0, 3)).onConflictDoNothing();
  await db.insert(t.events).values([
    { runtimeId: 'laptop-a', seq: 1, ts: iso(NOW - 3 * HOUR_MS), agentId: 'lg-1', type: 'agent.started', severity: 'info', message: 'Agent started' },
    { runtimeId: 'laptop-a', seq: 2, ts: iso(NOW - 10_000), agentId: 'lg-1', type: 'progress', severity: 'debug', message: '40/100', data: '{"done":40}' },
    { runtimeId: 'laptop-b', seq: 2, ts: iso(NOW - 7_000), agentId: 'lg-1', type: 'budget.exhausted', severity: 'critical', message: 'Budget exhausted' },
    { runtimeId: 'ci-1', seq: 1, ts: iso(NOW - 50_000), agentId: 'ci-9', type: 'agent.started', severity: 'info', message: 'Agent started' },
    // Prompt injections read: two by laptop-b's lead-gen, one by laptop-a's finished run (older than their latest events).
    ...[
      ['laptop-b', 4, 'lg-1', NOW - 9_000],
      ['laptop-b', 5, 'lg-1', NOW - 8_000],
      ['laptop-a', 3, 'lg-0', NOW - 27 * HOUR_MS],
    ].map(([runtimeId, seq, agentId, at]) => ({
      runtimeId: runtimeId as string,
      seq: seq as number,
      ts: iso(at as number),
      agentId: agentId as string,
      type: 'injection.detected',
      severity: 'warn',
      message: 'Prompt injection detected in a tool result',
      data: '{"source":"tool.response","action":"detected","signals":["addressed-to-model"]}',
    })),
  ]);
  await db.insert(t.toolCalls).values([
    { runtimeId: 'laptop-a', id: 1, ts: iso(NOW - 20_000), agentId: 'lg-1', service: 'crm', method: 'GET', path: '/contacts/1', status: 200, tier: 'live', reason: 'ok', latencyMs: 12 },
    { runtimeId: 'laptop-a', id: 2, ts: iso(NOW - 15_000), agentId: 'lg-1', service: 'crm', method: 'GET', path: '/contacts/2', status: 503, tier: 'cache', reason: 'upstream_error', latencyMs: 30 },
    { runtimeId: 'laptop-b', id: 2, ts: iso(NOW - 15_000), agentId: 'lg-1', service: 'crm', method: 'GET', path: '/x', status: 200, tier: 'live', reason: 'ok', latencyMs: 5 },
  ]);
  await db.insert(t.breakers).values([
    { runtimeId: 'laptop-a', service: 'tool:crm', snapshot: '{"state":"OPEN"}', updatedAt: iso(NOW - 15_000) },
    { runtimeId: 'laptop-b', service: 'tool:crm', snapshot: '{"state":"CLOSED"}', updatedAt: iso(NOW - 15_000) },
  ]);
  // The rollups as the ingest leaves them (hour and day buckets), some outside each window.
  const roll = (runtimeId: string, agentName: string, model: string, cost: number, calls: number, errors = 0) => ({
    runtimeId,
    agentName,
    provider: 'openai',
    model,
    calls,
    errors,
    promptTokens: calls * 100,
    completionTokens: calls * 20,
    costMicros: cost,
  });
  await db.insert(t.spendHourly).values([
    { hour: HOUR, ...roll('laptop-a', 'lead-gen', 'gpt-4o-mini', 3_250_003, 3, 1) },
    { hour: HOUR - HOUR_MS, ...roll('laptop-a', 'lead-gen', 'gpt-4o', 1_000_000, 1) },
    { hour: HOUR - 23 * HOUR_MS, ...roll('laptop-b', 'lead-gen', 'gpt-4o-mini', 5_000_000, 2, 1) },
    { hour: HOUR - 24 * HOUR_MS, ...roll('laptop-b', 'lead-gen', 'gpt-4o-mini', 999_000_000, 9) }, // 24 h ago: out
    { hour: HOUR, ...roll('ci-1', 'nightly', 'claude-3-5-haiku', 7, 1) },
    { hour: HOUR + HOUR_MS, ...roll('ci-1', 'nightly', 'claude-3-5-haiku', 888, 1) }, // a runtime's clock ahead: out
    { hour: HOUR, ...roll('old', 'lead-gen', 'gpt-4o', 11, 1) }, // a removed runtime's spend still counts
  ]);
  await db.insert(t.spendDaily).values([
    { day: TODAY, ...roll('laptop-a', 'lead-gen', 'gpt-4o-mini', 3_250_003, 3, 1) },
    { day: TODAY, ...roll('laptop-a', 'lead-gen', 'gpt-4o', 1_000_000, 1) },
    { day: TODAY, ...roll('laptop-b', 'lead-gen', 'gpt-4o-mini', 5_000_000, 2, 1) },
    { day: TODAY, ...roll('ci-1', 'nightly', 'claude-3-5-haiku', 7, 1) },
    { day: TODAY, ...roll('old', 'lead-gen', 'gpt-4o', 11, 1) },
    { day: TODAY - DAY_MS, ...roll('laptop-a', 'lead-gen', 'gpt-4o-mini', 7, 1) },
    { day: TODAY - 29 * DAY_MS, ...roll('laptop-b', 'summarizer', 'gpt-4o', 20_000_000, 4, 2) },
    { day: TODAY - 30 * DAY_MS, ...roll('laptop-b', 'summarizer', 'gpt-4o', 777_000_000, 4) }, // 30 days ago: out
  ]);
}

beforeAll(async () => {
  server = await startPostgres();
  pg = await openPostgres(server.url);
  db = pg.db;
  fleet = new FleetStore(db);
  spend = new SpendStore(db);
  await fixtures();
}, 60_000);
afterAll(async () => {
  await pg?.close();
  await server?.destroy();
});

describe('the fleet queries', () => {
  it('lists the runtimes: online within a minute, behind by N, their user, agents, spend today, MCP calls and prompt injections read', async () => {
    const rts = await fleet.runtimes(NOW);
    expect(rts.map((r) => r.id)).toEqual(['ci-1', 'laptop-a', 'laptop-b']);
    const [ci, a, b] = rts;
    expect(a).toEqual({
      id: 'laptop-a',
      userId: 'u-alice',
      user: 'alice',
      hostname: 'alice-mbp',
      version: '0.9.0',
      online: true,
      lastSeenAt: NOW - 5_000,
      behind: 3,
      lastSeq: 12,
      agents: 2,
      agentsRunning: 1,
      spentTodayMicros: 4_250_003,
      mcpCalls: 17,
      injections: 1,
    });
    expect(b).toMatchObject({ user: 'bob', online: false, lastSeenAt: NOW - ONLINE_WITHIN_MS - 1, agents: 2, agentsRunning: 0, spentTodayMicros: 5_000_000, mcpCalls: 0, injections: 2 });
    expect(ci).toMatchObject({ user: null, online: false, lastSeenAt: null, agents: 1, agentsRunning: 1, spentTodayMicros: 7, injections: 0 });
    // One runtime asked for alone: its own count, not the fleet's.
    expect((await fleet.runtimes(NOW, 'laptop-b')).map((r) => [r.id, r.injections])).toEqual([['laptop-b', 2]]);
  });

  it('sums the fleet: runtimes online, agents running, spend, calls and errors today and over 30 days, prompt injections read', async () => {
    expect(await fleet.overview(NOW)).toEqual({
      now: NOW,
      runtimes: { online: 1, total: 3 },
      agents: { running: 2, total: 5 },
      today: { costMicros: 3_250_003 + 1_000_000 + 5_000_000 + 7 + 11, calls: 8, errors: 2, refused: 0 },
      last30d: { costMicros: 9_250_021 + 7 + 20_000_000, calls: 8 + 1 + 4, errors: 2 + 2, refused: 0 },
      injections: { total: 3, agents: 2 },
    });
  });

  it('lists every agent across machines, live first, with its spend counted once from the ledger', async () => {
    const list = await fleet.agents();
    expect(list.map((a) => `${a.runtimeId}/${a.id}:${a.status}`)).toEqual([
      'ci-1/ci-9:starting',
      'laptop-b/lg-1:budget_exhausted',
      'laptop-a/lg-1:running',
      'laptop-b/sum-1:crashed',
      'laptop-a/lg-0:completed',
    ]);
    const a1 = list.find((a) => a.runtimeId === 'laptop-a' && a.id === 'lg-1')!;
    expect(a1).toMatchObject({
      name: 'lead-gen',
      spentMicros: 3_250_003,
      calls: 3,
      errors: 1,
      limitMicros: $(50),
      progress: { done: 40, total: 100, unit: 'items' },
      lastActivityAt: iso(NOW - 10_000),
      sandboxed: true,
    });
    const b1 = list.find((a) => a.runtimeId === 'laptop-b' && a.id === 'lg-1')!;
    expect(b1).toMatchObject({ spentMicros: 5_000_000, calls: 2, errors: 1, injections: 2, limitMicros: $(5), lastActivityAt: iso(NOW - 7_000), sandboxed: false });
    // A runtime's report read defensively: what is not a sandbox record says nothing.
    expect(list.find((a) => a.id === 'sum-1')).toMatchObject({ spentMicros: 0, calls: 0, lastActivityAt: null, sandboxed: null });
    expect(list.find((a) => a.id === 'ci-9')).toMatchObject({ spentMicros: 0, calls: 0, lastActivityAt: iso(NOW - 50_000) });
    expect((await fleet.agents({ runtime: 'laptop-b' })).map((a) => a.id)).toEqual(['lg-1', 'sum-1']);
  });

  it('gives spend by runtime, user, agent and model over 24 h (hourly) and 30 days (daily), totals equal to the series', async () => {
    const byRuntime = await spend.spend('runtime', '24h', NOW);
    expect(byRuntime.buckets).toHaveLength(24);
    expect(byRuntime.buckets.at(-1)).toBe(HOUR);
    expect(byRuntime.buckets[0]).toBe(HOUR - 23 * HOUR_MS);
    expect(byRuntime.rows.map((r) => [r.key, r.costMicros, r.calls, r.errors])).toEqual([
      ['laptop-b', 5_000_000, 2, 1],
      ['laptop-a', 4_250_003, 4, 1],
      ['old', 11, 1, 0],
      ['ci-1', 7, 1, 0],
    ]);
    expect(byRuntime.total).toMatchObject({ costMicros: 9_250_021, calls: 8, errors: 2 });
    const a = byRuntime.rows.find((r) => r.key === 'laptop-a')!;
    expect(a.series.at(-1)).toBe(3_250_003);
    expect(a.series.at(-2)).toBe(1_000_000);
    expect(byRuntime.rows.find((r) => r.key === 'laptop-b')!.series[0]).toBe(5_000_000);
    for (const s of [byRuntime.total, ...byRuntime.rows]) expect(s.series.reduce((x, y) => x + y, 0)).toBe(s.costMicros);

    const byUser = await spend.spend('user', '24h', NOW);
    expect(byUser.rows.map((r) => [r.key, r.label, r.costMicros])).toEqual([
      ['u-bob', 'bob', 5_000_011],
      ['u-alice', 'alice', 4_250_003],
      [null, 'no user', 7],
    ]);

    const byAgent30 = await spend.spend('agent', '30d', NOW);
    expect(byAgent30.buckets).toHaveLength(30);
    expect(byAgent30.rows.map((r) => [r.key, r.costMicros, r.calls])).toEqual([
      ['summarizer', 20_000_000, 4],
      ['lead-gen', 9_250_021, 8],
      ['nightly', 7, 1],
    ]);
    const byModel30 = await spend.spend('model', '30d', NOW);
    expect(byModel30.rows.map((r) => [r.key, r.costMicros])).toEqual([
      ['gpt-4o', 21_000_011],
      ['gpt-4o-mini', 8_250_010],
      ['claude-3-5-haiku', 7],
    ]);
    expect(byModel30.total.costMicros).toBe(29_250_028);
    expect(byModel30.total.series[0]).toBe(20_000_000);
    expect(byModel30.total.series.at(-2)).toBe(7);
  });

  it('keeps each agent’s latest activity from its events too, unmoved by a replayed or late older event', async () => {
    const ev = { runtimeId: 'laptop-b', seq: 9, ts: iso(NOW - 1_000), agentId: 'sum-1', type: 'agent.exited', severity: 'error', message: 'Agent crashed' };
    await db.insert(t.events).values(ev).onConflictDoNothing();
    await db.insert(t.events).values(ev).onConflictDoNothing();
    await db.insert(t.events).values({ ...ev, seq: 3, ts: iso(NOW - 100_000) });
    const [row] = await db
      .select()
      .from(t.agentSpend)
      .where(and(eq(t.agentSpend.runtimeId, 'laptop-b'), eq(t.agentSpend.agentId, 'sum-1')));
    expect(row).toMatchObject({ calls: 0, costMicros: 0, lastCallAt: null, lastEventAt: iso(NOW - 1_000) });
    expect((await fleet.agents({ runtime: 'laptop-b' })).find((a) => a.id === 'sum-1')?.lastActivityAt).toBe(iso(NOW - 1_000));
  });

  it('drills into one agent: its row, latest calls, events and tool calls newest first, its runtime’s breakers', async () => {
    const d = (await fleet.agent('laptop-a', 'lg-1', NOW))!;
    expect(d.agent).toMatchObject({ runtimeId: 'laptop-a', id: 'lg-1', spentMicros: 3_250_003 });
    expect(d.runtime).toMatchObject({ id: 'laptop-a', online: true, user: 'alice' });
    expect(d.calls.map((c) => [c.id, c.costMicros, c.status])).toEqual([
      [3, 0, 'error'],
      [2, 2_000_000, 'ok'],
      [1, 1_250_003, 'ok'],
    ]);
    expect(d.events.map((e) => [e.seq, e.type])).toEqual([
      [2, 'progress'],
      [1, 'agent.started'],
    ]);
    expect(d.events[0]!.data).toEqual({ done: 40 });
    expect(d.toolCalls.map((c) => [c.id, c.status, c.tier])).toEqual([
      [2, 503, 'cache'],
      [1, 200, 'live'],
    ]);
    expect(d.breakers).toEqual([{ service: 'tool:crm', snapshot: { state: 'OPEN' }, updatedAt: iso(NOW - 15_000) }]);
    expect(await fleet.agent('laptop-a', 'nobody', NOW)).toBeNull();
    expect(await fleet.agent('laptop-c', 'lg-1', NOW)).toBeNull();
  });
});

describe('with a ledger the planner must take seriously', () => {
  /** Every statement the store sends, with its parameters, to EXPLAIN afterwards. */
  const sent: Array<{ sql: string; params: unknown[] }> = [];

  beforeAll(async () => {
    // 300,000 calls and as many events over 40 agents on 10 runtimes, a month of rollups.
    const c = await pg.pool.connect();
    try {
      await c.query(`INSERT INTO runtimes (id, created_at, last_seen_at) SELECT 'bulk-' || r, '2026-01-01', $1::bigint FROM generate_series(0, 9) r`, [NOW]);
      await c.query(
        `INSERT INTO agents (runtime_id, id, name, kind, status, created_at) SELECT 'bulk-' || (a % 10), 'ag-' || a, 'agent-' || (a % 4), 'supervised', 'running', '2026-11-01' FROM generate_series(0, 39) a`,
      );
      await c.query(
        `INSERT INTO llm_requests (runtime_id, id, ts, agent_id, endpoint, provider, model, status, cost_micros)
         SELECT 'bulk-' || (i % 10), i, '2026-11-20T00:00:00Z', 'ag-' || (i % 40), 'chat', 'openai', 'gpt-4o-mini', 'ok', 10 FROM generate_series(1, 300000) i`,
      );
      await c.query(
        `INSERT INTO events (runtime_id, seq, ts, agent_id, type, severity, message)
         SELECT 'bulk-' || (i % 10), i, '2026-11-20T00:00:00Z', 'ag-' || (i % 40), 'llm.request', 'debug', 'call' FROM generate_series(1, 300000) i`,
      );
      await c.query(
        `INSERT INTO tool_calls (runtime_id, id, ts, agent_id, service, method, path, status, reason, latency_ms)
         SELECT 'bulk-' || (i % 10), i, '2026-11-20T00:00:00Z', 'ag-' || (i % 40), 'crm', 'GET', '/', 200, 'ok', 1 FROM generate_series(1, 100000) i`,
      );
      await c.query(
        `INSERT INTO spend_hourly (hour, runtime_id, agent_name, provider, model, calls, cost_micros)
         SELECT $1::bigint - h::bigint * ${HOUR_MS}, 'bulk-' || r, 'agent-' || (r % 4), 'openai', 'gpt-4o-mini', 1, 10 FROM generate_series(1, 24 * 60) h, generate_series(0, 9) r`,
        [HOUR],
      );
      await c.query(
        `INSERT INTO spend_daily (day, runtime_id, agent_name, provider, model, calls, cost_micros)
         SELECT $1::bigint - d::bigint * ${DAY_MS}, 'bulk-' || r, 'agent-' || (r % 4), 'openai', 'gpt-4o-mini', 1, 10 FROM generate_series(1, 400) d, generate_series(0, 9) r`,
        [TODAY],
      );
      await c.query('ANALYZE');
    } finally {
      c.release();
    }
    const watched = drizzle(pg.pool, { schema: pgSchema, logger: { logQuery: (q, params) => void sent.push({ sql: q, params }) } });
    const store = new FleetStore(watched);
    await store.runtimes(NOW);
    await store.overview(NOW);
    await store.agents();
    for (const by of ['runtime', 'user', 'agent', 'model'] as const) for (const w of ['24h', '30d'] as const) await new SpendStore(watched).spend(by, w, NOW);
    await store.agent('bulk-3', 'ag-3', NOW);
  }, 60_000);

  it('the agent list reads each agent’s spend from agent_spend, which the trigger kept exact', async () => {
    const ag = (await fleet.agents({ runtime: 'bulk-3' })).find((a) => a.id === 'ag-3')!;
    expect(ag).toMatchObject({ calls: 7_500, spentMicros: 75_000 });
  });

  it('plans every fleet query on indexes and rollups: no sequential scan of the ledger, the events or the tool calls', async () => {
    expect(sent.length).toBeGreaterThanOrEqual(15);
    const c = await pg.pool.connect();
    try {
      for (const q of sent) {
        const plan = (await c.query(`EXPLAIN ${q.sql}`, q.params)).rows.map((r) => r['QUERY PLAN'] as string).join('\n');
        expect(plan, q.sql).not.toMatch(/Seq Scan on (llm_requests|events|tool_calls)\b/);
        // A ledger table is read only by the drill-down: its index walked backwards to the 100th row,
        // not every row of the agent gathered and sorted (the statistics of migration 0004 see to it).
        for (const [table, idx] of [
          ['llm_requests', 'llm_requests_agent_ts'],
          ['events', 'events_agent_seq'],
          ['tool_calls', 'tool_calls_agent'],
        ])
          if (new RegExp(`from "${table}"`).test(q.sql)) {
            expect(plan, q.sql).toMatch(new RegExp(`Limit[\\s\\S]*Index Scan Backward using ${idx}`));
            expect(plan, q.sql).not.toMatch(/Bitmap Heap Scan|Sort/);
          }
        if (/from "spend_(hourly|daily)"/.test(q.sql)) expect(q.sql).not.toMatch(/llm_requests/);
      }
    } finally {
      c.release();
    }
  });
});
