// GET /metrics as an operator uses it: a real Prometheus (Debian's) scrapes a runtime every second
// through a metrics token, and after a run of known calls PromQL through Prometheus's HTTP API
// says exactly what the SQLite ledger holds: tokens, spend, calls, PII findings, refusals,
// budgets, tool calls.
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METRICS_DEFAULTS } from '../../src/config/observability.js';
import { METRIC } from '../../src/observability/index.js';
import { sqliteOf } from '../helpers/db.js';
import { readFileSync } from 'node:fs';
import { asGrafanaSends, DASHBOARD, dashboardQueries, FLEET_ROW } from '../helpers/grafana.js';
import { FakeService } from '../helpers/http.js';
import { byLabels, countBy, prometheusAbsent, startPrometheus, type TestPrometheus } from '../helpers/prometheus.js';
import { agentToken, startTestRuntime, type TestRuntime, until } from '../helpers/runtime.js';
import { toolsConfig } from '../tools/helpers.js';

// The control panel's fleet-wide /metrics through the same kind of Prometheus, two runtimes reporting
// to it: prometheus-panel.test.ts.

describe.skipIf(prometheusAbsent())('a real Prometheus scraping a runtime', () => {
  let t: TestRuntime;
  let prom: TestPrometheus;
  let crm: FakeService;
  let metricsToken: string;
  let viewerToken: string;

  beforeAll(async () => {
    crm = await FakeService.start();
    t = await startTestRuntime({
      config: { metrics: { ...METRICS_DEFAULTS, auth: 'token' }, tools: toolsConfig({ crm: { url: crm.url } }) },
    });
    metricsToken = await t.rt.tokens.issue({ role: 'metrics', name: 'prometheus' });
    viewerToken = await t.rt.tokens.issue({ role: 'viewer', name: 'someone' });
    // The same runtime twice: once as Prometheus should scrape it, once with a token that may not.
    prom = await startPrometheus([
      { job: 'runtime', url: t.rt.url, token: metricsToken },
      { job: 'as-viewer', url: t.rt.url, token: viewerToken },
    ]);
  });
  afterAll(async () => {
    await prom?.stop();
    await t?.stop();
    await crm?.close();
  });

  it('with metrics.auth token, only a metrics token scrapes: none is 401, a viewer 403, also for Prometheus', async () => {
    const get = (token?: string) => fetch(`${t.rt.url}/metrics`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
    expect((await get()).status).toBe(401);
    expect((await get(viewerToken)).status).toBe(403);
    const ok = await get(metricsToken);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);

    await prom.waitFor('up', (s) => s.length === 2);
    expect(byLabels(await prom.query('up'), 'job')).toEqual({ runtime: 1, 'as-viewer': 0 });
    const targets = (await (await fetch(`${prom.url}/api/v1/targets`)).json()) as { data: { activeTargets: Array<{ labels: { job: string }; lastError: string }> } };
    const viewer = targets.data.activeTargets.find((a) => a.labels.job === 'as-viewer')!;
    expect(viewer.lastError).toMatch(/403/);
  });

  it('after a run of known calls, PromQL returns exactly what the ledger holds', async () => {
    const alpha = await agentToken(t, { name: 'alpha', budgetUsd: 5 });
    const beta = await agentToken(t, { name: 'beta', budgetUsd: 0.001 });
    const openai = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: alpha.token, maxRetries: 0 });
    const anthropic = new Anthropic({ baseURL: t.rt.url, apiKey: alpha.token, maxRetries: 0 });

    // Two e-mail addresses in a whole answer, a card number in a streamed one (redacted both ways).
    const whole = await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Repeat exactly: mail ceo@acme.com or jane.doe@example.com' }] });
    expect(whole.choices[0]!.message.content).toBe('mail [EMAIL_REDACTED] or [EMAIL_REDACTED]');
    const stream = await openai.chat.completions.create({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'Repeat exactly: card 4111 1111 1111 1111 on file' }] });
    let streamed = '';
    for await (const c of stream) streamed += c.choices[0]?.delta?.content ?? '';
    expect(streamed).toBe('card [CREDIT_CARD_REDACTED] on file');
    await anthropic.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 200, messages: [{ role: 'user', content: 'Summarise the account in two lines.' }] });
    await openai.embeddings.create({ model: 'text-embedding-3-small', input: ['first lead', 'second lead'] });
    await openai.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'One more line about the company.' }] });
    const tool = await fetch(`${t.rt.url}/tools/crm/contacts/42`, { headers: { authorization: `Bearer ${alpha.token}` } });
    expect(tool.status).toBe(200);
    // beta's $0.001 cannot hold gpt-4o's 100k output tokens: refused before it is sent.
    const refused = await new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: beta.token, maxRetries: 0 }).chat.completions
      .create({ model: 'gpt-4o', max_tokens: 100_000, messages: [{ role: 'user', content: 'x' }] })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect((refused as InstanceType<typeof OpenAI.APIError>).status).toBe(402);

    // The PII audit and its event are written after the answers (group commit): wait for them.
    const db = sqliteOf(t.rt.state);
    await until(() => (db.prepare('SELECT COUNT(*) AS n FROM pii_audit').get() as { n: number }).n === 3);
    // Then a scrape that began after everything is on disk.
    const settled = Date.now() / 1000;
    await prom.waitFor('timestamp(up{job="runtime"})', (s) => (s[0]?.value ?? 0) > settled);

    const q = (promql: string) => prom.query(promql.replaceAll('{}', '{job="runtime"}'));
    const rows = db.prepare('SELECT model, status, stream, prompt_tokens AS input, completion_tokens AS output, cost_micros AS micros FROM llm_requests').all() as Array<{
      model: string;
      status: string;
      stream: number;
      input: number;
      output: number;
      micros: number;
    }>;
    expect(rows.map((r) => `${r.model} ${r.status}`).sort()).toEqual(['claude-3-5-haiku-latest ok', 'gpt-4o ok', 'gpt-4o-mini ok', 'gpt-4o-mini ok', 'text-embedding-3-small ok']);
    const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0);

    // Tokens, by the conventions' gen_ai.token.type.
    expect(byLabels(await q(`sum by (gen_ai_token_type) (${METRIC.tokenUsage}_sum{})`), 'gen_ai_token_type')).toEqual({ input: sum((r) => r.input), output: sum((r) => r.output) });
    expect(sum((r) => r.input)).toBeGreaterThan(0);
    // Calls: one histogram observation per token type per row with tokens; one counter per row.
    expect(byLabels(await q(`sum by (gen_ai_request_model) (${METRIC.tokenUsage}_count{gen_ai_token_type="input"})`), 'gen_ai_request_model')).toEqual(
      countBy(rows.filter((r) => r.input + r.output > 0).map((r) => r.model)),
    );
    expect(byLabels(await q(`sum by (model, status) (${METRIC.calls}{})`), 'model', 'status')).toEqual(countBy(rows.map((r) => `${r.model},${r.status}`)));

    // Spend: each series is its rows' micro-dollars in USD, and the total is the ledger's to the micro-dollar.
    const spend = await q(`${METRIC.spend}{}`);
    const micros = new Map<string, number>();
    for (const r of rows) micros.set(r.model, (micros.get(r.model) ?? 0) + r.micros);
    expect(byLabels(spend, 'agent', 'model')).toEqual(Object.fromEntries([...micros].filter(([, m]) => m > 0).map(([model, m]) => [`alpha,${model}`, m / 1_000_000])));
    const [total] = await q(`sum(${METRIC.spend}{})`);
    expect(Math.round(total!.value * 1_000_000)).toBe(sum((r) => r.micros));

    // Operation duration counts every call, the refusal with its error.type; first chunk only the stream.
    expect(byLabels(await q(`sum by (gen_ai_operation_name, error_type) (${METRIC.operationDuration}_count{})`), 'gen_ai_operation_name', 'error_type')).toEqual({
      'chat,': rows.filter((r) => !r.model.includes('embedding')).length,
      'embeddings,': 1,
      'chat,budget_exhausted': 1,
    });
    expect(byLabels(await q(`sum by (gen_ai_request_model) (${METRIC.timeToFirstChunk}_count{})`), 'gen_ai_request_model')).toEqual(countBy(rows.filter((r) => r.stream).map((r) => r.model)));

    // PII findings by type and action, as the audit trail has them.
    const audit = db.prepare('SELECT type, action, COUNT(*) AS n FROM pii_audit GROUP BY type, action').all() as Array<{ type: string; action: string; n: number }>;
    expect(Object.fromEntries(audit.map((a) => [`${a.type},${a.action}`, a.n]))).toEqual({ 'EMAIL,redacted': 2, 'CREDIT_CARD,redacted': 1 });
    expect(byLabels(await q(`sum by (type, action) (${METRIC.piiDetections}{})`), 'type', 'action')).toEqual(Object.fromEntries(audit.map((a) => [`${a.type},${a.action}`, a.n])));

    // Refusals by reason: the budget.refused events in the log.
    const budgetRefused = (db.prepare("SELECT COUNT(*) AS n FROM events WHERE type = 'budget.refused'").get() as { n: number }).n;
    expect(budgetRefused).toBe(1);
    expect(byLabels(await q(`sum by (reason, kind) (${METRIC.refusals}{})`), 'reason', 'kind')).toEqual({ 'budget_exhausted,llm': budgetRefused });

    // Budgets: the gauges read at scrape time equal the agent's cost report.
    for (const a of [alpha, beta]) {
      const costs = (await (await t.api(`/api/agents/${a.agentId}/costs`)).json()) as { limitUsd: number; spentUsd: number; reservedUsd: number; waitingCalls: number };
      const name = a === alpha ? 'alpha' : 'beta';
      const gauge = async (metric: string) => (await prom.query(`${metric}{job="runtime",scope="agent",budget="${name}"}`))[0]?.value;
      expect({
        limit: await gauge(METRIC.budgetLimit),
        spent: await gauge(METRIC.budgetSpent),
        reserved: await gauge(METRIC.budgetReserved),
        waiting: await gauge(METRIC.budgetWaiting),
      }).toEqual({ limit: costs.limitUsd, spent: costs.spentUsd, reserved: costs.reservedUsd, waiting: costs.waitingCalls });
    }

    // Tool calls: one per tool_calls row, by service and tier.
    const tools = db.prepare('SELECT service, tier, COUNT(*) AS n FROM tool_calls GROUP BY service, tier').all() as Array<{ service: string; tier: string; n: number }>;
    expect(tools).toEqual([{ service: 'crm', tier: 'live', n: 1 }]);
    expect(byLabels(await q(`sum by (service, tier) (${METRIC.toolCalls}{})`), 'service', 'tier')).toEqual({ 'crm,live': 1 });
    expect(byLabels(await q(`sum by (gen_ai_tool_name) (${METRIC.toolDuration}_count{})`), 'gen_ai_tool_name')).toEqual({ crm: 1 });
  });

  it('every query of the Grafana dashboard is PromQL Prometheus runs, and after the run each panel has data', async () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));
    // After the run above. Traces are off in this runtime, so the span counters are not served; the breakers were
    // never refused a call; the fleet row is a control panel's (prometheus-panel.test.ts). Every other panel shows this run.
    const noData = new Set(['Trace spans dropped', 'Calls blocked by open breakers']);
    const queries = dashboardQueries(dash);
    // Each is valid PromQL (a bad one is an error answer, which query throws on).
    for (const { expr } of queries) await prom.query(asGrafanaSends(expr));
    // rate() and increase() need two scrapes of a series: the run's series are seconds old.
    const empty: string[] = [];
    for (const { title, expr } of queries.filter((x) => !noData.has(x.title) && x.row !== FLEET_ROW))
      await prom.waitFor(asGrafanaSends(expr), (s) => s.length > 0, 10_000).catch(() => empty.push(`${title}: ${expr}`));
    expect(empty).toEqual([]);
  });
});
