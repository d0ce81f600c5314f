export { StateManager } from './manager.js';
export { SCHEMA_VERSION } from './migrations.js';
export type { AgentView, AgentPatch, NewAgent, Checkpoint, AgentKind, LiveBudgets } from './types.js';
export { LlmStore, type LlmRequestInput } from './llm-store.js';
export type { LlmRequestRow, ApiTokenRow } from './schema.js';
export { ToolsStore, TOOL_CALLS_KEPT, type CacheWrite, type CachedResponse, type StoredBreaker, type ToolCallInput, type ToolCallQuery, type SavedBreaker } from './tools-store.js';
export type { ToolCallRow } from './schema.js';
export { PiiStore, type PiiAuditInput, type PiiAuditRow } from './pii-store.js';
export { SecretsStore, SECRET_OPERATIONS, type SecretOperation, type SecretAuditInput, type SealedColumns, type SecretRow, type SecretAuditRow, type VaultMetaRow } from './secrets-store.js';
