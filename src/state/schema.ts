import { sql } from 'drizzle-orm';
import { sqliteTable, text, integer, index, real, blob, uniqueIndex, primaryKey, foreignKey } from 'drizzle-orm/sqlite-core';
import type { EventType } from '../core/events.js';

// Every table of the database: the one description of the schema. The SQL that builds it is
// generated from this file by drizzle-kit (`npm run db:generate` after a change; migrate.ts
// says how it is applied); test/state/schema.test.ts fails while a change has no migration.
//
// PostgreSQL (the control panel) gets the tables it shares with a runtime from this same file:
// scripts/pg-schema.ts renders them into schema-pg.ts by one type mapping (`npm run db:generate`
// does both dialects, migrations included); the panel's own tables are in schema-panel.ts.

/** Integer micro-dollars (money, never a float): bigint in PostgreSQL too, where integer tops out at $2,147. */
const micros = (name: string) => integer(name);
/** Epoch milliseconds: bigint in PostgreSQL, where integer ran out in January 1970. */
const epochMs = (name: string) => integer(name);

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

/**
 * The events counted per agent, type and severity (a few dozen rows an agent): what
 * `GET /api/agents/:id/metrics` reports, so it does not group an agent's whole event log. Kept by
 * the trigger `events_counted` (migration 0012, which drizzle cannot declare) in the very
 * statement that inserts each event, so a lone event stays one statement and the counts can
 * never differ from the log; 0012 also counted the events written before it.
 */
export const eventCounts = sqliteTable(
  'event_counts',
  {
    agentId: text('agent_id').notNull(),
    type: text('type').notNull(),
    severity: text('severity').notNull(),
    n: integer('n').notNull(),
  },
  (t) => [primaryKey({ columns: [t.agentId, t.type, t.severity] })],
);

export const checkpoints = sqliteTable(
  'checkpoints',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    agentId: text('agent_id').notNull(),
    createdAt: text('created_at').notNull(),
    state: text('state').notNull(), // JSON
  },
  (t) => [index('checkpoints_agent_id').on(t.agentId, t.id)],
);

export type AgentRow = typeof agents.$inferSelect;
export type EventRow = typeof events.$inferSelect;

/** The ledger's provider for an MCP server's charged call (src/mcp/session.ts): no LLM provider is named so. */
export const MCP_PROVIDER = 'mcp';

/** The `tool_calls` method of an MCP server's tools/call (src/mcp/record.ts): a tool service's calls have HTTP methods. */
export const MCP_TOOLS_CALL = 'tools/call';

/**
 * The ledger rows an `llm.request` event announces, as a condition on llm_totals: every row the
 * gateway settles has exactly one, written with it in its transaction (gateway/meter.ts), so an
 * agent's `llm.request` events are counted from llm_totals and never again in event_counts
 * (migration 0028: a page less in every call's commit). Not announced: the rows start-up
 * settles as `interrupted` (requests.store.ts) and an MCP server's charged calls (their `mcp.call`).
 */
export const ANNOUNCED_LEDGER_SQL = `provider != '${MCP_PROVIDER}' AND status != 'interrupted'`;

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

/**
 * The ledger rolled up per agent, provider, model and status over all time, kept in the statement
 * that writes each `llm_requests` row it sums (triggers `llm_requests_rolled`, a settled row's
 * insert, and `llm_requests_settled`, a pending row's settling update, of migration 0017, which
 * drizzle cannot declare): the cost report's totals, the timeline's count and the spend restored
 * at start read a few rows an agent, however long it has run. WITHOUT ROWID (migration 0017;
 * drizzle cannot declare it), as `llm_running` is: an agent's rows lie together in key order.
 */
export const llmTotals = sqliteTable(
  'llm_totals',
  {
    agentId: text('agent_id').notNull(),
    provider: text('provider').notNull(),
    model: text('model').notNull(),
    status: text('status').notNull(),
    requests: integer('requests').notNull(),
    promptTokens: integer('prompt_tokens').notNull(),
    completionTokens: integer('completion_tokens').notNull(),
    costMicros: micros('cost_micros').notNull(),
  },
  (t) => [primaryKey({ columns: [t.agentId, t.provider, t.model, t.status] })],
);

