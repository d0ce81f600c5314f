import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { McpServerConfig } from '../config/index.js';
import type { AgentTransport } from './agent-transport.js';
import { VERSION } from '../core/index.js';
import { IronCageError } from '../core/errors.js';
import { type CircuitBreaker, CircuitOpenError } from '../domain/reliability/index.js';
import { CredentialScrubber } from '../domain/secrets/index.js';
import { FixedChargeRefused, type FixedCharges } from '../budget/index.js';
import { PolicyRateError, PolicyRefusedError, type PolicyGate } from '../approvals/index.js';
import { costOf, refusedBy } from './policy.js';
import type { Sdk } from './sdk.js';
import type { McpCall, McpRecorder } from './record.js';
import { MCP_PROVIDER } from '../state/index.js';
import { SessionGoneError } from './http-upstream.js';
import { type Upstream, type UpstreamDeps, connectUpstream } from './upstream.js';

// One agent's MCP session with one configured server, through the cage: an MCP server facing the
// agent (the SDK's Server on its streamable HTTP transport) and an MCP client facing the real
// server (the SDK's Client). Every request the agent makes is answered by asking the real
// server, with what passes in either direction scanned; a tools/call is also allowed or refused,
// bounded in time and size, guarded by the server's breaker, and recorded.

/** What the session scans text with: the runtime's PII engine (`PiiProtection.inspect`). */
export type Scan = (agentId: string, location: 'llm.tool_arguments' | 'tool.response', text: string, ref: string) => { text: string; redactions: number; block: string | null };

export interface SessionDeps {
  sdk: Sdk;
  server: McpServerConfig;
  agentId: string;
  /** The server's breaker (the runtime's registry: saved, restored, reset, its transitions events). */
  breaker: CircuitBreaker;
  /** Says the breaker is judging this session's call now: a transition it causes names this agent. */
  judging?: () => void;
  /** A page of the server's tools as an agent was offered them (`cursor` null: the first, the list starts over), and how many its rules hid. */
  offered?: (page: { tools: string[]; hidden: number; cursor: string | null }) => void;
  scan: Scan;
  recorder: McpRecorder;
  upstream: Omit<UpstreamDeps, 'onNotification' | 'onRequest' | 'sdk'>;
  /** The agent's budget (and every central one covering it): a priced call's cost held before it leaves, settled once it was sent. */
  charges?: Pick<FixedCharges, 'hold' | 'settle' | 'release'>;
  /** The tool policies (`policies:`): a tools/call may be refused, rated or held for a person before it is sent. */
  policy?: Pick<PolicyGate, 'check'>;
}

/** Text in a JSON value scanned string by string (keys too: a result's structure is the tool's), so it stays valid JSON. */
function scanJson(value: unknown, scan: (text: string) => { text: string; redactions: number; block: string | null }, out: { redactions: number; block: string | null }): unknown {
  if (typeof value === 'string') {
    const r = scan(value);
    out.redactions += r.redactions;
    out.block ??= r.block;
    return r.text;
  }
  if (Array.isArray(value)) return value.map((v) => scanJson(v, scan, out));
  if (value !== null && typeof value === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) o[k] = scanJson(v, scan, out);
    return o;
  }
  return value;
}

/** How long after the last answer a session whose server went away is ended: that answer is written first. */
const ANSWER_WRITTEN_MS = 100;

/** What a server may ask of the agent's client through the cage, and the config key that says whether it passes. */
const RELAYED: Record<string, 'sampling' | 'elicitation'> = { 'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation' };

export class McpSession {
  readonly server: Server;
  /** The agent's requests in flight (newest last): a server's question during a tools/call goes back on that call's stream. */
  private readonly inFlight: Array<string | number> = [];
  /** The real server went away: the agent's session ends once the calls in flight have had their answer. */
  private upstreamGone = false;
  readonly transport: AgentTransport;
  private readonly scrub: CredentialScrubber;
  private closed = false;

