import { type Micros, microsToUsd } from '../core/money.js';
import type { Logger } from '../core/logger.js';
import type { NewEvent } from '../core/events.js';
import type { StepMarks } from '../budget/index.js';
import type { ObservedInjection, Observer } from '../observability/index.js';
import { MCP_TOOLS_CALL, type StateManager, type ToolCallInput, type ToolsStore } from '../state/index.js';

// Every tools/call an agent makes through the cage is a row in tool_calls (the timeline's tools
// lane, the tool calls the dashboard lists: service = the MCP server, method = `tools/call`, path
// = the tool) and an `mcp.call` event; one its server's rules refuse, or one to a server that
// declared no tools, is also a `tool.refused` event (an unauthorized action). What the session
// hands over here is already cleaned: a server's words reach a row or an event only scrubbed of
// the credentials the cage sent and scanned for PII.

/** One tools/call as the session saw it, filled in as it moves. */
export interface McpCall {
  server: string;
  tool: string;
  agentId: string;
  argsBytes: number;
  resultBytes: number;
  redactions: number;
  upstreamMs: number | null;
  isError: boolean;
  status: 'ok' | 'error' | 'refused';
  /** `ok`, `tool_error`, `not_allowed`, `not_declared` (the server declared no tools), `pii_blocked`, `injection_blocked`, `budget`, `too_large`, `timeout`, `unavailable`, `circuit_open`, `rpc_error`, `client_aborted`, and a policy's `policy_denied`, `approval_denied`, `approval_expired`, `rate_limited`, `too_many_approvals`. */
  reason: string;
  detail: string | null;
  /** What it was charged (0 unless it was sent to a server that was reached). */
  costMicros: number;
  t0: number;
  /** The agent's HTTP headers on the request that carried it (a traceparent links its span), and its MCP session. */
  headers: Record<string, string | string[] | undefined>;
  sessionId: string | null;
  /** A prompt injection its result carried (src/injection) and what was done with it: its span says so. */
  injection?: ObservedInjection | null;
}

/** Refusals that are an unauthorized action (`tool.refused`): a tool the server's rules do not allow, or a tools/call to a server that offers no tools. */
const UNAUTHORIZED = new Set(['not_allowed', 'not_declared']);

/** The HTTP status a call's row keeps, as the tool proxy's rows do: what the agent was in effect answered. */
const STATUS: Record<string, number> = {
  ok: 200,
  tool_error: 200,
  not_allowed: 403,
  not_declared: 403,
  pii_blocked: 403,
  injection_blocked: 403,
  budget: 402,
  too_large: 502,
  timeout: 504,
  unavailable: 503,
  circuit_open: 503,
  rpc_error: 502,
  client_aborted: 499,
  policy_denied: 403,
  approval_denied: 403,
  approval_expired: 403,
  rate_limited: 429,
  too_many_approvals: 429,
};

export class McpRecorder {
  constructor(
    private readonly state: StateManager,
    private readonly store: ToolsStore,
    private readonly logger: Logger,
    private readonly observer: Pick<Observer, 'toolCall'> | undefined,
    /** A name the agent chose (a tool's, a method's) as it is shown and stored: its PII replaced, as the tool proxy's paths are. */
    private readonly redact: (text: string) => string = (t) => t,
    /** Which tool leads to the agent's next LLM call: told as the call ends, since its row may commit after that call started. */
    private readonly marks?: Pick<StepMarks, 'toolCall'>,
  ) {}

  /** A request the server made of the agent's client (sampling, elicitation): relayed or refused, said either way. */
  request(agentId: string, server: string, method: string, action: 'relayed' | 'refused', reason: string | null): void {
    this.state.record({
      agentId,
      type: 'mcp.request',
      severity: action === 'relayed' ? 'info' : 'warn',
      message: `MCP ${server} asked the agent's client for ${method}: ${action}${reason ? ` (${reason})` : ''}`,
      data: { server, method, action, reason },
    });
  }

  /**
   * Something the agent sent that the cage did not pass on to the real server (a method it does
   * not relay, one for a capability the server did not declare, a notification it does not know):
   * said, as a refused request of the server's is. (What the PII scan blocks, its audit says.)
   */
  notPassed(agentId: string, server: string, agentMethod: string, reason: string): void {
    const method = this.redact(agentMethod);
    this.state.record({
      agentId,
      type: 'mcp.request',
      severity: 'warn',
      message: `the agent's ${method} to MCP ${server} was not passed on (${reason})`,
      data: { server, method, action: 'refused', reason },
    });
  }

  record(call: McpCall): void {
    // The tool's name is the agent's to choose: stored and shown with its PII replaced.
    const c = { ...call, tool: this.redact(call.tool), detail: call.detail === null ? null : this.redact(call.detail) };
    const durationMs = performance.now() - c.t0;
    const status = STATUS[c.reason] ?? 502;
    const costUsd = microsToUsd(c.costMicros as Micros);
    const row: ToolCallInput = {
      ts: new Date().toISOString(),
      agentId: c.agentId,
      service: c.server,
      method: MCP_TOOLS_CALL,
      path: c.tool,
      status,
      tier: c.status === 'refused' ? null : c.status === 'ok' ? 'live' : 'failed',
      reason: c.reason,
      detail: c.detail === null ? null : c.detail.slice(0, 500),
      upstreamStatus: null,
      latencyMs: durationMs,
      upstreamMs: c.upstreamMs,
      bytes: c.resultBytes,
      redactions: c.redactions,
      fault: false,
    };
    // Metrics, traces (execute_tool with the MCP attributes), the watch and the chain of the agent's next LLM call see it as any tool call.
    const observed = {
      row,
      headers: c.headers,
      startMs: Date.now() - durationMs,
      errorCode: c.status === 'ok' ? null : c.reason,
      mcp: { server: c.server, tool: c.tool, sessionId: c.sessionId },
      injection: c.injection ?? null,
    };
    this.marks?.toolCall(observed);
    // The row and its event in one write, group-committed with the calls of the next few milliseconds (`Writer.later`): never on the answer's way.
    const what = c.status === 'ok' ? (c.isError ? 'the tool reported an error' : 'ok') : `${c.status}: ${c.reason}`;
    const event: NewEvent<'mcp.call'> = {
      agentId: c.agentId,
      type: 'mcp.call',
      severity: c.status === 'ok' && !c.isError ? 'info' : 'warn',
      message: `MCP ${c.server}.${c.tool}: ${what} (${Math.round(durationMs)} ms)`,
      data: {
        server: c.server,
        tool: c.tool,
        status: c.status,
        reason: c.reason,
        isError: c.isError,
        durationMs: Math.round(durationMs * 10) / 10,
        argsBytes: c.argsBytes,
        resultBytes: c.resultBytes,
        redactions: c.redactions,
        costUsd,
      },
    };
    this.store.recordCall(row, event, 'later').then(
      (id) => this.observer?.toolCall({ ...observed, id }),
      (err) => {
        this.logger.error({ err }, `mcp ${c.server}: the call's row and event were not written`);
        this.observer?.toolCall({ ...observed, id: null });
      },
    );
    if (UNAUTHORIZED.has(c.reason))
      this.state.record({
        agentId: c.agentId,
        type: 'tool.refused',
        severity: 'warn',
        message: `MCP tool refused (${status}): ${c.detail ?? c.tool}`,
        data: { service: `mcp:${c.server}`, reason: 'mcp_not_allowed', status },
      });
  }
}
