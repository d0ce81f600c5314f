// The one event shape. Every state change becomes exactly one of these: persisted by the
// StateManager (which assigns `seq`), then broadcast to the terminal, WebSocket clients and
// anyone else subscribed. `data` is typed per `type`.

export const SEVERITIES = ['debug', 'info', 'warn', 'error', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * `restarting`: it crashed and the supervisor is waiting out the backoff before launching it
 * again; `crashed`: it crashed and will not be restarted (gave up, or restarts are off).
 * `budget_exhausted` is never stored: status objects show it instead of a live status while
 * the agent's budget is exhausted and its calls are refused (external agents, and supervised
 * ones under `on_exhausted: refuse`); raising the limit shows the stored status again.
 */
export type AgentStatus = 'starting' | 'running' | 'restarting' | 'completed' | 'stopped' | 'crashed' | 'budget_exhausted';

/** The severity of a settled call's `llm.request` event: debug when it answered, warn otherwise. */
export function llmRequestSeverity(status: string): 'debug' | 'warn' {
  return status === 'ok' ? 'debug' : 'warn';
}

export const TERMINAL_STATUSES: ReadonlySet<AgentStatus> = new Set(['completed', 'stopped', 'crashed']);

export interface Progress {
  done: number;
  total: number | null;
  unit: string;
  /** Units the agent reported as succeeded / failed; null until it reports outcomes. */
  succeeded: number | null;
  failed: number | null;
}

/** Whose circuit breaker an event is about: a tool service's, an LLM provider's or an MCP server's (names may coincide). */
export const BREAKER_KINDS = ['tool', 'provider', 'mcp'] as const;
export type BreakerKind = (typeof BREAKER_KINDS)[number];

/** What the runtime does when it notices a loop, a stall or a spend spike (`watch:` in the config). */
export type WatchPolicy = 'warn' | 'pause' | 'stop';

/** Who may decide an approval: admins by role, or named users (a dashboard login's name). */
export interface Approvers {
  roles: Array<'admin'>;
  users: string[];
}

/** Where an approval stands: waiting for a person, or how it ended (its `approval.decided` event's status). */
export type ApprovalStatus = 'pending' | 'approved' | 'denied' | 'expired' | 'withdrawn';

/**
 * A call that waits for a person (or the agent asked ahead, `ahead`), as its `approval.requested`
 * event says it: who may decide, until when, and the arguments as they see them (redacted).
 */
export interface ApprovalRequest {
  id: string;
  kind: 'http' | 'mcp' | 'llm';
  service: string;
  tool: string;
  method: string | null;
  args: string;
  rule: string;
  approvers: Approvers;
  expiresAt: string;
  ahead: boolean;
  note: string | null;
}

/**
 * An approval as people are shown it, the one shape of both queues: the runtime's (`ApprovalView`,
 * its REST and dashboard) and the control panel's (`FleetApproval`, the fleet's). Its request,
 * whose agent, when, and how it ended.
 */
export interface ApprovalShown extends ApprovalRequest {
  agentId: string;
  agentName: string;
  /** Who may decide, in words: `admins, user alice`. */
  approversText: string;
  requestedAt: string;
  status: ApprovalStatus;
  decidedBy: string | null;
  decidedAt: string | null;
  reason: string | null;
  /** How long it waited (so far, while pending); null where it is not known yet. */
  waitedMs: number | null;
}

