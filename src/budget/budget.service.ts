import { type AlertDispatcher, budgetAlertMessage, runwayAlertMessage } from '../alerts/index.js';
import { type BudgetTracker, PriceBook } from '../domain/budget/index.js';
import type { Platform, Service } from '../server/index.js';
import type { RequestsStore } from '../state/index.js';
import { budgetRoutes } from './budget.routes.js';
import { Budgets } from './budgets.js';
import { FixedCharges } from './charges.js';
import { BudgetNotices } from './notices.js';
import { Runways } from './runway.js';
import { StepMarks } from './steps.js';

/** What budgets need: the platform, every agent's account (status objects read the same tracker), the recorded requests, and the runtime's one alert dispatcher. */
export type BudgetDeps = Pick<Platform, 'config' | 'state' | 'logger' | 'url' | 'agents'> & { tracker: BudgetTracker; requests: RequestsStore; alerts: Pick<AlertDispatcher, 'send'> };

/** The budget feature as the runtime starts it, with what the gateway's money path uses of it. */
export interface BudgetService extends Service {
  budgets: Budgets;
  notices: BudgetNotices;
  /** Prices: the catalog with the config's overrides. */
  book: PriceBook;
  /** Where each LLM call belongs (step, chain): the gateway asks as a call starts, the tool proxy tells it of tool calls. */
  marks: StepMarks;
  runways: Runways;
  /** Charges of a known amount that are not LLM calls (an MCP tool call's cost), held and settled like one. */
  charges: FixedCharges;
}

/**
 * Budgets for the runtime: every account rebuilt from the recorded requests at start, the
 * prices, the alerts at each threshold (through the runtime's dispatcher), and the routes that
 * set a limit and report costs. The gateway's Meter spends through it.
 */
export function budgetService(ctx: BudgetDeps): BudgetService {
  const g = ctx.config.gateway;
  const book = new PriceBook({ overrides: g.pricing, ...(g.defaultPrice ? { defaultRates: g.defaultPrice } : {}) });
  const runways = new Runways({
    state: ctx.state,
    thresholds: ctx.tracker.thresholds,
    alertMs: Math.round(g.budgetPolicy.runwayAlertMinutes * 60_000),
    alert: (a) => ctx.alerts.send(runwayAlertMessage({ ...a, dashboardUrl: ctx.url() || null })),
    logger: ctx.logger,
  });
  const notices = new BudgetNotices({
    state: ctx.state,
    tracker: ctx.tracker,
    policy: g.budgetPolicy,
    alert: (a) => ctx.alerts.send(budgetAlertMessage({ ...a, dashboardUrl: ctx.url() || null })),
    stopAgent: (id, why) => void ctx.agents.stop(id, why),
    logger: ctx.logger,
    runways,
  });
  const budgets = new Budgets({ state: ctx.state, tracker: ctx.tracker, requests: ctx.requests, notices });
  budgets.restore();
  return {
    name: 'budget',
    budgets,
    notices,
    book,
    marks: new StepMarks(ctx.state),
    runways,
    charges: new FixedCharges({ state: ctx.state, tracker: ctx.tracker, requests: ctx.requests, notices, budgets, policy: g.budgetPolicy }),
    apiRoutes: [budgetRoutes({ state: ctx.state, requests: ctx.requests, budgets, book, baselineModel: g.baselineModel, runways })],
  };
}
