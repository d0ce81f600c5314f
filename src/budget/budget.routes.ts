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
  reportBucketMs,
  spendSeries,
  summarizeGroups,
} from '../domain/budget/index.js';
import { NotFoundError } from '../core/errors.js';
import { microsToUsd } from '../core/money.js';
import { usdAmount } from '../core/validation.js';
import { parseJsonBody, parseWith, type AppEnv } from '../server/index.js';
import type { AgentView, LedgerBucket, RequestsStore, StateManager } from '../state/index.js';
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

/**
 * Up to this many calls, the spend series has a point per charged call, read from the ledger's
 * newest rows (along its (agent_id, id) index, this many at most); past it, a point per bucket.
 */
export const SERIES_PER_CALL_MAX = 1_000;

/** GET /api/agents/:id/costs: the agent's cost report (what the dashboard's cost panel shows). */
export type CostReport = ReturnType<typeof costReport>;

function costReport(d: BudgetRoutesDeps, agent: AgentView) {
  const id = agent.id;
  // Buckets as wide as the run's span needs for at most REPORT_MAX_BUCKETS, summed in SQL: the
  // report builds a few hundred rows however many minutes the agent has run.
  const span = d.requests.spanOf(id);
  const bucketMs = span ? reportBucketMs(span.first, span.last) : 60_000;
  const buckets = d.requests.bucketsFor(id, bucketMs);
  // The totals, by model and status, and the baseline from the rollup's groups: a few, not the agent's calls.
  const summary = summarizeGroups(d.requests.groupsFor(id), d.baselineModel ? { model: d.baselineModel, book: d.book } : undefined);
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
    /** The width of overTime's buckets, and of the series' steps, in minutes. */
    bucketMinutes: bucketMs / 60_000,
    overTime: buckets.map((b) => ({ start: new Date(b.start).toISOString(), requests: b.requests, costUsd: microsToUsd(b.costMicros) })),
    series: spendSeries(seriesSource(d.requests, id, summary.requests, buckets)).map(([ms, micros]): [number, number] => [ms, microsToUsd(micros)]),
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
 * What the spend series is drawn from: each charged call while the agent has made at most
 * SERIES_PER_CALL_MAX (all of them, one bounded read), else each bucket with a charge, at its
 * last charged call. Either way the running total ends at the whole spend.
 */
function seriesSource(requests: RequestsStore, agentId: string, settled: number, buckets: LedgerBucket[]): Array<{ ts: string | number; costMicros: number }> {
  if (settled <= SERIES_PER_CALL_MAX) {
    const calls = requests.recentCalls(agentId, SERIES_PER_CALL_MAX + 1);
    // More rows than that (calls still pending beside them): the buckets, which hold every settled one.
    if (calls.length <= SERIES_PER_CALL_MAX) return calls.reverse();
  }
  return buckets.filter((b) => b.lastChargedMs !== null).map((b) => ({ ts: b.lastChargedMs!, costMicros: b.costMicros }));
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
