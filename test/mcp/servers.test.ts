import type { ChildProcess } from 'node:child_process';
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import type { McpServersResponse } from '../../src/mcp/index.js';
import { fetchRunSummary, summaryRows } from '../../src/runtime/index.js';
import { sqliteOf } from '../helpers/db.js';
import { connectMcp, MCP_FIXTURE, startMcpFixture } from '../helpers/mcp.js';
import { agentToken, startTestRuntime, tempDir, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';
import { eventsOf } from '../tools/helpers.js';

// GET /api/mcp/servers: each configured MCP server with its transport, rules,
// prices and breaker, and what its tools/calls came to. Real parts: the official SDK's client
// calls through the cage to a server built with the SDK's McpServer (over streamable HTTP, and
// over stdio as a process the cage launches); the figures are then held to the rows themselves
// (tool_calls and the ledger), read on the test's own connection.

const UPSTREAM_TOKEN = 'Bearer upstream-key-93b1d5e7a2c4f608';

let upstream: ChildProcess;
let url: string;
let t: TestRuntime;
let a: AgentToken;
let b: AgentToken;
let mcp: ReturnType<typeof mcpSchema.parse>;
const work = tempDir('iron-cage-mcp-servers-');

beforeAll(async () => {
  ({ url, child: upstream } = await startMcpFixture('http'));
  mcp = mcpSchema.parse({
    servers: {
      web: {
        url: `${url}?api_key=in-the-query-0f9e8d7c`,
        headers: { Authorization: UPSTREAM_TOKEN },
        tools: { deny: ['delete_*'], cost_usd: { weather: 0.01 } },
        cost_per_call_usd: 0.002,
        timeout_s: 1,
        breaker: { failure_threshold: 2, cooldown_s: 600 },
      },
      local: { command: process.execPath, args: [MCP_FIXTURE, 'stdio'], env: { FIXTURE_TOKEN: 'stdio-secret-1a2b3c4d' }, tools: { allow: ['echo'] } },
    },
  });
  t = await startTestRuntime({ config: { mcp }, dir: work.dir });
  [a, b] = await Promise.all([agentToken(t, { name: 'mcp-a' }), agentToken(t, { name: 'mcp-b' })]);
}, 60_000);

afterAll(async () => {
  await t?.stop();
  upstream?.kill();
  work.cleanup();
});

const connect = (server: string, token: string) => connectMcp(t.rt.url, server, token);

const servers = async (token?: string): Promise<McpServersResponse> => {
  const r = await t.api('/api/mcp/servers', token === undefined ? {} : { token });
  expect(r.status).toBe(200);
  return (await r.json()) as McpServersResponse;
};

/** What the rows say, per server and tool, summed by hand: tool_calls for the calls, the ledger for the cost. */
function fromRows(agentId: string | null) {
  const db = sqliteOf(t.rt.state);
  const calls = db.prepare("SELECT service, path, status, tier, reason, ts FROM tool_calls WHERE method = 'tools/call' AND (? IS NULL OR agent_id = ?)").all(agentId, agentId) as Array<{
    service: string;
    path: string;
    status: number;
    tier: string | null;
    reason: string;
    ts: string;
  }>;
  const charged = db.prepare("SELECT model, cost_micros FROM llm_requests WHERE endpoint = 'mcp' AND provider = 'mcp' AND (? IS NULL OR agent_id = ?)").all(agentId, agentId) as Array<{
    model: string;
    cost_micros: number;
  }>;
  const out: Record<string, Record<string, { calls: number; errors: number; refusals: number; costMicros: number; last: string | null }>> = {};
  const of = (server: string, tool: string) => {
    out[server] ??= {};
    return (out[server]![tool] ??= { calls: 0, errors: 0, refusals: 0, costMicros: 0, last: null });
  };
  for (const r of calls) {
    const x = of(r.service, r.path);
    x.calls++;
    if (r.tier === null) x.refusals++;
    else if (r.status >= 400 || r.reason === 'tool_error') x.errors++;
    if (x.last === null || r.ts > x.last) x.last = r.ts;
  }
  for (const c of charged) {
    const [server, ...tool] = c.model.split('/');
    of(server!, tool.join('/')).costMicros += c.cost_micros;
  }
  return out;
}

/** The answer's figures in the shape `fromRows` gives. */
function fromAnswer(r: McpServersResponse) {
  const out: ReturnType<typeof fromRows> = {};
  for (const s of r.servers) {
    if (s.tools.length === 0) continue;
    out[s.name] = {};
    for (const x of s.tools) out[s.name]![x.name] = { calls: x.calls, errors: x.errors, refusals: x.refusals, costMicros: Math.round(x.costUsd * 1e6), last: x.lastCallAt };
    expect(s.calls).toBe(s.tools.reduce((n, x) => n + x.calls, 0));
    expect(s.errors).toBe(s.tools.reduce((n, x) => n + x.errors, 0));
    expect(s.refusals).toBe(s.tools.reduce((n, x) => n + x.refusals, 0));
    expect(Math.round(s.costUsd * 1e6)).toBe(s.tools.reduce((n, x) => n + Math.round(x.costUsd * 1e6), 0));
    expect(s.lastCallAt).toBe(
      s.tools
        .map((x) => x.lastCallAt!)
        .sort()
        .at(-1),
    );
  }
  return out;
}

describe('GET /api/mcp/servers', () => {
  it('lists each configured server before any call: its transport, where it is (no query, no header values), its rules, prices and a closed breaker', async () => {
    const r = await servers();
    expect(r.scope).toBe('all');
    expect(r.servers.map((s) => s.name)).toEqual(['web', 'local']);
    const [web, local] = r.servers as [McpServersResponse['servers'][number], McpServersResponse['servers'][number]];
    expect(web).toMatchObject({
      transport: 'auto',
      target: url,
      headers: ['Authorization'],
      allow: null,
      deny: ['delete_*'],
      costPerCallUsd: 0.002,
      toolCostsUsd: { weather: 0.01 },
      breaker: { state: 'CLOSED', consecutiveFailures: 0, failureThreshold: 2, cooldownMs: 600_000, retryAt: null, retryAfterMs: 0 },
      calls: 0,
      errors: 0,
      refusals: 0,
      costUsd: 0,
      lastCallAt: null,
      tools: [],
    });
    expect(local).toMatchObject({ transport: 'stdio', target: basename(process.execPath), headers: [], allow: ['echo'], deny: [], costPerCallUsd: 0 });
    const text = JSON.stringify(r);
    for (const secret of ['upstream-key-93b1d5e7a2c4f608', 'in-the-query-0f9e8d7c', 'stdio-secret-1a2b3c4d', 'mcp-server.mjs']) expect(text).not.toContain(secret);
    const bad = await t.api('/api/mcp/servers?x=1');
    expect(bad.status).toBe(400);
  });

  it('counts calls, tool errors, refusals, failures and cost per tool and server exactly as the rows and the ledger say, for everyone and for each agent', async () => {
    const cb = await connect('local', b.token);
    const cw = await connect('web', b.token);
    try {
      await cb.callTool({ name: 'echo', arguments: { text: 'over stdio' } });
      await expect(cb.callTool({ name: 'whoami', arguments: {} })).rejects.toThrow(/tools\.allow \(echo\) does not list it/);
      await cw.callTool({ name: 'echo', arguments: { text: 'three' } });
    } finally {
      await Promise.all([cb.close(), cw.close()]);
    }
    const ca = await connect('web', a.token);
    try {
      await ca.callTool({ name: 'echo', arguments: { text: 'one' } });
      await ca.callTool({ name: 'echo', arguments: { text: 'two' } });
      await ca.callTool({ name: 'weather', arguments: { city: 'Oslo' } });
      expect((await ca.callTool({ name: 'fails', arguments: {} })).isError).toBe(true);
      await expect(ca.callTool({ name: 'delete_repo', arguments: {} })).rejects.toThrow(/tools\.deny lists it/);
      await expect(ca.callTool({ name: 'slow', arguments: { ms: 3_000 } })).rejects.toThrow(/did not answer within 1 s/);
    } finally {
      await ca.close();
    }
    // The last call timed out: one failure in a row (b's echo before it had closed the count).
    // Rows are group-committed a moment after each answer.
    const all = await until(async () => {
      const r = await servers();
      return r.servers.reduce((n, s) => n + s.calls, 0) === 9 ? r : null;
    });
    const web = all.servers.find((s) => s.name === 'web')!;
    const tool = (name: string) => web.tools.find((x) => x.name === name)!;
    // What each call was, as the dashboard says it.
    expect(web.tools.map((x) => x.name)).toEqual(['delete_repo', 'echo', 'fails', 'slow', 'weather']);
    expect(tool('echo')).toMatchObject({ calls: 3, errors: 0, refusals: 0, costUsd: 0.006 });
    expect(tool('weather')).toMatchObject({ calls: 1, errors: 0, refusals: 0, costUsd: 0.01 });
    expect(tool('fails')).toMatchObject({ calls: 1, errors: 1, refusals: 0, costUsd: 0.002 });
    expect(tool('delete_repo')).toMatchObject({ calls: 1, errors: 0, refusals: 1, costUsd: 0 });
    // Sent, so it may have run: a timeout is charged, and it is a failure of the server.
    expect(tool('slow')).toMatchObject({ calls: 1, errors: 1, refusals: 0, costUsd: 0.002 });
    expect(web).toMatchObject({ calls: 7, errors: 2, refusals: 1, breaker: { state: 'CLOSED', consecutiveFailures: 1 } });
    expect(all.servers.find((s) => s.name === 'local')).toMatchObject({ calls: 2, errors: 0, refusals: 1, costUsd: 0 });
    // And to the row: every figure of every tool, for everyone, then each agent's own.
    expect(fromAnswer(all)).toEqual(fromRows(null));
    const viewer = await t.rt.tokens.issue({ role: 'viewer', name: 'viewer' });
    expect(fromAnswer(await servers(viewer))).toEqual(fromRows(null));
    for (const agent of [a, b]) {
      const own = await servers(agent.token);
      expect(own.scope).toBe('agent');
      expect(fromAnswer(own)).toEqual(fromRows(agent.agentId));
      // Where the real servers are stays with the cage.
      expect(own.servers.map((s) => [s.target, s.headers])).toEqual([
        [null, []],
        [null, []],
      ]);
    }
    expect((await servers(b.token)).servers.find((s) => s.name === 'web')).toMatchObject({ calls: 1, tools: [{ name: 'echo', calls: 1 }] });
  });

  it('shows the breaker a server’s failures opened, with the time it lets a call through again', async () => {
    const c = await connect('web', a.token);
    try {
      await expect(c.callTool({ name: 'slow', arguments: { ms: 3_000 } })).rejects.toThrow(/did not answer within 1 s/);
      await expect(c.callTool({ name: 'echo', arguments: { text: 'refused at once' } })).rejects.toThrow(/unavailable/);
    } finally {
      await c.close();
    }
    const r = await until(async () => {
      const s = (await servers()).servers.find((x) => x.name === 'web')!;
      return s.calls === 9 ? s : null;
    });
    expect(r.breaker).toMatchObject({ state: 'OPEN', consecutiveFailures: 2 });
    const retry = Date.parse(r.breaker.retryAt!);
    expect(retry).toBeGreaterThan(Date.now() + 590_000);
    expect(retry).toBeLessThanOrEqual(Date.now() + 600_000);
    expect(r.breaker.retryAfterMs).toBeGreaterThan(590_000);
    expect(r.breaker.retryAfterMs).toBeLessThanOrEqual(600_000);
    // The refusal at the open circuit is a failed call of the server, not the cage's rule.
    expect(r.tools.find((x) => x.name === 'echo')).toMatchObject({ calls: 4, errors: 1 });
    expect(fromAnswer(await servers())).toEqual(fromRows(null));

    // The runtime's one registry of breakers has it: its transition an event naming the agent
    // whose call tripped it, a row in GET /api/breakers, a gauge in /metrics.
    const [opened] = eventsOf(t, 'breaker.transition').filter((e) => e.data.kind === 'mcp');
    expect(opened).toMatchObject({
      agentId: a.agentId,
      severity: 'warn',
      data: { kind: 'mcp', service: 'web', from: 'CLOSED', to: 'OPEN', consecutiveFailures: 2, lastFailure: 'timeout', cooldownMs: 600_000 },
    });
    expect(opened.message).toBe('Circuit web OPEN after 2 consecutive failures (timeout); cooldown 600s');
    const all = await (await t.api('/api/breakers')).json();
    expect(all.mcp).toEqual([expect.objectContaining({ server: 'web', state: 'OPEN', failures: 2, blocked: 1 }), expect.objectContaining({ server: 'local', state: 'CLOSED', failures: 0 })]);
    expect(all.services).toEqual([]);
    const metrics = await (await t.api('/metrics')).text();
    expect(metrics).toContain('iron_cage_breaker_state{kind="mcp",service="web"} 2');
    expect(metrics).toContain('iron_cage_breaker_blocked_calls_total{kind="mcp",service="web"} 1');
    // And the run summary `iron-cage start` prints at the end names it among the breakers tripped.
    const summary = await fetchRunSummary({ url: t.rt.url, adminToken: t.rt.adminToken, agentId: a.agentId, runTimeMs: 1000 });
    expect(summary.breakersTripped).toEqual([{ name: 'MCP web', state: 'OPEN', blocked: 1 }]);
    expect(summaryRows(summary)).toContainEqual(['Breakers tripped', 'MCP web (OPEN, 1 call blocked)']);
  });

  it('keeps an OPEN circuit across a restart, and an admin reset lets the next call through', async () => {
    await t.stop();
    t = await startTestRuntime({ config: { mcp }, dir: work.dir });
    const restored = eventsOf(t, 'breaker.restored').at(-1);
    expect(restored).toMatchObject({ severity: 'warn', data: { kind: 'mcp', service: 'web', state: 'OPEN', problems: [] } });
    expect(restored.message).toMatch(/^Circuit web \(MCP server\) restored OPEN from the last run; probe in \d+s$/);
    expect((await servers()).servers.find((s) => s.name === 'web')!.breaker).toMatchObject({ state: 'OPEN', consecutiveFailures: 2 });

    // Still open: refused at once, the server never asked.
    const c = await connect('web', a.token);
    try {
      // Said once: the cage's answer carries no `MCP error <code>:` of its own for the client to say again.
      await expect(c.callTool({ name: 'echo', arguments: { text: 'still refused' } })).rejects.toThrow(
        /^MCP error -32603: MCP server 'web' is unavailable: the circuit for web is open; retry in \d+ s$/,
      );
      expect((await t.api('/api/breakers/mcp/web/reset', { method: 'POST', token: a.token })).status).toBe(403);
      const reset = await t.api('/api/breakers/mcp/web/reset', { method: 'POST' });
      expect(reset.status).toBe(200);
      expect(await reset.json()).toMatchObject({ server: 'web', state: 'CLOSED' });
      expect(eventsOf(t, 'breaker.reset').at(-1)).toMatchObject({ data: { kind: 'mcp', service: 'web', from: 'OPEN' } });
      expect(eventsOf(t, 'breaker.reset').at(-1).message).toMatch(/^Circuit web \(MCP server\) reset by admin .* \(was OPEN\)$/);
      const ok = await c.callTool({ name: 'echo', arguments: { text: 'through again' } });
      expect(JSON.stringify(ok.content)).toContain('through again');
    } finally {
      await c.close();
    }
    expect((await servers()).servers.find((s) => s.name === 'web')!.breaker).toMatchObject({ state: 'CLOSED', consecutiveFailures: 0 });
  });

  it('lists the tools an agent was offered (its tools/list through the cage), the ones no call used at zero, and how many the rules hid', async () => {
    expect((await servers()).servers.every((s) => s.offered === null)).toBe(true);
    const c = await connect('web', b.token);
    let listed: string[];
    try {
      listed = (await c.listTools()).tools.map((x) => x.name);
      // Asked again (every client lists at start): the list starts over, nothing counted twice.
      expect((await c.listTools()).tools.map((x) => x.name)).toEqual(listed);
    } finally {
      await c.close();
    }
    expect(listed).not.toContain('delete_repo');
    const web = (await servers()).servers.find((s) => s.name === 'web')!;
    expect(web.offered).toEqual({ tools: listed, hidden: 1, at: expect.any(String) });
    // Every tool offered is a row; one no call has used reads zero everywhere.
    expect(web.tools.map((x) => x.name)).toEqual([...new Set([...listed, 'delete_repo', 'echo', 'fails', 'slow', 'weather'])].sort());
    expect(web.tools.find((x) => x.name === 'contact')).toEqual({ name: 'contact', calls: 0, errors: 0, refusals: 0, costUsd: 0, lastCallAt: null });
    expect(web.tools.find((x) => x.name === 'echo')!.calls).toBeGreaterThan(0);
    // The totals are the calls', unchanged by tools nobody called.
    expect(web.calls).toBe(web.tools.reduce((n, x) => n + x.calls, 0));
    // The launched server was never listed.
    expect((await servers()).servers.find((s) => s.name === 'local')!.offered).toBeNull();
  });
});
