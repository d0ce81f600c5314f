import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra, RequestOptions } from '@modelcontextprotocol/sdk/shared/protocol.js';
import type { McpError as McpErrorType, Progress, ProgressToken, RequestId, ServerCapabilities } from '@modelcontextprotocol/sdk/types.js';
import type { McpServerConfig } from '../config/index.js';
import type { AgentTransport } from './agent-transport.js';
import { VERSION } from '../core/index.js';
import { IronCageError } from '../core/errors.js';
import { type CircuitBreaker, CircuitOpenError } from '../domain/reliability/index.js';
import { CredentialScrubber } from '../domain/secrets/index.js';
import { FixedChargeRefused, type FixedCharges } from '../budget/index.js';
import { type GateCall, PolicyRateError, PolicyRefusedError, type PolicyGate } from '../approvals/index.js';
import { fillRefs } from '../secrets/index.js';
import { costOf, refusedBy } from './policy.js';
import type { Sdk } from './sdk.js';
import type { McpCall, McpRecorder } from './record.js';
import { MCP_PROVIDER } from '../state/index.js';
import { SessionGoneError } from './http-upstream.js';
import { type Upstream, type UpstreamDeps, connectUpstream } from './upstream.js';
import { spanned, type InjectionAnswer, type InjectionGuard } from '../injection/index.js';
import type { Chain, Failure } from '../core/stages.js';
import { MCP_NOTIFICATION, MCP_READ, MCP_RELAYED, MCP_TOOLS_CALL, MCP_TOOLS_LIST } from './doors.js';

// One agent's MCP session with one configured server, through the cage: an MCP server facing the
// agent (the SDK's Server on its streamable HTTP transport) and an MCP client facing the real
// server (the SDK's Client). One gate takes every request the agent makes (the SDK answers only
// initialize and ping itself): a method the cage relays (AGENT_REQUESTS) passes through the door
// its row names (src/mcp/doors.ts), whose steps are below; anything else is refused. Whatever
// the real server says on its way to the agent (a result, an error's message and data, a
// notification, progress, a question for the agent, its initialize answer) is cleaned the same
// way: the credentials the cage sent scrubbed out, the text scanned for PII, then read for prompt
// injection (src/injection).

/**
 * What a server says to the model or the user by design (its instructions at initialize, the tools
 * it lists, its prompts, a completion it asks the agent's model for, a question for the user): read
 * for prompt injection by the signals that need no model only, since reading like an instruction
 * is what these are for.
 */
const INSTRUCTIVE = new Set(['initialize', 'tools/list', 'prompts/list', 'prompts/get', 'resources/list', 'resources/templates/list', 'sampling/createMessage', 'elicitation/create']);

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
  /** Prompt injection in a tools/call result, after its PII step: under `safety.injection: block`, why it is not passed on. */
  injection?: Pick<InjectionGuard, 'answer'>;
  recorder: McpRecorder;
  upstream: Omit<UpstreamDeps, 'onNotification' | 'onRequest' | 'sdk'>;
  /** The agent's budget (and every central one covering it): a priced call's cost held before it leaves, settled once it was sent. */
  charges?: Pick<FixedCharges, 'hold' | 'settle' | 'release'>;
  /** The tool policies (`policies:`): a tools/call may be refused, rated or held for a person before it is sent. */
  policy?: Pick<PolicyGate, 'check'>;
}

/** A capability a server declares in its initialize answer, for the methods it then answers. */
type Capability = 'tools' | 'resources' | 'prompts' | 'completions' | 'logging';

/** What a request's schema gives the gate: its params as the specification defines them, or why it is malformed. */
interface RequestShape {
  safeParse(v: unknown): { success: true; data: { params?: Record<string, unknown> } } | { success: false; error: { message: string } };
}

/** The doors a request of the agent's passes through (src/mcp/doors.ts): every method is of one of these classes. */
export type RequestDoor = typeof MCP_TOOLS_CALL | typeof MCP_TOOLS_LIST | typeof MCP_READ | typeof MCP_RELAYED;

export interface AgentRequest {
  /** Refused unless the server declared it (and, for a subscription, its `subscribe` flag). */
  capability: Capability;
  flag?: 'subscribe';
  /** Its class: the guards it passes, in order, each step the same for every method of the class. */
  door: RequestDoor;
  /** The SDK's schema of the request: checked before anything else, and only what it defines is relayed. */
  schema: (t: Sdk['types']) => RequestShape;
  /** How the cage's client asks the real server: the SDK's own method (its tools/list keeps the output schemas its tools/call checks against). */
  send: (c: Client, params: any, o: RequestOptions, t: Sdk['types']) => Promise<unknown>;
}

/**
 * The requests the cage relays, the specification's client→server methods (initialize and ping
 * are answered by the SDK itself), each checked against the capability the server declared and
 * passed through its class's door. A method not here (tasks/*, a vendor's, an unknown one) is
 * refused with MethodNotFound and said: a new method passes only once it has a row here, and then
 * with every guard of its class.
 */
