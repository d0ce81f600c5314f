import type { Hono } from 'hono';
import { z } from 'zod';
import { assertRole, canRead } from '../core/roles.js';
import {
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
import type { AgentView, RequestsStore, StateManager } from '../state/index.js';
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
  const records = d.requests.requestsFor(id);
  const summary = summarizeCosts(records, d.baselineModel ? { baseline: { model: d.baselineModel, book: d.book } } : {});
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
    series: spendSeries(d.requests.chargesFor(id)).map(([ms, micros]): [number, number] => [ms, microsToUsd(micros)]),
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
