import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mcpSchema } from '../../src/config/mcp.js';
import { toolsSchema } from '../../src/config/tools.js';
import type { FleetResponse } from '../../src/panel/index.js';
import type { TelemetryBatchInput } from '../../src/state/index.js';
import { sqliteOf } from '../helpers/db.js';
import { FakeService } from '../helpers/http.js';
import { connectMcp, mcpCallRow, startMcpFixture } from '../helpers/mcp.js';
import { agentRow, startTestPanel, type TestPanel } from '../helpers/panel.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { agentToken, ROOT, startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';

// MCP on the control panel: the fleet view counts each runtime's MCP calls (its
// tool_calls rows with method `tools/call`). A real runtime whose agent calls a real MCP server
// through the cage (and an HTTP tool through the proxy, which is no MCP call) reports to a real
// panel on PostgreSQL; the panel's count equals the runtime's own rows. Batches sent by hand show
// a row counted once however often it is sent.

const RUNTIME = 'rt-mcp';

let pgServer: TestPostgres;
let panel: TestPanel;
let svc: FakeService;
let upstream: ChildProcess;
let t: TestRuntime;

beforeAll(async () => {
  let url: string;
  [pgServer, svc, { url, child: upstream }] = await Promise.all([startPostgres(), FakeService.start(), startMcpFixture('http')]);
  panel = await startTestPanel(pgServer.url);
  const added = await panel.api('/api/runtimes', { token: panel.admin, body: { id: RUNTIME } });
  expect(added.status).toBe(201);
  const { token } = (await added.json()) as { token: string };
  t = await startTestRuntime({
    config: {
      mcp: mcpSchema.parse({ servers: { web: { url, tools: { deny: ['delete_*'] } } } }),
      tools: toolsSchema.parse({ crm: { url: svc.url } }),
      panel: { url: panel.url, token, ca: null },
    },
  });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  await panel?.close();
  upstream?.kill();
  await Promise.all([pgServer?.destroy(), svc?.close()]);
});

const fleetRuntime = async (id: string) => {
  const r = await panel.api('/api/fleet', { token: panel.admin });
  expect(r.status).toBe(200);
  return ((await r.json()) as FleetResponse).runtimes.find((x) => x.id === id)!;
};
const panelCount = async (q: string, ...params: unknown[]) => {
  const c = new pg.Client(pgServer.url);
  await c.connect();
  try {
    return Number((await c.query(q, params)).rows[0].n);
  } finally {
    await c.end();
  }
};

describe('the fleet view counts MCP calls per runtime', () => {
  it('equal to the tools/call rows the runtime itself holds: calls, refusals and tool errors, not its HTTP tool calls', async () => {
    expect((await fleetRuntime(RUNTIME)).mcpCalls).toBe(0);
    const agent = await agentToken(t, { name: 'mcp-fleet-agent' });
    const c = await connectMcp(t.rt.url, 'web', agent.token);
    try {
      await c.callTool({ name: 'echo', arguments: { text: 'one' } });
      await c.callTool({ name: 'echo', arguments: { text: 'two' } });
      expect((await c.callTool({ name: 'fails', arguments: {} })).isError).toBe(true);
      await expect(c.callTool({ name: 'delete_repo', arguments: {} })).rejects.toThrow(/not allowed/);
    } finally {
      await c.close();
    }
    const proxied = await fetch(`${t.rt.url}/tools/crm/contacts`, { headers: { authorization: `Bearer ${agent.token}` } });
    expect(proxied.status).toBe(200);
    const own = sqliteOf(t.rt.state);
    const mine = await until(() => {
      const n = (own.prepare("SELECT count(*) AS n FROM tool_calls WHERE method = 'tools/call'").get() as { n: number }).n;
      return n === 4 ? n : null;
    });
    const all = (own.prepare('SELECT count(*) AS n FROM tool_calls').get() as { n: number }).n;
    expect(all).toBe(5);
    // Once every row has landed on the panel (the reporter sends them within a second or so).
    await until(async () => (await panelCount('SELECT count(*) AS n FROM tool_calls WHERE runtime_id = $1', RUNTIME)) === all, 20_000);
    expect((await fleetRuntime(RUNTIME)).mcpCalls).toBe(mine);
    expect(await panelCount("SELECT count(*) AS n FROM tool_calls WHERE runtime_id = $1 AND method = 'tools/call'", RUNTIME)).toBe(mine);
  });

  it('counts a row once, whether its batch comes twice or the row comes again in a later batch', async () => {
    const added = await panel.api('/api/runtimes', { token: panel.admin, body: { id: 'rt-batches' } });
    const { token } = (await added.json()) as { token: string };
    const ts = '2026-11-23T10:15:00.000Z';
    const call = (id: number, method: string) => ({ id, ...mcpCallRow({ ts, service: 'web', method, path: method === 'tools/call' ? 'echo' : '/echo' }) });
    const batch = (seq: number, toolCalls: ReturnType<typeof call>[]): TelemetryBatchInput => ({
      runtime: 'rt-batches',
      seq,
      sentAt: new Date().toISOString(),
      agents: [agentRow('ag-1', 'mcp-agent', ts)],
      events: [],
      llmRequests: [],
      toolCalls,
    });
    const send = async (b: TelemetryBatchInput) => {
      const r = await panel.api('/api/telemetry', { token, body: b });
      expect(r.status, await r.clone().text()).toBe(200);
      return (await r.json()) as { duplicate: boolean; stored: { toolCalls: number } };
    };
    const first = batch(1, [call(1, 'tools/call'), call(2, 'GET'), call(3, 'tools/call')]);
    expect((await send(first)).stored.toolCalls).toBe(3);
    expect((await fleetRuntime('rt-batches')).mcpCalls).toBe(2);
    expect((await send(first)).duplicate).toBe(true);
    // Row 3 again (the runtime resent it after a restart of either side) beside a new one: only the new one counts.
    expect((await send(batch(2, [call(3, 'tools/call'), call(4, 'tools/call'), call(5, 'POST')]))).stored.toolCalls).toBe(2);
    expect((await fleetRuntime('rt-batches')).mcpCalls).toBe(3);
    expect(await panelCount("SELECT count(*) AS n FROM tool_calls WHERE runtime_id = $1 AND method = 'tools/call'", 'rt-batches')).toBe(3);
  });

  it('a panel upgraded from before the count (pg migration 0017) counts the MCP calls it already held, once', async () => {
    const migration = readFileSync(join(ROOT, 'src/state/migrations/pg/0017_runtime_mcp_calls.sql'), 'utf8').split('--> statement-breakpoint');
    const backfill = migration.find((s) => /^\s*UPDATE/m.test(s))!;
    const c = new pg.Client(pgServer.url);
    await c.connect();
    try {
      // The rows as they were, uncounted: the column as the migration's first statement adds it.
      await c.query('UPDATE runtimes SET mcp_calls = 0');
      await c.query(backfill);
    } finally {
      await c.end();
    }
    expect((await fleetRuntime(RUNTIME)).mcpCalls).toBe(4);
    expect((await fleetRuntime('rt-batches')).mcpCalls).toBe(3);
  });
});
