import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { join } from 'node:path';
import WebSocket from 'ws';
import { keyPathFor, loadOrCreateKey } from '../../src/auth/index.js';
import { DEFAULTS } from '../../src/config/index.js';
import { GATEWAY_ROUTES } from '../../src/gateway/index.js';
import type { RouteRow } from '../../src/server/index.js';
import { ROOT, startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';
import { raw, withTools } from '../tools/helpers.js';
import { FakeService } from '../helpers/http.js';

// The RBAC matrix: every caller × every route the server answers, the route list read from the
// running server's own table (RunningServer.routes), so a route added without a row in EXPECTED
// fails the first test below. Each cell is one real request; its status is asserted exactly.
//
// Requests are shaped so that a caller who is let in is stopped right after, without side
// effects: bodies are not JSON (400 once past the role check), ids name nothing (404).

/**
 * How each kind of caller is expected to fare. `self`: a supervised agent's token on its own
 * agent; `external`: an agent API token on its own (external) agent, as `self` unless given;
 * `other`: an agent token on an agent not its own.
 */
interface Access {
  anon: number;
  admin: number;
  viewer: number;
  self: number;
  external?: number;
  other: number;
}

const PUBLIC = (status: number): Access => ({ anon: status, admin: status, viewer: status, self: status, other: status });
/** Admin only: a viewer or an agent is refused (403) after the token is verified. */
const ADMIN = (admin: number): Access => ({ anon: 401, admin, viewer: 403, self: 403, other: 403 });
/** Anyone signed in may read; an agent token sees only its own agent (another one does not exist for it). */
const READ = (ok: number): Access => ({ anon: 401, admin: ok, viewer: ok, self: ok, other: 404 });
/** Lists anyone signed in may read: an agent token's list holds its own agent only (filtered, not refused). */
const LIST = (ok: number): Access => ({ anon: 401, admin: ok, viewer: ok, self: ok, other: ok });
/** People only (admins and viewers): no agent token. */
const STAFF = (ok: number): Access => ({ anon: 401, admin: ok, viewer: ok, self: 403, other: 403 });
/** Admins and the agent itself act; viewers are read-only. */
const ACT = (ok: number): Access => ({ anon: 401, admin: ok, viewer: 403, self: ok, other: 404 });

const EXPECTED: Record<string, Access> = {
  'GET /api/health': PUBLIC(200),
  'POST /api/login': PUBLIC(400),
  'POST /api/session': PUBLIC(400),
  'GET /api/whoami': LIST(200),
  'GET /api/agents': LIST(200),
  'GET /api/agents/:id/status': READ(200),
  'GET /api/agents/:id/metrics': READ(200),
  'GET /api/agents/:id/performance': READ(200),
  'GET /api/agents/:id/timeline': READ(200),
  'GET /api/agents/:id/timeline/overview': READ(200),
  'POST /api/agents/:id/stop': ACT(400),
  'POST /api/agents/:id/progress': ACT(400),
  'POST /api/agents/:id/name': ACT(400),
  'POST /api/agents/:id/events': ACT(400),
  'POST /api/agents/:id/checkpoints': ACT(400),
  'GET /api/agents/:id/checkpoint': { anon: 401, admin: 404, viewer: 403, self: 404, other: 404 },
  'GET /api/events': LIST(200),
  'GET /api/audit/pii': ADMIN(200),
  'GET /api/agents/:id/protection': READ(200),
  'POST /api/agents/:id/budget': ADMIN(400),
  'GET /api/agents/:id/costs': READ(200),
  'GET /api/agents/:id/budget': READ(200),
  'GET /api/agents/:id/steps': READ(200),
  'POST /api/agents/:id/pause': ADMIN(400),
  'POST /api/agents/:id/resume': ADMIN(400),
  'GET /api/agents/:id/watch': READ(200),
  // Approvals: people read the queue, an agent its own; only admins (or users a rule names) decide; only an agent asks ahead.
  'GET /api/approvals': LIST(200),
  'GET /api/approvals/:id': { anon: 401, admin: 404, viewer: 404, self: 404, other: 404 },
  'POST /api/approvals/:id/approve': ADMIN(400),
  'POST /api/approvals/:id/deny': ADMIN(400),
  'POST /api/approvals': { anon: 401, admin: 403, viewer: 403, self: 400, other: 400 },
  'GET /api/agents/:id/approvals': READ(200),
  'GET /api/gateway/providers': LIST(200),
  'POST /api/tokens': ADMIN(400),
  'GET /api/tokens': ADMIN(200),
  'DELETE /api/tokens/:id': ADMIN(404),
  'GET /api/breakers': LIST(200),
  'GET /api/breakers/:service': LIST(200),
  'POST /api/breakers/:service/reset': ADMIN(400),
  'GET /api/breakers/providers/:provider': LIST(200),
  'POST /api/breakers/providers/:provider/reset': ADMIN(400),
  // No MCP server is configured here: anyone signed in is told there is no such server; a reset is for admins first.
  'GET /api/breakers/mcp/:server': { anon: 401, admin: 404, viewer: 404, self: 404, other: 404 },
  'POST /api/breakers/mcp/:server/reset': ADMIN(404),
  'GET /api/faults': STAFF(200),
  'POST /api/faults': ADMIN(400),
  'DELETE /api/faults/:id': ADMIN(404),
  'DELETE /api/faults': ADMIN(200),
  'GET /api/tools/calls': LIST(200),
  // Each MCP server with its figures (none configured here: an empty list); an agent token's are its own calls'.
  'GET /api/mcp/servers': LIST(200),
  'GET /api/secrets': STAFF(200),
  'POST /api/secrets': ADMIN(400),
  'GET /api/secrets/status': STAFF(200),
  'GET /api/secrets/audit': STAFF(200),
  'GET /api/secrets/:id': STAFF(404),
  'PUT /api/secrets/:id': ADMIN(404),
  'DELETE /api/secrets/:id': ADMIN(404),
  // A running supervised agent fetches its secrets; an external agent has no run to give them to.
  'GET /api/agents/:id/secrets': { anon: 401, admin: 200, viewer: 403, self: 200, external: 403, other: 403 },
  'GET /api/users': ADMIN(200),
  'POST /api/users': ADMIN(400),
  'DELETE /api/users/:name': ADMIN(404),
  'GET /': PUBLIC(200),
  'GET /assets/:name': PUBLIC(404),
  // The LLM gateway: only agent tokens make calls (each is metered against an agent's budget).
  // Each route of the gateway's own table under the prefix is probed (GATEWAY_ROUTES): a POST
  // gets a body that is not JSON (400 once let in), a GET is a read (200, or 404 for no model).
  '* /v1/*': { anon: 401, admin: 403, viewer: 403, self: 400, other: 401 },
  '* /messages*': { anon: 401, admin: 403, viewer: 403, self: 400, other: 401 },
  // The tool proxy: agents (and admins, for trying a service by hand) reach services; viewers cannot.
  // A token of an agent this iron-cage does not know opens it no more than the gateway (src/auth/standing.ts).
  '* /tools/*': { anon: 401, admin: 200, viewer: 403, self: 200, other: 401 },
  // Prometheus's figures (metrics.auth: token here, so nobody passes by being on loopback): admins and metrics tokens.
  '* /metrics*': { anon: 401, admin: 200, viewer: 403, self: 403, other: 403 },
  'GET /ws': { anon: 401, admin: 101, viewer: 101, self: 101, other: 101 },
  // The Responses API over a WebSocket: the gateway's token check, before the upgrade completes.
  'GET /v1/responses': { anon: 401, admin: 403, viewer: 403, self: 101, other: 401 },
};

/** The gateway's reads (GET /v1/models): as its row, but an agent let in gets its 200. */
const GATEWAY_READ: Access = { anon: 401, admin: 403, viewer: 403, self: 200, other: 401 };
/** A stored response named by an id (GET/DELETE /v1/responses/{id}…): an agent let in finds no such response (404). */
const GATEWAY_STORED: Access = { anon: 401, admin: 403, viewer: 403, self: 404, other: 401 };

/** One request's status, the access it is held to when not its route's row, and what it was. */
type Probed = [status: number, access?: Access, what?: string];

type Kind = keyof Access;
const expected = (a: Access, k: Kind): number => (k === 'external' ? (a.external ?? a.self) : a[k]!);
interface Caller {
  name: string;
  kind: Kind;
  token: string | null;
  /** The agent id `:id` names for this caller. */
  agentId: string;
}

let t: TestRuntime;
let svc: FakeService;
let callers: Caller[];

beforeAll(async () => {
  svc = await FakeService.start();
  t = await startTestRuntime({
    config: { ...withTools({ echo: { url: svc.url } }), gateway: { ...DEFAULTS.gateway }, metrics: { ...DEFAULTS.metrics, auth: 'token' } },
    agent: { script: join(ROOT, 'test/fixtures/agents/sleeper.py') },
    // An open vault, so its routes answer by role rather than "locked".
    env: { IRON_CAGE_MASTER_KEY: 'rbac-matrix-master-key-0123456789' },
  });
  await until(() => t.log().includes('sleeper ready'));
  const supervised = t.rt.agentId!;
  const tokens = t.rt.tokens;
  const apiToken = async (role: string, name: string) =>
    (await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role, name }) })).json()) as { id: string; token: string; agentId: string | null };
  const [apiAdmin, apiViewer, apiAgent, revoked] = await Promise.all([
    apiToken('admin', 'rbac-admin'),
    apiToken('viewer', 'rbac-viewer'),
    apiToken('agent', 'rbac-agent'),
    apiToken('viewer', 'rbac-revoked'),
  ]);
  expect((await t.api(`/api/tokens/${revoked.id}`, { method: 'DELETE' })).status).toBe(200);
  // Signed with the server's own key, valid in every way but its `exp`, an hour ago.
  const { key } = loadOrCreateKey(keyPathFor(t.rt.config.db));
  const hourAgo = Math.floor(Date.now() / 1000) - 3600;
  const expired = await new SignJWT({ role: 'admin', name: 'expired' })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer('iron-cage')
    .setIssuedAt(hourAgo - 60)
    .setExpirationTime(hourAgo)
    .sign(key);
  callers = [
    { name: 'no token', kind: 'anon', token: null, agentId: supervised },
    { name: 'garbage token', kind: 'anon', token: 'not-a-token', agentId: supervised },
    { name: 'expired admin JWT', kind: 'anon', token: expired, agentId: supervised },
    { name: 'revoked API token', kind: 'anon', token: revoked.token, agentId: supervised },
    { name: 'admin JWT', kind: 'admin', token: t.rt.adminToken, agentId: supervised },
    { name: 'admin API token', kind: 'admin', token: apiAdmin.token, agentId: supervised },
    { name: 'viewer JWT', kind: 'viewer', token: await tokens.issue({ role: 'viewer', name: 'viewer' }), agentId: supervised },
    { name: 'viewer API token', kind: 'viewer', token: apiViewer.token, agentId: supervised },
    { name: 'agent JWT (own agent)', kind: 'self', token: (await tokens.issueRun({ name: supervised, agentId: supervised })).token, agentId: supervised },
    { name: 'agent API token (own agent)', kind: 'external', token: apiAgent.token, agentId: apiAgent.agentId! },
    { name: 'agent JWT (another agent)', kind: 'other', token: (await tokens.issueRun({ name: 'ot-00000000', agentId: 'ot-00000000' })).token, agentId: supervised },
  ];
});
afterAll(async () => {
  await t?.stop();
  await svc?.close();
});