  private constructor(
    private readonly d: SessionDeps,
    private readonly up: Upstream,
    transport: AgentTransport,
  ) {
    this.transport = transport;
    this.scrub = new CredentialScrubber(up.injected);
    const { types } = d.sdk;
    // The agent sees the real server's capabilities and instructions, under the cage's name.
    const caps = up.client.getServerCapabilities() ?? {};
    const { tools, resources, prompts, logging, completions } = caps;
    const info = up.client.getServerVersion();
    this.server = new d.sdk.Server(
      { name: `iron-cage/${d.server.name}`, version: VERSION, ...(info?.title ? { title: info.title } : {}) },
      {
        capabilities: { ...(tools ? { tools } : {}), ...(resources ? { resources } : {}), ...(prompts ? { prompts } : {}), ...(logging ? { logging } : {}), ...(completions ? { completions } : {}) },
        instructions: up.client.getInstructions(),
      },
    );
    if (tools) {
      this.server.setRequestHandler(types.ListToolsRequestSchema, async (req, extra) => {
        const r = await this.upstream(() => this.up.client.listTools(req.params, { timeout: d.server.timeoutMs, signal: extra.signal }), extra.signal);
        const tools = r.tools.filter((t) => refusedBy(d.server, t.name) === null);
        d.offered?.({ tools: tools.map((t) => t.name), hidden: r.tools.length - tools.length, cursor: req.params?.cursor ?? null });
        return { ...r, tools };
      });
      this.server.setRequestHandler(types.CallToolRequestSchema, async (req, extra) => {
        this.inFlight.push(extra.requestId);
        try {
          return await this.callTool(req.params, extra.signal, extra.requestInfo?.headers ?? {}, extra.sessionId ?? null);
        } finally {
          this.inFlight.splice(this.inFlight.indexOf(extra.requestId), 1);
          if (this.upstreamGone && this.inFlight.length === 0) this.endSoon();
        }
      });
    }
    // Resources, prompts, completions, logging levels: asked of the real server, what comes back scanned.
    this.server.fallbackRequestHandler = async (req, extra) => {
      const r = await this.upstream(
        () => this.up.client.request({ method: req.method, params: req.params } as never, types.ResultSchema, { timeout: d.server.timeoutMs, signal: extra.signal }),
        extra.signal,
      );
      return this.clean(r, `mcp:${d.server.name}:${req.method}`).value as never;
    };
  }

  /** A new session: the real server connected (initialized) first, so the agent is told its capabilities. */
  static async open(d: SessionDeps, transport: AgentTransport): Promise<McpSession> {
    let session: McpSession | undefined;
    const up = await connectUpstream(
      {
        ...d.upstream,
        sdk: d.sdk,
        // What the real server says unasked (a list changed, a log line, progress) reaches the agent, scanned.
        onNotification: async (n) => {
          if (!session || session.closed) return;
          await session.server.notification(session.clean(n, `mcp:${d.server.name}:${n.method}`).value as never).catch(() => undefined);
        },
        // What the real server asks of the client (sampling, elicitation): relayed to the agent's client or refused, said either way.
        onRequest: async (method, params, signal) => {
          if (!session || session.closed) throw new d.sdk.types.McpError(d.sdk.types.ErrorCode.ConnectionClosed, 'the agent session has ended');
          return session.relay(method, params, signal);
        },
      },
      d.server,
    );
    session = new McpSession(d, up, transport);
    // The real server went away (its process ended, its connection closed): the agent's session
    // ends with it, so its next request is told to start a new one rather than failing on.
    up.client.onclose = () => session.upstreamClosed();
    // What the agent says unasked (roots changed, initialized) goes on to the real server; a cancellation is the SDK's own.
    session.server.fallbackNotificationHandler = async (n) => {
      await up.client.notification(n as never).catch(() => undefined);
    };
    return session;
  }

