import { getRequestListener } from '@hono/node-server';
import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { createServer, type Server } from 'node:http';
import { PassThrough } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { UnauthorizedError } from '../../src/core/errors.js';
import { createLogger } from '../../src/core/logger.js';
import { PanelFeed } from '../../src/panel/feed.js';
import { approvalsRoutes, budgetRoutes, CentralBudgets, fleetRoutes, Outage } from '../../src/panel/index.js';
import { LEASE_DEFAULTS } from '../../src/domain/budget/index.js';
import { onPostgres, UsersStore, RuntimesStore } from '../../src/state/index.js';
import type { AppEnv } from '../../src/server/index.js';
import { toErrorResponse } from '../../src/server/index.js';
import { dashboardDir, loadDashboard, mountDashboard } from '../../src/server/static.js';
import { DAY_MS, HOUR_MS } from '../../src/core/duration.js';
import { openPostgres, pgSchema, type Postgres } from '../../src/state/panel/pg.js';
import { inEveryThemeAndSize, launchBrowser, type TestBrowser, type WatchedPage } from '../helpers/browser.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { until } from '../helpers/runtime.js';

// The fleet page in real Chromium: the built dashboard served beside the fleet routes over a real
// PostgreSQL filled by fixtures, and a /ws that pushes the panel's frames as the test says (the
// panel's own server and ingest are tested on their own). It shows three runtimes and their
// agents, drills into one, follows runtime and batch frames live, and fits a phone and a projector.

const TOKEN = 'fleet-viewer-token';
const t = pgSchema;
const iso = (ms: number) => new Date(ms).toISOString();
let server: TestPostgres;
let pg: Postgres;
let http: Server;
let wss: WebSocketServer;
const sockets = new Set<WebSocket>();
let url: string;
let browser: TestBrowser;
let page: WatchedPage;
const now = Date.now();
const hour = Math.floor(now / HOUR_MS) * HOUR_MS;
const day = Math.floor(now / DAY_MS) * DAY_MS;

const push = (frame: object) => {
  for (const s of sockets) s.send(JSON.stringify(frame));
};

