import type { Hono } from 'hono';
import * as z from 'zod';
import { assertRole } from '../core/roles.js';
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
  stepLabel,
  stepOf,
  summarizeGroups,
} from '../domain/budget/index.js';
import { NotFoundError } from '../core/errors.js';
import { microsToUsd } from '../core/money.js';
import { usdAmount, queryInt } from '../core/validation.js';
import { readJsonBody, parseWith, readableAgent, type AppEnv } from '../server/index.js';
import type { AgentView, LedgerBucket, RequestsStore, StateManager } from '../state/index.js';
import type { Budgets } from './budgets.js';
import type { Runways, RunwayView } from './runway.js';

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
  runways: Pick<Runways, 'view'>;
}

const stepsQuery = z.strictObject({
  limit: queryInt(z.number().min(1, 'must be 1-100').max(100, 'must be 1-100')).optional(),
});

/** GET /api/agents/:id/budget: the agent's budget now, and its runway at the current rate (null without a limit). */
export interface AgentBudget {
  agentId: string;
  limitUsd: number | null;
  spentUsd: number;
  reservedUsd: number;
  remainingUsd: number | null;
  percentUsed: number | null;
  state: string;
  waitingCalls: number;
  runway: RunwayView | null;
  display: { usage: string; runway: string | null };
}

function agentBudget(d: BudgetRoutesDeps, id: string): AgentBudget {
  const snap = d.budgets.tracker.snapshot(id);
  const limit = snap ? snap.limitMicros : (d.state.agentBrief(id)?.limitMicros ?? null);
  const spent = snap?.spentMicros ?? 0;
  const runway = d.runways.view(id, snap ? snap : limit === null ? null : { limitMicros: limit, spentMicros: spent, firedThresholds: [] });
  return {
    agentId: id,
    limitUsd: usd(limit),
    spentUsd: microsToUsd(spent),
    reservedUsd: microsToUsd(snap?.reservedMicros ?? 0),
    remainingUsd: limit === null ? null : microsToUsd(Math.max(0, limit - spent)),
    percentUsed: snap?.percentUsed ?? null,
    state: snap?.state ?? (limit === null ? 'unlimited' : 'ok'),
    waitingCalls: snap?.waitingCalls ?? 0,
    runway,
    display: { usage: formatBudgetUsage(spent, limit), runway: runway?.text ?? null },
  };
}

/** GET /api/agents/:id/steps: the agent's spend per step of its work, per chain (tool) and per model, from the rollups. */
export interface StepsReport {
  /** The agent's unit of work (its progress reports name it): `leads`. */
  unit: string;
  /** Steps with at least one call. */
  steps: number;
  /** The dearest steps, dearest first. */
  top: Array<{ step: number; label: string; calls: number; promptTokens: number; completionTokens: number; costUsd: number; firstTs: string; lastTs: string }>;
  /** Per tool that led to the calls, dearest first; `chain: null`: calls no tool led to. */
  byChain: Array<{ chain: string | null; calls: number; costUsd: number }>;
  byModel: Array<{ model: string; calls: number; costUsd: number }>;
  /** What a unit cost on average: the agent's spend / the units it said are done (the projection's average); null before one is done. */
  avgStepUsd: number | null;
}

/**
 * The agent's steps as the rollup has them, with the calls made before its first progress report
 * counted in its first step: an agent that reports progress was working on its first unit then
 * (a call's step is its progress `done` + 1, and none had been said yet), so every unit that made
 * calls is counted, as the projection counts them.
 */
function stepsWithFirst(d: BudgetRoutesDeps, agent: AgentView, limit: number, ledger: { calls: number; promptTokens: number; completionTokens: number; costMicros: number }) {
  const id = agent.id;
  const totals = d.requests.stepTotals(id);
  const top = d.requests.topSteps(id, limit);
  const before = {
    calls: ledger.calls - totals.calls,
    promptTokens: ledger.promptTokens - totals.promptTokens,
    completionTokens: ledger.completionTokens - totals.completionTokens,
    costMicros: ledger.costMicros - totals.costMicros,
  };
  if (stepOf(agent.progress) === null || before.calls <= 0) return { steps: totals.steps, costMicros: totals.costMicros, top };
  const one = top.find((s) => s.step === 1) ?? d.requests.step(id, 1);
  // The minute of its first call (the rollup's edge, not the ledger): where the timeline shows them.
  const firstMs = d.requests.spanOf(id)?.first ?? one?.firstMs ?? 0;
  const merged = {
    step: 1,
    calls: (one?.calls ?? 0) + before.calls,
    promptTokens: (one?.promptTokens ?? 0) + before.promptTokens,
    completionTokens: (one?.completionTokens ?? 0) + before.completionTokens,
    costMicros: (one?.costMicros ?? 0) + before.costMicros,
    firstMs: Math.min(firstMs, one?.firstMs ?? firstMs),
    lastMs: Math.max(firstMs, one?.lastMs ?? firstMs),
  };
  // Step 1 only grew: the dearest `limit` are among the rollup's dearest and it.
  const all = [...top.filter((s) => s.step !== 1), merged].sort((a, b) => b.costMicros - a.costMicros || b.step - a.step).slice(0, limit);
  return { steps: totals.steps + (one ? 0 : 1), costMicros: totals.costMicros + before.costMicros, top: all };
}

