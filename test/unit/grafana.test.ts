// The Grafana dashboard users import (grafana/iron-cage.json) reads only metrics iron-cage serves:
// a runtime's (src/observability/metrics.ts) and, in its fleet row, a control panel's
// (src/panel/metrics.ts). Renaming a metric or a label in either without the dashboard fails
// here. test/integration/prometheus.test.ts and prometheus-panel.test.ts run the same queries
// through a real Prometheus against each.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ExportGuard, METRIC, observedCall, RuntimeMetrics, type MetricSources } from '../../src/observability/index.js';
import { dashboardQueries, DASHBOARD, type Family, familiesOf, FLEET_ROW, matcherLabels, metricOf, metricSelectors, panelFamilies } from '../helpers/grafana.js';

/**
 * Every metric the runtime registers, with its type and labels (spans too, as with traces on).
 * The request path's series (series.ts) declare no label names, so one streamed call and its row
 * are fed through first and the labels read from what is exposed.
 */
async function served(): Promise<Map<string, Family>> {
  const sources: MetricSources = {
    budgets: { agents: () => [], snapshot: () => undefined, centralIds: () => [], central: () => undefined } as unknown as MetricSources['budgets'],
    agentName: () => 'alpha',
    breakers: () => [],
    spans: () => ({ exported: 0, dropped: {} }),
  };
  const m = new RuntimeMetrics(sources, { maxAgents: 10, guard: new ExportGuard(() => false) });
  const call = observedCall({ agentId: 'a1', agentName: 'alpha', endpoint: 'chat', headers: {}, t0: performance.now() });
  Object.assign(call, { requestModel: 'gpt-4o-mini', provider: 'openai', model: 'gpt-4o-mini', stream: true, firstChunkMs: 5 });
  call.attempts.push({ provider: 'openai', model: 'gpt-4o-mini', startMs: Date.now(), durationMs: 1, status: 200, error: null });
  m.llmCall(call, null);
  const row = { agentId: 'a1', endpoint: 'chat', provider: 'openai', model: 'gpt-4o-mini', stream: true, status: 'ok', httpStatus: 200, promptTokens: 10, completionTokens: 5, costMicros: 7 };
  m.settled(call, row as unknown as Parameters<RuntimeMetrics['settled']>[1]);
  return familiesOf(m.registry);
}

/** A central budget of the panel spans runtimes: its series carry no `runtime`, so the runtime filter would only hide them. */
const isCentral = (matchers: string) => /\bscope="central"/.test(matchers);

/**
 * What is wrong with one query of the dashboard, as sentences (none: it is right). Every
 * selector names a metric the runtime or the panel registers and carries the runtime filter (a
 * central budget's, `scope="central"`, must not); the whole query holds on one source: each metric
 * it reads is that source's and each label it groups by or matches on is one of theirs, a
 * histogram's `le`, or what the scrape adds. A direct runtime scrape fills every panel but the
 * fleet row's; the fleet row reads the panel.
 */
