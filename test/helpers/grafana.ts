import { join } from 'node:path';
import { ROOT } from './runtime.js';

/** The dashboard users import (README, "Grafana-ready"). */
export const DASHBOARD = join(ROOT, 'grafana/iron-cage.json');

/** Every PromQL query of the dashboard's panels, with its panel's title. */
export function dashboardQueries(dash: { panels: Array<{ title: string; targets?: Array<{ expr?: string }> }> }): Array<{ title: string; expr: string }> {
  return dash.panels.flatMap((p) => (p.targets ?? []).filter((t) => t.expr).map((t) => ({ title: p.title, expr: t.expr! })));
}

/**
 * The series selectors of a query (`name{matchers}`): the dashboard writes every one with braces
 * (each carries the runtime filter), so a bare name would be a defect the tests report.
 */
export function metricSelectors(expr: string): Array<{ name: string; matchers: string }> {
  return [...expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^}]*)\}/g)].map((m) => ({ name: m[1]!, matchers: m[2]! }));
}

/** A query as Grafana sends it with the runtime variable on All and the given range. */
export function asGrafanaSends(expr: string, range = '5m'): string {
  return expr.replaceAll('$runtime', '.*').replaceAll('$__rate_interval', '1m').replaceAll('$__range', range);
}