function stepsReport(d: BudgetRoutesDeps, agent: AgentView, limit: number): StepsReport {
  const id = agent.id;
  const unit = agent.progress.unit;
  const groups = d.requests.groupsFor(id);
  const byModel = new Map<string, { calls: number; costMicros: number }>();
  const ledger = { calls: 0, promptTokens: 0, completionTokens: 0, costMicros: 0 };
  for (const g of groups) {
    const m = byModel.get(g.model) ?? { calls: 0, costMicros: 0 };
    m.calls += g.requests;
    m.costMicros += g.costMicros;
    byModel.set(g.model, m);
    ledger.calls += g.requests;
    ledger.promptTokens += g.promptTokens;
    ledger.completionTokens += g.completionTokens;
    ledger.costMicros += g.costMicros;
  }
  const steps = stepsWithFirst(d, agent, limit, ledger);
  const chains: Array<{ chain: string | null; calls: number; costMicros: number }> = d.requests.chainsFor(id);
  // The calls no tool led to: the ledger's total (llm_totals) less the chains'.
  const rest = { chain: null, calls: ledger.calls - chains.reduce((n, c) => n + c.calls, 0), costMicros: ledger.costMicros - chains.reduce((n, c) => n + c.costMicros, 0) };
  if (rest.calls > 0) chains.push(rest);
  const dearest = <T extends { costMicros: number; calls: number }>(a: T, b: T) => b.costMicros - a.costMicros || b.calls - a.calls;
  // The average per unit is the projection's (spend / units done), the figure the Cost panel shows.
  const avg = projectSpend(d.budgets.tracker.snapshot(id)?.spentMicros ?? ledger.costMicros, null, agent.progress).avgPerUnitMicros;
  return {
    unit,
    steps: steps.steps,
    top: steps.top.map((s) => ({
      step: s.step,
      label: stepLabel(unit, s.step),
      calls: s.calls,
      promptTokens: s.promptTokens,
      completionTokens: s.completionTokens,
      costUsd: microsToUsd(s.costMicros),
      firstTs: new Date(s.firstMs).toISOString(),
      lastTs: new Date(s.lastMs).toISOString(),
    })),
    byChain: chains.sort(dearest).map((c) => ({ chain: c.chain, calls: c.calls, costUsd: microsToUsd(c.costMicros) })),
    byModel: [...byModel]
      .map(([model, m]) => ({ model, ...m }))
      .sort(dearest)
      .map((m) => ({ model: m.model, calls: m.calls, costUsd: microsToUsd(m.costMicros) })),
    avgStepUsd: avg === null ? null : microsToUsd(avg),
  };
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
  // Buckets as wide as the run's span needs for at most REPORT_MAX_BUCKETS, each two key seeks
  // of the running totals: a few hundred reads however many minutes the agent has run.
  const span = d.requests.spanOf(id);
  const bucketMs = span ? reportBucketMs(span.first, span.last) : 60_000;
  const buckets = d.requests.bucketsFor(id, bucketMs, span);
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
    /** LLM calls the budget (the agent's own or a central one) refused: they are no ledger row, so no request above. */
    refused: d.state.eventCountOf(id, 'budget.refused'),
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
      baseline: summary.baseline ? formatBaselineSavings(summary.baseline.savedMicros, summary.baseline.model) : null,
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
      const body = parseWith(budgetBody, await readJsonBody(c.req));
      d.budgets.ensure(id, agent.limitMicros);
      d.budgets.setLimit(id, body.limitUsd, `${p.role} ${p.name}`, body.expectedLimitUsd);
      return c.json(d.state.getAgent(id));
    });

    app.get('/api/agents/:id/budget', (c) => {
      const id = c.req.param('id');
      readableAgent(d.state, c.get('principal'), id);
      return c.json(agentBudget(d, id));
    });

    app.get('/api/agents/:id/steps', (c) => {
      const agent = readableAgent(d.state, c.get('principal'), c.req.param('id'));
      const q = parseWith(stepsQuery, c.req.query());
      return c.json(stepsReport(d, agent, q.limit ?? 10));
    });

    app.get('/api/agents/:id/costs', (c) => {
      const agent = readableAgent(d.state, c.get('principal'), c.req.param('id'));
      return c.json(costReport(d, agent));
    });
  };
}