async function fixtures(): Promise<void> {
  await pg.db.insert(t.users).values({ id: 'u-ana', name: 'ana', role: 'viewer', passwordHash: 'x', createdAt: iso(now) });
  await pg.db.insert(t.runtimes).values([
    { id: 'laptop-ana', userId: 'u-ana', createdAt: iso(now), lastSeq: 9, lastSeenAt: now - 2_000, behind: 3, hostname: 'ana-mbp', version: '0.9.0', mcpCalls: 1234 },
    { id: 'laptop-bo', createdAt: iso(now), lastSeq: 4, lastSeenAt: now - 10 * 60_000, hostname: 'bo-x1', version: '0.9.0' },
    { id: 'ci-runner-7', createdAt: iso(now), lastSeq: 1, lastSeenAt: now - 1_000 },
  ]);
  const agent = (runtimeId: string, id: string, name: string, status: string, limitMicros: number | null) => ({
    runtimeId,
    id,
    name,
    kind: 'supervised',
    status,
    createdAt: iso(now - 3_600_000),
    startedAt: iso(now - 3_600_000),
    limitMicros,
    progressDone: 12,
    progressTotal: 100,
    progressUnit: 'leads',
  });
  await pg.db
    .insert(t.agents)
    .values([
      { ...agent('laptop-ana', 'lg-7a3f9c2d', 'lead-gen', 'running', 50_000_000), sandbox: JSON.stringify({ sandboxed: true, write: ['/home/ana/leads'] }) },
      { ...agent('laptop-bo', 'lg-11111111', 'lead-gen', 'crashed', 10_000_000), sandbox: JSON.stringify({ sandboxed: false, why: 'bubblewrap (bwrap) is not installed' }) },
      agent('ci-runner-7', 'sum-2222', 'summarizer', 'running', null),
    ]);
  const calls = Array.from({ length: 14 }, (_, i) => ({
    runtimeId: 'laptop-ana',
    id: i + 1,
    ts: iso(now - (14 - i) * 60_000),
    agentId: 'lg-7a3f9c2d',
    endpoint: 'chat',
    provider: 'openai',
    model: 'gpt-4o-mini',
    status: i === 3 ? 'error' : 'ok',
    promptTokens: 900,
    completionTokens: 120,
    costMicros: i === 3 ? 0 : 250_000,
  }));
  await pg.db.insert(t.llmRequests).values(calls);
  await pg.db.insert(t.events).values([
    { runtimeId: 'laptop-ana', seq: 1, ts: iso(now - 3_600_000), agentId: 'lg-7a3f9c2d', type: 'agent.started', severity: 'info', message: 'Agent started' },
    { runtimeId: 'laptop-ana', seq: 2, ts: iso(now - 60_000), agentId: 'lg-7a3f9c2d', type: 'budget.threshold', severity: 'warn', message: 'Budget 5% used' },
    // A prompt injection the summarizer read: counted on its row, its runtime's and the fleet's figure.
    {
      runtimeId: 'ci-runner-7',
      seq: 1,
      ts: iso(now - 120_000),
      agentId: 'sum-2222',
      type: 'injection.detected',
      severity: 'warn',
      message: 'Prompt injection detected in a tool result',
      data: JSON.stringify({ source: 'tool.response', action: 'detected', callId: null, score: 0.97, signals: ['addressed-to-model'], excerpt: 'AI assistant: ignore…', requestRef: 'tool:search' }),
    },
  ]);
  await pg.db.insert(t.toolCalls).values({
    runtimeId: 'laptop-ana',
    id: 1,
    ts: iso(now - 30_000),
    agentId: 'lg-7a3f9c2d',
    service: 'hubspot-crm-contacts-v3',
    method: 'GET',
    path: '/contacts/42',
    status: 200,
    tier: 'live',
    reason: 'ok',
    latencyMs: 40,
  });
  await pg.db.insert(t.breakers).values({ runtimeId: 'laptop-ana', service: 'tool:linkedin-sales-navigator', snapshot: '{"state":"OPEN","consecutiveFailures":5}', updatedAt: iso(now - 30_000) });
  // A provider's and an MCP server's, as a runtime saves them (`llm:`, `mcp:`).
  await pg.db.insert(t.breakers).values([
    { runtimeId: 'laptop-ana', service: 'llm:openai', snapshot: '{"state":"CLOSED","consecutiveFailures":0}', updatedAt: iso(now - 30_000) },
    { runtimeId: 'laptop-ana', service: 'mcp:github', snapshot: '{"state":"HALF_OPEN","consecutiveFailures":2}', updatedAt: iso(now - 30_000) },
  ]);
  const roll = (runtimeId: string, agentName: string, model: string, costMicros: number, calls: number) => ({
    runtimeId,
    agentName,
    provider: 'openai',
    model,
    costMicros,
    calls,
    errors: 0,
    promptTokens: calls * 900,
    completionTokens: calls * 120,
  });
  await pg.db.insert(t.spendHourly).values([
    { hour, ...roll('laptop-ana', 'lead-gen', 'gpt-4o-mini', 3_250_000, 14) },
    { hour: hour - 5 * HOUR_MS, ...roll('laptop-bo', 'lead-gen', 'gpt-4o', 1_500_000, 3) },
    { hour, ...roll('ci-runner-7', 'summarizer', 'claude-3-5-haiku-20241022', 20_000, 2) },
  ]);
  await pg.db.insert(t.spendDaily).values([
    { day, ...roll('laptop-ana', 'lead-gen', 'gpt-4o-mini', 3_250_000, 14) },
    { day: hour - 5 * HOUR_MS >= day ? day : day - DAY_MS, ...roll('laptop-bo', 'lead-gen', 'gpt-4o', 1_500_000, 3) },
    { day, ...roll('ci-runner-7', 'summarizer', 'claude-3-5-haiku-20241022', 20_000, 2) },
    { day: day - 12 * DAY_MS, ...roll('laptop-bo', 'lead-gen', 'gpt-4o', 40_000_000, 80) },
  ]);
}

