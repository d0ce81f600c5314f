import { sql } from 'drizzle-orm';
import { sqliteTable, text, integer, index, real, blob, uniqueIndex } from 'drizzle-orm/sqlite-core';
import type { EventType } from '../core/events.js';

// The tables both databases hold: a runtime's SQLite file, where they are written, and the
// control panel's PostgreSQL, where runtimes report them (agents, events, the ledger, tool calls,
// breakers: kept per runtime) or where the panel keeps its own (users, tokens, the vault). The one
// description of each: scripts/pg-schema.ts renders them into panel/schema-pg.ts by one type
// mapping, beside the panel's own tables (panel/schema-panel.ts); a runtime's own tables are
// runtime/schema-runtime.ts. drizzle-kit generates each database's migrations from its files
// (`npm run db:generate` after a change; runtime/migrate.ts says how they are applied);
// test/state/schema.test.ts and pg-schema.test.ts fail while a change has no migration.

/** Integer micro-dollars (money, never a float): bigint in PostgreSQL too, where integer tops out at $2,147. */
export const micros = (name: string) => integer(name);
/** Epoch milliseconds: bigint in PostgreSQL, where integer ran out in January 1970. */
export const epochMs = (name: string) => integer(name);

export const agents = sqliteTable('agents', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  kind: text('kind').notNull(), // 'supervised' | 'external'
  script: text('script'),
  args: text('args').notNull().default('[]'), // JSON array
  status: text('status').notNull(),
  pid: integer('pid'),
  supervisorPid: integer('supervisor_pid'),
  createdAt: text('created_at').notNull(),
  startedAt: text('started_at'),
  endedAt: text('ended_at'),
  exitCode: integer('exit_code'),
  exitSignal: text('exit_signal'),
  restarts: integer('restarts').notNull().default(0),
  progressDone: integer('progress_done').notNull().default(0),
  progressTotal: integer('progress_total'),
  progressUnit: text('progress_unit').notNull().default('items'),
  limitMicros: micros('limit_micros'),
  // The secrets environment of the run.
  environment: text('environment').notNull().default('development'),
  // Outcomes the agent reported; null until it reports any.
  progressSucceeded: integer('progress_succeeded'),
  progressFailed: integer('progress_failed'),
  // Paused (src/watch): JSON { since, by, reason, cause } while its calls wait at the gate; null when not paused.
  paused: text('paused'),
  // What the agent may touch (src/sandbox), JSON SandboxView as its last launch said; null: not known (an external agent, an older run).
  sandbox: text('sandbox'),
});

/**
 * A partial index's condition on the event type: `type = 'a' OR type = 'b' …`, never `type IN
 * ('a', 'b', …)`. SQLite tests the condition of each partial index at every insert, and an IN list
 * of more than two constants is a temporary b-tree it builds afresh each time the statement runs:
 * the two IN-list indexes of events cost ~8 µs of every event written (every LLM call writes one),
 * the comparisons under a microsecond (migration 0019).
 */
function typeIsOneOf(types: readonly string[]): string {
  return `(${types.map((t) => `type = '${t}'`).join(' OR ')})`;
}

/**
 * The event types looked up one agent at a time: only these are in the events_agent_type index
 * (migration 7). SQLite uses a partial index only for a query whose WHERE repeats the index's
 * own condition, so queries add LOOKUP_EVENT_TYPES_SQL as it is.
 */
export const LOOKUP_EVENT_TYPES = [
  'agent.started',
  'agent.exited',
  'agent.restarting',
  'pii.detected',
  'tool.refused',
  'policy.decision',
  'injection.detected',
] as const satisfies readonly EventType[];
export const LOOKUP_EVENT_TYPES_SQL = typeIsOneOf(LOOKUP_EVENT_TYPES);

/**
 * The events the timeline shows as marks (GET /api/agents/:id/timeline and its overview): the
 * run's notable moments, in the partial index events_timeline on (agent_id, ts). Progress
 * reports, far more numerous, have their own (events_progress), so the marks of a run are read
 * without passing over its progress. Queries repeat TIMELINE_EVENT_TYPES_SQL as it is (a partial
 * index is used only then); a change of this list changes the index: a migration.
 */
export const TIMELINE_EVENT_TYPES = [
  'pii.detected',
  'agent.started',
  'agent.exited',
  'agent.restarting',
  'agent.paused',
  'agent.resumed',
  'budget.threshold',
  'budget.exhausted',
  'budget.refused',
  'budget.runway',
  'budget.changed',
  'watch.loop',
  'watch.stall',
  'watch.spike',
  'breaker.transition',
  'tool.fallback',
  'injection.detected',
] as const satisfies readonly EventType[];
export const TIMELINE_EVENT_TYPES_SQL = typeIsOneOf(TIMELINE_EVENT_TYPES);
export const PROGRESS_EVENT_SQL = `type = 'agent.progress'`;

