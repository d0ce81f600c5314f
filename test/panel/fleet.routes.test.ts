import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/core/roles.js';
import { fleetRoutes, type FleetAgentDetail, type FleetAgentsResponse, type FleetResponse, type FleetSpend } from '../../src/panel/index.js';
import type { AppEnv } from '../../src/server/index.js';
import { toErrorResponse } from '../../src/server/index.js';
import { DAY_MS, HOUR_MS } from '../../src/core/duration.js';
import { openPostgres, pgSchema, type Postgres } from '../../src/state/panel/pg.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// The fleet routes through app.request() over a real PostgreSQL: who may read them, what each
// answers, and a precise 400 naming the parameter for each bad query.

const NOW = Date.parse('2026-11-23T15:30:00.000Z');
const iso = (t: number) => new Date(t).toISOString();
let server: TestPostgres;
let pg: Postgres;
let app: Hono<AppEnv>;

beforeAll(async () => {
  server = await startPostgres();
  pg = await openPostgres(server.url);
  const t = pgSchema;
  await pg.db.insert(t.runtimes).values([
    { id: 'laptop-a', createdAt: iso(NOW), lastSeq: 3, lastSeenAt: NOW - 1_000, behind: 2 },
    { id: 'laptop-b', createdAt: iso(NOW), lastSeq: 1, lastSeenAt: NOW - 3_600_000 },
  ]);
  await pg.db.insert(t.agents).values({ runtimeId: 'laptop-a', id: 'lg-1', name: 'lead-gen', kind: 'supervised', status: 'running', createdAt: iso(NOW - 60_000), limitMicros: 50_000_000 });
  await pg.db.insert(t.llmRequests).values([
    { runtimeId: 'laptop-a', id: 1, ts: iso(NOW - 30_000), agentId: 'lg-1', endpoint: 'chat', provider: 'openai', model: 'gpt-4o', status: 'ok', costMicros: 1_234_567 },
    { runtimeId: 'laptop-a', id: 2, ts: iso(NOW - 20_000), agentId: 'lg-1', endpoint: 'chat', provider: 'openai', model: 'gpt-4o', status: 'ok', costMicros: 1 },
  ]);
  await pg.db.insert(t.events).values([
    { runtimeId: 'laptop-a', seq: 1, ts: iso(NOW - 60_000), agentId: 'lg-1', type: 'agent.started', severity: 'info', message: 'Agent started' },
    { runtimeId: 'laptop-b', seq: 1, ts: iso(NOW - 40_000), agentId: null, type: 'server.started', severity: 'info', message: 'Iron Cage started' },
    { runtimeId: 'laptop-a', seq: 2, ts: iso(NOW - 30_000), agentId: 'lg-1', type: 'llm.request', severity: 'info', message: 'gpt-4o call', data: '{"costUsd":1.234567}' },
  ]);
  const hour = Math.floor(NOW / HOUR_MS) * HOUR_MS;
  const day = Math.floor(NOW / DAY_MS) * DAY_MS;
  const roll = { runtimeId: 'laptop-a', agentName: 'lead-gen', provider: 'openai', model: 'gpt-4o', calls: 2, costMicros: 1_234_568 };
  await pg.db.insert(t.spendHourly).values({ hour, ...roll });
  await pg.db.insert(t.spendDaily).values({ day, ...roll });

  app = new Hono<AppEnv>();
  app.onError((err, c) => {
    const { status, body } = toErrorResponse(err);
    return c.json(body, status as 400);
  });
  // What the panel's auth middleware does, from a header the test sets.
  app.use('/api/*', async (c, next) => {
    const role = (c.req.header('x-test-role') ?? 'viewer') as Role;
    c.set('principal', { role, name: `a ${role}`, agentId: role === 'agent' ? 'lg-1' : null, jti: 'j' });
    await next();
  });
  fleetRoutes(pg.db, { now: () => NOW })(app);
}, 60_000);
afterAll(async () => {
  await pg?.close();
  await server?.destroy();
});

const get = async (path: string, role: Role = 'viewer') => {
  const res = await app.request(path, { headers: { 'x-test-role': role } });
  return { status: res.status, body: (await res.json()) as any };
};

