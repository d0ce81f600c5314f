import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import type { TelemetryBatchInput } from '../../src/state/index.js';
import { parseExposition as parse, sumOf } from '../helpers/exposition.js';
import { agentRow, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// The panel's /metrics under forged rows: each label's values were capped,
// their combinations were not, so one runtime token's 9,800 rows of distinct model × status ×
// agent × endpoint made a 107 MB scrape. Series are now bounded per runtime and in all
// (metrics.max_series_per_runtime, metrics.max_series; small here to keep the test quick): past
// either a combination is folded into `other`, counted by iron_cage_panel_series_folded_total,
// and an honest runtime keeps its own series beside a flooding one.

const TS = '2026-11-24T10:15:00.000Z';
type Call = NonNullable<TelemetryBatchInput['llmRequests']>[number];
const call = (id: number, o: Partial<Call>): Call => ({
  id,
  ts: TS,
  agentId: 'lg-1',
  endpoint: 'chat',
  provider: 'openai',
  model: 'gpt-4o-mini',
  stream: false,
  status: 'ok',
  httpStatus: 200,
  promptTokens: 100,
  completionTokens: 20,
  costMicros: 1_000,
  reservedMicros: 5_000,
  usageSource: 'provider',
  latencyMs: 250,
  firstByteMs: null,
  redactions: 0,
  error: null,
  attempts: 1,
  budgets: null,
  ...o,
});

let server: TestPostgres;
let t: TestPanel;
const tokens: Record<string, string> = {};
let metricsToken = '';
const PER_RUNTIME = 700;
const ALL = 2_100;

beforeAll(async () => {
  server = await startPostgres();
  t = await startTestPanel(server.url, { metrics: { ...DEFAULTS.metrics, maxSeriesPerRuntime: PER_RUNTIME, maxSeries: ALL } });
  for (const id of ['rt-flood', 'rt-flood-2', 'rt-flood-3', 'rt-honest', 'rt-late']) {
    const r = await t.api('/api/runtimes', { token: t.admin, body: { id } });
    tokens[id] = ((await r.json()) as { token: string }).token;
  }
  const m = await t.api('/api/tokens', { token: t.admin, body: { role: 'metrics', name: 'prometheus' } });
  metricsToken = ((await m.json()) as { token: string }).token;
}, 60_000);
afterAll(async () => {
  await t?.close();
  await server?.destroy();
});

const scrape = async () => (await fetch(`${t.url}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } })).text();
/** `n` forged rows from `runtime`, every one a new combination of model, status, agent and endpoint. */
async function flood(runtime: string, n: number, perBatch = 500) {
  const agents = ['a', 'b', 'c', 'd'].map((x) => agentRow(`ag-${x}`, `agent-${x}`, TS));
  for (let seq = 1, id = 1; id <= n; seq++) {
    const rows: Call[] = [];
    for (let i = 0; i < perBatch && id <= n; i++, id++) {
      rows.push(call(id, { model: `model-${runtime}-${id}`, status: ['ok', 'error', 'blocked', 'aborted'][id % 4], agentId: agents[id % 4]!.id, endpoint: ['chat', 'responses', 'messages'][id % 3] }));
    }
    const r = await t.api('/api/telemetry', { token: tokens[runtime]!, body: { runtime, seq, sentAt: new Date().toISOString(), agents, llmRequests: rows } });
    expect(r.status, await r.text()).toBe(200);
  }
}

describe('the panel /metrics under forged combinations', () => {
  it('keeps each runtime within its share and all within the whole, folds the rest into other and counts it; an honest runtime keeps its series', async () => {
    await flood('rt-flood', 1_000);
    // An honest runtime after the flood: its few combinations keep their names.
    const honest = [call(1, { model: 'gpt-4o' }), call(2, { model: 'gpt-4o', status: 'error', httpStatus: 503 }), call(3, { model: 'claude-sonnet-4', provider: 'anthropic', endpoint: 'messages' })];
    expect(
      (
        await t.api('/api/telemetry', {
          token: tokens['rt-honest']!,
          body: { runtime: 'rt-honest', seq: 1, sentAt: new Date().toISOString(), agents: [agentRow('lg-1', 'lead-gen', TS)], llmRequests: honest },
        })
      ).status,
    ).toBe(200);
    let text = await scrape();
    let s = parse(text);
    const folded = (rt: string) => sumOf(s, 'iron_cage_panel_series_folded_total', { runtime: rt });
    const calls = (labels: Record<string, string>) => sumOf(s, 'iron_cage_llm_calls_total', labels);
    // Every row is counted (nothing is lost), most of the flood under other.
    expect(calls({ runtime: 'rt-flood' })).toBe(1_000);
    const kept = 1_000 - calls({ runtime: 'rt-flood', model: 'other' });
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(Math.floor(PER_RUNTIME / 70) + 1);
    expect(folded('rt-flood')).toBe(1_000 - kept);
    expect(calls({ runtime: 'rt-honest', model: 'gpt-4o' })).toBe(2);
    expect(calls({ runtime: 'rt-honest', model: 'claude-sonnet-4', agent: 'lead-gen' })).toBe(1);
    expect(folded('rt-honest')).toBe(0);

    // Two more floods take the rest of the whole; then a new runtime's combinations fold its runtime label too.
    await flood('rt-flood-2', 1_000);
    await flood('rt-flood-3', 1_000);
    expect(
      (
        await t.api('/api/telemetry', {
          token: tokens['rt-late']!,
          body: { runtime: 'rt-late', seq: 1, sentAt: new Date().toISOString(), agents: [agentRow('lg-9', 'late', TS)], llmRequests: [call(1, { model: 'gpt-4.1' })] },
        })
      ).status,
    ).toBe(200);
    text = await scrape();
    s = parse(text);
    expect(calls({ runtime: 'rt-late', model: 'gpt-4.1' })).toBe(0);
    expect(calls({ runtime: 'other', model: 'other' })).toBeGreaterThanOrEqual(1);
    expect(folded('rt-late')).toBe(1);
    // Nothing counted twice or lost across the folds.
    expect(calls({})).toBe(3_000 + honest.length + 1);
    // The scrape stays small: the series of the rows are bounded by the whole, plus one folded series per family and runtime.
    const rowSeries = s.filter((x) => x.name.startsWith('gen_ai_') || x.name.startsWith('iron_cage_llm_') || x.name.startsWith('iron_cage_spend'));
    expect(rowSeries.length).toBeLessThanOrEqual(ALL + 6 * 70);
    expect(Buffer.byteLength(text)).toBeLessThan(600_000);
  }, 120_000);

  it('has safe defaults: a runtime makes at most 2,000 series, all runtimes 10,000', () => {
    expect(DEFAULTS.metrics).toMatchObject({ maxSeriesPerRuntime: 2_000, maxSeries: 10_000 });
  });
});

// What one runtime's names may take from another's. The series bound above leaves a flooding
// runtime ~2,000 series of its own, and a name a kept series carries takes a place under its
// label's cap: fleet-wide caps (200 status/tier/reason codes, 100 PII types, 500 tool services,
// max_agents agents) let one runtime fill them with a few hundred cheap series (a PII type is one
// series, a tool call 18), after which another runtime's `ok`, `live`, `EMAIL` were `other`. Each
// runtime's names are now capped for that runtime alone; the series bound caps the whole.
type Tool = NonNullable<TelemetryBatchInput['toolCalls']>[number];
type Event = NonNullable<TelemetryBatchInput['events']>[number];
const tool = (id: number, o: Partial<Tool> = {}): Tool => ({
  id,
  ts: TS,
  agentId: 'lg-1',
  service: 'crm',
  method: 'GET',
  path: '/x',
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
const pii = (seq: number, types: Record<string, number>): Event => ({
  seq,
  ts: TS,
  agentId: 'lg-1',
  type: 'pii.detected',
  severity: 'info',
  message: 'pii',
  data: JSON.stringify({ location: 'llm.output', action: 'redacted', types, severity: 'WARN', preview: '', requestRef: null, counters: {} }),
});

describe("one runtime's names take none of another's", () => {
  it('a runtime filling every label cap (codes, PII types, services, agents, models) leaves an honest runtime its own names', async () => {
    const panel = await startTestPanel(await server.createDatabase('series_names'));
    try {
      const token: Record<string, string> = {};
      for (const id of ['rt-names', 'rt-fair']) token[id] = ((await (await panel.api('/api/runtimes', { token: panel.admin, body: { id } })).json()) as { token: string }).token;
      const post = async (b: TelemetryBatchInput) => expect((await panel.api('/api/telemetry', { token: token[b.runtime]!, body: b })).status).toBe(200);
      const at = new Date().toISOString();
      // PII types first (one series each), then tool calls (new service, tier and reason each), then calls (new agent, model, status, endpoint each).
      await post({
        runtime: 'rt-names',
        seq: 1,
        sentAt: at,
        events: Array.from({ length: 10 }, (_, k) => pii(k + 1, Object.fromEntries(Array.from({ length: 100 }, (_, j) => [`T${k * 100 + j}`, 1])))),
      });
      const rtNames = 'rt-names';
      await post({ runtime: rtNames, seq: 2, sentAt: at, toolCalls: Array.from({ length: 300 }, (_, k) => tool(k + 1, { service: `svc${k}`, tier: `tier${k}`, status: 500, reason: `why${k}` })) });
      await post({
        runtime: rtNames,
        seq: 3,
        sentAt: at,
        llmRequests: Array.from({ length: 300 }, (_, k) => call(k + 1, { agentId: `ag${k}`, model: `m${k}`, provider: `p${k}`, status: `st${k}`, endpoint: `ep${k}` })),
      });
      await post({
        runtime: 'rt-fair',
        seq: 1,
        sentAt: at,
        agents: [agentRow('lg-1', 'lead-gen', TS)],
        llmRequests: [call(1, {}), call(2, { provider: 'anthropic', endpoint: 'messages', model: 'claude-sonnet-4', status: 'error', httpStatus: 529 })],
        toolCalls: [tool(1)],
        events: [pii(1, { EMAIL: 2 })],
      });
      const s = parse(await (await fetch(`${panel.url}/metrics`)).text());
      const one = (name: string, labels: Record<string, string>) => sumOf(s, name, { runtime: 'rt-fair', ...labels });
      expect(one('iron_cage_llm_calls_total', { agent: 'lead-gen', provider: 'openai', model: 'gpt-4o-mini', status: 'ok' })).toBe(1);
      expect(one('iron_cage_llm_calls_total', { agent: 'lead-gen', provider: 'anthropic', model: 'claude-sonnet-4', status: 'error' })).toBe(1);
      expect(one('gen_ai_client_operation_duration_seconds_count', { gen_ai_operation_name: 'chat', gen_ai_provider_name: 'anthropic', error_type: '529' })).toBe(1);
      expect(one('iron_cage_tool_calls_total', { service: 'crm', tier: 'live', status_class: '2xx' })).toBe(1);
      expect(one('iron_cage_pii_detections_total', { type: 'EMAIL', action: 'redacted', location: 'llm.output' })).toBe(2);
      expect(s.filter((x) => x.labels.runtime === 'rt-fair' && Object.values(x.labels).includes('other'))).toEqual([]);
      // The flooding runtime did fill its own caps (PII types past 100 are `other` there), and its rows are all counted.
      expect(sumOf(s, 'iron_cage_pii_detections_total', { runtime: rtNames })).toBe(1_000);
      expect(sumOf(s, 'iron_cage_pii_detections_total', { runtime: rtNames, type: 'other' })).toBeGreaterThan(0);
      expect(sumOf(s, 'iron_cage_metrics_label_overflow_total')).toBeGreaterThan(0);
    } finally {
      await panel.close();
    }
  }, 60_000);
});

// The whole scrape at the default bounds, whatever runtimes send. Many runtime tokens each
// filling their share with the longest names a label keeps (a model's 256 characters, the
// others' 64), every character one the format escapes, make the largest scrape there can be:
// at a 50,000-series default, 30 tokens and 1,800 such rows made a 52 MB scrape that took 10 s
// to serve (past Prometheus' default scrape timeout). The default is now 10,000.
describe('the whole scrape at the defaults', () => {
  it('stays under 16 MB however many runtimes fill their share with the longest names', async () => {
    const panel = await startTestPanel(await server.createDatabase('series_size'));
    try {
      const long = (tag: string, max: number) => `${tag}-${'"\\'.repeat(max)}`.slice(0, max);
      const at = new Date().toISOString();
      // Enough runtimes to fill the whole: each fills its own share with ~30 combinations.
      const n = Math.ceil(DEFAULTS.metrics.maxSeries / DEFAULTS.metrics.maxSeriesPerRuntime) + 2;
      for (let r = 0; r < n; r++) {
        const id = `rt-big-${r}`;
        const token = ((await (await panel.api('/api/runtimes', { token: panel.admin, body: { id } })).json()) as { token: string }).token;
        const llmRequests = Array.from({ length: 60 }, (_, k) =>
          call(k + 1, {
            agentId: long(`a${k}`, 64),
            provider: long(`p${k}`, 64),
            model: long(`m${r}-${k}`, 256),
            endpoint: long(`e${k}`, 64),
            status: long(`s${k}`, 64),
            stream: true,
            firstByteMs: 5,
          }),
        );
        expect((await panel.api('/api/telemetry', { token, body: { runtime: id, seq: 1, sentAt: at, llmRequests } })).status).toBe(200);
      }
      const text = await (await fetch(`${panel.url}/metrics`)).text();
      const samples = parse(text);
      const rows = samples.filter((x) => x.name.startsWith('gen_ai_') || x.name.startsWith('iron_cage_llm_') || x.name.startsWith('iron_cage_spend'));
      expect(rows.length).toBeLessThanOrEqual(DEFAULTS.metrics.maxSeries + 6 * 70);
      expect(sumOf(samples, 'iron_cage_llm_calls_total')).toBe(n * 60);
      expect(Buffer.byteLength(text)).toBeLessThan(16 * 1024 * 1024);
    } finally {
      await panel.close();
    }
  }, 90_000);
});
