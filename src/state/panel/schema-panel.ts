import { sql } from 'drizzle-orm';
import { bigint, boolean, index, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core';

// The control panel's own tables (PostgreSQL only): the runtimes that report to it and the spend
// they reported, pre-aggregated at ingest so the fleet view never scans the ledger. The tables a
// panel shares with a runtime are generated into schema-pg.ts from schema.ts.

const count = (name: string) => bigint(name, { mode: 'number' }).notNull().default(0);

/** A runtime an admin added: its name is its id, the one its token may report for. */
export const runtimes = pgTable('runtimes', {
  id: text('id').primaryKey(),
  /** The user whose machine it is (spend by user); null for a shared machine. */
  userId: text('user_id'),
  createdAt: text('created_at').notNull(),
  removedAt: text('removed_at'),
  /** The last batch taken: a batch with a lower or equal sequence is a duplicate, the next must be lastSeq + 1. */
  lastSeq: count('last_seq'),
  /** Epoch ms of its last batch or hello; null until it first reports. */
  lastSeenAt: bigint('last_seen_at', { mode: 'number' }),
  /** Rows it said it still had to send after its last batch. */
  behind: count('behind'),
  /** The highest of each of its own keys taken so far: where it resumes after a restart of either side. */
  eventSeq: count('event_seq'),
  llmRequestId: count('llm_request_id'),
  toolCallId: count('tool_call_id'),
  /** Its MCP servers' tools/call rows the panel holds (tool_calls, method `tools/call`): added by each batch's new rows at ingest, so the fleet view counts none. */
  mcpCalls: count('mcp_calls'),
  hostname: text('hostname'),
  version: text('version'),
  /**
   * The panel's secrets its token may read (`NAME`, or `PREFIX_*` for every name starting so),
   * in any environment; none by default (`panel runtime add --secrets`, PUT /api/runtimes/:id/secrets).
   */
  secrets: text('secrets').array().notNull().default(sql`'{}'::text[]`),
});

/**
 * Each runtime's lease calls' order (POST /api/leases): the runtime process's start (epoch ms,
 * its own clock) and the call's number within that process. A call at or below the pair is stale
 * (a retry that lost its race, a replica that answered late) and is answered without writing. A
 * table of its own, not the runtime's row: a lease call holds this row through its transaction
 * (two calls of one runtime take turns), and the runtime's batches, which lock the runtime's row,
 * never wait for it.
 */
export const leaseOrder = pgTable('lease_order', {
  runtimeId: text('runtime_id').primaryKey(),
  incarnation: count('incarnation'),
  seq: count('seq'),
});

/** What both spend rollups hold for a bucket, by runtime, agent name, provider and model. */
const spendColumns = () => ({
  runtimeId: text('runtime_id').notNull(),
  agentName: text('agent_name').notNull(),
  provider: text('provider').notNull(),
  model: text('model').notNull(),
  calls: count('calls'),
  errors: count('errors'),
  /** LLM calls refused (an outcome of their own, not errors): the budget's refusals (events, no row) and the rows PII blocked, which `calls` counts too. */
  refused: count('refused'),
  promptTokens: count('prompt_tokens'),
  completionTokens: count('completion_tokens'),
  costMicros: count('cost_micros'),
});

/** Spend per hour (epoch ms of its start) by runtime, agent name and model. */
export const spendHourly = pgTable('spend_hourly', { hour: bigint('hour', { mode: 'number' }).notNull(), ...spendColumns() }, (t) => [
  primaryKey({ name: 'spend_hourly_pkey', columns: [t.hour, t.runtimeId, t.agentName, t.provider, t.model] }),
  index('spend_hourly_runtime').on(t.runtimeId, t.hour),
]);

/** The same per day (epoch ms of its UTC midnight): a 30-day view reads 30 buckets, not 720. */
export const spendDaily = pgTable('spend_daily', { day: bigint('day', { mode: 'number' }).notNull(), ...spendColumns() }, (t) => [
  primaryKey({ name: 'spend_daily_pkey', columns: [t.day, t.runtimeId, t.agentName, t.provider, t.model] }),
  index('spend_daily_runtime').on(t.runtimeId, t.day),
]);

/**
 * What each agent has spent and when it last did anything, kept by statement triggers on
 * llm_requests and events (migration agent_spend_triggers): one grouped upsert per INSERT
 * statement, over the rows it actually inserted (a row sent twice is skipped by its key, so it
 * is not counted twice). The fleet's agent list reads these instead of the agent's ledger rows.
 */
export const agentSpend = pgTable(
  'agent_spend',
  {
    runtimeId: text('runtime_id').notNull(),
    agentId: text('agent_id').notNull(),
    calls: count('calls'),
    /** Calls that failed: status neither `ok` nor `blocked` (error, aborted, interrupted). */
    errors: count('errors'),
    /**
     * Calls the cage refused (an outcome of their own, not errors: src/domain/outcomes/refusals.ts): LLM calls the budget refused
     * (`budget.refused`, never sent, no row) or PII blocked (rows `blocked`), tool and MCP calls
     * refused (`tool.refused`) or a policy denied or rate-limited (`policy.decision`).
     */
    refused: count('refused'),
    /** Prompt injections found in what it read (`injection.detected` events, src/injection). */
    injections: count('injections'),
    promptTokens: count('prompt_tokens'),
    completionTokens: count('completion_tokens'),
    costMicros: count('cost_micros'),
    /** ISO time of its latest call. */
    lastCallAt: text('last_call_at'),
    /** ISO time of its latest event. */
    lastEventAt: text('last_event_at'),
  },
  (t) => [primaryKey({ name: 'agent_spend_pkey', columns: [t.runtimeId, t.agentId] })],
);

export type RuntimeRow = typeof runtimes.$inferSelect;

/**
 * A central budget an admin set on the panel, shared by many runtimes: on one agent name, one user, a team
 * (users and/or agent names) or the whole fleet, per period (UTC windows). Its spend is the rows
 * tagged with its key (`llm_requests.budgets`), added into budget_leases as they land.
 */
export const budgets = pgTable('budgets', {
  /** The admin's name for it (`sales-team`): lower-case letters, digits, `.`, `_`, `-`. */
  id: text('id').primaryKey(),
  /** 'agent' | 'user' | 'team' | 'fleet'. */
  scope: text('scope').notNull(),
  /** Agent names (agents.name on the runtimes) it covers. */
  agents: text('agents').array().notNull().default(sql`'{}'::text[]`),
  /** User names as runtimes.user_id holds them. */
  users: text('users').array().notNull().default(sql`'{}'::text[]`),
  /** 'none' | 'day' | 'month'. */
  period: text('period').notNull(),
  limitMicros: bigint('limit_micros', { mode: 'number' }).notNull(),
  createdAt: text('created_at').notNull(),
  createdBy: text('created_by'),
  updatedAt: text('updated_at').notNull(),
  /** The window whose threshold was last said, and which ('warning' | 'exhausted'): each said once per window. */
  alertWindow: bigint('alert_window', { mode: 'number' }),
  alertState: text('alert_state'),
});

/**
 * One runtime's lease of one budget window: what the panel granted it (its current TOTAL grant),
 * what its rows say it spent (written by ingest in the batch's transaction), and what it said at
 * its last lease call. committed = max(granted, spent); Σ committed ≤ the budget's limit at every grant.
 */
export const budgetLeases = pgTable(
  'budget_leases',
  {
    budgetId: text('budget_id')
      .notNull()
      .references(() => budgets.id, { onDelete: 'cascade' }),
    /** Epoch ms of the period's UTC start (0 for period 'none'). */
    windowStart: bigint('window_start', { mode: 'number' }).notNull(),
    runtimeId: text('runtime_id').notNull(),
    grantedMicros: count('granted_micros'),
    spentMicros: count('spent_micros'),
    calls: count('calls'),
    usedMicros: count('used_micros'),
    heldMicros: count('held_micros'),
    waiting: count('waiting'),
    needMicros: count('need_micros'),
    ratePerMinMicros: count('rate_micros_per_min'),
    /** The total it asked for at its last lease call (above granted: it was short, the budget is contended). */
    wantedMicros: count('wanted_micros'),
    /** Epoch ms; a lease call renews it (now + ttl). 0: never leased (its rows landed first). */
    expiresAt: count('expires_at'),
    updatedAt: count('updated_at'),
  },
  (t) => [
    primaryKey({ name: 'budget_leases_pkey', columns: [t.budgetId, t.windowStart, t.runtimeId] }),
    // The reclaim sweep looks for leases that expired recently.
    index('budget_leases_expiry').on(t.expiresAt),
  ],
);

/**
 * The LLM calls a central budget refused (counted apart from errors), per window and runtime: counted at ingest
 * from the runtimes' `budget.refused` events that name the budget (their `central` key), by the
 * events trigger (migration 0019), so the budget's card counts its refusals. A table of its own:
 * ingest alone writes it, never a lease call, so neither waits for the other.
 */
export const budgetRefusals = pgTable(
  'budget_refusals',
  {
    budgetId: text('budget_id')
      .notNull()
      .references(() => budgets.id, { onDelete: 'cascade' }),
    windowStart: bigint('window_start', { mode: 'number' }).notNull(),
    runtimeId: text('runtime_id').notNull(),
    refused: count('refused'),
  },
  (t) => [primaryKey({ name: 'budget_refusals_pkey', columns: [t.budgetId, t.windowStart, t.runtimeId] })],
);

/**
 * What the panel told a runtime a budget window covers, so that a runtime's rows charge only the
 * budgets it was told cover them (a forged tag could charge another's): every lease call records each
 * budget of its answer here, in its transaction, before the runtime can read the answer. A row's
 * tag may name only a (budget, window) its runtime was told of, for an agent it was told the budget
 * covers: the proof of coverage at the time of the call, whatever the budget's names became since.
 * Kept when the budget is deleted (a late row naming it lands, charging nothing, rather than
 * stopping the runtime's report), and per incarnation: a budget deleted and made again under the
 * same id is another budget, which leases of the old one do not let a runtime charge.
 */
export const budgetCoverage = pgTable(
  'budget_coverage',
  {
    runtimeId: text('runtime_id').notNull(),
    budgetId: text('budget_id').notNull(),
    /** Epoch ms of the period's UTC start (0 for period 'none'), by the panel's clock. */
    windowStart: bigint('window_start', { mode: 'number' }).notNull(),
    /** The budget's created_at: which budget of that id it was. */
    budgetCreatedAt: text('budget_created_at').notNull(),
    /** It covered every agent of the runtime (its user, or the fleet) in some answer in the window. */
    coversAll: boolean('covers_all').notNull().default(false),
    /** Each agent name it covered there, in any answer in the window. */
    agents: text('agents').array().notNull().default(sql`'{}'::text[]`),
    /** Epoch ms of the first answer that named it. */
    since: bigint('since', { mode: 'number' }).notNull(),
  },
  (t) => [primaryKey({ name: 'budget_coverage_pkey', columns: [t.runtimeId, t.budgetId, t.windowStart, t.budgetCreatedAt] })],
);

export type BudgetRow = typeof budgets.$inferSelect;
export type BudgetLeaseRow = typeof budgetLeases.$inferSelect;
export type BudgetCoverageRow = typeof budgetCoverage.$inferSelect;

/**
 * The approvals of the fleet's runtimes (the calls their policies hold for a person) as their events tell them: each
 * `approval.requested` a row (pending), closed by its `approval.decided` (the runtime's outcome:
 * approved, denied, expired, withdrawn, and by whom). Kept by the ingest, in the batch's
 * transaction, from the events new to the panel; the fleet's queue reads the pending ones by
 * index, never the event log.
 */
export const fleetApprovals = pgTable(
  'fleet_approvals',
  {
    runtimeId: text('runtime_id').notNull(),
    /** The approval's id on its runtime (`apr_…`). */
    approvalId: text('approval_id').notNull(),
    agentId: text('agent_id').notNull(),
    /** 'http' | 'mcp' | 'llm'. */
    kind: text('kind').notNull(),
    service: text('service').notNull(),
    tool: text('tool').notNull(),
    method: text('method'),
    /** The arguments as the approver sees them (redacted on the runtime). */
    args: text('args').notNull(),
    rule: text('rule').notNull(),
    /** Who may decide: roles (`admin`) and named users, as the rule's `approvers:` said. */
    approverRoles: text('approver_roles').array().notNull().default(sql`'{}'::text[]`),
    approverUsers: text('approver_users').array().notNull().default(sql`'{}'::text[]`),
    ahead: boolean('ahead').notNull().default(false),
    note: text('note'),
    /** ISO times on the runtime's clock. */
    requestedAt: text('requested_at').notNull(),
    expiresAt: text('expires_at').notNull(),
    /** 'pending' until the runtime's `approval.decided` lands, then its status. */
    status: text('status').notNull().default('pending'),
    decidedBy: text('decided_by'),
    decidedAt: text('decided_at'),
    reason: text('reason'),
    waitedMs: bigint('waited_ms', { mode: 'number' }),
  },
  (t) => [
    primaryKey({ name: 'fleet_approvals_pkey', columns: [t.runtimeId, t.approvalId] }),
    // The queue: the pending ones, oldest first; the history: the latest decided.
    index('fleet_approvals_pending').on(t.requestedAt).where(sql`status = 'pending'`),
    index('fleet_approvals_decided').on(t.decidedAt).where(sql`decided_at is not null`),
  ],
);

/**
 * A decision a panel user took on a runtime's approval, for the runtime to apply at its next poll
 * (`GET /api/runtime/approvals`, after its cursor `seq`). One per approval (its key): a second is
 * refused (409). Append-only, as the panel's other audit trails (migration 0016's trigger): who
 * decided what and why is never rewritten; whether the runtime applied it is its own event.
 */
export const approvalDecisions = pgTable(
  'approval_decisions',
  {
    runtimeId: text('runtime_id').notNull(),
    approvalId: text('approval_id').notNull(),
    /** In the order taken: what a runtime reads after its cursor. */
    seq: bigint('seq', { mode: 'number' }).notNull().generatedAlwaysAsIdentity(),
    /** 'approve' | 'deny'. */
    decision: text('decision').notNull(),
    reason: text('reason'),
    /** The panel user: their role, the name of their session, and the user's name when it is a named user's login. */
    role: text('role').notNull(),
    name: text('name').notNull(),
    userName: text('user_name'),
    /** How the decision names them: `panel admin bob`. */
    decidedBy: text('decided_by').notNull(),
    decidedAt: text('decided_at').notNull(),
  },
  (t) => [primaryKey({ name: 'approval_decisions_pkey', columns: [t.runtimeId, t.approvalId] }), index('approval_decisions_runtime_seq').on(t.runtimeId, t.seq)],
);

export type FleetApprovalRow = typeof fleetApprovals.$inferSelect;
export type ApprovalDecisionRow = typeof approvalDecisions.$inferSelect;

/**
 * The panel's replicas: every `iron-cage panel` process on this database says it is alive here
 * every few seconds (GET /api/health lists them; a start voids old login links only when it is
 * alone). A replica gone quiet for long is removed by the others' sweep.
 */
export const panelReplicas = pgTable('panel_replicas', {
  id: text('id').primaryKey(),
  startedAt: bigint('started_at', { mode: 'number' }).notNull(),
  seenAt: bigint('seen_at', { mode: 'number' }).notNull(),
  version: text('version').notNull(),
  /** Where it listens, as it says at start. */
  url: text('url').notNull(),
  /** Stopping (SIGTERM): it finishes what it has and takes nothing new. */
  draining: boolean('draining').notNull().default(false),
});

/**
 * What the panel's viewers are told (the frames of its /ws), in the order written, whichever
 * replica wrote them: each replica writes its frames here and NOTIFYs; every replica reads what
 * the others wrote and tells its own viewers. Kept a few minutes (a viewer that reconnects to
 * another replica resumes after the last frame it had).
 */
export const panelFeed = pgTable(
  'panel_feed',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    /** Epoch ms it was written. */
    at: bigint('at', { mode: 'number' }).notNull(),
    /** The replica that wrote it. */
    origin: text('origin').notNull(),
    /** Its frames, JSON objects one a line. */
    frames: text('frames').notNull(),
  },
  (t) => [index('panel_feed_at').on(t.at)],
);

