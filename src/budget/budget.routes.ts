import type { Hono } from 'hono';
import { z } from 'zod';
import { assertRole, canRead } from '../core/roles.js';
import {
  costOf,
  formatAvgPerUnit,
  formatBaselineSavings,
  formatBudgetUsage,
  formatProjection,
  formatProjectionStatus,
  type PriceBook,
  projectSpend,
  spendSeries,
  summarizeCosts,
} from '../domain/budget/index.js';
import { NotFoundError } from '../core/errors.js';
import { microsToUsd } from '../core/money.js';
import { usdAmount } from '../core/validation.js';
import { parseJsonBody, parseWith, type AppEnv } from '../server/index.js';
import type { AgentView, LedgerGroup, RequestsStore, StateManager } from '../state/index.js';
import type { Budgets } from './budgets.js';

const budgetBody = z.strictObject({
  limitUsd: usdAmount.nullable(),
  /**
   * The limit the caller decided from (null: no limit). Optional for older clients; the
   * dashboard and the demo always send it, so a stale approval is refused, not applied twice.
   */
  expectedLimitUsd: usdAmount.nullable().optional(),
});

export interface BudgetRoutesDeps {
  state: StateManager;
  requests: RequestsStore;
  budgets: Budgets;
  book: PriceBook;
  /** Config `baseline_model`: what the spend would have cost on it. */
  baselineModel: string | null;
}

const usd = (m: number | null) => (m === null ? null : microsToUsd(m));

/** GET /api/agents/:id/costs: the agent's cost report (what the dashboard's cost panel shows). */
export type CostReport = ReturnType<typeof costReport>;

function costReport(d: BudgetRoutesDeps, agent: AgentView) {
  const id = agent.id;
  const groups = d.requests.groupsFor(id);
  const summary = summarizeGroups(groups, d.baselineModel ? { model: d.baselineModel, book: d.book } : null);
  const snap = d.budgets.tracker.snapshot(id);
  const spent = snap?.spentMicros ?? summary.costMicros;
  const limit = snap ? snap.limitMicros : (d.state.agentBrief(id)?.limitMicros ?? null);
  const projection = projectSpend(spent, limit, agent.progress);
  return {
    agentId: id,
    spentUsd: usd(spent),
    limitUsd: usd(limit),
    reservedUsd: usd(snap?.reservedMicros ?? 0),
    waitingCalls: snap?.waitingCalls ?? 0,
    percentUsed: snap?.percentUsed ?? null,
    requests: summary.requests,
    promptTokens: summary.promptTokens,
    completionTokens: summary.completionTokens,
    avgPerUnitUsd: usd(projection.avgPerUnitMicros),
    projectionUsd: usd(projection.projectedMicros),
    projectionStatus: projection.status,
    byModel: summary.byModel.map((m) => ({
      model: m.model,
      provider: m.provider,
      requests: m.requests,
      promptTokens: m.promptTokens,
      completionTokens: m.completionTokens,
      costUsd: microsToUsd(m.costMicros),
      share: m.share,
    })),
    byStatus: summary.byStatus,
    overTime: summary.buckets.map((b) => ({ start: b.start, requests: b.requests, costUsd: microsToUsd(b.costMicros) })),
    series: spendSeries(groups.filter((g) => g.lastChargedMs !== null).map((g) => ({ ts: g.lastChargedMs!, costMicros: g.costMicros }))).map(([ms, micros]): [number, number] => [
      ms,
      microsToUsd(micros),
    ]),
    baseline: summary.baseline ? { model: summary.baseline.model, costUsd: microsToUsd(summary.baseline.costMicros), savedUsd: microsToUsd(summary.baseline.savedMicros) } : null,
    display: {
      usage: formatBudgetUsage(spent, limit),
      avgPerUnit: projection.avgPerUnitMicros !== null && projection.unit ? formatAvgPerUnit(projection.avgPerUnitMicros, projection.unit) : null,
      projection: projection.projectedMicros !== null ? formatProjection(projection.projectedMicros) : null,
      status: formatProjectionStatus(projection.status),
      baseline: summary.baseline ? formatBaselineSavings(summary.baseline.savedMicros) : null,
    },
  };
}

/**
 * summarizeCosts over the ledger's rollup (RequestsStore.groupsFor: per minute, provider, model and
 * status) instead of its rows, so the report costs the minutes an agent ran, not its calls. The
 * baseline prices each group as that many calls of its mean size (one call's rounding apart from
 * pricing each call).
 */
function summarizeGroups(groups: LedgerGroup[], baseline: { model: string; book: PriceBook } | null) {
  const one = (g: LedgerGroup) => ({ ...g, ts: g.minute });
  const summary = summarizeCosts(groups.map(one));
  const count = (key: (g: LedgerGroup) => string) => {
    const n = new Map<string, number>();
    for (const g of groups) n.set(key(g), (n.get(key(g)) ?? 0) + g.requests);
    return n;
  };
  // summarizeCosts counts a group as one call: put each group's count back.
  const requests = groups.reduce((a, g) => a + g.requests, 0);
  const byModel = count((g) => `${g.provider}\u0000${g.model}`);
  const byMinute = count((g) => new Date(g.minute).toISOString());
  const byStatus = Object.fromEntries(count((g) => g.status));
  const schedule = baseline ? baseline.book.lookup(baseline.model).schedule : null;
  const baselineMicros = schedule
    ? groups.reduce((a, g) => a + g.requests * costOf(schedule, { inputTokens: Math.round(g.promptTokens / g.requests), outputTokens: Math.round(g.completionTokens / g.requests) }), 0)
    : 0;
  return {
    ...summary,
    requests,
    byModel: summary.byModel.map((m) => ({ ...m, requests: byModel.get(`${m.provider}\u0000${m.model}`) ?? 0 })),
    byStatus,
    buckets: summary.buckets.map((b) => ({ ...b, requests: byMinute.get(b.start) ?? 0 })),
    baseline: baseline && schedule ? { model: baseline.model, costMicros: baselineMicros, savedMicros: baselineMicros - summary.costMicros } : null,
  };
}

/** An agent's budget (raise or lower it live, admin) and its cost report. */
export function budgetRoutes(d: BudgetRoutesDeps) {
  return (app: Hono<AppEnv>) => {
    app.post('/api/agents/:id/budget', async (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin');
      const id = c.req.param('id');
      const agent = d.state.agentBrief(id);
      if (!agent) throw new NotFoundError(`no agent ${id}`);
      const body = parseWith(budgetBody, parseJsonBody(await c.req.text()));
      d.budgets.ensure(id, agent.limitMicros);
      d.budgets.setLimit(id, body.limitUsd, `${p.role} ${p.name}`, body.expectedLimitUsd);
      return c.json(d.state.getAgent(id));
    });

    app.get('/api/agents/:id/costs', (c) => {
      const id = c.req.param('id');
      const agent = d.state.getAgent(id) ?? d.state.loadAgent(id);
      if (!agent || !canRead(c.get('principal'), id)) throw new NotFoundError(`no agent ${id}`);
      return c.json(costReport(d, agent));
    });
  };
}
