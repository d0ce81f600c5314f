export { StateManager } from './manager.js';
export { schemaVersion } from './migrate.js';
export type { AgentView, AgentPatch, NewAgent, Checkpoint, AgentKind, LiveBudgets, LiveHeld, PauseCause, PausedRecord, PausedView, SandboxView } from './types.js';
export { RequestsStore, type ChainSpend, type LedgerBucket, type LedgerGroup, type LlmRequestEnd, type LlmRequestInput, type StepSpend } from './requests.store.js';
export type { EventSpec, Tx, Written } from './writer.js';
export { type LlmRequestRow, MCP_PROVIDER, MCP_TOOLS_CALL } from './schema.js';
export { TokensStore, linkRefusal, type ApiTokenRow, type LinkRefusal, type NewApiTokenRow } from './tokens.store.js';
export { PgTokensStore } from './pg-tokens.store.js';
export { PgUsersStore } from './pg-users.store.js';
export { checkDatabaseUrl, describeDatabase, openPostgres, pgSchema, schemaCurrent, type PanelDb, type Postgres } from './pg.js';
export {
  BUDGET_ID,
  MAX_BUDGET_KEYS,
  MAX_BUDGETS,
  budgetKeys,
  type BudgetKey,
  RUNTIME_ID,
  TELEMETRY_MAX_BYTES,
  TELEMETRY_MAX_ROWS,
  telemetryBatch,
  withoutNul,
  type TelemetryAck,
  type TelemetryBatch,
  type TelemetryBatchInput,
  type TelemetryCursor,
  type TelemetryHello,
} from './telemetry.js';
export type { BudgetRow, RuntimeRow } from './schema-panel.js';
export {
  TimelineStore,
  SOURCE_RANK,
  TIMELINE_BUCKETS_MAX,
  TIMELINE_MARKS_MAX,
  type MarkRow,
  type OverviewBucket,
  type TimelineApprovalRow,
  type TimelinePos,
  type TimelineRows,
  type TimelineSource,
} from './timeline.store.js';
export type { EventRow } from './schema.js';
export { ApprovalsStore, type ApprovalInput, type ApprovalQuery, type ApprovalStatus } from './approvals.store.js';
export { ToolsStore, TOOL_CALLS_KEPT, type CacheWrite, type CachedResponse, type ToolCallInput, type ToolCallQuery } from './tools.store.js';
export { McpStore, type McpToolTotals } from './mcp.store.js';
export { BreakerStore, type SavedBreaker, type StoredBreaker } from './breakers.store.js';
export type { ApprovalRow, ToolCallRow } from './schema.js';
export { PiiStore, type PiiAuditInput, type PiiAuditRow } from './pii.store.js';
export {
  SecretsStore,
  SECRET_OPERATIONS,
  type SecretOperation,
  type SecretAuditInput,
  type SealedColumns,
  type SecretRow,
  type SecretAuditRow,
  type VaultMetaRow,
  type VaultStore,
  type AuditQuery,
} from './secrets.store.js';
export { PgSecretsStore } from './pg-secrets.store.js';
export { UsersStore, type UserRow, type UserRole, type UserView } from './users.store.js';
export { prepareStateFile, privateDir, sqliteFiles, writePrivateFile, PRIVATE_DIR, PRIVATE_FILE, type PermissionWarning } from './files.js';
export { ResponsesStore, type StoredResponseInput } from './responses.store.js';
export type { ResponseRow, ResponseItemRow } from './schema.js';
export { ConversationsStore, type ConversationAppend, type NewConversationItem } from './conversations.store.js';
export type { ConversationRow, ConversationItemRow } from './schema.js';
export { RuntimesStore, type RuntimeView } from './runtimes.store.js';
export { LoginFailuresStore, ReplicasStore, type ReplicaRow } from './replicas.store.js';
export { PanelAlertsStore, type PanelAlertKind, type PanelAlertRow } from './panel-alerts.store.js';
export { FleetApprovalsStore, FLEET_APPROVALS_MAX, type FleetApproval, type FleetApprovalStatus, type PanelDecision, type RuntimeDecision } from './fleet-approvals.store.js';
export { ingestBatch, type BudgetSpendDelta, type Ingested, type LandedEvent, type SpendDelta } from './ingest.store.js';
export {
  BudgetsStore,
  BUDGET_PERIODS,
  BUDGET_SCOPES,
  MAX_BUDGET_NAMES,
  budgetState,
  checkBudget,
  coverage,
  windowStart,
  type BudgetCrossing,
  type BudgetInput,
  type BudgetPatch,
  type BudgetPeriod,
  type BudgetScope,
  type BudgetState,
  type BudgetView,
  type LeaseView,
} from './budgets.store.js';
export { LeasesStore, CONTENDED_RENEW_MS, LEASE_DEFAULTS, type LeaseAnswer, type LeaseAsk, type LeaseGrant, type LeaseOptions, type Reclaim } from './leases.store.js';
export { ReportStore, breakerVersion, type BreakerRow, type ReportRows } from './report.store.js';
export {
  FleetStore,
  FLEET_AGENTS_MAX,
  FLEET_EVENTS_MAX,
  ONLINE_WITHIN_MS,
  SPEND_BY,
  SPEND_WINDOWS,
  type FleetAgent,
  type FleetAgentDetail,
  type FleetBreaker,
  type FleetCall,
  fleetEvent,
  type FleetEvent,
  type FleetOverview,
  type FleetRuntime,
  type FleetSpend,
  type FleetSpendRow,
  type FleetToolCall,
  type SpendBy,
  type SpendWindow,
} from './fleet.store.js';