/**
 * The ledger's running totals per agent and minute (a row for each minute with a settled call of
 * the agent, the minute its `ts` falls in): its calls, failed calls and spend from its first
 * minute through the end of this one, and its latest charged call's time up to then. A bucket of
 * the cost report or the timeline's overview is the difference of two reads at its edges, so a
 * report of at most REPORT_MAX_BUCKETS buckets is that many key seeks however long the agent has
 * run. Kept by the same triggers as `llm_totals` (a row settled in an earlier minute than the
 * agent's latest, a stream closing, also adds itself to the later minutes' rows: the stream's
 * few minutes). It and `llm_totals` replaced `llm_spend` (per agent, minute, provider, model and
 * status), whose readers summed every minute of the agent on each request. WITHOUT ROWID.
 */
export const llmRunning = sqliteTable(
  'llm_running',
  {
    agentId: text('agent_id').notNull(),
    /** The minute's start, epoch ms (the row's `ts` to the millisecond, rounded down; an unreadable one at 0). */
    minute: epochMs('minute').notNull(),
    /** Calls settled in this minute and every earlier one. */
    requests: integer('requests').notNull(),
    /** Of those, the calls that failed: ended neither `ok` nor `blocked` (a refusal, src/domain/outcomes; migration 0029). */
    errors: integer('errors').notNull(),
    costMicros: micros('cost_micros').notNull(),
    /** The latest charged call's time (epoch ms) in this minute or before, null when none was charged yet. */
    lastChargedMs: epochMs('last_charged_ms'),
  },
  (t) => [primaryKey({ columns: [t.agentId, t.minute] })],
);

/**
 * The ledger rolled up per agent and step (`llm_requests.step`), kept by the statement that writes
 * each row it sums, as `llm_totals` is (migration 0017): the cost per step and its most expensive
 * steps (`GET /api/agents/:id/steps`) without reading the agent's calls. Rows without a step are
 * not in it.
 */
export const llmSteps = sqliteTable(
  'llm_steps',
  {
    agentId: text('agent_id').notNull(),
    step: integer('step').notNull(),
    calls: integer('calls').notNull(),
    promptTokens: integer('prompt_tokens').notNull(),
    completionTokens: integer('completion_tokens').notNull(),
    costMicros: micros('cost_micros').notNull(),
    /** The first and last call's time in the step (epoch ms). */
    firstMs: epochMs('first_ms').notNull(),
    lastMs: epochMs('last_ms').notNull(),
  },
  // WITHOUT ROWID (migration 0013; drizzle cannot declare it), and no index beside the key: one
  // B-tree per upsert on the money path. The dearest steps are sorted from the agent's rows when
  // read (one per unit of work: thousands, never the ledger's calls).
  (t) => [primaryKey({ columns: [t.agentId, t.step] })],
);

