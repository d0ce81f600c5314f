import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Registry } from 'prom-client';
import { createLogger } from '../../src/core/logger.js';
import { PanelMetrics } from '../../src/panel/index.js';
import { ROOT } from './runtime.js';

/** The dashboard users import (README, "Grafana-ready"). */
export const DASHBOARD = join(ROOT, 'grafana/iron-cage.json');

/** The dashboard's row of figures only a control panel serves (runtimes, central budgets, leases). */
export const FLEET_ROW = 'Fleet (control panel)';

/** Every PromQL query of the dashboard's panels, with its panel's title and the title of the row it sits under ('' above the first row). */
export function dashboardQueries(dash: { panels: Array<{ type?: string; title: string; targets?: Array<{ expr?: string }> }> }): Array<{ row: string; title: string; expr: string }> {
  let row = '';
  return dash.panels.flatMap((p) => {
    if (p.type === 'row') row = p.title;
    return (p.targets ?? []).filter((t) => t.expr).map((t) => ({ row, title: p.title, expr: t.expr! }));
  });
}

/**
 * The series selectors of a query (`name{matchers}`): the dashboard writes every one with braces
 * (each carries the runtime filter), so a bare name would be a defect the tests report.
 */
export function metricSelectors(expr: string): Array<{ name: string; matchers: string }> {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)].map((m) => ({ name: m[1]!, matchers: m[2]! }));
}

/** The label names a selector's matchers test (`runtime=~"$runtime", scope="central"` → runtime, scope). */
export function matcherLabels(matchers: string): string[] {
  return [...matchers.matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)\s*"/g)].map((m) => m[1]!);
}

/** A query as Grafana sends it with the runtime variable on All and the given range. */
export function asGrafanaSends(expr: string, range = '5m'): string {
  return expr.replaceAll('$runtime', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', range);
}

/** A metric as a registry serves it: its type and the label names its series may carry. */
export interface Family {
  type: string;
  labels: string[];
}

/**
 * Every metric a prom-client registry holds: its type, and its label names, the declared ones and
 * any seen on a series (the runtime's request path declares none, so feed it first).
 */
export async function familiesOf(registry: Registry): Promise<Map<string, Family>> {
  const out = new Map<string, Family>();
  for (const x of await registry.getMetricsAsJSON()) {
    const declared = ((registry.getSingleMetric(x.name) as unknown as { labelNames?: string[] }).labelNames ?? []) as string[];
    const seen = (x.values as Array<{ labels: Record<string, unknown> }>).flatMap((v) => Object.keys(v.labels));
    out.set(x.name, { type: String(x.type), labels: [...new Set([...declared, ...seen])] });
  }
  return out;
}

/** Every metric the control panel's /metrics registers (PanelMetrics declares each one's labels: no database is read). */
export function panelFamilies(): Promise<Map<string, Family>> {
  const quiet = new Writable({ write: (_c, _e, done) => done() });
  const m = new PanelMetrics(
    { budgets: async () => [], runtimes: async () => [] },
    { maxAgents: 10, maxSeriesPerRuntime: 2_000, maxSeries: 10_000, logger: createLogger({ format: 'json', level: 'info', stream: quiet }) },
  );
  return familiesOf(m.registry);
}

/** A series name as scraped (`…_bucket`, `…_sum`, `…_count` of a histogram) to its metric, or null when `families` has no such metric. */
export function metricOf(series: string, families: Map<string, { type: string }>): string | null {
  if (families.has(series)) return families.get(series)!.type === 'histogram' ? null : series;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  return m && families.get(m[1]!)?.type === 'histogram' ? m[1]! : null;
}