function problems(q: { row: string; title: string; expr: string }, sources: Record<'runtime' | 'panel', Map<string, Family>>): string[] {
  const out: string[] = [];
  const selectors = metricSelectors(q.expr);
  if (selectors.length === 0) return [`${q.title}: no selector in ${q.expr}`];
  for (const s of selectors) {
    if (!Object.values(sources).some((m) => metricOf(s.name, m) !== null)) out.push(`${q.title}: ${s.name} is no metric the runtime or the panel registers (src/observability/names.ts METRIC)`);
    else if (isCentral(s.matchers)) {
      if (s.matchers.includes('runtime=')) out.push(`${q.title}: ${s.name}{scope="central"} belongs to no runtime: no runtime filter`);
    } else if (!s.matchers.includes('runtime=~"$runtime"')) out.push(`${q.title}: ${s.name} is not filtered by the runtime variable`);
  }
  if (out.length > 0) return out;
  const labels = [...[...q.expr.matchAll(/\bby \(([^)]*)\)/g)].flatMap((by) => by[1]!.split(',').map((x) => x.trim())), ...selectors.flatMap((s) => matcherLabels(s.matchers))];
  const holds = (metrics: Map<string, Family>) => {
    const used = selectors.map((s) => metricOf(s.name, metrics));
    if (used.some((m) => m === null)) return false;
    const known = new Set(['le', 'runtime', 'instance', 'job', ...used.flatMap((m) => metrics.get(m!)!.labels)]);
    return labels.every((l) => known.has(l));
  };
  const on = (Object.keys(sources) as Array<keyof typeof sources>).filter((k) => holds(sources[k]));
  if (on.length === 0) return [`${q.title}: ${q.expr} reads a label none of its metrics has (labels: ${[...new Set(labels)].join(', ')})`];
  if (q.row === FLEET_ROW && !on.includes('panel')) return [`${q.title}: the fleet row reads the panel's metrics`];
  if (q.row !== FLEET_ROW && !on.includes('runtime')) return [`${q.title}: outside the fleet row, a runtime scraped directly serves it`];
  return [];
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

  it('queries only metrics the runtime or the panel serves, by the labels they have, each filtered by $runtime', async () => {
    const sources = { runtime: await served(), panel: await panelFamilies() };
    const names = new Set<string>(Object.values(METRIC));
    for (const [source, metrics] of Object.entries(sources)) for (const n of metrics.keys()) expect(names.has(n), `${n} is registered by the ${source} but not in METRIC`).toBe(true);
    const queries = dashboardQueries(dash);
    expect(queries.length).toBeGreaterThan(15);
    expect(queries.filter((q) => q.row === FLEET_ROW).length).toBeGreaterThanOrEqual(4);
    expect(queries.flatMap((q) => problems(q, sources))).toEqual([]);
    const runtimeVar = dash.templating.list.find((v: any) => v.name === 'runtime');
    const varMetric = /label_values\((\w+),/.exec(runtimeVar.query.query)![1]!;
    expect(metricOf(varMetric, sources.runtime)).not.toBeNull();
    expect(sources.panel.get(varMetric)?.labels).toContain('runtime');
  });

  it('the check fails an unknown metric or label, a missing runtime filter, a fleet figure outside the fleet row', async () => {
    const sources = { runtime: await served(), panel: await panelFamilies() };
    const check = (expr: string, row = 'Spend and budgets') => problems({ row, title: 't', expr }, sources);
    expect(check('sum(iron_cage_spend_usd_total{runtime=~"$runtime"})')).toEqual([]);
    expect(check('sum(iron_cage_spend_usd{runtime=~"$runtime"})')).toEqual(['t: iron_cage_spend_usd is no metric the runtime or the panel registers (src/observability/names.ts METRIC)']);
    expect(check('sum by (agent, colour) (iron_cage_spend_usd_total{runtime=~"$runtime"})')[0]).toMatch(/reads a label none of its metrics has/);
    expect(check('sum(iron_cage_spend_usd_total{runtime=~"$runtime", tenant="x"})')[0]).toMatch(/reads a label none of its metrics has/);
    // A label of another metric of the same source does not make it one of this metric's.
    expect(check('sum by (budget) (iron_cage_spend_usd_total{runtime=~"$runtime"})')[0]).toMatch(/reads a label none of its metrics has/);
    expect(check('sum(iron_cage_spend_usd_total{})')).toEqual(['t: iron_cage_spend_usd_total is not filtered by the runtime variable']);
    expect(check('max(iron_cage_budget_spent_usd{scope="central", runtime=~"$runtime"})', FLEET_ROW)).toEqual([
      't: iron_cage_budget_spent_usd{scope="central"} belongs to no runtime: no runtime filter',
    ]);
    // The panel's own metrics: fine in the fleet row, not outside it (a runtime scraped directly would show nothing).
    expect(check('max by (budget, runtime) (iron_cage_budget_lease_granted_usd{runtime=~"$runtime"})', FLEET_ROW)).toEqual([]);
    expect(check('max by (budget, runtime) (iron_cage_budget_lease_granted_usd{runtime=~"$runtime"})')).toEqual(['t: outside the fleet row, a runtime scraped directly serves it']);
    // …nor a runtime-only metric in the fleet row.
    expect(check('sum(iron_cage_refusals_total{runtime=~"$runtime"})', FLEET_ROW)).toEqual(["t: the fleet row reads the panel's metrics"]);
    // Labels the panel's metrics have and the runtime's do not hold on the panel alone.
    expect(check('sum by (location) (iron_cage_pii_detections_total{runtime=~"$runtime"})', FLEET_ROW)).toEqual([]);
  });

  it('has the panels an operator looks for: spend, budgets, tokens, latency, overhead, PII, breakers, refusals, tools, spans, and the fleet', () => {
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
      METRIC.runtimeOnline,
      METRIC.runtimeBehind,
      METRIC.leaseGranted,
    ])
      expect(used.has(m), m).toBe(true);
    const budget = dash.panels.find((p: any) => p.title === 'Budget used %');
    expect(budget.fieldConfig.defaults.thresholds.steps).toContainEqual({ color: 'red', value: 90 });
    expect(budget.fieldConfig.defaults.custom.thresholdsStyle.mode).toMatch(/line/);
    // The fleet row: a central budget's spend against its limit, read from the panel's own series.
    const central = dashboardQueries(dash).filter((q) => q.row === FLEET_ROW && metricSelectors(q.expr).some((s) => isCentral(s.matchers)));
    expect(new Set(central.flatMap((q) => metricSelectors(q.expr).map((s) => s.name)))).toEqual(new Set([METRIC.budgetLimit, METRIC.budgetSpent, METRIC.budgetReserved]));
  });
});
