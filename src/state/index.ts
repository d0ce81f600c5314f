// The state of both processes. What both share sits here: the one schema (schema.ts, the source
// of the PostgreSQL tables too), the telemetry contract between a runtime and its panel, and
// what a database error says, and the stores both keep (tokens, users, the vault), each written
// once over either database (dialect.ts). The runtime's SQLite state (./iron_state.db) is runtime/; the
// control panel's PostgreSQL state (`iron-cage panel`) is panel/. Neither imports the other
// (test/unit/architecture.test.ts).
export { MCP_PROVIDER, MCP_TOOLS_CALL, type EventRow, type LlmRequestRow, type ToolCallRow } from './schema.js';
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
export type { Answer, Dialect, EventSpec, Mode } from './dialect.js';
export { TokensStore, linkRefusal, type ApiTokenRow, type LinkRefusal, type NewApiTokenRow } from './tokens.store.js';
export { UsersStore, type UserRow, type UserRole, type UserView } from './users.store.js';
export {
  SecretsStore,
  SECRET_OPERATIONS,
  type SecretOperation,
  type SecretAuditInput,
  type SealedColumns,
  type SecretRow,
  type SecretAuditRow,
  type VaultMetaRow,
  type AuditQuery,
} from './secrets.store.js';

// The runtime's state: SQLite, one file, the one write path.
export type { ApprovalRow, ConversationItemRow, ConversationRow, ResponseItemRow, ResponseRow } from './runtime/schema-runtime.js';
export { StateManager } from './runtime/manager.js';
export { schemaVersion } from './runtime/migrate.js';
export type { AgentView, AgentPatch, NewAgent, Checkpoint, AgentKind, LiveBudgets, LiveHeld, PauseCause, PausedRecord, PausedView, SandboxView } from './runtime/types.js';
export { RequestsStore, type ChainSpend, type LedgerBucket, type LedgerGroup, type LlmRequestEnd, type LlmRequestInput, type StepSpend } from './runtime/requests.store.js';
export type { Tx, Written } from './runtime/writer.js';
export { onSqlite } from './runtime/dialect.js';
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
} from './runtime/timeline.store.js';
export { ApprovalsStore, type ApprovalInput, type ApprovalQuery } from './runtime/approvals.store.js';
export { ToolsStore, TOOL_CALLS_KEPT, type CacheWrite, type CachedResponse, type ToolCallInput, type ToolCallQuery } from './runtime/tools.store.js';
export { McpStore, type McpToolTotals } from './runtime/mcp.store.js';
export { BreakerStore, type SavedBreaker, type StoredBreaker } from './runtime/breakers.store.js';
export { PiiStore, type PiiAuditInput, type PiiAuditRow } from './runtime/pii.store.js';
export { makeFolders, prepareStateFile, privateDir, sqliteFiles, writePrivateFile, PRIVATE_DIR, PRIVATE_FILE, type PermissionWarning } from './runtime/files.js';
export { ResponsesStore, type StoredResponseInput } from './runtime/responses.store.js';
export { ConversationsStore, type ConversationAppend, type NewConversationItem } from './runtime/conversations.store.js';
export { ReportStore, breakerVersion, type BreakerRow, type ReportRows } from './runtime/report.store.js';

// The control panel's state: PostgreSQL, shared by its replicas.
export { onPostgres } from './panel/dialect.js';
export { checkDatabaseUrl, describeDatabase, endClient, openPostgres, pgSchema, schemaCurrent, type PanelDb, type Postgres } from './panel/pg.js';
export type { BudgetRow, RuntimeRow } from './panel/schema-panel.js';
export { RuntimesStore, type RuntimeView } from './panel/runtimes.store.js';
export { LoginFailuresStore, ReplicasStore, type ReplicaRow } from './panel/replicas.store.js';
export { PanelAlertsStore, type PanelAlertKind, type PanelAlertRow } from './panel/alerts.store.js';
export { FleetApprovalsStore, FLEET_APPROVALS_MAX, type FleetApproval, type PanelDecision, type RuntimeDecision } from './panel/fleet-approvals.store.js';
export { ingestBatch, type Ingested, type LandedEvent } from './panel/ingest.store.js';
export type { BudgetSpendDelta } from './panel/coverage.store.js';
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
} from './panel/budgets.store.js';
export { LeasesStore, type LeaseAnswer, type LeaseCall, type LeaseGrant, type LeaseOptions, type LeaseOutcome, type Reclaim, type TakeBack, type FloorNotice } from './panel/leases.store.js';
export {
  FleetStore,
  FLEET_AGENTS_MAX,
  FLEET_EVENTS_MAX,
  ONLINE_WITHIN_MS,
  type FleetAgent,
  type FleetAgentDetail,
  type FleetBreaker,
  type FleetCall,
  fleetEvent,
  type FleetEvent,
  type FleetOverview,
  type FleetRuntime,
  type FleetToolCall,
} from './panel/fleet.store.js';
export { SpendStore, SPEND_BY, SPEND_WINDOWS, type FleetSpend, type FleetSpendRow, type SpendBy, type SpendDelta, type SpendWindow } from './panel/spend.store.js';
