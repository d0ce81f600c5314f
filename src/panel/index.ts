// The control panel (`iron-cage panel`): what it serves over its PostgreSQL.
export { panelService, type PanelService, type PanelServiceDeps } from './panel.service.js';
export { createMetricsToken, panelLoginLink, type CreatedMetricsToken } from './panel-auth.js';
export { PanelMetrics, PANEL_LABEL_CAPS, type BatchOutcome, type PanelMetricSources } from './metrics.js';
export { addRuntime, RUNTIME_TOKEN_PREFIX, type AddedRuntime } from './runtimes.js';
export { Outage, isConnectionError, OUTAGE_RETRY_AFTER_S } from './outage.js';
export { TELEMETRY_PATHS } from './telemetry.routes.js';
export type { PanelFrame } from './feed.js';
export { fleetRoutes, type FleetAgentsResponse, type FleetEventsResponse, type FleetResponse } from './fleet.routes.js';
export type { FleetAgent, FleetAgentDetail, FleetOverview, FleetRuntime, FleetSpend, FleetSpendRow, SpendBy, SpendWindow } from './fleet.routes.js';
export { budgetRoutes, describe as describeBudget, LEASE_PATHS, type BudgetsResponse, type BudgetView, type LeaseAnswer, type LeaseGrant, type LeaseView } from './budgets.routes.js';
export { CentralBudgets } from './budgets.js';
export type { PanelBudgetChange, PanelBudgetFrame } from './feed.js';
export { approvalsRoutes, RUNTIME_APPROVALS_PATH, type FleetApprovalsResponse, type RuntimeApprovalsResponse } from './approvals.routes.js';
export type { PanelApprovalFrame } from './feed.js';
export type { FleetApproval, PanelDecision, RuntimeDecision } from '../state/index.js';
export { Replica, replicaId, ALIVE_MS, BEAT_MS } from './replica.js';
export { tellReplicas } from './bus.js';