describe('the fleet routes', () => {
  it('answer admins and viewers, and refuse an agent token on every route', async () => {
    const paths = ['/api/fleet', '/api/fleet/agents', '/api/fleet/events', '/api/fleet/spend', '/api/fleet/runtimes/laptop-a/agents/lg-1'];
    for (const path of paths) {
      expect((await get(path, 'admin')).status, path).toBe(200);
      expect((await get(path, 'viewer')).status, path).toBe(200);
      const refused = await get(path, 'agent');
      expect(refused.status, path).toBe(403);
      expect(refused.body.error.message).toBe('requires the admin or viewer role');
    }
  });

  it('GET /api/fleet: the overview and every runtime, online or not, behind by N', async () => {
    const { body } = (await get('/api/fleet')) as { body: FleetResponse };
    expect(body.overview).toMatchObject({ runtimes: { online: 1, total: 2 }, agents: { running: 1, total: 1 }, today: { costMicros: 1_234_568, calls: 2 } });
    expect(body.runtimes.map((r) => [r.id, r.online, r.behind, r.lastSeq])).toEqual([
      ['laptop-a', true, 2, 3],
      ['laptop-b', false, 0, 1],
    ]);
  });

  it('GET /api/fleet/agents and the drill-down: spend to the micro-dollar, calls newest first', async () => {
    const { body } = (await get('/api/fleet/agents?runtime=laptop-a')) as { body: FleetAgentsResponse };
    expect(body.agents).toHaveLength(1);
    expect(body.agents[0]).toMatchObject({ runtimeId: 'laptop-a', id: 'lg-1', spentMicros: 1_234_568, limitMicros: 50_000_000, calls: 2 });
    expect((await get('/api/fleet/agents?runtime=laptop-b')).body.agents).toEqual([]);
    const d = (await get('/api/fleet/runtimes/laptop-a/agents/lg-1')).body as FleetAgentDetail;
    expect(d.calls.map((c) => [c.id, c.costMicros])).toEqual([
      [2, 1],
      [1, 1_234_567],
    ]);
    expect(d.runtime?.id).toBe('laptop-a');
  });

  it('GET /api/fleet/events: what the fleet recorded, newest first across runtimes (the live list starts from it)', async () => {
    const { body } = await get('/api/fleet/events');
    expect(body.events.map((e: { runtime: string; seq: number; message: string }) => [e.runtime, e.seq, e.message])).toEqual([
      ['laptop-a', 2, 'gpt-4o call'],
      ['laptop-b', 1, 'Iron Cage started'],
      ['laptop-a', 1, 'Agent started'],
    ]);
    expect(body.events[0]).toMatchObject({ agentId: 'lg-1', type: 'llm.request', severity: 'info', data: { costUsd: 1.234567 } });
    expect((await get('/api/fleet/events?limit=1')).body.events).toHaveLength(1);
    expect((await get('/api/fleet/events?limit=0')).status).toBe(400);
  });

  it('GET /api/fleet/spend by each dimension over each window', async () => {
    for (const by of ['runtime', 'user', 'agent', 'model'] as const) {
      for (const window of ['24h', '30d'] as const) {
        const { status, body } = (await get(`/api/fleet/spend?by=${by}&window=${window}`)) as { status: number; body: FleetSpend };
        expect(status).toBe(200);
        expect(body).toMatchObject({ by, window, total: { costMicros: 1_234_568, calls: 2 } });
        expect(body.buckets).toHaveLength(window === '24h' ? 24 : 30);
        expect(body.rows[0]!.key).toBe({ runtime: 'laptop-a', user: null, agent: 'lead-gen', model: 'gpt-4o' }[by]);
      }
    }
    expect((await get('/api/fleet/spend')).body).toMatchObject({ by: 'runtime', window: '24h' });
  });

  it('refuses a bad query with a 400 naming the parameter, and an unknown agent with a 404', async () => {
    const cases: Array<[string, RegExp]> = [
      ['/api/fleet/spend?by=team', /^by: must be one of "runtime", "user", "agent", "model"$/],
      ['/api/fleet/spend?window=7d', /^window: must be one of "24h", "30d"$/],
      ['/api/fleet/spend?by=model&group=x', /^unknown field 'group'$/],
      ['/api/fleet/agents?limit=0', /^limit: /],
      ['/api/fleet/agents?limit=ten', /^limit: /],
      ['/api/fleet/agents?runtime=no%20spaces', /^runtime: a runtime id is/],
      ['/api/fleet?x=1', /^unknown field 'x'$/],
      ['/api/fleet/runtimes/bad%20id/agents/lg-1', /^runtime: a runtime id is/],
    ];
    for (const [path, message] of cases) {
      const { status, body } = await get(path);
      expect(status, path).toBe(400);
      expect(body.error.message, path).toMatch(message);
    }
    const missing = await get('/api/fleet/runtimes/laptop-a/agents/nobody');
    expect(missing.status).toBe(404);
    expect(missing.body.error.message).toBe('no agent nobody on runtime laptop-a');
  });
});
