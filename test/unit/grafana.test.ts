// The Grafana dashboard users import (grafana/iron-cage.json) reads only metrics the runtime
// serves: renaming a metric in src/observability/names.ts without the dashboard fails here.
// test/integration/prometheus.test.ts runs the same queries through a real Prometheus.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { METRIC, observedCall, RuntimeMetrics, type MetricSources } from '../../src/observability/index.js';
import { dashboardQueries, DASHBOARD, metricSelectors } from '../helpers/grafana.js';

/**
 * Every metric the runtime registers, with its type and labels (spans too, as with traces on).
 * The request path's series (series.ts) declare no label names, so one streamed call and its row
 * are fed through first and the labels read from what is exposed.
 */
async function served(): Promise<Map<string, { type: string; labels: string[] }>> {
  const sources: MetricSources = {
    budgets: { agents: () => [], snapshot: () => undefined, centralIds: () => [], central: () => undefined } as unknown as MetricSources['budgets'],
    agentName: () => 'alpha',
    breakers: () => [],
    spans: () => ({ exported: 0, dropped: {} }),
  };
  const m = new RuntimeMetrics(sources, { maxAgents: 10 });
  const call = observedCall({ agentId: 'a1', agentName: 'alpha', endpoint: 'chat', headers: {}, t0: performance.now() });
  Object.assign(call, { requestModel: 'gpt-4o-mini', provider: 'openai', model: 'gpt-4o-mini', stream: true, firstChunkMs: 5 });
  call.attempts.push({ provider: 'openai', model: 'gpt-4o-mini', startMs: Date.now(), durationMs: 1, status: 200, error: null });
  m.llmCall(call, null);
  const row = { agentId: 'a1', endpoint: 'chat', provider: 'openai', model: 'gpt-4o-mini', stream: true, status: 'ok', httpStatus: 200, promptTokens: 10, completionTokens: 5, costMicros: 7 };
  m.settled(call, row as unknown as Parameters<RuntimeMetrics['settled']>[1]);
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const x of await m.registry.getMetricsAsJSON()) {
    const declared = ((m.registry.getSingleMetric(x.name) as unknown as { labelNames?: string[] }).labelNames ?? []) as string[];
    const seen = (x.values as Array<{ labels: Record<string, unknown> }>).flatMap((v) => Object.keys(v.labels));
    out.set(x.name, { type: String(x.type), labels: [...new Set([...declared, ...seen])] });
  }
  return out;
}

/** A series name as scraped (`…_bucket`, `…_sum`, `…_count` of a histogram) to its metric. */
function metricOf(series: string, metrics: Map<string, { type: string }>): string | null {
  if (metrics.has(series)) return metrics.get(series)!.type === 'histogram' ? null : series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  return m && metrics.get(m[1]!)?.type === 'histogram' ? m[1]! : null;
}

const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8'));

describe('the Grafana dashboard', () => {
  it('is an importable dashboard: a datasource variable every panel uses, a runtime variable, unique panel ids', () => {
    expect(dash).toMatchObject({ uid: 'iron-cage', title: 'Iron Cage', id: null });
    const vars = Object.fromEntries(dash.templating.list.map((v: any) => [v.name, v]));
    expect(vars.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    expect(vars.runtime).toMatchObject({ type: 'query', includeAll: true, allValue: '.*', datasource: { uid: '${datasource}' } });
    const panels = dash.panels.filter((p: any) => p.type !== 'row');
    expect(new Set(dash.panels.map((p: any) => p.id)).size).toBe(dash.panels.length);
    for (const p of panels) {
      expect(p.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
      expect(p.targets.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets) expect(t.datasource, p.title).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
  });

  it('queries only metrics the runtime serves, by the labels they have, each filtered by $runtime', async () => {
    const metrics = await served();
    const names = new Set<string>(Object.values(METRIC));
    for (const n of metrics.keys()) expect(names.has(n), `${n} is registered but not in METRIC`).toBe(true);
    const queries = dashboardQueries(dash);
    expect(queries.length).toBeGreaterThan(15);
    for (const { title, expr } of queries) {
      const selectors = metricSelectors(expr);
      expect(selectors.length, `${title}: ${expr}`).toBeGreaterThan(0);
      const used = new Set<string>();
      for (const s of selectors) {
        const metric = metricOf(s.name, metrics);
        expect(metric, `${title}: ${s.name} is no metric in src/observability/names.ts METRIC`).not.toBeNull();
        used.add(metric!);
        expect(s.matchers, `${title}: ${s.name} is not filtered by the runtime variable`).toContain('runtime=~"$runtime"');
      }
      // Grouping labels are the metrics' own, a histogram's `le`, or what the scrape adds.
      const known = new Set(['le', 'runtime', 'instance', 'job', ...[...used].flatMap((m) => metrics.get(m)!.labels)]);
      for (const by of expr.matchAll(/\bby \(([^)]*)\)/g))
        for (const l of by[1]!.split(',').map((x) => x.trim())) expect(known.has(l), `${title}: no label ${l} on ${[...used].join(', ')}`).toBe(true);
    }
    const runtimeVar = dash.templating.list.find((v: any) => v.name === 'runtime');
    expect(metricOf(/label_values\((\w+),/.exec(runtimeVar.query.query)![1]!, metrics)).not.toBeNull();
  });

  it('has the panels an operator looks for: spend, budgets, tokens, latency, overhead, PII, breakers, refusals, tools, spans', () => {
    const used = new Set(dashboardQueries(dash).flatMap((q) => metricSelectors(q.expr).map((s) => s.name.replace(/_(bucket|sum|count)$/, ''))));
    for (const m of [
      METRIC.spend,
      METRIC.budgetSpent,
      METRIC.budgetLimit,
      METRIC.tokenUsage,
      METRIC.operationDuration,
      METRIC.timeToFirstChunk,
      METRIC.overhead,
      METRIC.piiDetections,
      METRIC.breakerState,
      METRIC.refusals,
      METRIC.toolDuration,
      METRIC.spansDropped,
    ])
      expect(used.has(m), m).toBe(true);
    const budget = dash.panels.find((p: any) => p.title === 'Budget used %');
    expect(budget.fieldConfig.defaults.thresholds.steps).toContainEqual({ color: 'red', value: 90 });
    expect(budget.fieldConfig.defaults.custom.thresholdsStyle.mode).toMatch(/line/);
  });
});