  /**
   * The real server went away (its process ended, its connection closed): the agent's session
   * ends with it, so its next request starts a new one rather than failing on. A call in flight
   * is answered first (the server is unavailable), or the agent would wait for its own timeout.
   */
  upstreamClosed(): void {
    this.upstreamGone = true;
    if (this.inFlight.length === 0) this.endSoon();
  }

  /** Once the answer just given has been written (the SDK sends it after the handler returns). */
  private endSoon(): void {
    setTimeout(() => void this.transport.close().catch(() => undefined), ANSWER_WRITTEN_MS).unref();
  }

  /** The session ends (the agent's DELETE, the cage stopping, idle): the real server's session too. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.up.close().catch(() => undefined);
    await this.server.close().catch(() => undefined);
  }

  /**
   * A request the real server made of the client. Sampling and elicitation pass to the agent's
   * client when the server's config relays them and that client takes them: the question scanned
   * as a tool's answer, the reply as tool arguments. Anything else, or either while refused, is
   * refused. Said either way (`mcp.request`).
   */
  async relay(method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
    const { McpError, ErrorCode } = this.d.sdk.types;
    const s = this.d.server;
    const what = Object.hasOwn(RELAYED, method) ? RELAYED[method]! : null;
    const refuse = (code: number, reason: string): never => {
      this.d.recorder.request(this.d.agentId, s.name, method, 'refused', reason);
      throw new McpError(code, `${method} refused by the cage: ${reason}`);
    };
    if (what === null) return refuse(ErrorCode.MethodNotFound, 'the cage passes on only sampling and elicitation requests');
    if (s[what] === 'refuse') return refuse(ErrorCode.InvalidRequest, `mcp.servers.${s.name}.${what} is refuse`);
    if (!this.server.getClientCapabilities()?.[what]) return refuse(ErrorCode.InvalidRequest, `the agent's MCP client does not take ${what} requests`);
    const question = this.clean(params ?? {}, `mcp:${s.name}:${method}`);
    if (question.block !== null) return refuse(ErrorCode.InvalidRequest, question.block);
    const related = this.inFlight.at(-1);
    const options = { signal, timeout: s.timeoutMs, ...(related === undefined ? {} : { relatedRequestId: related }) };
    const answer = what === 'sampling' ? await this.server.createMessage(question.value as never, options) : await this.server.elicitInput(question.value as never, options);
    const out = { redactions: 0, block: null as string | null };
    const reply = scanJson(answer, (text) => this.d.scan(this.d.agentId, 'llm.tool_arguments', text, `mcp:${s.name}:${method}`), out) as Record<string, unknown>;
    if (out.block !== null) return refuse(ErrorCode.InvalidRequest, out.block);
    this.d.recorder.request(this.d.agentId, s.name, method, 'relayed', null);
    return reply;
  }

  /** A value from the real server, its echoed credentials taken out and its text scanned as a tool's answer. */
  private clean(value: unknown, ref: string): { value: unknown; redactions: number; block: string | null } {
    const out = { redactions: 0, block: null as string | null };
    const v = scanJson(
      value,
      (text) => {
        const s = this.scrub.empty ? { text, found: 0 } : this.scrub.text(text);
        const r = this.d.scan(this.d.agentId, 'tool.response', s.text, ref);
        return { text: r.text, redactions: r.redactions + s.found, block: r.block };
      },
      out,
    );
    return { value: v, ...out };
  }