beforeAll(async () => {
  server = await startPostgres();
  pg = await openPostgres(server.url);
  await fixtures();
  const app = new Hono<AppEnv>();
  app.onError((err, c) => {
    const { status, body } = toErrorResponse(err);
    return c.json(body, status as 400);
  });
  app.get('/api/health', (c) => c.json({ status: 'ok', mode: 'panel' }));
  app.use('/api/*', async (c, next) => {
    if (c.req.header('authorization') !== `Bearer ${TOKEN}`) throw new UnauthorizedError('no such token');
    c.set('principal', { role: 'viewer', name: 'ana', agentId: null, jti: 'j' });
    await next();
  });
  app.get('/api/whoami', (c) => c.json({ role: 'viewer', name: 'ana', agentId: null }));
  fleetRoutes(pg.db)(app);
  // The panel's own budget routes on the same database (no budget in these fixtures: fleet-budgets.test.ts shows them).
  const logger = createLogger({ format: 'json', level: 'error', stream: new PassThrough() });
  const outage = new Outage(logger, 'test');
  budgetRoutes({ budgets: new CentralBudgets(pg.db, { logger, outage, feed: new PanelFeed(), lease: LEASE_DEFAULTS }), outage })(app);
  // And its approvals (none in these fixtures: fleet-approvals.test.ts shows them).
  approvalsRoutes({ db: pg.db, runtimes: new RuntimesStore(pg.db), users: new UsersStore(onPostgres(pg.db)), feed: new PanelFeed(), outage, logger })(app);
  mountDashboard(app, loadDashboard(dashboardDir()));
  http = createServer(getRequestListener(app.fetch));
  wss = new WebSocketServer({ noServer: true });
  http.on('upgrade', (req, socket, head) => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/ws' || u.searchParams.get('token') !== TOKEN) return socket.destroy();
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
    });
  });
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  browser = await launchBrowser();
  page = await browser.open(`${url}/#token=${TOKEN}`, { viewport: { width: 1440, height: 900 } });
}, 90_000);

afterAll(async () => {
  await page?.close();
  await browser?.close();
  for (const s of sockets) s.terminate();
  wss?.close();
  await new Promise((r) => (http ? http.close(r) : r(null)));
  await pg?.close();
  await server?.destroy();
});

const text = (testid: string) => page.page.getByTestId(testid).first().innerText();
const runtimeRow = (id: string) => page.page.locator(`[data-testid="fleet-runtime"][data-runtime="${id}"]`);

