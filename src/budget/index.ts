// Budgets as a feature (over the arithmetic of domain/budget): every agent's account rebuilt at
// start and changed live (Budgets), everything said about it (BudgetNotices: events, alerts,
// the exhausted policy), and the routes that set a limit and report costs. The gateway's money
// path (gateway/meter.ts) spends through it.
export { type BudgetDeps, type BudgetService, budgetService } from './budget.service.js';
export { Budgets } from './budgets.js';
export { type ChargeFor, FixedChargeRefused, FixedCharges } from './charges.js';
export { BudgetNotices, type BudgetNoticesDeps, CONGESTION_RETRY_S } from './notices.js';
export { type AgentBudget, type BudgetRoutesDeps, budgetRoutes, type CostReport, type StepsReport } from './budget.routes.js';
export { Runways, type RunwaysDeps, type RunwayView } from './runway.js';
export { type CallMark, StepMarks } from './steps.js';
