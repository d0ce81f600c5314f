import { isUtf8 } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { McpServerConfig } from '../config/index.js';
import { IronCageError, MissingTokenError } from '../core/errors.js';
import { agentStanding, closedWords } from '../auth/index.js';
import type { Principal } from '../core/roles.js';
import { MCP_ENDPOINT } from './doors.js';
import type { CircuitBreaker } from '../domain/reliability/index.js';
import type { BreakerRegistry } from '../reliability/index.js';
import { wantRefs } from '../secrets/index.js';
import { readBody, sendJson, type Platform, type Service } from '../server/index.js';
import type { StepMarks } from '../budget/index.js';
import type { Observer } from '../observability/index.js';
import { McpStore, ToolsStore } from '../state/index.js';
import type { AgentGate } from '../watch/index.js';
import { type Undici, undici } from '../core/on-first-use.js';
import { AgentTransport } from './agent-transport.js';
import { SessionEvents } from './events.js';
import { type McpOffer, mcpRoutes } from './mcp.routes.js';
import { McpRecorder } from './record.js';
import { mcpSdk } from './sdk.js';
import { McpSession, type Scan, type SessionDeps } from './session.js';

// The cage's MCP endpoints: `/mcp/<server>` for each configured server, the current streamable
// HTTP transport (POST, GET for the server's stream, DELETE to end a session, Mcp-Session-Id,
// resumption with Last-Event-ID). The agent connects its usual MCP client there with its own
// token; the cage holds one session with the real server per agent session.

export const MCP_PREFIX = '/mcp/';
/** The most an MCP request body may be: far above any tools/call's arguments. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;
/** A session nobody used for this long is ended (its real server's session too). */
const IDLE_MS = 15 * 60_000;
/** Sessions an agent may hold open with one server (past it, its least recently used ends), and the cage in all: each may be a process the cage launched. */
const MAX_SESSIONS_PER_AGENT = 8;
const MAX_SESSIONS = 128;
/** Tool names kept of what a server offers, and of each name (a server that lists a million, or names one with a megabyte, keeps no more of this process's memory). */
const MAX_OFFERED = 1_000;
const MAX_TOOL_NAME = 128;
const MAX_OFFER_PAGES = 50;
/** Connections the cage keeps to one HTTP MCP server, shared by its sessions: each call in flight holds one (a GET stream too). */
const POOL_CONNECTIONS = 256;

interface Entry {
  session: McpSession;
  agentId: string;
  server: string;
  lastUsed: number;
}

/** One HTTP request of an agent's session, as it passes the endpoint's door. */
interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  agentId: string;
  /** The server the path names (read). */
  server: McpServerConfig | null;
  /** A POST's body, parsed (read). */
  body: unknown;
  /** The session it belongs to; null for an initialize, which opens one (read). */
  session: Entry | null;
}

/** A request the endpoint refuses, as a JSON-RPC error with no id: its HTTP status, code, words and headers. */
class Refused extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** A JSON-RPC error as an MCP client reads one from an HTTP answer that carries no result. */
function rpcError(res: ServerResponse, status: number, code: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { jsonrpc: '2.0', error: { code, message }, id: null }, headers);
}

export interface McpDeps extends Pick<Platform, 'config' | 'state' | 'tokens' | 'logger' | 'url' | 'secrets'> {
  scan: Scan;
  /** Prompt injection in the servers' tools/call results (`safety.injection`, src/injection). */
  injection?: SessionDeps['injection'];
  /** A name the agent chose (a tool's, a method's) with its PII replaced, as every row and event shows it. */
  redact: (text: string) => string;
  /** Where each server's breaker lives, with every other breaker of the runtime: saved, restored, reset, shown, its transitions events. */
  breakers: Pick<BreakerRegistry, 'breaker' | 'view'>;
  /** Metrics, traces, the watch: told of each tools/call as of any tool call. */
  observer?: Pick<Observer, 'toolCall'>;
  /** The chain of the agent's next LLM call (cost per chain, src/budget/steps.ts): marked as each tools/call ends, before its row commits. */
  marks?: Pick<StepMarks, 'toolCall'>;
  /** Where a priced tools/call is held and charged (the budget feature's FixedCharges). */
  charges?: SessionDeps['charges'];
  /** The watch's pause gate: a paused agent's requests wait at it. */
  gate?: AgentGate;
  /** The tool policies: each tools/call is put to them before it is sent. */
  policy?: SessionDeps['policy'];
  /** How a stdio server is launched while the agent is sandboxed (the sandbox's `confineLaunched`). */
  confine?: SessionDeps['upstream']['confine'];
}