  /**
   * A request to the real server through its breaker and its time limit: a server down is a clear
   * error, never a hang. `signal` is the agent's: a request the agent cancelled (or whose session
   * it ended) says nothing about the server, and never counts against its breaker, which every
   * agent shares.
   */
  private async upstream<T>(fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    const { McpError, ErrorCode } = this.d.sdk.types;
    try {
      this.d.judging?.();
      return await this.d.breaker.call(fn, (settled) => {
        this.d.judging?.();
        if (settled.ok) return { kind: 'success', reason: 'ok' };
        if (signal.aborted) return { kind: 'ignore', reason: 'client_aborted' };
        // The server answered with a JSON-RPC error: it is up, the request was wrong.
        const e = settled.error as { code?: unknown };
        if (e instanceof McpError && e.code !== ErrorCode.RequestTimeout && e.code !== ErrorCode.ConnectionClosed) return { kind: 'ignore', reason: 'rpc_error' };
        // The server is up; it ended the session (a restart): the agent's session ends and the next one works.
        if (e instanceof SessionGoneError) return { kind: 'ignore', reason: 'session_gone' };
        return { kind: 'failure', reason: e instanceof McpError && e.code === ErrorCode.RequestTimeout ? 'timeout' : 'unavailable' };
      });
    } catch (e) {
      if (e instanceof CircuitOpenError) throw new McpError(ErrorCode.InternalError, `MCP server '${this.d.server.name}' is unavailable: ${e.message}`, { reason: 'circuit_open' });
      if (signal.aborted) throw new McpError(ErrorCode.InternalError, `the agent cancelled this request to MCP server '${this.d.server.name}'`, { reason: 'client_aborted' });
      if (e instanceof SessionGoneError)
        throw new McpError(ErrorCode.ConnectionClosed, `MCP server '${this.d.server.name}' ended this session (${e.message}): start a new session`, { reason: 'unavailable' });
      // The connection to the server closed under the request (a process that died, a server that went away).
      if (e instanceof McpError && e.code === ErrorCode.ConnectionClosed)
        throw new McpError(ErrorCode.InternalError, `MCP server '${this.d.server.name}' is unavailable: ${e.message}`, { reason: 'unavailable' });
      if (e instanceof McpError && e.code === ErrorCode.RequestTimeout)
        throw new McpError(ErrorCode.RequestTimeout, `MCP server '${this.d.server.name}' did not answer within ${this.d.server.timeoutMs / 1000} s (mcp.servers.${this.d.server.name}.timeout_s)`, {
          reason: 'timeout',
        });
      if (e instanceof McpError) throw e;
      throw new McpError(ErrorCode.InternalError, `MCP server '${this.d.server.name}' is unavailable: ${e instanceof Error ? e.message : String(e)}`, { reason: 'unavailable' });
    }
  }

