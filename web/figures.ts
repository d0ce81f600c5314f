// The budget figures the page shows (spend, limit, average per unit, projection,
// runway), derived in one place from the store, with the server's own pure functions
// (src/domain/budget): the agent's status object moves with every event (feed.ts), so a new limit
// or a progress report changes the projection, the runway and the average in the same render as
// the header. The reports fetched from REST (cost report, runway) only lend what the events do not
// carry: the spend rate of the last minutes and the worst next call.
import { microsToUsd, usdToMicros } from '../src/core/money.js';
import { formatAvgPerUnit, formatProjectionStatus, type ProjectionStatus } from '../src/domain/budget/format.js';
import { projectSpend } from '../src/domain/budget/projection.js';
import { formatRunway, runway } from '../src/domain/budget/runway.js';
import { LIVE_STATUSES } from './status.js';
import type { Agent, CostReport, RunwayView } from './types.js';

export interface BudgetFigures {
  spentUsd: number;
  limitUsd: number | null;
  /** Share of the limit spent, in percent; null without a limit. */
  usedPercent: number | null;
  /** `$0.56 avg/lead`; null before a unit is done. */
  avgPerUnit: string | null;
  avgPerUnitUsd: number | null;
  /** The run's total at the average so far; null without a total announced. */
  projectionUsd: number | null;
  status: ProjectionStatus;
  statusText: string;
}

/** Spend, limit and where the run is heading, from the agent's status (or the cost report before it has one). */
export function budgetFigures(agent: Agent, report?: Pick<CostReport, 'spentUsd' | 'limitUsd'> | null): BudgetFigures {
  const spentUsd = agent.budget?.spentUsd ?? report?.spentUsd ?? 0;
  const limitUsd = agent.budget ? agent.budget.limitUsd : (report?.limitUsd ?? null);
  const p = projectSpend(usdToMicros(spentUsd), limitUsd === null ? null : usdToMicros(limitUsd), agent.progress);
  return {
    spentUsd,
    limitUsd,
    usedPercent: limitUsd ? (spentUsd / limitUsd) * 100 : null,
    avgPerUnit: p.avgPerUnitMicros !== null && p.unit ? formatAvgPerUnit(p.avgPerUnitMicros, p.unit) : null,
    avgPerUnitUsd: p.avgPerUnitMicros === null ? null : microsToUsd(p.avgPerUnitMicros),
    projectionUsd: p.projectedMicros === null ? null : microsToUsd(p.projectedMicros),
    status: p.status,
    statusText: formatProjectionStatus(p.status),
  };
}

/** Whether an agent's runway changes with time alone: it is live and spent in its window, which moves on. */
export function runwayMoves(agent: Pick<Agent, 'status'>, view: Pick<RunwayView, 'rateUsdPerMin'> | null): boolean {
  return view !== null && view.rateUsdPerMin > 0 && LIVE_STATUSES.has(agent.status);
}

/**
 * The runway against the agent's limit and spend as they are now: the rate and the worst next call
 * from the last runway report, the rest from the status object (a new limit is counted at once).
 * null without a limit or before a report.
 */
export function runwayNow(agent: Agent, view: RunwayView | null | undefined): (RunwayView & { short: boolean }) | null {
  const limitUsd = agent.budget?.limitUsd ?? null;
  if (!view || limitUsd === null || !agent.budget) return null;
  const r = runway({
    limitMicros: usdToMicros(limitUsd),
    spentMicros: usdToMicros(agent.budget.spentUsd),
    windowMicros: usdToMicros(view.rateUsdPerMin),
    windowMs: 60_000,
    progress: agent.progress,
    lastReservedMicros: view.nextCallWorstUsd === null ? null : usdToMicros(view.nextCallWorstUsd),
  });
  const short = r.covers !== true && view.alertMs !== null && r.runwayMs !== null && r.runwayMs < view.alertMs;
  return {
    ...view,
    remainingUsd: microsToUsd(r.remainingMicros),
    runwayMs: r.runwayMs,
    unitsLeft: r.unitsLeft,
    unit: r.unit,
    unitsToGo: r.unitsToGo,
    covers: r.covers,
    text: formatRunway(r),
    short,
  };
}