export const events = sqliteTable(
  'events',
  {
    // No AUTOINCREMENT (migration 0027): the log refuses DELETE, so the newest seq is never freed
    // and max(seq) + 1 never reuses one; sqlite_sequence would be a page more in every commit.
    seq: integer('seq').primaryKey(),
    ts: text('ts').notNull(),
    agentId: text('agent_id'),
    type: text('type').notNull(),
    severity: text('severity').notNull(),
    message: text('message').notNull(),
    data: text('data').notNull().default('{}'), // JSON object
  },
  (t) => [
    index('events_agent_seq').on(t.agentId, t.seq),
    index('events_agent_type').on(t.agentId, t.type, t.seq).where(sql.raw(LOOKUP_EVENT_TYPES_SQL)),
    // The timeline's pages and marks (timeline.store.ts): by time, only the types it shows.
    index('events_timeline').on(t.agentId, t.ts).where(sql.raw(TIMELINE_EVENT_TYPES_SQL)),
    index('events_progress').on(t.agentId, t.ts).where(sql.raw(PROGRESS_EVENT_SQL)),
  ],
);

export type AgentRow = typeof agents.$inferSelect;
export type EventRow = typeof events.$inferSelect;

/** The ledger's provider for an MCP server's charged call (src/mcp/session.ts): no LLM provider is named so. */
export const MCP_PROVIDER = 'mcp';

/** The `tool_calls` method of an MCP server's tools/call (src/mcp/record.ts): a tool service's calls have HTTP methods. */
export const MCP_TOOLS_CALL = 'tools/call';

export const llmRequests = sqliteTable(
  'llm_requests',
  {
    // No AUTOINCREMENT (migration 0027): the ledger refuses DELETE, so max(id) + 1 never reuses an id.
    id: integer('id').primaryKey(),
    ts: text('ts').notNull(),
    agentId: text('agent_id').notNull(),
    endpoint: text('endpoint').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    stream: integer('stream', { mode: 'boolean' }).notNull().default(false),
    status: text('status').notNull(), // ok | error | aborted | blocked | pending | interrupted
    httpStatus: integer('http_status'),
    promptTokens: integer('prompt_tokens').notNull().default(0),
    completionTokens: integer('completion_tokens').notNull().default(0),
    costMicros: micros('cost_micros').notNull().default(0),
    reservedMicros: micros('reserved_micros').notNull().default(0),
    usageSource: text('usage_source').notNull().default('provider'), // provider | estimate
    latencyMs: real('latency_ms'),
    firstByteMs: real('first_byte_ms'),
    redactions: integer('redactions').notNull().default(0),
    error: text('error'),
    /** Requests sent upstream for the call, our retries and fallbacks included; null on rows from before it was counted. */
    attempts: integer('attempts'),
    /**
     * The central budgets (a control panel's, shared by many runtimes) the call was charged to, as a JSON array
     * of `<budget id>@<window start, epoch ms>` keys; null when none covered it. The panel adds
     * the row's cost to each named budget when the row lands, so a budget's spend is its rows.
     */
    budgets: text('budgets'),
    /** The agent's unit of work when the call started (its progress `done` + 1); null before any progress report. */
    step: integer('step'),
    /**
     * The tool that led to the call: the function whose result the request carries last, else the
     * last tool-proxy service the agent called since its previous LLM call; null when neither.
     */
    chain: text('chain'),
  },
  (t) => [
    // The timeline's pages by time (`ts`: when the row was written, the call's end unless a stream
    // left it pending), and an agent's latest calls (`ORDER BY ts DESC, id DESC`: SQLite's index
    // ends with the rowid). The only index by agent: each one is a page more in every call's commit
    // (an (agent_id, id) index was dropped for it, migration 0020; bench ledger).
    index('llm_requests_agent_ts').on(t.agentId, t.ts),
    // What start-up reads (settleInterrupted, spendByBudget) without a pass over the whole ledger.
    index('llm_requests_pending').on(t.id).where(sql`status = 'pending'`),
    index('llm_requests_budgets').on(t.budgets, t.costMicros).where(sql`budgets IS NOT NULL`),
  ],
);

export const apiTokens = sqliteTable('api_tokens', {
  id: text('id').primaryKey(),
  name: text('name').notNull(),
  role: text('role').notNull(),
  agentId: text('agent_id'),
  hash: text('hash').notNull().unique(),
  createdAt: text('created_at').notNull(),
  revokedAt: text('revoked_at'),
  /**
   * `api`: a key from `iron-cage token create`; `link`: a one-time dashboard login link (revoked
   * once used); `session`: what a link was exchanged for; `runtime`: on a control panel, the key a
   * runtime reports with (`runtime_id` says which; it may do nothing else).
   */
  kind: text('kind', { enum: ['api', 'link', 'session', 'runtime'] })
    .notNull()
    .default('api'),
  /** Past this instant the token is refused (links and sessions always have one; API keys none). */
  expiresAt: text('expires_at'),
  /** A `runtime` token's runtime: the only one whose telemetry it may send. */
  runtimeId: text('runtime_id'),
});