/** A path segment decoded; a malformed escape stays as it came (it then names no server). */
function segment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

class McpGateway {
  private readonly sessions = new Map<string, Entry>();
  /** Sessions being opened (the real server connecting), by `<agent>\u0000<server>`: they count against the caps too, or a burst of initializes would each launch a process. */
  private readonly opening = new Map<string, number>();
  private openingTotal = 0;
  private readonly breakers = new Map<string, CircuitBreaker>();
  /** Per server, the agent whose call its breaker judges now (named by a transition's event). */
  private readonly judged = new Map<string, string>();
  /** Per server, its tools as the last `tools/list` through the cage offered them, page by page (by cursor; '' the first), for this process's life. */
  private readonly offers = new Map<string, { pages: Map<string, { tools: string[]; hidden: number }>; at: string }>();
  private readonly pools = new Map<string, Undici.Pool>();
  private readonly recorder: McpRecorder;
  private readonly sweep: NodeJS.Timeout;

  constructor(private readonly d: McpDeps) {
    const servers = d.config.mcp;
    for (const s of Object.values(servers)) {
      wantRefs(s.target.kind === 'http' ? Object.values(s.target.headers) : Object.values(s.target.env), d.secrets);
      const options = { failureThreshold: s.breaker.failureThreshold, cooldownMs: s.breaker.cooldownMs };
      this.breakers.set(s.name, d.breakers.breaker('mcp', s.name, { options, cause: () => this.judged.get(s.name) ?? null }));
    }
    this.recorder = new McpRecorder(d.state, ToolsStore.of(d.state), d.logger, d.observer, d.redact, d.marks);
    this.sweep = setInterval(() => this.closeIdle(), 60_000);
    this.sweep.unref();
  }