/** The ledger rolled up per agent and chain (`llm_requests.chain`), kept as `llm_steps` is; rows without a chain are the rest of `llm_totals`. */
export const llmChains = sqliteTable(
  'llm_chains',
  {
    agentId: text('agent_id').notNull(),
    chain: text('chain').notNull(),
    calls: integer('calls').notNull(),
    costMicros: micros('cost_micros').notNull(),
  },
  (t) => [primaryKey({ columns: [t.agentId, t.chain] })],
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
export type LlmRunningRow = typeof llmRunning.$inferSelect;
export type LlmStepRow = typeof llmSteps.$inferSelect;
export type LlmTotalsRow = typeof llmTotals.$inferSelect;
export type ApiTokenRow = typeof apiTokens.$inferSelect;

// Tool egress proxy (migration 3).

export const breakers = sqliteTable('breakers', {
  service: text('service').primaryKey(),
  snapshot: text('snapshot').notNull(), // JSON BreakerSnapshot
  tiers: text('tiers').notNull().default('{}'), // JSON TierCounters
  updatedAt: text('updated_at').notNull(),
});

export const toolCache = sqliteTable(
  'tool_cache',
  {
    key: text('key').primaryKey(), // responseCacheKey (sha256 hex)
    service: text('service').notNull(),
    status: integer('status').notNull(),
    headers: text('headers').notNull().default('{}'), // JSON object of the response headers kept
    body: blob('body', { mode: 'buffer' }).notNull(),
    storedAt: epochMs('stored_at').notNull(),
    expiresAt: epochMs('expires_at').notNull(),
  },
  (t) => [index('tool_cache_service').on(t.service, t.storedAt)],
);

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

/**
 * The MCP `tools/call` rows of tool_calls (src/mcp/record.ts: method `tools/call`, service = the
 * server, path = the tool) counted per server, tool and agent over all time: what `GET
 * /api/mcp/servers` shows, read by key instead of grouping the call rows (which are also pruned
 * to TOOL_CALLS_KEPT). Kept by the trigger `tool_calls_mcp` (migration 0026, which drizzle cannot
 * declare) in the statement that inserts each row, so the counts cannot differ from the rows;
 * 0026 also counted the rows written before it. `refusals`: rows with no tier (the cage refused
 * the call: a rule, a policy, PII, the budget); `errors`: the others that failed (status ≥ 400)
 * or whose tool said `isError` (reason `tool_error`).
 */
export const mcpTotals = sqliteTable(
  'mcp_totals',
  {
    server: text('server').notNull(),
    tool: text('tool').notNull(),
    agentId: text('agent_id').notNull(),
    calls: integer('calls').notNull(),
    errors: integer('errors').notNull(),
    refusals: integer('refusals').notNull(),
    /** The latest call's `ts` (ISO). */
    lastTs: text('last_ts').notNull(),
  },
  (t) => [primaryKey({ columns: [t.server, t.tool, t.agentId] })],
);

/**
 * The approvals a policy rule asked of a person (src/approvals): a tool call waiting (or, asked
 * ahead by the SDK, a call to come), who may decide, and the one decision. A row is written
 * `pending` and decided once: the trigger of migration 0025 refuses any change to a decided
 * row but marking an ask-ahead grant used, and refuses DELETE, so the queue is its own audit
 * trail (each request and decision is also an event).
 */
export const approvals = sqliteTable(
  'approvals',
  {
    id: text('id').primaryKey(),
    agentId: text('agent_id').notNull(),
    kind: text('kind').notNull(), // http | mcp | llm
    service: text('service').notNull(),
    tool: text('tool').notNull(),
    method: text('method'),
    /** The arguments as the approver sees them: redacted, at most 4 KB. */
    args: text('args').notNull(),
    /** What the call is, to match an ask-ahead grant: a hash of agent, tool, method and arguments. */
    fingerprint: text('fingerprint').notNull(),
    rule: text('rule').notNull(),
    /** JSON: { roles, users }. */
    approvers: text('approvers').notNull(),
    ahead: integer('ahead', { mode: 'boolean' }).notNull().default(false),
    note: text('note'),
    requestedAt: text('requested_at').notNull(),
    expiresAt: text('expires_at').notNull(),
    status: text('status').notNull(), // pending | approved | denied | expired | withdrawn
    decidedBy: text('decided_by'),
    decidedAt: text('decided_at'),
    reason: text('reason'),
    usedAt: text('used_at'),
  },
  (t) => [index('approvals_pending').on(t.status).where(sql`status = 'pending'`), index('approvals_agent').on(t.agentId, t.requestedAt), index('approvals_requested').on(t.requestedAt)],
);

export type ApprovalRow = typeof approvals.$inferSelect;

// The PII audit trail (migration 4). Append-only: triggers in the migration refuse UPDATE and
// DELETE. The value itself is kept only as a keyed hash and an AES-256-GCM sealed copy.

export const piiAudit = sqliteTable(
  'pii_audit',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    ts: text('ts').notNull(),
    agentId: text('agent_id'),
    location: text('location').notNull(),
    requestRef: text('request_ref'),
    type: text('type').notNull(),
    risk: text('risk').notNull(),
    severity: text('severity').notNull(),
    action: text('action').notNull(),
    confidence: real('confidence').notNull(),
    start: integer('start').notNull(),
    end: integer('end').notNull(),
    valueHmac: text('value_hmac').notNull(),
    valueSealed: text('value_sealed').notNull(),
  },
  (t) => [index('pii_audit_agent').on(t.agentId, t.id), index('pii_audit_hmac').on(t.valueHmac)],
);

export type PiiAuditRow = typeof piiAudit.$inferSelect;

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