  /**
   * tools/call: allowed by the server's rules, its arguments scanned on the way out, the call
   * bounded in time and guarded by the breaker, its result bounded in size, scrubbed of the
   * credentials the cage sent and scanned on the way back; recorded whatever became of it.
   */
  private async callTool(params: { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> }, signal: AbortSignal, headers: McpCall['headers'], sessionId: string | null) {
    const { McpError, ErrorCode } = this.d.sdk.types;
    const s = this.d.server;
    const t0 = performance.now();
    const call: McpCall = {
      server: s.name,
      tool: params.name,
      agentId: this.d.agentId,
      argsBytes: 0,
      resultBytes: 0,
      redactions: 0,
      upstreamMs: null,
      isError: false,
      status: 'ok',
      reason: 'ok',
      detail: null,
      costMicros: 0,
      t0,
      headers,
      sessionId,
    };
    const refuse = (status: McpCall['status'], reason: string, code: number, message: string): never => {
      Object.assign(call, { status, reason, detail: message });
      this.d.recorder.record(call);
      throw new McpError(code, message, { reason });
    };
    const rule = refusedBy(s, params.name);
    if (rule !== null) refuse('refused', 'not_allowed', ErrorCode.InvalidParams, `tool '${params.name}' is not allowed on MCP server '${s.name}': mcp.servers.${s.name}.${rule}`);
    const ref = `mcp:${s.name}:${params.name}`;
    const out = { redactions: 0, block: null as string | null };
    const args = params.arguments === undefined ? undefined : (scanJson(params.arguments, (text) => this.d.scan(this.d.agentId, 'llm.tool_arguments', text, ref), out) as Record<string, unknown>);
    call.argsBytes = params.arguments === undefined ? 0 : Buffer.byteLength(JSON.stringify(params.arguments));
    call.redactions = out.redactions;
    if (out.block !== null) refuse('refused', 'pii_blocked', ErrorCode.InvalidParams, out.block);
    // The policy, on the arguments as they would be sent: nothing leaves or is charged until it says so.
    try {
      const held = this.d.policy?.check({ kind: 'mcp', agentId: this.d.agentId, service: s.name, tool: params.name, method: null, args: () => args ?? null }, signal);
      if (held) await held;
    } catch (e) {
      // A rule's refusal, a person's, or too many of the agent's calls already waiting.
      if (e instanceof IronCageError) {
        Object.assign(call, { status: 'refused', reason: e.code, detail: e.message });
        this.d.recorder.record(call);
        const rule = e instanceof PolicyRefusedError || e instanceof PolicyRateError ? { rule: e.rule } : {};
        throw new McpError(ErrorCode.InvalidRequest, e.message, { reason: e.code, ...rule, ...(e.retryAfterS === undefined ? {} : { retryAfterS: e.retryAfterS }) });
      }
      throw e;
    }
    // Its cost held before it leaves: a budget that cannot cover it refuses it, as it refuses an LLM call.
    const what = { agentId: this.d.agentId, endpoint: 'mcp', provider: MCP_PROVIDER, model: `${s.name}/${params.name}` };
    const micros = costOf(s, params.name);
    let held: number | null = null;
    try {
      held = (await this.d.charges?.hold(what, micros, signal)) ?? null;
    } catch (e) {
      if (e instanceof FixedChargeRefused) refuse('refused', 'budget', ErrorCode.InvalidRequest, e.message);
      throw e;
    }
    /** Sent, so it may have run: charged. Never reached the server: given back. */
    const settle = async (ok: boolean, httpStatus: number, error: string | null) => {
      if (held === null) return;
      call.costMicros = micros;
      await this.d.charges?.settle(what, held, micros, { status: ok ? 'ok' : 'error', httpStatus, latencyMs: performance.now() - t0, error }).catch(() => undefined);
    };
    let result: Record<string, unknown>;
    const sent = performance.now();
    try {
      result = (await this.upstream(() => this.up.client.callTool({ ...params, ...(args === undefined ? {} : { arguments: args }) }, undefined, { timeout: s.timeoutMs, signal }), signal)) as Record<
        string,
        unknown
      >;
    } catch (e) {
      call.upstreamMs = performance.now() - sent;
      const reason = (e as { data?: { reason?: string } }).data?.reason ?? (signal.aborted ? 'client_aborted' : 'rpc_error');
      const message = e instanceof Error ? e.message : String(e);
      if (reason === 'unavailable' || reason === 'circuit_open') this.d.charges?.release(held);
      else await settle(false, reason === 'timeout' ? 504 : 502, message.slice(0, 500));
      Object.assign(call, { status: 'error', reason, detail: message });
      this.d.recorder.record(call);
      throw e;
    }
    call.upstreamMs = performance.now() - sent;
    await settle(result.isError !== true, 200, result.isError === true ? 'the tool reported an error' : null);
    const size = Buffer.byteLength(JSON.stringify(result));
    call.resultBytes = size;
    if (size > s.maxResultBytes)
      refuse('error', 'too_large', ErrorCode.InternalError, `the result of ${params.name} is ${size} bytes, over mcp.servers.${s.name}.max_result_mb (${s.maxResultBytes} bytes): not passed on`);
    const clean = this.clean(result, ref);
    call.redactions += clean.redactions;
    if (clean.block !== null) refuse('refused', 'pii_blocked', ErrorCode.InternalError, clean.block);
    call.isError = result.isError === true;
    if (call.isError) call.reason = 'tool_error';
    this.d.recorder.record(call);
    return clean.value as Record<string, unknown>;
  }
}
