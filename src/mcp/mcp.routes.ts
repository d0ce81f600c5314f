import { basename } from 'node:path';
import type { Hono } from 'hono';
import * as z from 'zod';
import type { McpServerConfig } from '../config/index.js';
import { type Micros, microsToUsd } from '../core/money.js';
import { assertRole } from '../core/roles.js';
import type { BreakerState } from '../domain/reliability/index.js';
import type { BreakerView } from '../reliability/index.js';
import { parseWith, type AppEnv } from '../server/index.js';
import type { McpStore, McpToolTotals } from '../state/index.js';

// GET /api/mcp/servers: each configured MCP server as the dashboard shows it (its transport, its
// rules and prices, its breaker) with what its tools/calls came to. The tools are those seen in
// calls (and in the ledger's charges), and those an agent's last tools/list through the cage was
// offered: the cage opens no session of its own for a dashboard.

/** One tool of a server, as its calls have it. */
export interface McpToolView {
  name: string;
  calls: number;
  /** Calls that failed (status ≥ 400, not a refusal) or whose tool said isError. */
  errors: number;
  /** Calls the cage refused (a rule, a policy, PII, the budget): never sent, or their result withheld. */
  refusals: number;
  /** What its calls were charged: the ledger's rows (`llm_requests`, model `<server>/<tool>`). */
  costUsd: number;
  lastCallAt: string | null;
}

export interface McpBreakerView {
  state: BreakerState;
  consecutiveFailures: number;
  /** Failures in a row that open it (`breaker.failure_threshold`). */
  failureThreshold: number;
  cooldownMs: number;
  /** While OPEN: when the next call may probe the server, and how long until then (0 in the other states). */
  retryAt: string | null;
  retryAfterMs: number;
}

export interface McpServerView {
  name: string;
  /** How the cage reaches it: streamable HTTP, HTTP+SSE, `auto` (the first, else the second), or a process it launches (`stdio`). */
  transport: 'streamable-http' | 'sse' | 'auto' | 'stdio';
  /**
   * Where: an HTTP server's origin and path (never its query: a key may ride there; the config
   * refuses credentials in a URL), a launched server's command (never its arguments or
   * environment). Null for an agent token: the real server's address stays with the cage.
   */
  target: string | null;
  /** The names of the headers the cage sends it (never their values); empty for an agent token. */
  headers: string[];
  /** `tools.allow` (null: every tool) and `tools.deny`, globs. */
  allow: string[] | null;
  deny: string[];
  costPerCallUsd: number;
  /** `tools.cost_usd`: a tool's own price. */
  toolCostsUsd: Record<string, number>;
  breaker: McpBreakerView;
  calls: number;
  errors: number;
  refusals: number;
  costUsd: number;
  lastCallAt: string | null;
  /** Its tools as seen in calls, and those offered no call has used yet (all zero), by name. */
  tools: McpToolView[];
  /** What the last `tools/list` an agent made through the cage offered (since this runtime started); null before any. */
  offered: McpOffer | null;
}

/** A server's tools as an agent's `tools/list` through the cage was answered: its rules hide the rest. */
export interface McpOffer {
  /** The tools' names, as offered (after `tools.allow` / `tools.deny`). */
  tools: string[];
  /** How many the server listed that its rules hid. */
  hidden: number;
  /** When (the last page). */
  at: string;
}

/** GET /api/mcp/servers */
export interface McpServersResponse {
  /** `agent`: an agent token's answer, its own calls only. */
  scope: 'all' | 'agent';
  servers: McpServerView[];
}

export interface McpRoutesDeps {
  servers: Readonly<Record<string, McpServerConfig>>;
  /** The server's breaker as the registry shows it (an elapsed cooldown as HALF_OPEN). */
  breaker: (server: string) => BreakerView;
  /** The server's tools as the last tools/list through the cage offered them; null before any. */
  offered: (server: string) => McpOffer | null;
  store: Pick<McpStore, 'tools'>;
}

const noQuery = z.strictObject({});
const usd = (m: number) => microsToUsd(m as Micros);

function targetOf(s: McpServerConfig): string {
  if (s.target.kind === 'stdio') return basename(s.target.command);
  const u = new URL(s.target.url);
  return `${u.origin}${u.pathname}`;
}

function breakerView(b: BreakerView, s: McpServerConfig): McpBreakerView {
  return {
    state: b.state,
    consecutiveFailures: b.consecutiveFailures,
    failureThreshold: s.breaker.failureThreshold,
    cooldownMs: s.breaker.cooldownMs,
    retryAt: b.state === 'OPEN' ? new Date(Date.now() + b.retryAfterMs).toISOString() : null,
    retryAfterMs: b.retryAfterMs,
  };
}

/** The tools seen in calls, then those offered that no call has used yet (zero figures), each by name. */
function withOffered(seen: McpToolView[], offer: McpOffer | null): McpToolView[] {
  if (offer === null) return seen;
  const called = new Set(seen.map((t) => t.name));
  const unused = offer.tools.filter((n) => !called.has(n)).map((name): McpToolView => ({ name, calls: 0, errors: 0, refusals: 0, costUsd: 0, lastCallAt: null }));
  return [...seen, ...unused].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

function toolView(t: McpToolTotals): McpToolView {
  return { name: t.tool, calls: t.calls, errors: t.errors, refusals: t.refusals, costUsd: usd(t.costMicros), lastCallAt: t.lastTs };
}

/**
 * GET /api/mcp/servers: anyone signed in; an agent token sees its own calls' figures and not
 * where the servers are.
 */
export function mcpRoutes(d: McpRoutesDeps): (app: Hono<AppEnv>) => void {
  return (app) => {
    app.get('/api/mcp/servers', (c) => {
      const p = c.get('principal');
      assertRole(p, 'admin', 'viewer', 'agent');
      parseWith(noQuery, c.req.query());
      const agentId = p.role === 'agent' ? p.agentId : null;
      const names = Object.keys(d.servers);
      const tools = d.store.tools(names, agentId);
      const servers = names.map((name): McpServerView => {
        const s = d.servers[name]!;
        const own = tools.filter((t) => t.server === name);
        const offer = d.offered(name);
        const sum = (k: 'calls' | 'errors' | 'refusals' | 'costMicros') => own.reduce((n, t) => n + t[k], 0);
        const last = own.reduce<string | null>((m, t) => (t.lastTs !== null && (m === null || t.lastTs > m) ? t.lastTs : m), null);
        return {
          name,
          transport: s.target.kind === 'stdio' ? 'stdio' : s.target.transport,
          target: agentId === null ? targetOf(s) : null,
          headers: agentId === null && s.target.kind === 'http' ? Object.keys(s.target.headers) : [],
          allow: s.allow,
          deny: s.deny,
          costPerCallUsd: usd(s.costPerCallMicros),
          toolCostsUsd: Object.fromEntries(Object.entries(s.toolCostMicros).map(([k, v]) => [k, usd(v)])),
          breaker: breakerView(d.breaker(name), s),
          calls: sum('calls'),
          errors: sum('errors'),
          refusals: sum('refusals'),
          costUsd: usd(sum('costMicros')),
          lastCallAt: last,
          tools: withOffered(own.map(toolView), offer),
          offered: offer,
        };
      });
      return c.json({ scope: agentId === null ? 'all' : 'agent', servers } satisfies McpServersResponse);
    });
  };
}