export type LlmRequestRow = typeof llmRequests.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;

// Tool egress proxy (migration 3).

export const breakers = sqliteTable('breakers', {
  service: text('service').primaryKey(),
  snapshot: text('snapshot').notNull(), // JSON BreakerSnapshot
  tiers: text('tiers').notNull().default('{}'), // JSON TierCounters
  updatedAt: text('updated_at').notNull(),
});

export const toolCalls = sqliteTable(
  'tool_calls',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    ts: text('ts').notNull(),
    agentId: text('agent_id'),
    service: text('service').notNull(),
    method: text('method').notNull(),
    path: text('path').notNull(), // without the query string
    status: integer('status').notNull(), // what the agent got
    tier: text('tier'), // live | cache | placeholder | failed; null when refused before the chain
    reason: text('reason').notNull(),
    detail: text('detail'),
    upstreamStatus: integer('upstream_status'),
    latencyMs: real('latency_ms').notNull(),
    upstreamMs: real('upstream_ms'),
    bytes: integer('bytes').notNull().default(0),
    redactions: integer('redactions').notNull().default(0),
    fault: integer('fault', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [
    index('tool_calls_service').on(t.service, t.id),
    index('tool_calls_agent').on(t.agentId, t.id),
    // The timeline's pages by time, and its overview's error counts (the few calls that failed).
    index('tool_calls_agent_ts').on(t.agentId, t.ts),
    index('tool_calls_agent_errors').on(t.agentId, t.ts).where(sql`status >= 400`),
  ],
);

export type ToolCallRow = typeof toolCalls.$inferSelect;

// The secrets vault (migration 5). A value is only ever stored sealed: AES-256-GCM under a key
// derived with Argon2id from the master key (never stored) and the row's salt; the masked
// preview is sealed under the vault key. Rows are soft-deleted; a name is unique per
// environment among live rows only, so it can be reused after a delete.

export const secrets = sqliteTable(
  'secrets',
  {
    id: text('id').primaryKey(), // secret-<hex>
    name: text('name').notNull(),
    environment: text('environment').notNull(),
    salt: blob('salt', { mode: 'buffer' }).notNull(),
    nonce: blob('nonce', { mode: 'buffer' }).notNull(),
    ciphertext: blob('ciphertext', { mode: 'buffer' }).notNull(),
    kdf: text('kdf').notNull(), // JSON KdfParams
    maskedSealed: blob('masked_sealed', { mode: 'buffer' }).notNull(),
    createdAt: text('created_at').notNull(),
    updatedAt: text('updated_at').notNull(),
    deletedAt: text('deleted_at'),
  },
  (t) => [uniqueIndex('secrets_live_name').on(t.name, t.environment).where(sql`deleted_at IS NULL`), index('secrets_environment').on(t.environment, t.name)],
);

/** Append-only like events: triggers refuse UPDATE and DELETE. Never holds a value. */
export const secretAuditLog = sqliteTable(
  'secret_audit_log',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    secretName: text('secret_name'),
    operation: text('operation').notNull(), // CREATE | READ | REVEAL | UPDATE | DELETE | INJECT | ROTATE | DENIED
    requesterRole: text('requester_role').notNull(),
    requester: text('requester').notNull(),
    agentId: text('agent_id'),
    success: integer('success', { mode: 'boolean' }).notNull(),
    errorMessage: text('error_message'),
    timestamp: text('timestamp').notNull(),
  },
  (t) => [index('secret_audit_name').on(t.secretName, t.id)],
);

/** One row: the vault's check value (tells a wrong master key from a tampered secret). */
export const vaultMeta = sqliteTable('vault_meta', {
  id: integer('id').primaryKey(), // always 1
  salt: blob('salt', { mode: 'buffer' }).notNull(),
  nonce: blob('nonce', { mode: 'buffer' }).notNull(),
  ciphertext: blob('ciphertext', { mode: 'buffer' }).notNull(),
  kdf: text('kdf').notNull(),
  createdAt: text('created_at').notNull(),
});

export type SecretRow = typeof secrets.$inferSelect;
export type SecretAuditRow = typeof secretAuditLog.$inferSelect;

// Named dashboard users (migration 6). Only an Argon2id PHC string of the password is kept.
// Removal is soft: a removed user's tokens are refused, and the name can be given out again.
export const users = sqliteTable(
  'users',
  {
    id: text('id').primaryKey(), // user_<hex>
    name: text('name').notNull(),
    role: text('role').notNull(), // 'admin' | 'viewer'
    passwordHash: text('password_hash').notNull(),
    createdAt: text('created_at').notNull(),
    removedAt: text('removed_at'),
  },
  (t) => [uniqueIndex('users_live_name').on(t.name).where(sql`removed_at IS NULL`)],
);

export type UserRow = typeof users.$inferSelect;