const key = (r: RouteRow) => `${r.method} ${r.path}`;

/** Ids that name nothing, so a caller let in stops at 404 instead of changing anything. */
const PARAMS: Record<string, string> = { service: 'echo', provider: 'simulated' };

function concretePath(path: string, c: Caller): string {
  return path
    .replace('/api/secrets/:id', '/api/secrets/secret-0000000000000000')
    .replace(/^\/api\/(tokens|faults)\/:id$/, (_m, what: string) => `/api/${what}/no-such-${what}`)
    .replace('/assets/:name', '/assets/no-such-asset.js')
    .replace(':id', c.agentId)
    .replace(/:(\w+)/g, (_m, p: string) => PARAMS[p] ?? `no-such-${p}`);
}

async function probe(r: RouteRow, c: Caller): Promise<Probed[]> {
  if (r.surface === 'ws') return [[await wsStatus(c.token, r.path)]];
  if (r.surface === 'raw' && (r.path === '/v1/*' || r.path === '/messages*')) {
    // Every route of the gateway's table under this prefix, each refused or let in alike.
    const prefix = r.path.slice(0, -1);
    const routes = GATEWAY_ROUTES.map((k) => k.split(' ') as [string, string]).filter(([, path]) => path.startsWith(prefix));
    expect(routes.length).toBeGreaterThan(0);
    const calls = routes.map(async ([method, path]): Promise<Probed> => {
      const status = (await raw(t.rt.url, method, path, { token: c.token, body: method === 'POST' ? 'not json' : undefined })).status;
      if (path.includes('{id}')) return [status, GATEWAY_STORED, `${method} ${path}`];
      return method === 'GET' ? [status, GATEWAY_READ, `${method} ${path}`] : [status, undefined, `${method} ${path}`];
    });
    return Promise.all(calls);
  }
  if (r.surface === 'raw' && r.path === '/tools/*') return [[(await raw(t.rt.url, 'GET', '/tools/echo/rbac', { token: c.token })).status]];
  if (r.surface === 'raw' && r.path === '/metrics*') return [[(await raw(t.rt.url, 'GET', '/metrics', { token: c.token })).status]];
  const body = r.method === 'POST' || r.method === 'PUT' ? 'not json' : undefined;
  return [[(await raw(t.rt.url, r.method, concretePath(r.path, c), { token: c.token, body, headers: { 'content-type': 'application/json' } })).status]];
}