export const AGENT_REQUESTS: Readonly<Record<string, AgentRequest>> = {
  'tools/list': { capability: 'tools', door: MCP_TOOLS_LIST, schema: (t) => t.ListToolsRequestSchema, send: (c, p, o) => c.listTools(p, o) },
  'tools/call': { capability: 'tools', door: MCP_TOOLS_CALL, schema: (t) => t.CallToolRequestSchema, send: (c, p, o) => c.callTool(p, undefined, o) },
  'resources/list': { capability: 'resources', door: MCP_RELAYED, schema: (t) => t.ListResourcesRequestSchema, send: (c, p, o) => c.listResources(p, o) },
  'resources/templates/list': { capability: 'resources', door: MCP_RELAYED, schema: (t) => t.ListResourceTemplatesRequestSchema, send: (c, p, o) => c.listResourceTemplates(p, o) },
  'resources/read': { capability: 'resources', door: MCP_READ, schema: (t) => t.ReadResourceRequestSchema, send: (c, p, o) => c.readResource(p, o) },
  'resources/subscribe': { capability: 'resources', flag: 'subscribe', door: MCP_RELAYED, schema: (t) => t.SubscribeRequestSchema, send: (c, p, o) => c.subscribeResource(p, o) },
  'resources/unsubscribe': { capability: 'resources', flag: 'subscribe', door: MCP_RELAYED, schema: (t) => t.UnsubscribeRequestSchema, send: (c, p, o) => c.unsubscribeResource(p, o) },
  'prompts/list': { capability: 'prompts', door: MCP_RELAYED, schema: (t) => t.ListPromptsRequestSchema, send: (c, p, o) => c.listPrompts(p, o) },
  'prompts/get': { capability: 'prompts', door: MCP_READ, schema: (t) => t.GetPromptRequestSchema, send: (c, p, o) => c.getPrompt(p, o) },
  'completion/complete': { capability: 'completions', door: MCP_READ, schema: (t) => t.CompleteRequestSchema, send: (c, p, o) => c.complete(p, o) },
  // The request itself rather than setLoggingLevel, which would drop its _meta.
  'logging/setLevel': {
    capability: 'logging',
    door: MCP_RELAYED,
    schema: (t) => t.SetLevelRequestSchema,
    send: (c, p, o, t) => c.request({ method: 'logging/setLevel', params: p }, t.EmptyResultSchema, o),
  },
};

/**
 * What the agent may say unasked, and how each reaches the real server. `sdk`: taken by the SDK's
 * Server before the relay sees it (initialized: the real server had the cage's own when the cage
 * connected; cancelled: the request's handler is aborted and the cage's client cancels its own
 * request, the reason scanned; progress: for a request the server made of the agent, passed on
 * with the server's token, scanned). `relay`: passed on, scanned. Any other is dropped, and said.
 */
export const AGENT_NOTIFICATIONS: Readonly<Record<string, 'sdk' | 'relay'>> = {
  'notifications/initialized': 'sdk',
  'notifications/cancelled': 'sdk',
  'notifications/progress': 'sdk',
  'notifications/roots/list_changed': 'relay',
};

/** Methods of the agent's not passed on that are said, per session: an agent repeating one tells the operator nothing new. */
const MAX_SAID = 32;
/** The most of an unknown method's name an event keeps. */
const MAX_METHOD_SAID = 100;

type Extra = RequestHandlerExtra<any, any>;
type Found = { redactions: number; block: string | null };

/**
 * Text in a JSON value scanned string by string (keys too: a result's structure is the tool's), so
 * it stays valid JSON. What the scan left as it was is the same value (an object or array only
 * copied where a string in it changed), so a caller can tell nothing changed by its identity.
 */
function scanJson(value: unknown, scan: (text: string) => { text: string; redactions: number; block: string | null }, out: Found): unknown {
  if (typeof value === 'string') {
    const r = scan(value);
    out.redactions += r.redactions;
    out.block ??= r.block;
    return r.text;
  }
  if (Array.isArray(value)) {
    let copy: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v = scanJson(value[i], scan, out);
      if (v !== value[i]) (copy ??= value.slice())[i] = v;
    }
    return copy ?? value;
  }
  if (value !== null && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    const keys = Object.keys(o);
    let copy: Record<string, unknown> | null = null;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const key = scanJson(k, scan, out) as string;
      const v = scanJson(o[k], scan, out);
      if (copy === null && (key !== k || v !== o[k])) {
        // The keys before this one as they were, in their order; from here on each as scanned.
        copy = {};
        for (let j = 0; j < i; j++) own(copy, keys[j]!, o[keys[j]!]);
      }
      if (copy !== null) {
        // Two keys redacted alike (or alike to one the server wrote) both kept: `[EMAIL_REDACTED] #2`.
        let name = key;
        for (let n = 2; Object.hasOwn(copy, name); n++) name = `${key} #${n}`;
        own(copy, name, v);
      }
    }
    return copy ?? value;
  }
  return value;
}