  /** The endpoint's door (src/mcp/doors.ts): auth → pause → read → send, each message then through its method's door. */
  private readonly endpoint = MCP_ENDPOINT.steps<Exchange>({
    auth: (c) => this.authenticate(c),
    // A paused agent's MCP request waits here as its LLM and tool calls do: nothing sent until it is resumed.
    pause: (c) => (c.req.method === 'POST' ? (this.d.gate?.hold(c.agentId, { req: c.req, res: c.res, bodyLimit: MAX_BODY_BYTES }) ?? undefined) : undefined),
    read: (c) => this.read(c),
    send: (c) => this.dispatch(c),
  });

  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    this.endpoint.run({ req, res, agentId: '', server: null, body: undefined, session: null }).catch((err: unknown) => {
      if (err instanceof Refused) return rpcError(res, err.status, err.code, err.message, err.headers);
      if (err instanceof IronCageError) return rpcError(res, err.status, -32000, err.message);
      this.d.logger.error({ err }, 'mcp: request failed');
      rpcError(res, 500, -32603, 'internal error');
    });
  };

  /** auth: the agent a request speaks for (its own token), of a live run. */
  private async authenticate(c: Exchange): Promise<void> {
    let p: Principal;
    try {
      p = await this.d.tokens.authenticate(c.req.headers);
    } catch (e) {
      throw new Refused(401, -32000, e instanceof MissingTokenError ? 'an agent token is required: send Authorization: Bearer $IRON_CAGE_TOKEN' : e instanceof Error ? e.message : 'unauthorized');
    }
    if (p.role !== 'agent' || !p.agentId) throw new Refused(403, -32000, 'MCP through the cage is for agents: use the agent token iron-cage gave it (IRON_CAGE_TOKEN)');
    // As for its LLM calls: an agent this iron-cage does not know, or whose run has ended, calls nothing.
    const s = agentStanding(this.d.state, p.agentId);
    if ('closed' in s) throw new Refused(s.closed === 'unknown' ? 401 : 403, -32000, closedWords(p.agentId, s));
    c.agentId = p.agentId;
  }

  /** read: the server the path names, the transport's methods, a POST's body, and the session it belongs to (or an initialize that opens one). */
  private async read(c: Exchange): Promise<void> {
    const { req } = c;
    const path = (req.url ?? '').split('?', 1)[0]!;
    const name = segment(path.slice(MCP_PREFIX.length).replace(/\/$/, ''));
    const server = Object.hasOwn(this.d.config.mcp, name) ? this.d.config.mcp[name]! : null;
    if (!server) {
      const names = Object.keys(this.d.config.mcp);
      throw new Refused(404, -32601, `no MCP server '${name}' is configured${names.length > 0 ? ` (configured: ${names.join(', ')}, at ${MCP_PREFIX}<name>)` : ' (mcp.servers in the config)'}`);
    }
    c.server = server;
    if (req.method !== 'POST' && req.method !== 'GET' && req.method !== 'DELETE')
      throw new Refused(405, -32000, `${req.method} is not part of MCP's streamable HTTP transport: POST, GET or DELETE`, { allow: 'POST, GET, DELETE' });
    if (req.method === 'POST') {
      const raw = await readBody(req, MAX_BODY_BYTES);
      if (!isUtf8(raw)) throw new Refused(400, -32700, 'Parse error: the body is not valid UTF-8 (JSON-RPC messages are UTF-8 JSON)');
      try {
        c.body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new Refused(400, -32700, 'Parse error: the body must be a JSON-RPC message (or a batch of them) as JSON');
      }
    }
    const id = req.headers['mcp-session-id'];
    if (typeof id === 'string') {
      const e = this.sessions.get(id);
      // Another agent's session is as unknown as an ended one: the client starts a new one.
      if (!e || e.agentId !== c.agentId || e.server !== server.name) throw new Refused(404, -32001, 'Session not found: it ended or was never this agent’s; initialize a new one');
      c.session = e;
      return;
    }
    const body = c.body;
    const sdk = await mcpSdk();
    const initializing = req.method === 'POST' && (Array.isArray(body) ? body.some((m) => sdk.types.isInitializeRequest(m)) : sdk.types.isInitializeRequest(body));
    if (!initializing) throw new Refused(400, -32000, 'Bad Request: no Mcp-Session-Id; a session begins with an initialize request');
  }

  /** send: to the session's transport; an initialize opens the session first. */
  private async dispatch(c: Exchange): Promise<void> {
    if (c.session) {
      c.session.lastUsed = Date.now();
      return c.session.session.transport.handleRequest(c.req, c.res, c.body);
    }
    return this.open(c, c.server!);
  }

  /** An initialize: a new session with the real server, within the caps, connected before the agent is answered. */
  private async open(c: Exchange, server: McpServerConfig): Promise<void> {
    const { req, res, body, agentId } = c;
    const sdk = await mcpSdk();
    // An agent past its sessions with this server ends its least recently used one (a client that
    // never said DELETE, an earlier run's): its own, never another agent's. Past the cage's total, refused.
    const key = `${agentId}\u0000${server.name}`;
    const mine = [...this.sessions].filter(([, e]) => e.agentId === agentId && e.server === server.name);
    if ((this.opening.get(key) ?? 0) >= MAX_SESSIONS_PER_AGENT)
      throw new Refused(429, -32000, `too many MCP sessions being opened with '${server.name}' for this agent (${MAX_SESSIONS_PER_AGENT}): wait for one`, { 'retry-after': '5' });
    if (mine.length > 0 && mine.length + (this.opening.get(key) ?? 0) >= MAX_SESSIONS_PER_AGENT) {
      const [oldest, e] = mine.reduce((a, b) => (b[1].lastUsed < a[1].lastUsed ? b : a));
      this.sessions.delete(oldest);
      void e.session.close();
    }
    if (this.sessions.size + this.openingTotal >= MAX_SESSIONS)
      throw new Refused(429, -32000, `too many MCP sessions open (${MAX_SESSIONS} in all): end one with DELETE, or wait for an idle one to close`, { 'retry-after': '60' });
    let session: McpSession | undefined;
    const transport = new AgentTransport({
      sessionId: () => randomUUID(),
      events: new SessionEvents(),
      versions: sdk.types.SUPPORTED_PROTOCOL_VERSIONS,
      onSessionInitialized: (id) => {
        if (session) this.sessions.set(id, { session, agentId, server: server.name, lastUsed: Date.now() });
      },
    });
    this.opening.set(key, (this.opening.get(key) ?? 0) + 1);
    this.openingTotal++;
    try {
      session = await McpSession.open(
        {
          sdk,
          server,
          agentId,
          breaker: this.breakers.get(server.name)!,
          judging: () => this.judged.set(server.name, agentId),
          offered: (page) => this.offer(server.name, page),
          scan: this.d.scan,
          ...(this.d.injection ? { injection: this.d.injection } : {}),
          recorder: this.recorder,
          upstream: { refs: this.d.secrets, logger: this.d.logger, confine: this.d.confine ?? null, pool: () => this.pool(server) },
          ...(this.d.charges ? { charges: this.d.charges } : {}),
          ...(this.d.policy ? { policy: this.d.policy } : {}),
        },
        transport,
      );
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.d.logger.warn(`mcp ${server.name}: could not connect for agent ${agentId}: ${why}`);
      throw new Refused(e instanceof IronCageError ? e.status : 502, -32000, `MCP server '${server.name}' is unavailable: ${why}`);
    } finally {
      const left = (this.opening.get(key) ?? 1) - 1;
      if (left > 0) this.opening.set(key, left);
      else this.opening.delete(key);
      this.openingTotal--;
    }
    const opened = session;
    await opened.server.connect(transport);
    // Connected: the SDK's Server has taken onclose; ended (DELETE, the cage stopping), the session leaves the map and the real server's ends too.
    const closed = transport.onclose;
    transport.onclose = () => {
      closed?.();
      if (transport.sessionId) this.sessions.delete(transport.sessionId);
      void opened.close();
    };
    await transport.handleRequest(req, res, body);
    // An initialize the transport refused (a malformed one) made no session: nothing is kept open.
    if (!transport.sessionId || !this.sessions.has(transport.sessionId)) await opened.close();
  }

  private closeIdle(): void {
    const before = Date.now() - IDLE_MS;
    for (const [id, e] of this.sessions) {
      if (e.lastUsed >= before) continue;
      this.sessions.delete(id);
      void e.session.close();
    }
  }

  /** An HTTP server's connection pool, made at its first session and shared by all of them. */
  private pool(s: McpServerConfig): Undici.Dispatcher {
    let p = this.pools.get(s.name);
    if (!p) {
      const origin = s.target.kind === 'http' ? new URL(s.target.url).origin : 'http://127.0.0.1';
      p = new (undici().Pool)(origin, { connections: POOL_CONNECTIONS, keepAliveTimeout: 30_000, keepAliveMaxTimeout: 600_000 });
      this.pools.set(s.name, p);
    }
    return p;
  }

  /** A page of a tools/list answer: the first (no cursor) starts the server's list over; a page asked again replaces itself. */
  private offer(server: string, page: { tools: string[]; hidden: number; cursor: string | null }): void {
    const known = page.cursor === null ? undefined : this.offers.get(server);
    const pages = known?.pages ?? new Map<string, { tools: string[]; hidden: number }>();
    const key = page.cursor ?? '';
    if (pages.size < MAX_OFFER_PAGES || pages.has(key)) pages.set(key, { tools: page.tools.slice(0, MAX_OFFERED).map((n) => n.slice(0, MAX_TOOL_NAME)), hidden: page.hidden });
    this.offers.set(server, { pages, at: new Date().toISOString() });
  }

  /** What the last tools/list through the cage offered of `server`'s tools, its pages together; null before any. */
  offered(server: string): McpOffer | null {
    const o = this.offers.get(server);
    if (!o) return null;
    const all = [...o.pages.values()];
    return { tools: [...new Set(all.flatMap((p) => p.tools))].slice(0, MAX_OFFERED), hidden: all.reduce((n, p) => n + p.hidden, 0), at: o.at };
  }

  async close(): Promise<void> {
    clearInterval(this.sweep);
    const all = [...this.sessions.values()];
    this.sessions.clear();
    await Promise.all(all.map((e) => e.session.close()));
    await Promise.all([...this.pools.values()].map((p) => p.destroy().catch(() => undefined)));
    this.pools.clear();
  }
}

/**
 * The MCP endpoints of a runtime, when `mcp.servers` lists any: `/mcp/<server>`, and
 * IRON_CAGE_MCP_URL for each agent. GET /api/mcp/servers always (an empty list without servers:
 * the dashboard shows its MCP panel only when there is one).
 */
export function mcpService(d: McpDeps): Service {
  const names = Object.keys(d.config.mcp);
  const gw = names.length > 0 ? new McpGateway(d) : null;
  // Without servers the route lists none and asks no breaker.
  const api = mcpRoutes({ servers: d.config.mcp, breaker: (name) => d.breakers.view('mcp', name), offered: (name) => gw?.offered(name) ?? null, store: new McpStore(d.state) });
  if (!gw) return { name: 'mcp', apiRoutes: [api] };
  return {
    name: 'mcp',
    rawRoutes: [{ prefix: MCP_PREFIX, handle: gw.handle }],
    apiRoutes: [api],
    agentEnv: () => ({ IRON_CAGE_MCP_URL: `${d.url()}/mcp` }),
    announce: () => d.logger.info(`MCP servers through the cage: ${names.map((n) => `${d.url()}${MCP_PREFIX}${n}`).join(', ')}`),
    close: () => gw.close(),
  };
}