export interface EventData {
  'server.started': { version: string; url: string };
  'server.stopping': { reason: string };
  'agent.registered': { name: string; script: string | null; limitUsd: number | null };
  'agent.started': { pid: number; attempt: number };
  'agent.exited': { status: AgentStatus; exitCode: number | null; signal: string | null; durationMs: number };
  'agent.restarting': { attempt: number; delayMs: number };
  'agent.stopping': { requestedBy: string; signal: string };
  'agent.output': { stream: 'stdout' | 'stderr' };
  'agent.progress': Progress;
  'agent.checkpoint': { checkpointId: number; bytes: number };
  'agent.event': Record<string, unknown>;
  /** The name the agent gives itself through its SDK (`AgentRuntime(name=…)`, `@protect_agent`): shown, never its identity. */
  'agent.named': { name: string; runsAs: string };
  // Tool egress proxy and its circuit breakers. Calls themselves go to the tool_calls table,
  // not the event log; only state changes are events.
  'breaker.transition': {
    kind: BreakerKind;
    service: string;
    from: 'CLOSED' | 'OPEN' | 'HALF_OPEN';
    to: 'CLOSED' | 'OPEN' | 'HALF_OPEN';
    reason: string;
    consecutiveFailures: number;
    failureRate: number | null;
    lastFailure: string | null;
    cooldownMs: number;
    retryAt: string | null;
    openCount: number;
  };
  'breaker.reset': { kind: BreakerKind; service: string; from: 'CLOSED' | 'OPEN' | 'HALF_OPEN'; requestedBy: string };
  'breaker.restored': { kind: BreakerKind; service: string; state: 'CLOSED' | 'OPEN' | 'HALF_OPEN'; retryAt: string | null; problems: string[] };
  'tool.fallback': {
    service: string;
    /** true: calls are now answered by a fallback tier (or fail); false: live again. */
    active: boolean;
    tier: 'live' | 'cache' | 'placeholder' | 'failed';
    reason: string;
    detail: string | null;
    /** While active: how many calls the fallback answered (set when it ends). */
    served: { cache: number; placeholder: number; failed: number } | null;
  };
  /** A sandboxed agent's connection through the cage's egress proxy (`sandbox.network.allow`), carried or refused, said when it ended. */
  'sandbox.egress': { host: string; port: number; allowed: boolean; rule: string | null; method: string; bytesUp: number; bytesDown: number; durationMs: number; refused: string | null };
  /**
   * A start whose sandbox is wider than the last sandboxed run's, because a file iron-cage read at
   * this start (its config) changed while that run's agent could have written it: said loudly.
   */
  'sandbox.weakened': { file: string; changedAt: string; agentId: string; wider: string[] };
  /** The tool proxy refused an agent's call to a service or a path it may not reach, or an MCP tool its server's rules do not allow: an unauthorized action. */
  'tool.refused': { service: string | null; reason: 'unknown_service' | 'invalid_path' | 'mcp_not_allowed'; status: number };
  /**
   * An agent's MCP tools/call through the cage (src/mcp): which server and tool, how it ended
   * (`ok`, `error`: the server failed or was unreachable, `refused`: the cage did not send it),
   * the tool's own `isError`, sizes, time, PII findings and what it cost.
   */
  'mcp.call': {
    server: string;
    tool: string;
    status: 'ok' | 'error' | 'refused';
    reason: string;
    isError: boolean;
    durationMs: number;
    argsBytes: number;
    resultBytes: number;
    redactions: number;
    costUsd: number;
  };
  /**
   * A policy rule (`policies:`) decided a tool-proxy call, an MCP tools/call, an MCP resources/read,
   * prompts/get or completion/complete (`kind: 'mcp'`, `method` that method, `tool` the URI or prompt)
   * or (`kind: 'llm'`, a rule naming `match.llm_tool`) a tool call in a model's answer, `service` the model: `rule` is its name
   * (or `policies[i]`; `default` when no rule matched and `policies.default: deny` refused it).
   * `action`: allow, deny, approve (the call waits for a person: `approvalId`), or rate_limited
   * (over the rule's `rate`, refused 429 for `retryAfterMs`).
   */
  'policy.decision': {
    kind: 'http' | 'mcp' | 'llm';
    service: string;
    tool: string;
    method: string | null;
    rule: string;
    action: 'allow' | 'deny' | 'approve' | 'rate_limited';
    approvalId: string | null;
    retryAfterMs: number | null;
    /** Why the call's arguments could not be read, when a rule's conditions needed them (the rule then failed closed); absent or null: read. */
    unreadable?: string | null;
  };
  /** A call waits for a person (or the agent asked ahead): `ApprovalRequest`. */
  'approval.requested': ApprovalRequest;
  /**
   * The one decision of an approval: `approved` or `denied` by a person (`by`, with their
   * `reason`), `expired` (nobody decided in time, or iron-cage stopped while it waited), or
   * `withdrawn` (the caller gave up waiting). `waitedMs`: how long the call waited.
   */
  'approval.decided': { id: string; status: Exclude<ApprovalStatus, 'pending'>; by: string | null; reason: string | null; waitedMs: number; service: string; tool: string; rule: string };
  /**
   * An MCP request the cage relayed or refused that is not a tools/call: a server asking the
   * agent's client something (`sampling/createMessage`, `elicitation/create`; relayed, or refused
   * by `mcp.servers.<name>.sampling|elicitation` or a client that does not take it), or a method or
   * notification of the agent's the cage does not pass on (one it does not know, or one for a
   * capability the server did not declare; said once per method and session). `method` says which way.
   */
  'mcp.request': { server: string; method: string; action: 'relayed' | 'refused'; reason: string | null };
  'fault.added': { id: string; service: string; fromCall: number; count: number | null; durationMs: number | null; status: number | string; requestedBy: string };
  'fault.removed': { ids: string[]; requestedBy: string };
  'llm.request': {
    requestId: number;
    endpoint: string;
    provider: string;
    model: string;
    stream: boolean;
    status: 'ok' | 'error' | 'aborted' | 'blocked';
    httpStatus: number;
    promptTokens: number;
    completionTokens: number;
    costUsd: number;
    spentUsd: number;
    limitUsd: number | null;
    latencyMs: number;
    redactions: number;
    usageSource: 'provider' | 'estimate';
    /** Requests sent upstream for this call, our retries and fallbacks included (0: none left, e.g. an open circuit). */
    attempts: number;
  };
  /** `family`/`pricedAs`: priced like the dearest model of its family (`gpt-4o`, `openai/gpt-4o-2024-05-13`); null: the default price. */
  'llm.unknown_model': { model: string; provider: string; inputPerMillionUsd: number; outputPerMillionUsd: number; family: string | null; pricedAs: string | null };
  'llm.fallback': { from: string; to: string; reason: string };
  'budget.threshold': {
    threshold: number;
    percentUsed: number;
    spentUsd: number;
    limitUsd: number;
    projectionUsd: number | null;
    avgPerUnitUsd: number | null;
    unit: string | null;
    recommendedIncreaseUsd: number;
    /** The request that approves `recommendedIncreaseUsd`; refused (409 stale) once the limit is no longer `expectedLimitUsd`. */
    action: { method: 'POST'; path: string; body: { limitUsd: number; expectedLimitUsd: number } };
  };
  'budget.progress': { percentUsed: number; spentUsd: number; limitUsd: number; avgPerUnitUsd: number | null; unit: string | null; projectionUsd: number | null };
  /** `central`: the central budget key (`<budget>@<window>`) that refused it; its figures are then this runtime's on that budget. */
  'budget.refused': { requestedUsd: number; spentUsd: number; limitUsd: number | null; model: string; central?: string };
  /** Calls of the agent waiting for in-flight calls to free the budget they hold; 0: none any more. */
  /** `on`: what they wait for (`own`: the agent's budget, held by in-flight calls; `lease`: a central budget's lease; `panel`: the control panel's answer); absent in older rows. */
  'budget.waiting': { waiting: number; requestedUsd: number; reservedUsd: number; inFlight: number; model: string | null; on?: Array<'own' | 'lease' | 'panel'> };
  'budget.exhausted': { spentUsd: number; limitUsd: number; policy: 'stop' | 'refuse' };
  'budget.changed': { limitUsd: number | null; previousUsd: number | null; by: string };
  'pii.detected': {
    location: 'llm.output' | 'llm.tool_arguments' | 'llm.prompt' | 'agent.output' | 'tool.response';
    action: 'redacted' | 'blocked' | 'warned';
    types: Record<string, number>;
    severity: 'CRITICAL' | 'WARN' | 'INFO';
    /** The text with every finding replaced, never the original. */
    preview: string;
    requestRef: string | null;
    counters: { piiLeaksBlocked: number; piiWarned: number; byType: Record<string, number> };
  };
  /**
   * A tool result the agent handed its model looks like a prompt injection (src/injection): what
   * the detector saw (its signals, its score 0-1) and what `safety.injection` did with it. The
   * excerpt is around the strongest signal, PII redacted; the result itself is never stored.
   */
  'injection.detected': {
    /**
     * Where: a tool result inside an LLM request, a tool proxy's answer, an MCP tools/call result,
     * any other message of an MCP server (a resource read, a prompt, the tools listed, the server's
     * instructions, a request or notification it sends), or the user's own prompt (when read).
     */
    source: 'llm.tool_result' | 'tool.response' | 'mcp.result' | 'mcp.message' | 'llm.prompt';
    action: 'detected' | 'warned' | 'blocked';
    callId: string | null;
    score: number;
    signals: string[];
    excerpt: string;
    requestRef: string | null;
  };
  /** A tool answer the PII scan could not read (`reason`: compressed in a coding iron-cage cannot undo): refused, or passed where the policy only warns. */
  'pii.unscanned': { location: 'tool.response'; reason: string; action: 'refused' | 'passed'; requestRef: string | null };
  /** An admin opened a sealed finding of the PII audit trail (`iron-cage audit pii --reveal`): who and which, never the value. */
  'pii.revealed': { auditId: number; type: string; location: string; by: string; reason: string | null };
  // The secrets vault: the name and environment only, never a value.
  'secret.created': { name: string; environment: string; by: string };
  'secret.updated': { name: string; environment: string; by: string };
  'secret.deleted': { name: string; environment: string; by: string };
  'secret.rotated': { name: string; environment: string; agentIds: string[] };
  // Named dashboard users and their logins: never a password.
  'user.added': { userId: string; name: string; role: 'admin' | 'viewer' };
  'user.removed': { userId: string; name: string };
  'auth.login': { userId: string; name: string; role: 'admin' | 'viewer'; address: string };
  'auth.login_failed': { name: string; address: string; reason: 'bad_credentials' | 'too_many_attempts' | 'untrusted_hash' };
  /** A one-time dashboard login link was made (at start, or by `iron-cage dashboard`): its id and expiry, never the link. */
  'auth.link_created': { tokenId: string; role: 'admin'; expiresAt: string; by: 'runtime' | 'cli' };
  /** A login link was exchanged for a dashboard session (listed with the API tokens, revocable). */
  'auth.session_opened': { tokenId: string; linkId: string; role: 'admin'; expiresAt: string; address: string };
  // Reporting to the control panel (src/report): said once when it falls behind, once when it has caught up.
  /** The panel cannot be reached (or refuses): rows wait in the state file; the agent runs on. */
  'panel.behind': { url: string; reason: string; waiting: number | null };
  /** Every row waiting since `panel.behind` has reached the panel. */
  'panel.caught_up': { url: string; sent: number; afterMs: number };
  /** The panel refused the runtime token (401/403): what is wrong with it; the reporter keeps trying, slowly. */
  'panel.refused': { url: string; status: number; reason: string };
  // Central budgets (a control panel's, leased to this runtime: src/report/leases.ts): said once when one stops being covered by a lease, once when it is again.
  /**
   * `budget` null: every central budget at once (the panel has not answered since start: calls
   * wait at the gate). `afterMs`: how long it was unavailable (on `available`).
   */
  'budget.lease': { budget: string | null; window: number | null; state: 'unavailable' | 'available'; reason: string | null; afterMs: number | null };
  // Watch (src/watch): what the runtime notices about how a run behaves, and pausing an agent.
  /**
   * The agent repeats itself: the same tool-proxy call (`tool`: service, method, path, body), the
   * same function call the model asked for (`function`: name + normalised arguments), or the same
   * prompt to the same model (`prompt`), `count` times within `windowMs`. Said when it reaches the
   * configured count, then again each time the count doubles (`count` grows, `wastedUsd` with it).
   * `spentUsd`: LLM spend of the agent from the loop's first occurrence to now; `wastedUsd`: the
   * part after the first occurrence (the repeats). `requestIds` / `toolCallIds`: the calls involved
   * (the ledger's and the tool proxy's row ids; at most the latest 50 of each).
   */
  'watch.loop': {
    kind: 'tool' | 'function' | 'prompt';
    /** Fingerprint of what repeats (stable for one loop: the dashboard groups by it). */
    key: string;
    /** Human label: `crm GET /leads/42`, `lookup_company({"name":"Acme"})`, `gpt-4o-mini: "Find the…"` (PII redacted, ≤ 120 chars). */
    label: string;
    count: number;
    windowMs: number;
    firstTs: string;
    requestIds: number[];
    toolCallIds: number[];
    spentUsd: number;
    wastedUsd: number;
    policy: WatchPolicy;
  };
  /** No progress report, no LLM or tool call and no event from the agent for `idleMs` (while running, not paused). */
  'watch.stall': { idleMs: number; lastActivity: string | null; lastProgress: string | null; policy: WatchPolicy };
  /** The agent's spend rate over the last `windowMs` is `factor`× its own rate over the `baselineMs` before. */
  'watch.spike': { rateUsdPerMin: number; baselineUsdPerMin: number; factor: number; windowMs: number; baselineMs: number; requestIds: number[]; spentUsd: number; policy: WatchPolicy };
  /** An agent was paused: its next LLM and tool calls wait at the gate until an admin resumes it (calls in flight finish). */
  'agent.paused': { by: string; reason: string; cause: 'loop' | 'stall' | 'spike' | 'manual'; causeSeq: number | null };
  /** `held`: calls that waited at the gate while it was paused (they go on now). */
  'agent.resumed': { by: string; pausedMs: number; held: number };
  /**
   * The budget's runway at the current burn rate fell under the alert (`alertMs`): "at this rate
   * the $50 is gone in 9 min". Said once, re-armed when the runway is back above twice the alert
   * or the limit changes.
   */
  'budget.runway': {
    spentUsd: number;
    limitUsd: number;
    remainingUsd: number;
    rateUsdPerMin: number;
    runwayMs: number;
    alertMs: number;
    unitsLeft: number | null;
    unit: string | null;
    /** Units still to do of the total the agent announced (then fewer than it would need); null without one. */
    unitsToGo?: number | null;
    nextCallWorstUsd: number | null;
  };
  'alert.delivery': { channel: 'webhook' | 'email'; ok: boolean; attempts: number; error: string | null; alertId: string };
}

export type EventType = keyof EventData;

export interface IronEvent<T extends EventType = EventType> {
  seq: number;
  ts: string;
  agentId: string | null;
  type: T;
  severity: Severity;
  message: string;
  data: EventData[T];
}

/** What a producer hands to `state.record`; the StateManager adds seq and ts. */
export type NewEvent<T extends EventType = EventType> = Omit<IronEvent<T>, 'seq' | 'ts'>;

/**
 * One event of any type, as a union that narrows by `type` (IronEvent<EventType> does not: its
 * `data` is every type's data at once).
 *
 * @example
 *   if (e.type === 'llm.request') spent = e.data.spentUsd;
 */
export type AnyEvent = { [T in EventType]: IronEvent<T> }[EventType];