/** An own property, whatever its name (JSON.parse makes `__proto__` one; an assignment would set the prototype). */
function own(o: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(o, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * A request's params without the agent's `_meta.progressToken`, and the token: the cage's client
 * asks for progress with a token of its own (the SDK's client drops progress for any other), and
 * the agent is sent progress with its own token back.
 */
function withoutProgressToken<P extends Record<string, unknown> | undefined>(params: P): { token: ProgressToken | undefined; params: P } {
  const meta = params?._meta as Record<string, unknown> | undefined;
  if (meta === undefined || meta.progressToken === undefined) return { token: undefined, params };
  const { progressToken, ...restMeta } = meta;
  const { _meta, ...rest } = params!;
  return { token: progressToken as ProgressToken, params: (Object.keys(restMeta).length > 0 ? { ...rest, _meta: restMeta } : rest) as P };
}

/** The server declared what `r` needs. */
function declares(caps: ServerCapabilities, r: Pick<AgentRequest, 'capability' | 'flag'>): boolean {
  const c = caps[r.capability] as Record<string, unknown> | undefined;
  return c !== undefined && c !== null && (r.flag === undefined || c[r.flag] === true);
}

/** The message of an McpError without the `MCP error <code>: ` its constructor put before it. */
function bareMessage(e: McpErrorType): string {
  const prefix = `MCP error ${e.code}: `;
  return e.message.startsWith(prefix) ? e.message.slice(prefix.length) : e.message;
}

/** How long after the last answer a session whose server went away is ended: that answer is written first. */
const ANSWER_WRITTEN_MS = 100;

/** What a server may ask of the agent's client through the cage, and the config key that says whether it passes. */
const RELAYED_QUESTIONS: Record<string, 'sampling' | 'elicitation'> = { 'sampling/createMessage': 'sampling', 'elicitation/create': 'elicitation' };

export class McpSession {
  readonly server: Server;
  /** The agent's requests in flight (newest last): a server's question during one goes back on that request's stream. */
  private readonly inFlight: Array<string | number> = [];
  /** Per request of the agent's, the server's progress being relayed to it: awaited before its answer is sent. */
  private readonly relaying = new Map<RequestId, Promise<void>>();
  /** The real server went away: the agent's session ends once the calls in flight have had their answer. */
  private upstreamGone = false;
  readonly transport: AgentTransport;
  private readonly scrub: CredentialScrubber;
  /** What the real server declared when the cage connected: the methods it answers. */
  private readonly caps: ServerCapabilities;
  /** Why a request to the real server failed as the cage counts it (`timeout`, `unavailable`…), kept beside the error rather than in its data, which may be the server's own. */
  private readonly failures = new WeakMap<object, string>();
  /** The methods of the agent's not passed on that were said this session. */
  private readonly said = new Set<string>();
  private closed = false;

  private constructor(
    private readonly d: SessionDeps,
    private readonly up: Upstream,
    transport: AgentTransport,
  ) {
    this.transport = transport;
    this.scrub = new CredentialScrubber(up.injected);
    this.caps = up.client.getServerCapabilities() ?? {};
    // The agent sees the real server's capabilities, title and instructions, under the cage's
    // name, cleaned as anything else it says (what block mode withholds is left out).
    const { tools, resources, prompts, logging, completions } = this.caps;
    const declared = { ...(tools ? { tools } : {}), ...(resources ? { resources } : {}), ...(prompts ? { prompts } : {}), ...(logging ? { logging } : {}), ...(completions ? { completions } : {}) };
    const said = <T>(value: T, withheld: T): T => {
      const c = this.clean(value, `mcp:${d.server.name}:initialize`);
      return c.block === null ? (c.value as T) : withheld;
    };
    const title = said(up.client.getServerVersion()?.title, undefined);
    const instructions = said(up.client.getInstructions(), undefined);
    const capabilities = said(declared, Object.fromEntries(Object.keys(declared).map((k) => [k, {}])));
    this.server = new d.sdk.Server({ name: `iron-cage/${d.server.name}`, version: VERSION, ...(title ? { title } : {}) }, { capabilities, ...(instructions === undefined ? {} : { instructions }) });
    // One gate for every request but initialize and ping: the SDK's Server answers logging/setLevel
    // itself when logging is declared, which would keep the level from the real server.
    this.server.removeRequestHandler('logging/setLevel');
    this.server.fallbackRequestHandler = (req, extra) => this.gate(req, extra) as never;
  }

  /** A new session: the real server connected (initialized) first, so the agent is told its capabilities. */
  static async open(d: SessionDeps, transport: AgentTransport): Promise<McpSession> {
    let session: McpSession | undefined;
    let up: Upstream;
    try {
      up = await connectUpstream(
        {
          ...d.upstream,
          sdk: d.sdk,
          // What the real server says unasked (a list changed, a log line) reaches the agent, cleaned.
          onNotification: async (n) => {
            if (!session || session.closed) return;
            // (Its method is the server's word: the audit's reference does not name it.)
            const clean = session.clean(n, `mcp:${d.server.name}:notification`);
            if (clean.block !== null) return;
            await session.server.notification(clean.value as never).catch(() => undefined);
          },
          // What the real server asks of the client (sampling, elicitation): relayed to the agent's client or refused, said either way.
          onRequest: async (method, params, signal) => {
            if (!session || session.closed) throw new d.sdk.types.McpError(d.sdk.types.ErrorCode.ConnectionClosed, 'the agent session has ended');
            return session.relay(method, params, signal);
          },
        },
        d.server,
      );
    } catch (e) {
      throw connectFailure(d, e);
    }
    session = new McpSession(d, up, transport);
    // The real server went away (its process ended, its connection closed): the agent's session
    // ends with it, so its next request is told to start a new one rather than failing on.
    up.client.onclose = () => session.upstreamClosed();
    // What the agent says unasked: the notifications the cage knows pass on scanned, any other is dropped and said.
    session.server.fallbackNotificationHandler = (n) => session.notifyServer(n);
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
   * The one gate of the agent's requests (all but initialize and ping, which the SDK answers): a
   * method the cage relays passes through its class's door (src/mcp/doors.ts), step by step; any
   * other is refused (a tools/call refused on its way is still a row).
   */
  private async gate(req: { method: string; params?: Record<string, unknown> }, extra: Extra): Promise<Record<string, unknown>> {
    const { McpError, ErrorCode } = this.d.sdk.types;
    const r = Object.hasOwn(AGENT_REQUESTS, req.method) ? AGENT_REQUESTS[req.method]! : null;
    if (r === null) {
      this.notPassed(req.method, 'not a method the cage relays');
      throw new McpError(ErrorCode.MethodNotFound, `${req.method} is not passed on by the cage (it relays ${Object.keys(AGENT_REQUESTS).join(', ')})`);
    }
    const c: Message = {
      method: req.method,
      r,
      req,
      extra,
      ref: `mcp:${this.d.server.name}:${req.method}`,
      params: undefined,
      token: undefined,
      sent: undefined,
      result: {},
      sized: null,
      call: null,
      hidden: 0,
      charge: null,
    };
    this.inFlight.push(extra.requestId);
    try {
      await this.doors.get(r.door)!.run(c);
      return c.result;
    } finally {
      this.inFlight.splice(this.inFlight.indexOf(extra.requestId), 1);
      if (this.upstreamGone && this.inFlight.length === 0) this.endSoon();
    }
  }

  /** A call refused (or failed) at a step: a tools/call's row says why (the closing step writes it), and the agent gets the MCP error. */
  private refuse(c: Message, status: McpCall['status'], reason: string, code: number, message: string): never {
    if (c.call) Object.assign(c.call, { status, reason, detail: message });
    throw new this.d.sdk.types.McpError(code, message, c.call ? { reason } : undefined);
  }

  // ── the steps of the request doors, in the order they run ─────────────────────────────────

  /** read: the params as the SDK's schema defines them (only those are relayed). */
  private readonly readParams = (c: Message): void => {
    const { McpError, ErrorCode } = this.d.sdk.types;
    const parsed = c.r.schema(this.d.sdk.types).safeParse(c.req);
    if (!parsed.success) throw new McpError(ErrorCode.InvalidParams, `Invalid ${c.method} request: ${parsed.error.message}`);
    c.params = parsed.data.params;
  };

  /** read, for a tools/call: its params, and its row begun (from here it is recorded whatever becomes of it). */
  private readonly readCall = (c: Message): void => {
    this.readParams(c);
    const s = this.d.server;
    const { name } = c.params as CallParams;
    c.ref = `mcp:${s.name}:${name}`;
    c.call = {
      server: s.name,
      tool: name,
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
      t0: performance.now(),
      headers: c.extra.requestInfo?.headers ?? {},
      sessionId: c.extra.sessionId ?? null,
    };
  };

  /** allow: refused unless the server declared what the method needs; said. */
  private readonly allowMethod = (c: Message): void => {
    if (declares(this.caps, c.r)) return;
    const { McpError, ErrorCode } = this.d.sdk.types;
    const what = c.r.flag === undefined ? `the ${c.r.capability} capability` : `${c.r.capability}.${c.r.flag}`;
    this.notPassed(c.method, `the server did not declare ${what}`);
    throw new McpError(ErrorCode.MethodNotFound, `${c.method} refused by the cage: MCP server '${this.d.server.name}' did not declare ${what}`);
  };

  /** allow, for a tools/call: a server that declared no tools is asked for none (its answer would pass no rule, price or record), and the tool passes the server's rules. */
  private readonly allowTool = (c: Message): void => {
    const { ErrorCode } = this.d.sdk.types;
    const s = this.d.server;
    const { name } = c.params as CallParams;
    if (!declares(this.caps, c.r)) this.refuse(c, 'refused', 'not_declared', ErrorCode.MethodNotFound, `tools/call refused by the cage: MCP server '${s.name}' did not declare the tools capability`);
    const rule = refusedBy(s, name);
    if (rule !== null) this.refuse(c, 'refused', 'not_allowed', ErrorCode.InvalidParams, `tool '${name}' is not allowed on MCP server '${s.name}': mcp.servers.${s.name}.${rule}`);
  };

  /** pii: the params scanned as a tool call's arguments on their way out (block refuses); the agent's progress token kept back. */
  private readonly scanOut = (c: Message): void => {
    const { token, params: bare } = withoutProgressToken(c.params);
    c.token = token;
    c.sent = bare;
    if (bare === undefined) return;
    const out = this.outbound(bare, c.ref);
    const call = c.call;
    if (call) {
      const args = (c.params as CallParams).arguments;
      call.argsBytes = args === undefined ? 0 : Buffer.byteLength(JSON.stringify(args));
      call.redactions = out.redactions;
    }
    if (out.block !== null) this.refuse(c, 'refused', 'pii_blocked', this.d.sdk.types.ErrorCode.InvalidParams, out.block);
    c.sent = out.value as Record<string, unknown>;
    // From here the call is what would be sent: its name too, should the scan have found PII in it.
    if (call) call.tool = (c.sent as CallParams).name;
  };

  /** policy: the call as it would be sent is put to the policies; nothing leaves or is charged until they say so. */
  private readonly askPolicy = (c: Message): Promise<void> | undefined => {
    const sent = c.sent as CallParams;
    return this.putToPolicies(c, { tool: sent.name, method: null, args: () => sent.arguments ?? null });
  };

  /** policy, for a read, a prompt or a completion: put to the policies as what it reads (`policyTarget`), never as a tool. */
  private readonly askReadPolicy = (c: Message): Promise<void> | undefined => this.putToPolicies(c, { ...policyTarget(c.method, c.sent ?? {}), method: c.method });

  private putToPolicies(c: Message, call: Pick<GateCall, 'tool' | 'method' | 'mcpTarget'> & { args: () => unknown }): Promise<void> | undefined {
    let held: Promise<void> | null | undefined;
    try {
      held = this.d.policy?.check({ kind: 'mcp', agentId: this.d.agentId, service: this.d.server.name, ...call }, c.extra.signal);
    } catch (e) {
      this.policyRefused(c, e);
    }
    return held ? held.catch((e: unknown) => this.policyRefused(c, e)) : undefined;
  }

  /** A rule's refusal, a person's, or too many of the agent's calls already waiting: the same JSON-RPC error for a tools/call and a read. */
  private policyRefused(c: Message, e: unknown): never {
    if (!(e instanceof IronCageError)) throw e;
    const { McpError, ErrorCode } = this.d.sdk.types;
    if (c.call) Object.assign(c.call, { status: 'refused', reason: e.code, detail: e.message });
    const rule = e instanceof PolicyRefusedError || e instanceof PolicyRateError ? { rule: e.rule } : {};
    throw new McpError(ErrorCode.InvalidRequest, e.message, { reason: e.code, ...rule, ...(e.retryAfterS === undefined ? {} : { retryAfterS: e.retryAfterS }) });
  }

  /** budget: its cost held before it leaves: a budget that cannot cover it refuses it, as it refuses an LLM call. */
  private readonly holdPrice = async (c: Message): Promise<void> => {
    const s = this.d.server;
    const name = (c.sent as CallParams).name;
    c.charge = { what: { agentId: this.d.agentId, endpoint: 'mcp', provider: MCP_PROVIDER, model: `${s.name}/${name}` }, micros: costOf(s, name), held: null };
    try {
      c.charge.held = (await this.d.charges?.hold(c.charge.what, c.charge.micros, c.extra.signal)) ?? null;
    } catch (e) {
      if (e instanceof FixedChargeRefused) this.refuse(c, 'refused', 'budget', this.d.sdk.types.ErrorCode.InvalidRequest, e.message);
      throw e;
    }
  };

  /** send: asked of the real server through its breaker and within its time limit. */
  private readonly sendRequest = async (c: Message): Promise<void> => {
    try {
      c.result = (await this.upstream(() => c.r.send(this.up.client, c.sent, this.options(c.extra, c.token, c.ref), this.d.sdk.types), c.extra.signal, c.ref)) as Record<string, unknown>;
    } finally {
      // The server's last progress, relayed, is on the agent's stream before the answer that closes it.
      const relaying = this.relaying.get(c.extra.requestId);
      this.relaying.delete(c.extra.requestId);
      await relaying;
    }
  };

  /** send, for a tools/call: as any request, timed; once sent (it may have run) its price is charged, a server never reached gives it back. */
  private readonly sendTool = async (c: Message): Promise<void> => {
    const call = c.call!;
    const signal = c.extra.signal;
    const sentAt = performance.now();
    try {
      await this.sendRequest(c);
    } catch (e) {
      call.upstreamMs = performance.now() - sentAt;
      // The error is cleaned (upstream): its message is what the agent is told and the row keeps.
      const reason = (e instanceof Error ? this.failures.get(e) : undefined) ?? (signal.aborted ? 'client_aborted' : 'rpc_error');
      const message = e instanceof Error ? e.message : String(e);
      if (reason === 'unavailable' || reason === 'circuit_open') this.d.charges?.release(c.charge?.held ?? null);
      else await this.settle(c, false, reason === 'timeout' ? 504 : 502, message.slice(0, 500));
      Object.assign(call, { status: 'error', reason, detail: message });
      throw e;
    }
    call.upstreamMs = performance.now() - sentAt;
    const isError = c.result.isError === true;
    await this.settle(c, !isError, 200, isError ? 'the tool reported an error' : null);
  };

  /** Sent, so it may have run: charged what it holds. */
  private async settle(c: Message, ok: boolean, httpStatus: number, error: string | null): Promise<void> {
    const charge = c.charge;
    if (charge === null || charge.held === null) return;
    c.call!.costMicros = charge.micros;
    await this.d.charges?.settle(charge.what, charge.held, charge.micros, { status: ok ? 'ok' : 'error', httpStatus, latencyMs: performance.now() - c.call!.t0, error }).catch(() => undefined);
  }

  /** size: a result over the server's `max_result_mb` is refused, whatever the method. */
  private readonly bound = (c: Message): void => {
    const s = this.d.server;
    const json = JSON.stringify(c.result);
    c.sized = { value: c.result, json };
    const size = Buffer.byteLength(json);
    if (c.call) c.call.resultBytes = size;
    if (size <= s.maxResultBytes) return;
    const what = c.call ? `the result of ${c.call.tool}` : `${c.method}: the result`;
    this.refuse(c, 'error', 'too_large', this.d.sdk.types.ErrorCode.InternalError, `${what} is ${size} bytes, over mcp.servers.${s.name}.max_result_mb (${s.maxResultBytes} bytes): not passed on`);
  };

  /** answer.allow, for tools/list: the tools the server's rules refuse left out. */
  private readonly hide = (c: Message): void => {
    const listed = (c.result as { tools: Array<{ name: string }> }).tools;
    const tools = listed.filter((t) => refusedBy(this.d.server, t.name) === null);
    c.hidden = listed.length - tools.length;
    c.result = { ...c.result, tools };
  };

  /** scrub (and answer.pii, answer.injection inside it): the answer cleaned; block mode withholds it. */
  private readonly cleanResult = (c: Message): void => {
    const { ErrorCode } = this.d.sdk.types;
    const call = c.call;
    const clean = this.clean(c.result, c.ref, call ? 'mcp.result' : 'mcp.message', c.sized);
    if (call) {
      call.redactions += clean.redactions;
      const f = clean.injection?.finding;
      if (f) call.injection = spanned(f);
      if (clean.injection?.refuse) this.refuse(c, 'refused', 'injection_blocked', ErrorCode.InternalError, `the result of ${call.tool}: ${clean.injection.refuse}`);
    }
    if (clean.block !== null) this.refuse(c, 'refused', 'pii_blocked', ErrorCode.InternalError, clean.block);
    c.result = clean.value as Record<string, unknown>;
  };

  /** record, for a tools/call: its row and event, whatever became of it. */
  private readonly recordCall = (c: Message, failure: Failure): void => {
    const call = c.call;
    // Not read: no call to speak of (the SDK's schema refused it).
    if (call === null) return;
    if (failure === null) {
      call.isError = c.result.isError === true;
      if (call.isError) call.reason = 'tool_error';
    } else if (call.status === 'ok') {
      // Failed where no step said why: a row all the same.
      const e = failure.error;
      Object.assign(call, { status: 'error', reason: 'internal_error', detail: e instanceof Error ? e.message : String(e) });
    }
    this.d.recorder.record(call);
  };

  /** record, for tools/list: the tools it offered (as the agent was told them), for the dashboard. */
  private readonly noteOffered = (c: Message, failure: Failure): void => {
    if (failure !== null) return;
    const cursor = c.sent?.cursor;
    this.d.offered?.({ tools: (c.result as { tools: Array<{ name: string }> }).tools.map((t) => t.name), hidden: c.hidden, cursor: typeof cursor === 'string' ? cursor : null });
  };

  /** Each request door's steps (src/mcp/doors.ts), for this session. */
  private readonly doors: ReadonlyMap<RequestDoor, Chain<Message>> = new Map<RequestDoor, Chain<Message>>([
    [
      MCP_TOOLS_CALL,
      MCP_TOOLS_CALL.steps<Message>({
        read: this.readCall,
        allow: this.allowTool,
        pii: this.scanOut,
        policy: this.askPolicy,
        budget: this.holdPrice,
        send: this.sendTool,
        size: this.bound,
        scrub: this.cleanResult,
        record: this.recordCall,
      }),
    ],
    [
      MCP_TOOLS_LIST,
      MCP_TOOLS_LIST.steps<Message>({
        read: this.readParams,
        allow: this.allowMethod,
        pii: this.scanOut,
        send: this.sendRequest,
        size: this.bound,
        'answer.allow': this.hide,
        scrub: this.cleanResult,
        record: this.noteOffered,
      }),
    ],
    [
      MCP_READ,
      MCP_READ.steps<Message>({ read: this.readParams, allow: this.allowMethod, pii: this.scanOut, policy: this.askReadPolicy, send: this.sendRequest, size: this.bound, scrub: this.cleanResult }),
    ],
    [MCP_RELAYED, MCP_RELAYED.steps<Message>({ read: this.readParams, allow: this.allowMethod, pii: this.scanOut, send: this.sendRequest, size: this.bound, scrub: this.cleanResult })],
  ]);

  /** The notification door's steps: what the agent says unasked, when the cage knows it, passes on scanned; any other is dropped and said. */
  private readonly notifications: Chain<Note> = MCP_NOTIFICATION.steps<Note>({
    allow: (c) => {
      const route = Object.hasOwn(AGENT_NOTIFICATIONS, c.method) ? AGENT_NOTIFICATIONS[c.method] : undefined;
      if (route === undefined) this.notPassed(c.method, 'not a notification the cage passes on');
      // The SDK's own (initialized, cancelled, progress) never reach here; nothing else of theirs is to be sent.
      if (route !== 'relay') throw DROPPED;
    },
    pii: (c) => {
      if (c.params === undefined) return;
      const out = this.outbound(c.params, `mcp:${this.d.server.name}:${c.method}`);
      if (out.block !== null) throw DROPPED;
      c.params = out.value as Record<string, unknown>;
    },
    // The cage's client refuses one it did not declare (roots/list_changed: the cage answers no roots/list): nothing is sent then.
    send: (c) =>
      this.up.client.notification({ method: c.method, ...(c.params === undefined ? {} : { params: c.params }) } as never).catch((e: unknown) => {
        this.d.upstream.logger.debug(`mcp ${this.d.server.name}: the agent's ${c.method} was not passed on: ${e instanceof Error ? e.message : String(e)}`);
      }),
  });

  /** A notification of the agent's, through its door. */
  private async notifyServer(n: { method: string; params?: Record<string, unknown> }): Promise<void> {
    await this.notifications.run({ method: n.method, params: n.params }).catch((e: unknown) => {
      if (e !== DROPPED) throw e;
    });
  }

  /** Said once a session per method: something the agent sent that did not reach the real server. */
  private notPassed(method: string, reason: string): void {
    if (this.said.has(method) || this.said.size >= MAX_SAID) return;
    this.said.add(method);
    const name = this.outbound(method.slice(0, MAX_METHOD_SAID), `mcp:${this.d.server.name}`).value as string;
    this.d.recorder.notPassed(this.d.agentId, this.d.server.name, name, reason);
  }

  /**
   * How a request of the agent's is sent on: within the server's time limit; cancelled when the
   * agent cancels it, with the agent's reason scanned (the cage's client tells the server it); and
   * where the agent asked for progress (`token`), the server's progress relayed back.
   */
  private options(extra: Extra, token: ProgressToken | undefined, ref: string): RequestOptions {
    const cancel = new AbortController();
    const onAbort = () => {
      const why = extra.signal.reason;
      cancel.abort(typeof why === 'string' ? (this.outbound(why, ref).value as string) : 'the agent cancelled the request');
    };
    if (extra.signal.aborted) onAbort();
    else extra.signal.addEventListener('abort', onAbort, { once: true });
    return {
      timeout: this.d.server.timeoutMs,
      signal: cancel.signal,
      ...(token === undefined ? {} : { onprogress: (p: Progress) => this.progressToAgent(token, p, extra.requestId, ref) }),
    };
  }

  /** The server's progress on a request of the agent's: sent with the agent's token, on that request's stream, its message cleaned. */
  private progressToAgent(token: ProgressToken, p: Progress, requestId: RequestId, ref: string): void {
    const clean = this.clean(p, ref);
    // Block mode: the figures pass, the server's words do not.
    const params = clean.block === null ? (clean.value as Progress) : { progress: p.progress, ...(p.total === undefined ? {} : { total: p.total }) };
    const sent = this.server.notification({ method: 'notifications/progress', params: { ...params, progressToken: token } }, { relatedRequestId: requestId }).catch(() => undefined);
    const before = this.relaying.get(requestId);
    this.relaying.set(requestId, before === undefined ? sent : before.then(() => sent));
  }

  /** The agent's progress on a request the server made of it: sent with the server's token, scanned as the agent's words are. */
  private progressToServer(token: ProgressToken, p: Progress, ref: string): void {
    const out = this.outbound(p, ref);
    const params = out.block === null ? (out.value as Progress) : { progress: p.progress, ...(p.total === undefined ? {} : { total: p.total }) };
    void this.up.client.notification({ method: 'notifications/progress', params: { ...params, progressToken: token } }).catch(() => undefined);
  }

  /**
   * A request the real server made of the client. Sampling and elicitation pass to the agent's
   * client when the server's config relays them and that client takes them: the question scanned
   * as a tool's answer, the reply (or the agent's error) as tool arguments, progress both ways.
   * Anything else, or either while refused, is refused. Said either way (`mcp.request`).
   */
  async relay(method: string, params: Record<string, unknown> | undefined, signal: AbortSignal): Promise<Record<string, unknown>> {
    const { McpError, ErrorCode } = this.d.sdk.types;
    const s = this.d.server;
    const what = Object.hasOwn(RELAYED_QUESTIONS, method) ? RELAYED_QUESTIONS[method]! : null;
    // An audit's reference names the method only when it is one the cage knows: any other is the server's word.
    const ref = `mcp:${s.name}:${what === null ? 'request' : method}`;
    const refuse = (code: number, reason: string): never => {
      // The method is the server's word: cleaned and bounded before it is stored.
      const name = what === null ? (this.clean(method.slice(0, MAX_METHOD_SAID), ref).value as string) : method;
      this.d.recorder.request(this.d.agentId, s.name, name, 'refused', reason);
      throw new McpError(code, `${method} refused by the cage: ${reason}`);
    };
    if (what === null) return refuse(ErrorCode.MethodNotFound, 'the cage passes on only sampling and elicitation requests');
    if (s[what] === 'refuse') return refuse(ErrorCode.InvalidRequest, `mcp.servers.${s.name}.${what} is refuse`);
    if (!this.server.getClientCapabilities()?.[what]) return refuse(ErrorCode.InvalidRequest, `the agent's MCP client does not take ${what} requests`);
    const { token, params: asked } = withoutProgressToken(params ?? {});
    const question = this.clean(asked, ref);
    if (question.block !== null) return refuse(ErrorCode.InvalidRequest, question.block);
    const related = this.inFlight.at(-1);
    const options = {
      signal,
      timeout: s.timeoutMs,
      ...(related === undefined ? {} : { relatedRequestId: related }),
      ...(token === undefined ? {} : { onprogress: (p: Progress) => this.progressToServer(token, p, ref) }),
    };
    let answer: unknown;
    try {
      answer = what === 'sampling' ? await this.server.createMessage(question.value as never, options) : await this.server.elicitInput(question.value as never, options);
    } catch (e) {
      // The agent's client answered with an error: its words go to the server scanned as its replies are.
      if (e instanceof McpError) {
        const message = this.outbound(bareMessage(e), ref);
        const data = e.data === undefined ? null : this.outbound(e.data, ref);
        throw new McpError(e.code, message.block ?? (message.value as string), data === null || data.block !== null ? undefined : data.value);
      }
      throw e;
    }
    const reply = this.outbound(answer, ref);
    if (reply.block !== null) return refuse(ErrorCode.InvalidRequest, reply.block);
    this.d.recorder.request(this.d.agentId, s.name, method, 'relayed', null);
    return reply.value as Record<string, unknown>;
  }

  /** A value from the real server, its echoed credentials taken out and its text scanned as a tool's answer. */
  /**
   * …then read for prompt injection (`source`: a tools/call result, or any other message of the
   * server's): under `safety.injection: block` a flagged value is refused as a PII block is
   * (`block` says why, `injected` that it was an injection), so what block mode withholds is left out
   * wherever the server speaks: its instructions, tools listed, resources, prompts, questions, notifications.
   */
  private clean(value: unknown, ref: string, source: 'mcp.result' | 'mcp.message' = 'mcp.message', sized?: Message['sized']): { value: unknown; injection: InjectionAnswer | null } & Found {
    const out: Found = { redactions: 0, block: null };
    const v = scanJson(
      value,
      (text) => {
        const s = this.scrub.empty ? { text, found: 0 } : this.scrub.text(text);
        const r = this.d.scan(this.d.agentId, 'tool.response', s.text, ref);
        return { text: r.text, redactions: r.redactions + s.found, block: r.block };
      },
      out,
    );
    if (out.block !== null || !this.d.injection || v === undefined) return { value: v, injection: null, ...out };
    const instructive = INSTRUCTIVE.has(ref.slice(ref.lastIndexOf(':') + 1));
    // A value the scan left as it was is read as the JSON its size was measured by.
    const text = typeof v === 'string' ? v : sized?.value === v ? sized.json : JSON.stringify(v);
    const found = this.d.injection.answer(this.d.agentId, source, { text, json: v }, ref, { instructive });
    const why = found?.refuse ?? null;
    return { value: v, injection: found, redactions: out.redactions, block: why === null ? null : `what MCP server '${this.d.server.name}' sent (${ref.slice(ref.lastIndexOf(':') + 1)}): ${why}` };
  }

  /** A value of the agent's on its way to the real server, its text scanned as a tool call's arguments. */
  private outbound(value: unknown, ref: string): { value: unknown } & Found {
    const out: Found = { redactions: 0, block: null };
    const v = scanJson(value, (text) => this.d.scan(this.d.agentId, 'llm.tool_arguments', text, ref), out);
    return { value: v, ...out };
  }

  /**
   * An error the real server answered (or whose text it wrote: an error page, a broken session's
   * body), on its way to the agent and the record: its message and data cleaned as its results
   * are. Block mode: the server's words are withheld, the refusal said instead.
   */
  private cleanError(e: McpErrorType, ref: string): McpErrorType {
    const { McpError } = this.d.sdk.types;
    const message = this.clean(bareMessage(e), ref);
    const data = e.data === undefined ? null : this.clean(e.data, ref);
    const block = message.block ?? data?.block ?? null;
    if (block !== null) return new McpError(e.code, block);
    return new McpError(e.code, message.value as string, data?.value);
  }

  /**
   * The connection to the real server closed under a request: the SDK's own error once its
   * connection is gone, or the one the cage's HTTP transport answers a broken stream's requests
   * with (both say "Connection closed"). Any other -32000 is the server's own answer: the code is
   * every server's generic error, and such an answer says the server is up.
   */
  private closedUnder(e: unknown): boolean {
    const { McpError, ErrorCode } = this.d.sdk.types;
    return e instanceof McpError && e.code === ErrorCode.ConnectionClosed && (this.up.client.transport === undefined || bareMessage(e).startsWith('Connection closed'));
  }

  /**
   * A request to the real server through its breaker and its time limit: a server down is a clear
   * error, never a hang. `signal` is the agent's: a request the agent cancelled (or whose session
   * it ended) says nothing about the server, and never counts against its breaker, which every
   * agent shares. Whatever it throws is cleaned (`cleanError`), its reason kept in `failures`.
   */
  private async upstream<T>(fn: () => Promise<T>, signal: AbortSignal, ref: string): Promise<T> {
    const { McpError, ErrorCode } = this.d.sdk.types;
    try {
      this.d.judging?.();
      return await this.d.breaker.call(fn, (settled) => {
        this.d.judging?.();
        if (settled.ok) return { kind: 'success', reason: 'ok' };
        if (signal.aborted) return { kind: 'ignore', reason: 'client_aborted' };
        // The server answered with a JSON-RPC error: it is up, the request was wrong.
        const e = settled.error as { code?: unknown };
        if (e instanceof McpError && e.code !== ErrorCode.RequestTimeout && !this.closedUnder(e)) return { kind: 'ignore', reason: 'rpc_error' };
        // The server is up; it ended the session (a restart): the agent's session ends and the next one works.
        if (e instanceof SessionGoneError) return { kind: 'ignore', reason: 'session_gone' };
        return { kind: 'failure', reason: e instanceof McpError && e.code === ErrorCode.RequestTimeout ? 'timeout' : 'unavailable' };
      });
    } catch (e) {
      const failed = this.failure(e, signal);
      const error = this.cleanError(failed.error, ref);
      this.failures.set(error, failed.reason);
      throw error;
    }
  }

  /** What a failed request to the real server is told to the agent as, and why it failed as the cage counts it. */
  private failure(e: unknown, signal: AbortSignal): { error: McpErrorType; reason: string } {
    const { McpError, ErrorCode } = this.d.sdk.types;
    const name = this.d.server.name;
    const fail = (code: number, message: string, reason: string) => ({ error: new McpError(code, message, { reason }), reason });
    if (e instanceof CircuitOpenError) return fail(ErrorCode.InternalError, `MCP server '${name}' is unavailable: ${e.message}`, 'circuit_open');
    if (signal.aborted) return fail(ErrorCode.InternalError, `the agent cancelled this request to MCP server '${name}'`, 'client_aborted');
    if (e instanceof SessionGoneError) return fail(ErrorCode.ConnectionClosed, `MCP server '${name}' ended this session (${e.message}): start a new session`, 'unavailable');
    // The connection to the server closed under the request (a process that died, a server that went away).
    if (this.closedUnder(e)) return fail(ErrorCode.InternalError, `MCP server '${name}' is unavailable: ${(e as Error).message}`, 'unavailable');
    if (e instanceof McpError && e.code === ErrorCode.RequestTimeout)
      return fail(ErrorCode.RequestTimeout, `MCP server '${name}' did not answer within ${this.d.server.timeoutMs / 1000} s (mcp.servers.${name}.timeout_s)`, 'timeout');
    // The server's own answer: its code, message and data are its own (cleaned on the way).
    if (e instanceof McpError) return { error: e, reason: 'rpc_error' };
    return fail(ErrorCode.InternalError, `MCP server '${name}' is unavailable: ${e instanceof Error ? e.message : String(e)}`, 'unavailable');
  }
}

/** One request of the agent's as it passes its door, filled in as each step learns more. */
interface Message {
  readonly method: string;
  readonly r: AgentRequest;
  readonly req: { method: string; params?: Record<string, unknown> };
  readonly extra: Extra;
  /** What an audit row names it by: `mcp:<server>:<method>`, a tools/call's `mcp:<server>:<tool>`. */
  ref: string;
  /** As the SDK's schema gives them (read). */
  params: Record<string, unknown> | undefined;
  /** The agent's progress token: kept back, the cage's client asks with its own (pii). */
  token: ProgressToken | undefined;
  /** The params as they are sent: scanned (pii). */
  sent: Record<string, unknown> | undefined;
  /** What the server answered, then as the agent gets it. */
  result: Record<string, unknown>;
  /** The result as its size was measured (size), its JSON: read again by the injection reader if the scan leaves it as it was. */
  sized: { value: unknown; json: string } | null;
  /** A tools/call's row, begun once it is read. */
  call: McpCall | null;
  /** tools/list: how many tools the rules left out. */
  hidden: number;
  /** A tools/call's price: what it is, for what, and the hold on the budget. */
  charge: { what: { agentId: string; endpoint: string; provider: string; model: string }; micros: number; held: number | null } | null;
}

/** A notification of the agent's as it passes its door. */
interface Note {
  readonly method: string;
  params: Record<string, unknown> | undefined;
}

/** A notification that is not passed on (unknown, the SDK's own, or blocked by the scan): no error, nobody to tell. */
const DROPPED = new Error('not passed on');

/** A tools/call's params as the SDK's schema gives them. */
interface CallParams extends Record<string, unknown> {
  name: string;
  arguments?: Record<string, unknown>;
  _meta?: Record<string, unknown>;
}

/**
 * A resources/read, prompts/get or completion/complete as the policies read it (its params as they
 * would be sent): what it acts on (a resource by its URI, a prompt by its name; a completion, the
 * prompt or resource template whose argument it completes) and its arguments for `match.args` (a
 * read's `{ uri }`, a prompt's own arguments, a completion's `{ ref, argument, context }`).
 * @example policyTarget('resources/read', { uri: 'file:///a' }) // { mcpTarget: 'resource', tool: 'file:///a', args: () => ({ uri: 'file:///a' }) }
 */
export function policyTarget(method: string, sent: Record<string, unknown>): { mcpTarget: 'resource' | 'prompt'; tool: string; args: () => unknown } {
  const { _meta, ...params } = sent;
  if (method === 'prompts/get') return { mcpTarget: 'prompt', tool: String(params.name), args: () => params.arguments ?? null };
  if (method === 'completion/complete') {
    const ref = params.ref as { type?: string; name?: unknown; uri?: unknown } | undefined;
    return ref?.type === 'ref/prompt' ? { mcpTarget: 'prompt', tool: String(ref.name), args: () => params } : { mcpTarget: 'resource', tool: String(ref?.uri), args: () => params };
  }
  return { mcpTarget: 'resource', tool: String(params.uri), args: () => params };
}

/**
 * Why the real server could not be reached, as the agent and the log are told it. Its own words
 * (an error page, an initialize error) may echo what the cage sent it: every value the config has
 * the cage send this server (its headers, a launched server's environment, secrets filled in) is
 * scrubbed out, as PII is. A refusal of the cage's own (a secret it does not have) is left as it is.
 */
function connectFailure(d: SessionDeps, e: unknown): unknown {
  if (e instanceof IronCageError || !(e instanceof Error)) return e;
  const t = d.server.target;
  const values = Object.values(t.kind === 'http' ? t.headers : t.env).flatMap((v) => {
    try {
      const f = fillRefs(v, d.upstream.refs, () => new Error('not available'));
      return [f.value, ...f.filled];
    } catch {
      return [v];
    }
  });
  const scrub = new CredentialScrubber(values);
  const text = scrub.empty ? e.message : scrub.text(e.message).text;
  const r = d.scan(d.agentId, 'tool.response', text, `mcp:${d.server.name}:initialize`);
  return new Error(r.block ?? r.text);
}