function wsStatus(token: string | null, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${t.rt.url.replace('http', 'ws')}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode!);
      res.resume();
      ws.terminate();
    });
    ws.once('error', (e) => reject(e));
  });
}

describe('RBAC matrix', () => {
  it('every route the server answers has a row of expected access, and every row is a route', () => {
    const routes = t.rt.server.routes.map(key).sort();
    expect(
      routes.filter((k) => !(k in EXPECTED)),
      'routes without a row in EXPECTED',
    ).toEqual([]);
    expect(
      Object.keys(EXPECTED).filter((k) => !routes.includes(k)),
      'rows in EXPECTED for no route',
    ).toEqual([]);
  });

  // Every route for every kind of caller (a few thousand requests): 15 s of a 30 s limit in a loaded full run.
  it('every caller gets exactly the expected status on every route', { timeout: 90_000 }, async () => {
    const wrong: string[] = [];
    for (const r of t.rt.server.routes) {
      const want = EXPECTED[key(r)];
      if (!want) continue; // reported by the test above
      for (const c of callers) {
        for (const [got, access, what] of await probe(r, c)) {
          const should = expected(access ?? want, c.kind);
          if (got !== should) wrong.push(`${what ?? key(r)} as ${c.name}: ${got}, expected ${should}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

// The control panel's matrix (`iron-cage panel`, on a real PostgreSQL): its own route table, and
// a fourth kind of caller, the runtime token, which reports telemetry for its own runtime id and
// is refused (403) everywhere else, the WebSocket included.

interface PanelAccess {
  anon: number;
  admin: number;
  viewer: number;
  /** A runtime token, for its own runtime id. */
  runtime: number;
  /** A scraper's token (`panel token create`): GET /metrics only. */
  metrics: number;
}
const P_PUBLIC = (s: number): PanelAccess => ({ anon: s, admin: s, viewer: s, runtime: s, metrics: s });
const P_ADMIN = (s: number): PanelAccess => ({ anon: 401, admin: s, viewer: 403, runtime: 403, metrics: 403 });
const P_STAFF = (s: number): PanelAccess => ({ anon: 401, admin: s, viewer: s, runtime: 403, metrics: 403 });
const P_RUNTIME = (s: number): PanelAccess => ({ anon: 401, admin: 403, viewer: 403, runtime: s, metrics: 403 });

const PANEL_EXPECTED: Record<string, PanelAccess> = {
  'GET /api/health': P_PUBLIC(200),
  'POST /api/login': P_PUBLIC(400),
  'POST /api/session': P_PUBLIC(400),
  'GET /api/whoami': P_STAFF(200),
  'GET /api/users': P_ADMIN(200),
  'POST /api/users': P_ADMIN(400),
  'DELETE /api/users/:name': P_ADMIN(404),
  'GET /api/tokens': P_ADMIN(200),
  'POST /api/tokens': P_ADMIN(400),
  'DELETE /api/tokens/:id': P_ADMIN(404),
  'GET /api/runtimes': P_STAFF(200),
  'POST /api/runtimes': P_ADMIN(400),
  'DELETE /api/runtimes/:id': P_ADMIN(404),
  'GET /api/fleet': P_STAFF(200),
  'GET /api/fleet/agents': P_STAFF(200),
  'GET /api/fleet/events': P_STAFF(200),
  'GET /api/fleet/spend': P_STAFF(200),
  'GET /api/fleet/runtimes/:runtime/agents/:id': P_STAFF(404),
  'GET /api/telemetry': P_RUNTIME(200),
  'POST /api/telemetry': P_RUNTIME(400),
  'GET /api/budgets': P_STAFF(200),
  'GET /api/budgets/:id': P_STAFF(404),
  'POST /api/budgets': P_ADMIN(400),
  'PATCH /api/budgets/:id': P_ADMIN(400),
  'DELETE /api/budgets/:id': P_ADMIN(404),
  'POST /api/leases': P_RUNTIME(400),
  // The panel's vault: the runtime's routes and rules (no agent's own route: a panel runs no agent).
  'GET /api/secrets': P_STAFF(200),
  'POST /api/secrets': P_ADMIN(400),
  'GET /api/secrets/status': P_STAFF(200),
  'GET /api/secrets/audit': P_STAFF(200),
  'GET /api/secrets/:id': P_STAFF(404),
  'PUT /api/secrets/:id': P_ADMIN(404),
  'DELETE /api/secrets/:id': P_ADMIN(404),
  'PUT /api/runtimes/:id/secrets': P_ADMIN(400),
  // A runtime reads the secrets in its scope (no names asked: 400); nobody else reads them this way.
  'GET /api/runtime/secrets': P_RUNTIME(400),
  // The fleet's approvals: people read the queue; a decision is a person's (a viewer the rule names may take one, so a bad body is a 400 before that is known); the runtime reads its decisions back.
  'GET /api/approvals': P_STAFF(200),
  'POST /api/approvals/:runtime/:id/approve': P_STAFF(400),
  'POST /api/approvals/:runtime/:id/deny': P_STAFF(400),
  'GET /api/runtime/approvals': P_RUNTIME(200),
  'GET /': P_PUBLIC(200),
  'GET /assets/:name': P_PUBLIC(404),
  'GET /ws': { anon: 401, admin: 101, viewer: 101, runtime: 403, metrics: 403 },
  // The fleet's Prometheus figures (metrics.auth token here, so no caller passes by being on loopback).
  '* /metrics*': { anon: 401, admin: 200, viewer: 403, runtime: 403, metrics: 200 },
};

describe('RBAC matrix of the control panel', () => {
  let pgServer: import('../helpers/postgres.js').TestPostgres;
  let panel: import('../helpers/panel.js').TestPanel;
  let panelCallers: Array<{ name: string; kind: keyof PanelAccess; token: string | null }>;
  beforeAll(async () => {
    const { startPostgres } = await import('../helpers/postgres.js');
    const { startTestPanel } = await import('../helpers/panel.js');
    pgServer = await startPostgres();
    panel = await startTestPanel(pgServer.url, { metrics: { ...DEFAULTS.metrics, auth: 'token' } }, { env: { IRON_CAGE_MASTER_KEY: 'rbac-matrix-panel-master-key-0123' } });
    const rt = (await (await panel.api('/api/runtimes', { token: panel.admin, body: { id: 'rbac-rt' } })).json()) as { token: string };
    await panel.api('/api/users', { token: panel.admin, body: { name: 'rbac-viewer', role: 'viewer', password: 'a long viewer password' } });
    const viewer = (await (await panel.api('/api/login', { body: { name: 'rbac-viewer', password: 'a long viewer password' } })).json()) as { token: string };
    const metrics = (await (await panel.api('/api/tokens', { token: panel.admin, body: { role: 'metrics', name: 'rbac-prometheus' } })).json()) as { token: string };
    panelCallers = [
      { name: 'no token', kind: 'anon', token: null },
      { name: 'garbage token', kind: 'anon', token: 'ic_not-a-token' },
      { name: 'admin session', kind: 'admin', token: panel.admin },
      { name: 'viewer session', kind: 'viewer', token: viewer.token },
      { name: 'runtime token', kind: 'runtime', token: rt.token },
      { name: 'metrics token', kind: 'metrics', token: metrics.token },
    ];
  }, 60_000);
  afterAll(async () => {
    await panel?.close();
    await pgServer?.destroy();
  });

  it('every route the panel answers has a row, and every caller gets exactly its status', async () => {
    const routes = panel.panel.server.routes.map(key).sort();
    expect(routes.filter((k) => !(k in PANEL_EXPECTED))).toEqual([]);
    expect(Object.keys(PANEL_EXPECTED).filter((k) => !routes.includes(k))).toEqual([]);
    const wrong: string[] = [];
    for (const r of panel.panel.server.routes) {
      const want = PANEL_EXPECTED[key(r)];
      if (!want) continue;
      for (const c of panelCallers) {
        let got: number;
        if (r.surface === 'ws') got = await wsStatusAt(panel.url, c.token);
        else if (r.surface === 'raw') got = (await panel.api(r.path.replace(/\*$/, ''), { token: c.token })).status;
        else {
          const path = r.path
            .replace('/assets/:name', '/assets/no-such-asset.js')
            .replace('/api/secrets/:id', '/api/secrets/secret-0000000000000000')
            .replace(/:(\w+)/g, (_m, p: string) => `no-such-${p}`);
          got = (await panel.api(path, { method: r.method, token: c.token, ...(r.method === 'POST' ? { raw: 'not json' } : {}) })).status;
        }
        if (got !== want[c.kind]) wrong.push(`${key(r)} as ${c.name}: ${got}, expected ${want[c.kind]}`);
      }
    }
    expect(wrong).toEqual([]);
  }, 30_000);
});

/** The status of a WebSocket upgrade at this server. */
function wsStatusAt(url: string, token: string | null): Promise<number> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws${token ? `?token=${token}` : ''}`);
    ws.on('open', () => {
      ws.close();
      resolve(101);
    });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    ws.on('error', () => undefined);
  });
}