// The Responses API's stored state (what `store: true` keeps): per agent, a response and the
// items of its turn, input and output, as the agent saw them (after PII redaction), sealed at
// rest (AES-256-GCM, the gateway's key). Rows past `expires_at` are never served and are purged.
export const responses = sqliteTable(
  'responses',
  {
    // resp_…, the provider's (or the simulated provider's) id: unique per agent, not across them
    // (a provider may give two agents' turns one id; each must stay the agent's to continue).
    id: text('id').notNull(),
    agentId: text('agent_id').notNull(),
    model: text('model').notNull(),
    previousResponseId: text('previous_response_id'),
    inputTokens: integer('input_tokens').notNull().default(0),
    outputTokens: integer('output_tokens').notNull().default(0),
    /** The response object as the agent was sent it, sealed (what GET /v1/responses/{id} answers); for a turn kept whole, `{ $turn: { response, input } }` sealed once (gateway/responses-state.ts). */
    body: text('body').notNull(),
    createdAt: epochMs('created_at').notNull(),
    expiresAt: epochMs('expires_at').notNull(),
  },
  (t) => [primaryKey({ name: 'responses_pk', columns: [t.agentId, t.id] }), index('responses_expiry').on(t.expiresAt)],
);

export const responseItems = sqliteTable(
  'response_items',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    responseId: text('response_id').notNull(),
    agentId: text('agent_id').notNull(),
    /** msg_…, fc_…, rs_…: the item's own id, or one given it here (an input item sent without one). */
    itemId: text('item_id').notNull(),
    kind: text('kind', { enum: ['input', 'output'] }).notNull(),
    /** The item as sent or received, sealed; or `@<n>`, the turn's n-th item in its response's sealed body. An id given here is not in it (it was never sent). */
    body: text('body').notNull(),
  },
  (t) => [
    foreignKey({ name: 'response_items_response_fk', columns: [t.agentId, t.responseId], foreignColumns: [responses.agentId, responses.id] }).onDelete('cascade'),
    index('response_items_response').on(t.agentId, t.responseId, t.seq),
    index('response_items_item').on(t.agentId, t.itemId),
  ],
);

/**
 * What each agent keeps of Responses and Conversations state, kept in the statement that writes
 * or deletes a stored row (triggers of migration 0024, which drizzle cannot declare, on
 * `responses`, `response_items`, `conversations` and `conversation_items`): its bytes as stored
 * (sealed) and its items (a response, a turn's item, a conversation, a conversation's item each
 * count one). Read before a write that would add to it (`responses.max_stored_mb_per_agent`,
 * `responses.max_stored_items_per_agent`) and shown on the agent.
 */
export const storedUsage = sqliteTable('stored_usage', {
  agentId: text('agent_id').primaryKey(),
  bytes: integer('bytes').notNull().default(0),
  items: integer('items').notNull().default(0),
});

/**
 * A conversation of the Conversations API (`conv_…`): per agent, its metadata sealed. Kept while
 * in use: each write (created, updated, items added or deleted, a turn appended) moves
 * `expires_at` to that moment plus `responses.retention_days`.
 */
export const conversations = sqliteTable(
  'conversations',
  {
    id: text('id').primaryKey(),
    agentId: text('agent_id').notNull(),
    /** The metadata object, sealed (it is the agent's to fill, and may name people). */
    metadata: text('metadata').notNull(),
    createdAt: epochMs('created_at').notNull(),
    expiresAt: epochMs('expires_at').notNull(),
  },
  (t) => [index('conversations_expiry').on(t.expiresAt)],
);

export const conversationItems = sqliteTable(
  'conversation_items',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    conversationId: text('conversation_id')
      .notNull()
      .references(() => conversations.id, { onDelete: 'cascade' }),
    agentId: text('agent_id').notNull(),
    /** msg_…, fc_…: the item's own id, or one given it here. */
    itemId: text('item_id').notNull(),
    /** The item as added (or as the turn sent or received it), sealed. */
    body: text('body').notNull(),
    createdAt: epochMs('created_at').notNull(),
  },
  (t) => [index('conversation_items_conversation').on(t.conversationId, t.seq), index('conversation_items_item').on(t.agentId, t.itemId)],
);

export type ResponseRow = typeof responses.$inferSelect;
export type ResponseItemRow = typeof responseItems.$inferSelect;
export type ConversationRow = typeof conversations.$inferSelect;
export type ConversationItemRow = typeof conversationItems.$inferSelect;