/** Failed logins per key (a user name, a client address), counted across the panel's replicas over a window from the first failure. */
export const loginFailures = pgTable('login_failures', {
  key: text('key').primaryKey(),
  count: integer('count').notNull(),
  /** Epoch ms of the window's first failure. */
  since: bigint('since', { mode: 'number' }).notNull(),
  /** Its refusal was said once in this window. */
  told: boolean('told').notNull().default(false),
});

/**
 * The panel's own alerts (a central budget's warning or exhaustion, a silent runtime's lease
 * reclaimed), written in the transaction of the change that caused them and delivered by one
 * replica (the sweep's): sent once per fleet, whichever replica saw the change, and not lost
 * to a replica stopping between the change and the delivery.
 */
export const panelAlerts = pgTable(
  'panel_alerts',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    createdAt: bigint('created_at', { mode: 'number' }).notNull(),
    /** `budget.warning`, `budget.exhausted`, `budget.reclaimed`. */
    kind: text('kind').notNull(),
    budgetId: text('budget_id').notNull(),
    /** The line the log and the feed said. */
    message: text('message').notNull(),
    /** The alert's figures, JSON. */
    data: text('data').notNull(),
    /**
     * Epoch ms a replica took it for delivery; null while nobody has. A claim is a lease: one
     * its replica never confirmed (the replica stopped between taking and sending it) is taken
     * again once the lease is over, so an alert is sent at least once.
     */
    claimedAt: bigint('claimed_at', { mode: 'number' }),
    /** Epoch ms its delivery ended on every channel, sent or failed for good; null until then. */
    sentAt: bigint('sent_at', { mode: 'number' }),
    attempts: integer('attempts').notNull().default(0),
    /** What the last failed attempt said. */
    error: text('error'),
  },
  (t) => [index('panel_alerts_pending').on(t.id).where(sql`sent_at is null`)],
);
