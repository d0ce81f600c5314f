// The control panel's fleet-wide GET /metrics as an operator uses it: a panel on a real
// PostgreSQL with `metrics.auth: token`, two real runtimes reporting to it (their reporters and
// lease loops as in production), known calls on each (different agents and models, PII in the
// answers, a stream, an upstream failure, a tool call) under one central budget, and a real
// Prometheus (Debian's) scraping the panel with a panel metrics token. PromQL per `runtime`
// label equals each runtime's own SQLite ledger and the panel's PostgreSQL rows; the budget
// gauges equal GET /api/budgets; both runtimes are online; every Grafana query the panel can
// answer, the fleet row's among them, has data.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, type Config } from '../../src/config/index.js';
import { METRIC } from '../../src/observability/index.js';
import type { BudgetsResponse } from '../../src/panel/index.js';
import { freePort } from '../helpers/cli.js';
import { sqliteOf } from '../helpers/db.js';
import { asGrafanaSends, DASHBOARD, dashboardQueries, FLEET_ROW, metricOf, metricSelectors, panelFamilies } from '../helpers/grafana.js';
import { FakeService } from '../helpers/http.js';
import { startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { byLabels, countBy, prometheusAbsent, type Sample, startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { agentToken, startTestRuntime, tempDir, type TestRuntime, until } from '../helpers/runtime.js';
import { toolsConfig } from '../tools/helpers.js';

const EAST = 'rt-east';
const WEST = 'rt-west';
const BUDGET = 'fleet-cap';

/** One ledger row of a runtime's SQLite file, with its agent's name. */
interface Row {
  runtime: string;
  agent: string;
  model: string;
  status: string;
  input: number;
  output: number;
  micros: number;
}

describe.skipIf(prometheusAbsent())("a real Prometheus scraping the control panel's fleet /metrics, two runtimes reporting to it", () => {
  let server: TestPostgres;
  let panel: TestPanel;
  let crm: FakeService;
  let prom: TestPrometheus;
  const rts: Record<string, TestRuntime> = {};
  const dir = tempDir('iron-cage-prom-panel-');

  /** Each runtime's own ledger, read from its SQLite file. */
  const ledger = <T>(sql: string) => Object.entries(rts).flatMap(([runtime, t]) => (sqliteOf(t.rt.state).prepare(sql).all() as T[]).map((r) => ({ ...r, runtime })));
  const q = (promql: string) => prom.query(promql.replaceAll('{}', '{job="panel"}'));

  beforeAll(async () => {
    // Prometheus first, on the panel's port-to-be: it takes its first scrape about 5 s after it starts (its target
    // discovery is throttled to one update per 5 s), time the database, the panel and the runtimes use to start.
    // The metrics token is made by the panel, so Prometheus reads it from a file at each scrape.
    const port = await freePort();
    const tokenFile = join(dir.dir, 'metrics-token');
    [prom, server, crm] = await Promise.all([startPrometheus([{ job: 'panel', url: `http://127.0.0.1:${port}`, tokenFile }]), startPostgres(), FakeService.start()]);
    panel = await startTestPanel(server.url, { port, metrics: { ...DEFAULTS.metrics, auth: 'token' } });
    const post = async (path: string, body: unknown) => {
      const r = await panel.api(path, { token: panel.admin, body });
      expect(r.status, `${path}: ${await r.clone().text()}`).toBe(201);
      return (await r.json()) as { token: string };
    };
    // One budget over the whole fleet: both runtimes lease from it before their first call goes.
    await post('/api/budgets', { id: BUDGET, scope: 'fleet', limitUsd: 5 });
    writeFileSync(tokenFile, (await post('/api/tokens', { role: 'metrics', name: 'prometheus' })).token);
    const reporting = async (id: string, config: Partial<Config>) => {
      const { token } = await post('/api/runtimes', { id });
      rts[id] = await startTestRuntime({ config: { ...config, panel: { url: panel.url, token, ca: null } } });
    };
    await Promise.all([
      reporting(EAST, { tools: toolsConfig({ crm: { url: crm.url } }) }),
      // West's third upstream call fails (503, not retried): a row with status error.
      reporting(WEST, {
        gateway: {
          ...DEFAULTS.gateway,
          retry: { ...DEFAULTS.gateway.retry, attempts: 1 },
          providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [{ fromCall: 3, count: 1, status: 503 }] } },
        },
      }),
    ]);
  }, 60_000);

  afterAll(async () => {
    await prom?.stop();
    await Promise.all(Object.values(rts).map((t) => t.stop()));
    await panel?.close();
    await server?.destroy();
    await crm?.close();
    dir.cleanup();
  });

  it("PromQL per runtime equals each runtime's SQLite ledger and the panel's rows; budget gauges equal GET /api/budgets; both runtimes online", { timeout: 30_000 }, async () => {
    // The panel refuses a scrape without a token.
    expect((await fetch(`${panel.url}/metrics`)).status).toBe(401);

    // East: alpha asks for two e-mail addresses back and embeds; scout chats; alpha calls the CRM through the tool proxy.
    const east = rts[EAST]!;
    const [alpha, scout] = await Promise.all([agentToken(east, { name: 'alpha', budgetUsd: null }), agentToken(east, { name: 'scout', budgetUsd: null })]);
    const eastAi = (token: string) => new OpenAI({ baseURL: `${east.rt.url}/v1`, apiKey: token, maxRetries: 0 });
    const mail = await eastAi(alpha.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: mail ceo@acme.com or jane.doe@example.com' }] });
    expect(mail.choices[0]!.message.content).toBe('mail [EMAIL_REDACTED] or [EMAIL_REDACTED]');
    await eastAi(alpha.token).embeddings.create({ model: 'text-embedding-3-small', input: ['first lead', 'second lead'] });
    await eastAi(scout.token).chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'One line about the company.' }] });
    expect((await fetch(`${east.rt.url}/tools/crm/contacts/42`, { headers: { authorization: `Bearer ${alpha.token}` } })).status).toBe(200);

    // West: beta has a card number read back by Claude, streams from gpt-4o, and its third call meets the upstream's 503.
    const west = rts[WEST]!;
    const beta = await agentToken(west, { name: 'beta', budgetUsd: null });
    const claude = await new Anthropic({ baseURL: west.rt.url, apiKey: beta.token, maxRetries: 0 }).messages.create({
      model: 'claude-3-5-haiku-latest',
      max_tokens: 200,
      messages: [{ role: 'user', content: 'Repeat exactly: card 4111 1111 1111 1111 on file' }],
    });
    expect(claude.content[0]).toMatchObject({ type: 'text', text: 'card [CREDIT_CARD_REDACTED] on file' });
    const westAi = new OpenAI({ baseURL: `${west.rt.url}/v1`, apiKey: beta.token, maxRetries: 0 });
    let streamed = '';
    for await (const c of await westAi.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'Two lines on the lead.' }] }))
      streamed += c.choices[0]?.delta?.content ?? '';
    expect(streamed.length).toBeGreaterThan(0);
    const failed = await westAi.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }).catch((e: unknown) => e);
    expect((failed as InstanceType<typeof OpenAI.APIError>).status).toBe(503);

    // Each runtime's ledger, once its PII audit (written after the answers, group commit) is on disk.
    await until(() => ledger<{ n: number }>('SELECT COUNT(*) AS n FROM pii_audit').every((r) => r.n === (r.runtime === EAST ? 2 : 1)));
    const rows: Row[] = ledger<Omit<Row, 'runtime'>>(
      "SELECT a.name AS agent, r.model, r.status, r.prompt_tokens AS input, r.completion_tokens AS output, r.cost_micros AS micros FROM llm_requests r JOIN agents a ON a.id = r.agent_id WHERE r.status != 'pending'",
    );
    expect(rows.map((r) => `${r.runtime} ${r.agent} ${r.model} ${r.status}`).sort()).toEqual([
      'rt-east alpha gpt-4o-mini ok',
      'rt-east alpha text-embedding-3-small ok',
      'rt-east scout gpt-4o-mini ok',
      'rt-west beta claude-3-5-haiku-latest ok',
      'rt-west beta gpt-4o ok',
      'rt-west beta gpt-4o-mini error',
    ]);
    const pii = ledger<{ type: string; action: string; n: number }>('SELECT type, action, COUNT(*) AS n FROM pii_audit GROUP BY type, action');
    const tools = ledger<{ service: string; tier: string; n: number }>('SELECT service, tier, COUNT(*) AS n FROM tool_calls GROUP BY service, tier');
    const perRuntime = (f: (r: Row) => number) => Object.fromEntries(Object.keys(rts).map((rt) => [rt, rows.filter((r) => r.runtime === rt).reduce((a, r) => a + f(r), 0)]));

    // The reporters send in the background: wait until Prometheus, with its token, has scraped what each ledger holds.
    await prom.waitFor('up{job="panel"}', (s) => s[0]?.value === 1);
    await prom.waitFor(`sum by (runtime) (${METRIC.calls}{})`, (s) => sameAs(byLabels(s, 'runtime'), countBy(rows.map((r) => r.runtime))));
    await prom.waitFor(`sum by (runtime) (${METRIC.piiDetections}{})`, (s) =>
      sameAs(
        byLabels(s, 'runtime'),
        sumBy(pii, (p) => p.runtime),
      ),
    );
    await prom.waitFor(`sum by (runtime) (${METRIC.toolCalls}{})`, (s) =>
      sameAs(
        byLabels(s, 'runtime'),
        sumBy(tools, (t) => t.runtime),
      ),
    );

    // Calls by runtime, agent, model and status.
    expect(byLabels(await q(`sum by (runtime, agent, model, status) (${METRIC.calls}{})`), 'runtime', 'agent', 'model', 'status')).toEqual(
      countBy(rows.map((r) => `${r.runtime},${r.agent},${r.model},${r.status}`)),
    );
    // Tokens by type, per runtime.
    const tokens = byLabels(await q(`sum by (runtime, gen_ai_token_type) (${METRIC.tokenUsage}_sum{})`), 'runtime', 'gen_ai_token_type');
    const input = perRuntime((r) => r.input);
    const output = perRuntime((r) => r.output);
    expect(tokens).toEqual({ 'rt-east,input': input[EAST], 'rt-east,output': output[EAST], 'rt-west,input': input[WEST], 'rt-west,output': output[WEST] });
    expect(Math.min(...Object.values(tokens))).toBeGreaterThan(0);
    // Spend: each series is its rows' micro-dollars in USD; each runtime's total is its ledger's to the micro-dollar.
    const spendOf = new Map<string, number>();
    for (const r of rows) spendOf.set(`${r.runtime},${r.agent},${r.model}`, (spendOf.get(`${r.runtime},${r.agent},${r.model}`) ?? 0) + r.micros);
    expect(byLabels(await q(`${METRIC.spend}{}`), 'runtime', 'agent', 'model')).toEqual(Object.fromEntries([...spendOf].filter(([, m]) => m > 0).map(([k, m]) => [k, m / 1_000_000])));
    const micros = perRuntime((r) => r.micros);
    const spend = byLabels(await q(`sum by (runtime) (${METRIC.spend}{})`), 'runtime');
    expect(Object.fromEntries(Object.entries(spend).map(([rt, usd]) => [rt, Math.round(usd * 1_000_000)]))).toEqual(micros);
    // PII by type and action, as each runtime's audit trail has them.
    expect(byLabels(await q(`sum by (runtime, type, action) (${METRIC.piiDetections}{})`), 'runtime', 'type', 'action')).toEqual(
      Object.fromEntries(pii.map((p) => [`${p.runtime},${p.type},${p.action}`, p.n])),
    );
    expect(pii.map((p) => `${p.runtime} ${p.type} ${p.action} ${p.n}`).sort()).toEqual(['rt-east EMAIL redacted 2', 'rt-west CREDIT_CARD redacted 1']);
    // Tool calls and their durations.
    expect(byLabels(await q(`sum by (runtime, service, tier) (${METRIC.toolCalls}{})`), 'runtime', 'service', 'tier')).toEqual(
      Object.fromEntries(tools.map((t) => [`${t.runtime},${t.service},${t.tier}`, t.n])),
    );
    expect(byLabels(await q(`sum by (runtime, gen_ai_tool_name) (${METRIC.toolDuration}_count{})`), 'runtime', 'gen_ai_tool_name')).toEqual({ 'rt-east,crm': 1 });
    // The upstream's failure is an error_type of its runtime's operation duration; the stream its time to first chunk.
    expect(byLabels(await q(`sum by (runtime, error_type) (${METRIC.operationDuration}_count{})`), 'runtime', 'error_type')).toEqual({ 'rt-east,': 3, 'rt-west,': 2, 'rt-west,503': 1 });
    expect(byLabels(await q(`sum by (runtime, gen_ai_request_model) (${METRIC.timeToFirstChunk}_count{})`), 'runtime', 'gen_ai_request_model')).toEqual({ 'rt-west,gpt-4o': 1 });

    // The panel's PostgreSQL holds the same rows: counts, tokens and spend per runtime.
    const stored = await server.rows<{ runtime_id: string; n: number; input: string; output: string; micros: string }>(
      'SELECT runtime_id, count(*)::int AS n, sum(prompt_tokens)::text AS input, sum(completion_tokens)::text AS output, sum(cost_micros)::text AS micros FROM llm_requests GROUP BY runtime_id ORDER BY runtime_id',
    );
    const calls = countBy(rows.map((r) => r.runtime));
    expect(stored.map((s) => ({ runtime: s.runtime_id, n: s.n, input: Number(s.input), output: Number(s.output), micros: Number(s.micros) }))).toEqual(
      [EAST, WEST].map((rt) => ({ runtime: rt, n: calls[rt], input: input[rt], output: output[rt], micros: micros[rt] })),
    );

    // Both runtimes online, nothing left to send.
    expect(byLabels(await q(`${METRIC.runtimeOnline}{}`), 'runtime')).toEqual({ [EAST]: 1, [WEST]: 1 });
    await prom.waitFor(`${METRIC.runtimeBehind}{job="panel"}`, (s) => sameAs(byLabels(s, 'runtime'), { [EAST]: 0, [WEST]: 0 }));

    // Budget gauges equal GET /api/budgets. Leases move (renewals, give-backs), so the two are read until a scrape
    // and the route agree; then the figures themselves are the ledgers': spent is every tagged row, each lease's
    // spend its runtime's rows.
    const gauges = async () => {
      const one = async (metric: string, where: string) => byLabels(await q(`${metric}{${where}}`), 'budget', 'runtime');
      const central = `scope="central",job="panel"`;
      const [limit, spent, reserved, waiting, granted, leaseSpent, held] = await Promise.all([
        one(METRIC.budgetLimit, central),
        one(METRIC.budgetSpent, central),
        one(METRIC.budgetReserved, central),
        one(METRIC.budgetWaiting, central),
        one(METRIC.leaseGranted, 'job="panel"'),
        one(METRIC.leaseSpent, 'job="panel"'),
        one(METRIC.leaseHeld, 'job="panel"'),
      ]);
      return { limit, spent, reserved, waiting, granted, leaseSpent, held };
    };
    const fromApi = async () => {
      const { budgets } = (await (await panel.api('/api/budgets', { token: panel.admin })).json()) as BudgetsResponse;
      const per = (f: (b: (typeof budgets)[number]) => number) => Object.fromEntries(budgets.map((b) => [`${b.id},`, f(b)]));
      const lease = (f: (l: (typeof budgets)[number]['leases'][number]) => number) => Object.fromEntries(budgets.flatMap((b) => b.leases.map((l) => [`${b.id},${l.runtime}`, f(l) / 1e6])));
      return {
        limit: per((b) => b.limitMicros / 1e6),
        spent: per((b) => b.spentMicros / 1e6),
        reserved: per((b) => b.leasedMicros / 1e6),
        waiting: per((b) => b.waiting),
        granted: lease((l) => l.grantedMicros),
        leaseSpent: lease((l) => l.spentMicros),
        held: lease((l) => l.heldMicros),
      };
    };
    let last: unknown;
    const agreed = await until(
      async () => {
        const [api, scraped] = await Promise.all([fromApi(), gauges()]);
        last = { api, scraped };
        return JSON.stringify(api) === JSON.stringify(scraped) ? scraped : null;
      },
      15_000,
      250,
    ).catch(() => expect.fail(`the budget gauges never agreed with GET /api/budgets: ${JSON.stringify(last)}`));
    expect(agreed.limit).toEqual({ [`${BUDGET},`]: 5 });
    expect(Math.round(agreed.spent[`${BUDGET},`]! * 1e6)).toBe(micros[EAST]! + micros[WEST]!);
    expect(Object.keys(agreed.granted).sort()).toEqual([`${BUDGET},${EAST}`, `${BUDGET},${WEST}`]);
    for (const rt of [EAST, WEST]) {
      expect(Math.round(agreed.leaseSpent[`${BUDGET},${rt}`]! * 1e6)).toBe(micros[rt]);
      expect(agreed.granted[`${BUDGET},${rt}`]).toBeGreaterThan(0);
    }
  });

  it('every Grafana query the panel can answer has data from it, the fleet row among them', { timeout: 20_000 }, async () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    const panelMetrics = await panelFamilies();
    const queries = dashboardQueries(dash);
    // The rest (gateway overhead, refusals, breakers, spans) is a runtime's own: scrape a runtime for those.
    const answerable = queries.filter((x) => metricSelectors(x.expr).every((s) => metricOf(s.name, panelMetrics) !== null));
    const fleet = queries.filter((x) => x.row === FLEET_ROW);
    expect(fleet.length).toBeGreaterThanOrEqual(4);
    expect(answerable).toEqual(expect.arrayContaining(fleet));
    expect(answerable.length).toBeGreaterThan(fleet.length + 10);
    const empty: string[] = [];
    for (const { title, expr } of answerable) await prom.waitFor(asGrafanaSends(expr), (s) => s.length > 0, 10_000).catch(() => empty.push(`${title}: ${expr}`));
    expect(empty).toEqual([]);
    // The fleet row says what the runtimes did: two online of two, a lease each, the budget's limit.
    const value = async (title: string, ref = 0) => (await prom.query(asGrafanaSends(fleet.filter((x) => x.title === title)[ref]!.expr))) as Sample[];
    expect((await value('Runtimes online', 0))[0]!.value).toBe(2);
    expect((await value('Runtimes online', 1))[0]!.value).toBe(2);
    expect(byLabels(await value('Central budgets: spent vs limit', 0), 'budget')).toEqual({ [BUDGET]: 5 });
    expect(Object.keys(byLabels(await value('Central budget leases by runtime', 0), 'budget', 'runtime')).sort()).toEqual([`${BUDGET},${EAST}`, `${BUDGET},${WEST}`]);
  });
});

/** Σ of `n` per key. */
function sumBy<T extends { n: number }>(items: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of items) out[key(x)] = (out[key(x)] ?? 0) + x.n;
  return out;
}

/** The same keys with the same values. */
function sameAs(a: Record<string, number>, b: Record<string, number>): boolean {
  const keys = Object.keys(b);
  return Object.keys(a).length === keys.length && keys.every((k) => a[k] === b[k]);
}
