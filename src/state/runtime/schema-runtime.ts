import { sql } from 'drizzle-orm';
import { sqliteTable, text, integer, index, real, blob, primaryKey, foreignKey } from 'drizzle-orm/sqlite-core';
import { epochMs, MCP_PROVIDER, micros } from '../schema.js';

// The runtime's own tables: what only its SQLite file (./iron_state.db) keeps, never reported to a
// control panel. With the tables both databases hold (../schema.ts) they are the runtime's whole
// database: drizzle-kit generates its migrations from the two files (drizzle.config.ts), and
// test/state/schema.test.ts fails while a change to either has no migration.

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

/**
 * The ledger rows an `llm.request` event announces, as a condition on llm_totals: every row the
 * gateway settles has exactly one, written with it in its transaction (gateway/meter.ts), so an
 * agent's `llm.request` events are counted from llm_totals and never again in event_counts
 * (migration 0028: a page less in every call's commit). Not announced: the rows start-up
 * settles as `interrupted` (requests.store.ts) and an MCP server's charged calls (their `mcp.call`).
 */
export const ANNOUNCED_LEDGER_SQL = `provider != '${MCP_PROVIDER}' AND status != 'interrupted'`;

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

export type LlmRunningRow = typeof llmRunning.$inferSelect;
export type LlmStepRow = typeof llmSteps.$inferSelect;
export type LlmTotalsRow = typeof llmTotals.$inferSelect;

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