describe('the fleet page', () => {
  it('shows the three runtimes (online, offline, behind by N, their MCP calls), their agents and the spend', async () => {
    const p = page.page;
    await p.getByTestId('fleet').waitFor();
    await until(async () => (await p.getByTestId('fleet-runtime').count()) === 3, 10_000);
    expect(await runtimeRow('laptop-ana').getByTestId('runtime-state').innerText()).toContain('Online');
    expect(await runtimeRow('laptop-bo').getByTestId('runtime-state').innerText()).toContain('Offline');
    expect(await runtimeRow('laptop-ana').getByTestId('runtime-behind').innerText()).toBe('3 rows');
    expect(await runtimeRow('laptop-ana').innerText()).toContain('ana');
    // Its agents' MCP calls as it reported them (test/panel/mcp-calls.test.ts: the count equals the rows).
    expect(await runtimeRow('laptop-ana').getByTestId('runtime-mcp-calls').innerText()).toBe('1,234');
    expect(await runtimeRow('laptop-bo').getByTestId('runtime-mcp-calls').innerText()).toBe('0');
    expect(await text('fleet-online')).toBe('2 of 3');
    // The prompt injection one agent read: the fleet's figure, its runtime's row and its agent's, no other.
    expect(await text('fleet-injections')).toBe('⚠️ 1 prompt injection read by 1 agent');
    expect(await runtimeRow('ci-runner-7').getByTestId('runtime-injections').innerText()).toContain('1 prompt injection read');
    expect(await runtimeRow('laptop-ana').getByTestId('runtime-injections').count()).toBe(0);
    await until(async () => (await p.getByTestId('fleet-agent').count()) === 3, 10_000);
    expect(await p.locator('[data-testid="fleet-agent"][data-runtime="ci-runner-7"]').getByTestId('fleet-agent-injections').innerText()).toContain('1 prompt injection read');
    expect(await p.locator('[data-testid="fleet-agent"][data-runtime="laptop-ana"]').getByTestId('fleet-agent-injections').count()).toBe(0);
    const ana = p.locator('[data-testid="fleet-agent"][data-runtime="laptop-ana"]');
    expect(await ana.getByTestId('fleet-agent-spend').innerText()).toBe('$3.25 of $50.00');
    // Which runtimes' agents are sandboxed, as each runtime reported; one that said nothing shows nothing.
    expect(await ana.getByTestId('fleet-agent-sandbox').innerText()).toContain('sandboxed');
    expect(await ana.getByTestId('fleet-agent-sandbox').getAttribute('data-sandboxed')).toBe('true');
    const bo = p.locator('[data-testid="fleet-agent"][data-runtime="laptop-bo"]');
    expect(await bo.getByTestId('fleet-agent-sandbox').innerText()).toContain('not sandboxed');
    expect(await p.locator('[data-testid="fleet-agent"][data-runtime="ci-runner-7"]').getByTestId('fleet-agent-sandbox').count()).toBe(0);
    expect(await text('spend-total')).toBe('$4.77');
    expect(await p.getByTestId('spend-row').count()).toBe(3);
    await p.getByTestId('spend-by').selectOption('model');
    await until(async () => (await p.locator('[data-testid="spend-row"][data-key="gpt-4o"]').count()) === 1, 10_000);
    await p.getByTestId('spend-window').selectOption('30d');
    await until(async () => (await text('spend-total')) === '$44.77', 10_000);
    expect(await p.getByTestId('spend-chart').count()).toBe(1);
    // No central budget on this panel: the Budgets panel says how an admin sets one.
    await p.getByTestId('no-budgets').waitFor({ timeout: 10_000 });
    expect(page.problems()).toEqual([]);
  });

  it('drills into one agent: its calls, events, tool calls and its runtime’s breakers', async () => {
    const p = page.page;
    await p.locator('[data-testid="fleet-agent"][data-runtime="laptop-ana"] button').click();
    await p.getByTestId('drill').waitFor();
    expect(await text('drill-spent')).toBe('$3.25');
    expect(await text('drill-calls')).toBe('14');
    expect(await p.getByTestId('drill-calls-table').locator('tbody tr').count()).toBe(10);
    expect(await text('drill-events')).toContain('Budget 5% used');
    expect(await text('drill-tools')).toContain('/contacts/42');
    expect(await text('drill-breakers')).toContain('OPEN');
    // Each named as the page names it elsewhere, not by the key it is saved under.
    const chips = await p.getByTestId('drill-breakers').locator('li').allInnerTexts();
    expect(chips).toContain('MCP server github HALF-OPEN (2 failures)');
    expect(chips).toContain('openai (LLM provider) CLOSED');
    expect(page.problems()).toEqual([]);
  });

  it('follows the panel live: a runtime frame at once, a batch frame through the aggregates it changed', async () => {
    await until(async () => sockets.size > 0, 10_000);
    // As the panel does: the runtime's row first, then its frame.
    const seen = Date.now();
    await pg.db.update(t.runtimes).set({ lastSeenAt: seen, behind: 0 });
    await pg.db.update(t.runtimes).set({ behind: 7 }).where(eq(t.runtimes.id, 'laptop-bo'));
    for (const id of ['laptop-ana', 'ci-runner-7']) push({ kind: 'runtime', runtime: id, lastSeenAt: seen, behind: 0 });
    push({ kind: 'runtime', runtime: 'laptop-bo', lastSeenAt: seen, behind: 7 });
    await until(async () => (await runtimeRow('laptop-bo').getByTestId('runtime-state').innerText()).includes('Online'), 10_000);
    expect(await runtimeRow('laptop-bo').getByTestId('runtime-behind').innerText()).toBe('7 rows');
    expect(await text('fleet-online')).toBe('3 of 3');
    // A batch lands (the panel's ingest wrote its rows and rollups), then its frame comes.
    await pg.db
      .insert(t.llmRequests)
      .values({ runtimeId: 'laptop-ana', id: 15, ts: iso(Date.now()), agentId: 'lg-7a3f9c2d', endpoint: 'chat', provider: 'openai', model: 'gpt-4o-mini', status: 'ok', costMicros: 1_000_000 });
    await pg.db
      .insert(t.spendDaily)
      .values({ day: Math.floor(Date.now() / DAY_MS) * DAY_MS, runtimeId: 'laptop-ana', agentName: 'lead-gen', provider: 'openai', model: 'gpt-4.1', costMicros: 1_000_000, calls: 1 });
    const ev = { runtime: 'laptop-ana', seq: 3, ts: iso(Date.now()), agentId: 'lg-7a3f9c2d', type: 'llm.request', severity: 'info', message: 'gpt-4o-mini call $1.00', data: {} };
    const { runtime: runtimeId, ...row } = ev;
    await pg.db.insert(t.events).values({ ...row, runtimeId, data: '{}' });
    push({ kind: 'batch', runtime: 'laptop-ana', seq: 10, events: [ev], stored: { agents: 0, events: 1, llmRequests: 1, toolCalls: 0, breakers: 0 } });
    await until(async () => (await text('drill-spent')) === '$4.25', 10_000);
    await until(async () => (await text('spend-total')) === '$45.77', 10_000);
    expect(await text('fleet-live')).toContain('gpt-4o-mini call $1.00');
    expect(await text('drill-events')).toContain('gpt-4o-mini call $1.00');
    // The refetches the batch caused keep what the frames said.
    expect(await runtimeRow('laptop-bo').getByTestId('runtime-behind').innerText()).toBe('7 rows');
    expect(await text('fleet-online')).toBe('3 of 3');
    expect(page.problems()).toEqual([]);
  });

  it('asks for the aggregates a burst of batches changed once or twice, not once per batch', async () => {
    const spendAsked: string[] = [];
    const count = (r: { url(): string }) => void (r.url().includes('/api/fleet/spend') && spendAsked.push(r.url()));
    page.page.on('request', count);
    try {
      await pg.db
        .insert(t.spendDaily)
        .values({ day: Math.floor(Date.now() / DAY_MS) * DAY_MS, runtimeId: 'ci-runner-7', agentName: 'summarizer', provider: 'openai', model: 'gpt-4.1-mini', costMicros: 3_000_000, calls: 1 });
      for (let seq = 2; seq < 32; seq++) push({ kind: 'batch', runtime: 'ci-runner-7', seq, events: [], stored: { agents: 0, events: 0, llmRequests: 1, toolCalls: 0, breakers: 0 } });
      await until(async () => (await text('spend-total')) === '$48.77', 10_000);
      expect(spendAsked.length).toBeGreaterThanOrEqual(1);
      expect(spendAsked.length).toBeLessThanOrEqual(2);
    } finally {
      page.page.off('request', count);
    }
  });

  it('fits a phone and a projector, in both themes: nothing scrolls sideways', async () => {
    const sizes = [
      { width: 390, height: 844 },
      { width: 1920, height: 1080 },
    ];
    await inEveryThemeAndSize(page, sizes, async ({ theme, size, overflow }) => {
      expect(overflow, `${size.width}px ${theme}`).toBeLessThanOrEqual(0);
      await page.screenshot(`fleet-${size.width}-${theme}`);
    });
    expect(page.problems()).toEqual([]);
  });
});
