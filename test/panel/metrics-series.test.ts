import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import type { TelemetryBatchInput } from '../../src/state/index.js';
import { parseExposition as parse, sumOf } from '../helpers/exposition.js';
import { agentRow, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// The panel's /metrics under forged rows (issue 48, class 8): each label's values were capped,
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

  it('has safe defaults: a runtime makes at most 2,000 series, all runtimes 50,000', () => {
    expect(DEFAULTS.metrics).toMatchObject({ maxSeriesPerRuntime: 2_000, maxSeries: 50_000 });
  });
});
