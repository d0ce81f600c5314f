import { parseExposition as parse, sumOf, type Sample } from '../helpers/exposition.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upgradeStatus } from '../security/sess-helpers.js';
import { DEFAULTS } from '../../src/config/index.js';
import { PANEL_LABEL_CAPS, PanelMetrics, type BudgetsResponse } from '../../src/panel/index.js';
import { type RuntimeView, type TelemetryBatchInput, windowStart } from '../../src/state/index.js';
import { cli, cliInProcess } from '../helpers/cli.js';
import { agentRow, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/core/logger.js';

// The control panel's GET /metrics on a real PostgreSQL: two runtimes report known rows through
// POST /api/telemetry with their own tokens (one batch twice, one row twice in a later batch, one
// batch out of order), then the exposition is parsed and held against the ledger in PostgreSQL
// and the budgets' own view: token sums, spend to the micro-dollar, PII, calls by status, the
// GenAI histograms, per-runtime labels, budget and lease gauges, liveness, ingest counters. Then
// who may scrape: loopback, the metrics token (from the route and from the CLI), and what that
// token may not do (every /api route and /ws: 403).

/** Σ of a family's samples whose labels include `where`. */
const total = sumOf;
const series = (s: Sample[], name: string, where: Record<string, string> = {}) => s.filter((x) => x.name === name && Object.entries(where).every(([k, v]) => x.labels[k] === v));

const TS = '2026-11-23T10:15:00.000Z';
type Call = NonNullable<TelemetryBatchInput['llmRequests']>[number];
type Tool = NonNullable<TelemetryBatchInput['toolCalls']>[number];
type Event = NonNullable<TelemetryBatchInput['events']>[number];

const call = (id: number, o: Partial<Call> = {}): Call => ({
  id,
  ts: TS,
  agentId: 'lg-1',
  endpoint: 'chat',
  provider: 'openai',
  model: 'gpt-4o-mini',
  stream: false,
  status: 'ok',
  httpStatus: 200,
  promptTokens: 100 + id,
  completionTokens: 20 + id,
  costMicros: 1_001 * id + 7,
  reservedMicros: 50_000,
  usageSource: 'provider',
  latencyMs: 250 + id,
  firstByteMs: null,
  redactions: 0,
  error: null,
  attempts: 1,
  budgets: null,
  ...o,
});
const tool = (id: number, o: Partial<Tool> = {}): Tool => ({
  id,
  ts: TS,
  agentId: 'lg-1',
  service: 'crm',
  method: 'GET',
  path: '/contacts/1',
  status: 200,
  tier: 'live',
  reason: 'ok',
  detail: null,
  upstreamStatus: 200,
  latencyMs: 40,
  upstreamMs: 35,
  bytes: 10,
  redactions: 0,
  fault: false,
  ...o,
});
const event = (seq: number, type: string, data: unknown, agentId = 'lg-1'): Event => ({ seq, ts: TS, agentId, type, severity: 'info', message: type, data: JSON.stringify(data) });
const agent = (id: string, name: string) => agentRow(id, name, TS);
const batch = (runtime: string, seq: number, parts: Partial<TelemetryBatchInput>): TelemetryBatchInput => ({ runtime, seq, sentAt: new Date().toISOString(), ...parts });

let server: TestPostgres;
let t: TestPanel;
const tokens: Record<string, string> = {};
let metricsToken = '';

const scrape = async (token: string | null = metricsToken) => {
  const r = await fetch(`${t.url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: r.status, type: r.headers.get('content-type'), text: await r.text() };
};
const post = async (rt: string, b: TelemetryBatchInput) => {
  const r = await t.api('/api/telemetry', { token: tokens[rt]!, body: b });
  return { status: r.status, body: (await r.json()) as { duplicate?: boolean; error?: { code: string } } };
};
const ledger = (q: string) => server.rows<Record<string, string>>(q);

beforeAll(async () => {
  // It stops and starts its server (an outage): one of its own, not the run's shared one.
  server = await startPostgres({ own: true });
  t = await startTestPanel(server.url);
  for (const id of ['rt-a', 'rt-b', 'rt-idle']) {
    const r = await t.api('/api/runtimes', { token: t.admin, body: { id } });
    tokens[id] = ((await r.json()) as { token: string }).token;
  }
  const m = await t.api('/api/tokens', { token: t.admin, body: { role: 'metrics', name: 'prometheus' } });
  expect(m.status).toBe(201);
  metricsToken = ((await m.json()) as { token: string }).token;
  expect((await t.api('/api/budgets', { token: t.admin, body: { id: 'fleet-cap', scope: 'fleet', limitUsd: 10 } })).status).toBe(201);
  expect((await t.api('/api/budgets', { token: t.admin, body: { id: 'team-b', scope: 'team', agents: ['writer'], limitUsd: 2.5, period: 'month' } })).status).toBe(201);
}, 60_000);
afterAll(async () => {
  await t?.close();
  await server?.destroy();
});

describe('the panel GET /metrics: what the runtimes reported, counted once', () => {
  it('equals the ledger: tokens, spend to the micro-dollar, calls by status, PII, histograms, per runtime; a batch or a row sent twice counts once', async () => {
    // Leases first, so the budgets have runtimes to show (and a waiting call on rt-a).
    const lease = (rt: string, want: number, waiting: number, held: number) =>
      t.api('/api/leases', { token: tokens[rt]!, body: { budgets: [{ budget: 'fleet-cap', window: 0, want, used: 0, held, waiting, need: waiting ? 10_000 : 0, rate: 0 }] } });
    expect((await lease('rt-a', 3_000_000, 2, 400_000)).status).toBe(200);
    expect((await lease('rt-b', 1_500_000, 0, 0)).status).toBe(200);

    const a1 = batch('rt-a', 1, {
      agents: [agent('lg-1', 'lead-gen')],
      llmRequests: [
        call(1, { budgets: '["fleet-cap@0"]' }),
        call(2, { stream: true, firstByteMs: 120, budgets: '["fleet-cap@0"]' }),
        call(3, { status: 'error', httpStatus: 503, promptTokens: 0, completionTokens: 0, costMicros: 0, error: 'upstream answered 503' }),
        call(4, { endpoint: 'embeddings', model: 'text-embedding-3-small', completionTokens: 0, promptTokens: 64, costMicros: 3 }),
      ],
      toolCalls: [tool(1), tool(2, { status: 503, tier: 'failed', reason: 'upstream_failure', latencyMs: 1_500, upstreamStatus: 503 })],
      events: [
        event(1, 'pii.detected', { location: 'llm.output', action: 'redacted', types: { EMAIL: 2, PHONE: 1 }, severity: 'WARN', preview: '[EMAIL]', requestRef: null, counters: {} }),
        event(2, 'pii.detected', { location: 'llm.prompt', action: 'blocked', types: { SSN: 1 }, severity: 'CRITICAL', preview: '[SSN]', requestRef: null, counters: {} }),
        event(3, 'agent.exited', { status: 'crashed', exitCode: 1, signal: null, durationMs: 90_000 }),
      ],
    });
    expect((await post('rt-a', a1)).status).toBe(200);
    // The same batch again: a duplicate, nothing written or counted.
    expect((await post('rt-a', a1)).body.duplicate).toBe(true);
    // A restarted runtime sends rows 3-5 in its next batch: 3 and 4 are held already, 5 is new; event 3 again too.
    const a2 = batch('rt-a', 2, {
      llmRequests: [a1.llmRequests![2]!, a1.llmRequests![3]!, call(5, { stream: true, firstByteMs: 80, model: 'gpt-4o', costMicros: 123_456, status: 'aborted', httpStatus: 499 })],
      events: [a1.events![2]!, event(4, 'pii.detected', { location: 'tool.response', action: 'redacted', types: { EMAIL: 3 }, severity: 'WARN', preview: '', requestRef: null, counters: {} })],
    });
    expect((await post('rt-a', a2)).status).toBe(200);
    // From the future: refused (409), counted as such.
    expect((await post('rt-a', batch('rt-a', 9, {}))).status).toBe(409);

    const b1 = batch('rt-b', 1, {
      agents: [agent('wr-1', 'writer')],
      llmRequests: [
        call(1, {
          agentId: 'wr-1',
          provider: 'anthropic',
          endpoint: 'messages',
          model: 'claude-sonnet-4',
          costMicros: 2_500_001,
          budgets: JSON.stringify([`team-b@${windowStart('month', Date.now())}`]),
        }),
        call(2, { agentId: 'wr-1', provider: 'anthropic', endpoint: 'messages', model: 'claude-sonnet-4', stream: true, firstByteMs: 300, status: 'blocked', httpStatus: 400, costMicros: 0 }),
      ],
      events: [event(1, 'pii.detected', { location: 'llm.output', action: 'warned', types: { EMAIL: 1 }, severity: 'INFO', preview: '', requestRef: null, counters: {} }, 'wr-1')],
    });
    expect((await post('rt-b', b1)).status).toBe(200);

    const got = await scrape();
    expect(got.status).toBe(200);
    expect(got.type).toMatch(/^text\/plain; version=0\.0\.4/);
    const s = parse(got.text);

    // Against the ledger in PostgreSQL, per runtime.
    const rows = await ledger(
      `select runtime_id, sum(prompt_tokens)::text p, sum(completion_tokens)::text c, sum(cost_micros)::text m, count(*)::text n from llm_requests group by runtime_id order by runtime_id`,
    );
    expect(rows.map((r) => r.runtime_id)).toEqual(['rt-a', 'rt-b']);
    for (const r of rows) {
      const runtime = r.runtime_id!;
      const withTokens = await ledger(`select count(*)::text n from llm_requests where runtime_id = '${runtime}' and prompt_tokens + completion_tokens > 0`);
      expect(total(s, 'gen_ai_client_token_usage_sum', { runtime, gen_ai_token_type: 'input' })).toBe(Number(r.p));
      expect(total(s, 'gen_ai_client_token_usage_sum', { runtime, gen_ai_token_type: 'output' })).toBe(Number(r.c));
      expect(total(s, 'gen_ai_client_token_usage_count', { runtime, gen_ai_token_type: 'input' })).toBe(Number(withTokens[0]!.n));
      // Spend: each series back in micro-dollars, summed as integers, equals the ledger's sum.
      const spend = series(s, 'iron_cage_spend_usd_total', { runtime });
      expect(spend.reduce((a, x) => a + Math.round(x.value * 1_000_000), 0)).toBe(Number(r.m));
      expect(total(s, 'iron_cage_llm_calls_total', { runtime })).toBe(Number(r.n));
    }
    expect(Number(rows[0]!.n)).toBe(5);
    // One series is one (runtime, agent, provider, model): exact to the micro-dollar as USD.
    expect(series(s, 'iron_cage_spend_usd_total', { runtime: 'rt-a', agent: 'lead-gen', model: 'gpt-4o-mini', provider: 'openai' })[0]!.value).toBe((1_001 + 7 + 2_002 + 7) / 1_000_000);
    expect(series(s, 'iron_cage_spend_usd_total', { runtime: 'rt-b' })).toEqual([
      { name: 'iron_cage_spend_usd_total', labels: { runtime: 'rt-b', agent: 'writer', provider: 'anthropic', model: 'claude-sonnet-4' }, value: 2.500001 },
    ]);
    expect(total(s, 'iron_cage_llm_calls_total', { runtime: 'rt-a', status: 'ok' })).toBe(3);
    expect(total(s, 'iron_cage_llm_calls_total', { runtime: 'rt-a', status: 'error' })).toBe(1);
    expect(total(s, 'iron_cage_llm_calls_total', { runtime: 'rt-a', status: 'aborted' })).toBe(1);
    expect(total(s, 'iron_cage_llm_calls_total', { runtime: 'rt-b', status: 'blocked' })).toBe(1);

    // The GenAI histograms: the conventions' labels, operation from the endpoint, provider by its well-known name.
    const dur = (where: Record<string, string>) => total(s, 'gen_ai_client_operation_duration_seconds_count', where);
    expect(dur({ runtime: 'rt-a' })).toBe(5);
    expect(dur({ runtime: 'rt-a', gen_ai_operation_name: 'embeddings', gen_ai_request_model: 'text-embedding-3-small', error_type: '' })).toBe(1);
    expect(dur({ runtime: 'rt-a', error_type: '503' })).toBe(1);
    expect(dur({ runtime: 'rt-a', error_type: 'client_aborted' })).toBe(1);
    expect(dur({ runtime: 'rt-b', gen_ai_operation_name: 'chat', gen_ai_provider_name: 'anthropic', error_type: 'pii_blocked' })).toBe(1);
    expect(total(s, 'gen_ai_client_operation_duration_seconds_sum', { runtime: 'rt-a' })).toBeCloseTo((251 + 252 + 253 + 254 + 255) / 1000, 9);
    expect(series(s, 'gen_ai_client_operation_duration_seconds_bucket', { runtime: 'rt-a', error_type: '503', le: '0.16' })[0]!.value).toBe(0);
    expect(series(s, 'gen_ai_client_operation_duration_seconds_bucket', { runtime: 'rt-a', error_type: '503', le: '0.32' })[0]!.value).toBe(1);
    // Time to first chunk: answered streams only (the aborted and the blocked one are not).
    expect(total(s, 'gen_ai_client_operation_time_to_first_chunk_seconds_count')).toBe(1);
    expect(total(s, 'gen_ai_client_operation_time_to_first_chunk_seconds_sum', { runtime: 'rt-a', gen_ai_response_model: 'gpt-4o-mini' })).toBe(0.12);
    // Tools.
    expect(total(s, 'gen_ai_execute_tool_duration_seconds_count', { runtime: 'rt-a', gen_ai_tool_name: 'crm' })).toBe(2);
    expect(total(s, 'gen_ai_execute_tool_duration_seconds_sum', { runtime: 'rt-a', error_type: 'upstream_failure' })).toBe(1.5);
    expect(total(s, 'iron_cage_tool_calls_total', { runtime: 'rt-a', service: 'crm', tier: 'failed', status_class: '5xx' })).toBe(1);
    // Runs: the crash counted once although its event came twice.
    expect(series(s, 'gen_ai_invoke_agent_duration_seconds_count', { runtime: 'rt-a', gen_ai_agent_name: 'lead-gen', error_type: 'crashed' })[0]!.value).toBe(1);
    expect(total(s, 'gen_ai_invoke_agent_duration_seconds_sum')).toBe(90);

    // PII by type, action and where.
    const pii = (where: Record<string, string>) => total(s, 'iron_cage_pii_detections_total', where);
    expect(pii({ runtime: 'rt-a', type: 'EMAIL', action: 'redacted', location: 'llm.output' })).toBe(2);
    expect(pii({ runtime: 'rt-a', type: 'EMAIL', action: 'redacted', location: 'tool.response' })).toBe(3);
    expect(pii({ runtime: 'rt-a', type: 'PHONE' })).toBe(1);
    expect(pii({ runtime: 'rt-a', type: 'SSN', action: 'blocked', location: 'llm.prompt' })).toBe(1);
    expect(pii({ runtime: 'rt-b', type: 'EMAIL', action: 'warned' })).toBe(1);
    expect(pii({})).toBe(8);

    // Ingest: batches by outcome, rows new to the panel by kind.
    const batches = (where: Record<string, string>) => total(s, 'iron_cage_panel_batches_total', where);
    expect(batches({ runtime: 'rt-a', outcome: 'stored' })).toBe(2);
    expect(batches({ runtime: 'rt-a', outcome: 'duplicate' })).toBe(1);
    expect(batches({ runtime: 'rt-a', outcome: 'refused', reason: 'out_of_order' })).toBe(1);
    expect(batches({ runtime: 'rt-b', outcome: 'stored' })).toBe(1);
    expect(total(s, 'iron_cage_panel_rows_total', { runtime: 'rt-a', kind: 'llmRequests' })).toBe(5);
    expect(total(s, 'iron_cage_panel_rows_total', { runtime: 'rt-a', kind: 'events' })).toBe(4);

    // Liveness: both reporters online, seen a moment ago; the idle runtime offline and never seen.
    expect(series(s, 'iron_cage_runtime_online').map((x) => [x.labels.runtime, x.value])).toEqual([
      ['rt-a', 1],
      ['rt-b', 1],
      ['rt-idle', 0],
    ]);
    expect(series(s, 'iron_cage_runtime_last_seen_age_seconds').map((x) => x.labels.runtime)).toEqual(['rt-a', 'rt-b']);
    for (const x of series(s, 'iron_cage_runtime_last_seen_age_seconds')) expect(x.value).toBeLessThan(60);
    expect(series(s, 'iron_cage_panel_database_up')[0]!.value).toBe(1);
  }, 30_000);

  it("budget gauges equal the store's figures at scrape time, per budget and per runtime lease", async () => {
    const [got, view] = await Promise.all([scrape(), t.api('/api/budgets', { token: t.admin })]);
    const s = parse(got.text);
    const { budgets } = (await view.json()) as BudgetsResponse;
    expect(budgets.map((b) => b.id)).toEqual(['fleet-cap', 'team-b']);
    for (const b of budgets) {
      const l = { scope: 'central', budget: b.id };
      expect(series(s, 'iron_cage_budget_limit_usd', l)[0]!.value).toBe(b.limitMicros / 1e6);
      expect(series(s, 'iron_cage_budget_spent_usd', l)[0]!.value).toBe(b.spentMicros / 1e6);
      expect(series(s, 'iron_cage_budget_reserved_usd', l)[0]!.value).toBe(b.leasedMicros / 1e6);
      expect(series(s, 'iron_cage_budget_waiting_calls', l)[0]!.value).toBe(b.waiting);
      for (const x of b.leases) {
        const ll = { budget: b.id, runtime: x.runtime };
        expect(series(s, 'iron_cage_budget_lease_granted_usd', ll)[0]!.value).toBe(x.grantedMicros / 1e6);
        expect(series(s, 'iron_cage_budget_lease_spent_usd', ll)[0]!.value).toBe(x.spentMicros / 1e6);
        expect(series(s, 'iron_cage_budget_lease_held_usd', ll)[0]!.value).toBe(x.heldMicros / 1e6);
      }
    }
    // The figures themselves: the fleet budget's spend is its tagged rows (calls 1 and 2 of rt-a), rt-a has 2 calls waiting.
    const fleet = budgets[0]!;
    expect(fleet.spentMicros).toBe(1_008 + 2_009);
    expect(fleet.waiting).toBe(2);
    expect(series(s, 'iron_cage_budget_lease_waiting_calls', { budget: 'fleet-cap', runtime: 'rt-a' })[0]!.value).toBe(2);
    expect(budgets[1]!.spentMicros).toBe(2_500_001);
    expect(series(s, 'iron_cage_budget_spent_usd', { budget: 'team-b' })[0]!.value).toBe(2.500001);

    // Exact at scrape time: a limit changed now is what the next scrape says.
    expect((await t.api('/api/budgets/fleet-cap', { method: 'PATCH', token: t.admin, body: { limitUsd: 12.34 } })).status).toBe(200);
    expect(series(parse((await scrape()).text), 'iron_cage_budget_limit_usd', { budget: 'fleet-cap' })[0]!.value).toBe(12.34);
  }, 30_000);
});

describe('who may scrape the panel', () => {
  it('a metrics token reads /metrics and nothing else; loopback needs none; a viewer, a runtime token or a bad token are refused', async () => {
    const ws = (token: string) => upgradeStatus(t.url, token);
    await t.api('/api/users', { token: t.admin, body: { name: 'vic', role: 'viewer', password: 'a long viewer password' } });
    const viewer = ((await (await t.api('/api/login', { body: { name: 'vic', password: 'a long viewer password' } })).json()) as { token: string }).token;
    const [asMetrics, anon, asAdmin, asViewer, asRuntime, bad] = await Promise.all([scrape(), scrape(null), scrape(t.admin), scrape(viewer), scrape(tokens['rt-a']!), scrape('ic_not-a-token')]);
    expect([asMetrics.status, anon.status, asAdmin.status, asViewer.status, asRuntime.status, bad.status]).toEqual([200, 200, 200, 403, 403, 401]);
    expect(JSON.parse(asViewer.text).error.message).toContain('needs a metrics or admin token');
    const refused = await Promise.all(['/api/whoami', '/api/budgets', '/api/fleet', '/api/runtimes', '/api/tokens'].map(async (p) => [p, (await t.api(p, { token: metricsToken })).status] as const));
    expect(refused).toEqual(refused.map(([p]) => [p, 403]));
    expect((await t.api('/api/telemetry', { token: metricsToken, body: batch('rt-a', 3, {}) })).status).toBe(403);
    expect(await ws(metricsToken)).toBe(403);
    expect(await ws(t.admin)).toBe(101);

    // Only metrics tokens are made here, by admins; names as `iron-cage token create`.
    const make = (body: unknown, token = t.admin) => t.api('/api/tokens', { token, body });
    const [asRole, twice, badName, byViewer] = await Promise.all([
      make({ role: 'admin', name: 'x' }),
      make({ role: 'metrics', name: 'prometheus' }),
      make({ role: 'metrics', name: '../x' }),
      make({ role: 'metrics', name: 'y' }, viewer),
    ]);
    expect([asRole.status, twice.status, badName.status, byViewer.status]).toEqual([400, 400, 400, 403]);
    expect(((await asRole.json()) as { error: { message: string } }).error.message).toContain('a panel makes metrics tokens here');
    const listed = (await (await t.api('/api/tokens', { token: t.admin })).json()) as Array<{ name: string; role: string; hash?: string }>;
    expect(listed.find((x) => x.name === 'prometheus')).toMatchObject({ role: 'metrics' });
    expect(listed.every((x) => x.hash === undefined)).toBe(true);
  }, 30_000);

  it('with metrics.auth token every scrape needs a token; `iron-cage panel token create` makes one that works at once and `revoke` ends it', async () => {
    const db = await server.createDatabase('metrics_token');
    const strict = await startTestPanel(db, { metrics: { ...DEFAULTS.metrics, auth: 'token' } });
    try {
      const at = (token: string | null) => fetch(`${strict.url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
      expect((await at(null)).status).toBe(401);
      const made = await cli(['panel', 'token', 'create', 'prom ci', '--database', db, '--json']);
      expect(made.code).toBe(0);
      const { token, role } = JSON.parse(made.stdout) as { token: string; role: string };
      expect(role).toBe('metrics');
      const ok = await at(token);
      expect(ok.status).toBe(200);
      expect(parse(await ok.text()).find((x) => x.name === 'iron_cage_panel_database_up')?.value).toBe(1);
      expect((await strict.api('/api/whoami', { token })).status).toBe(403);
      // The first command as a process of its own, the others in-process (cliInProcess: the same program, no cold start of Node for each).
      const [asAdmin, dup] = await Promise.all([
        cliInProcess(['panel', 'token', 'create', 'other', '--role', 'admin', '--database', db]),
        cliInProcess(['panel', 'token', 'create', 'prom ci', '--database', db]),
      ]);
      expect([asAdmin.code, dup.code]).toEqual([2, 2]);
      expect(dup.stderr).toContain("a token named 'prom ci' already exists");
      const gone = await cliInProcess(['panel', 'token', 'revoke', 'prom ci', '--database', db]);
      expect(gone.code).toBe(0);
      // The route asks the database for a token it has not seen: a fresh panel refuses the revoked one at once.
      const again = await startTestPanel(db, { metrics: { ...DEFAULTS.metrics, auth: 'token' } });
      try {
        expect((await fetch(`${again.url}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
      } finally {
        await again.close();
      }
    } finally {
      await strict.close();
    }
  }, 60_000);
});

describe('the panel GET /metrics while PostgreSQL is away', () => {
  it('still serves what it counted, with database_up 0 and no budget or runtime gauges; all of them again once it is back', async () => {
    const before = parse((await scrape(null)).text);
    const spent = total(before, 'iron_cage_spend_usd_total');
    expect(spent).toBeGreaterThan(0);
    await server.stop();
    try {
      const down = await scrape(null);
      expect(down.status).toBe(200);
      const s = parse(down.text);
      expect(series(s, 'iron_cage_panel_database_up')[0]!.value).toBe(0);
      expect(series(s, 'iron_cage_budget_limit_usd')).toEqual([]);
      expect(series(s, 'iron_cage_runtime_online')).toEqual([]);
      expect(total(s, 'iron_cage_spend_usd_total')).toBe(spent);
      expect(total(s, 'gen_ai_client_token_usage_sum')).toBe(total(before, 'gen_ai_client_token_usage_sum'));
    } finally {
      await server.start();
    }
    const back = await until(async () => {
      const s = parse((await scrape(null)).text);
      return series(s, 'iron_cage_panel_database_up')[0]!.value === 1 ? s : null;
    }, 20_000);
    expect(series(back, 'iron_cage_budget_limit_usd').map((x) => x.labels.budget)).toEqual(['fleet-cap', 'team-b']);
    // An outage is the outage's line in the log, not a failed scrape's.
    expect(t.log.join('')).not.toContain('/metrics could not read');
  }, 40_000);
});

describe('the panel GET /metrics past the runtime cap', () => {
  it('reading the runtimes at each scrape counts none of them again under other: the overflow counter moves only when a value is new', async () => {
    const now = Date.parse(TS);
    const n = PANEL_LABEL_CAPS.runtimes + 2;
    const runtimes = Array.from({ length: n }, (_, i) => ({ id: `rt-${String(i).padStart(4, '0')}`, lastSeenAt: now - i, behind: i % 3 }) as unknown as RuntimeView);
    const m = new PanelMetrics(
      { budgets: async () => [], runtimes: async () => runtimes },
      { maxAgents: 10, maxSeriesPerRuntime: 2_000, maxSeries: 50_000, logger: createLogger({ format: 'json', level: 'info', stream: new PassThrough() }), now: () => now },
    );
    const overflow = async () => series(parse(await m.scrape()), 'iron_cage_metrics_label_overflow_total', { label: 'runtime' })[0]!.value;
    const first = parse(await m.scrape());
    // The last two are `other`: one series, online, the most recently seen of them, their rows behind summed.
    expect(series(first, 'iron_cage_runtime_online')).toHaveLength(PANEL_LABEL_CAPS.runtimes + 1);
    expect(series(first, 'iron_cage_runtime_online', { runtime: 'other' })[0]!.value).toBe(2);
    expect(series(first, 'iron_cage_runtime_behind_rows', { runtime: 'other' })[0]!.value).toBe(((n - 2) % 3) + ((n - 1) % 3));
    expect(series(first, 'iron_cage_runtime_last_seen_age_seconds', { runtime: 'other' })[0]!.value).toBe((n - 2) / 1000);
    expect(await overflow()).toBe(0);
    expect(await overflow()).toBe(0);
    // A batch from a runtime past the cap is a value counted under `other`: once, whatever the scrapes after it.
    m.batch('rt-late', 'stored');
    expect(series(parse(await m.scrape()), 'iron_cage_panel_batches_total', { runtime: 'other' })[0]!.value).toBe(1);
    expect(await overflow()).toBe(1);
    expect(await overflow()).toBe(1);
  });
});
