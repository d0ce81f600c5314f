import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { MultiServerMCPClient } from '@langchain/mcp-adapters';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import { sqliteOf } from '../helpers/db.js';
import { agentToken, ROOT, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// MCP through the cage, the cases test/mcp/mcp.test.ts leaves: another framework's MCP
// client (LangChain.js), a session resumed with Last-Event-ID, a budget spent mid-session, and a
// stdio server killed mid-call. Real parts on both sides, as there: the fixture server built with
// the SDK's McpServer behind the cage, real clients in front of it. (The Python frameworks the
// issue names, langchain-mcp-adapters and openai-agents, are not in the local wheel mirror that
// test/helpers/venv.ts installs from, so they are not driven here.)

const FIXTURE = join(ROOT, 'test/fixtures/mcp-server.mjs');
/** Marks the stdio servers this file's cage launches (an argument the fixture ignores), so a test can find the one of its session. */
const MARK = `frameworks-${randomUUID()}`;
/** What tools/list shows on 'web' (everything but delete_repo, which tools.deny lists). */
const ALLOWED = ['ask', 'breaks', 'confirm', 'contact', 'echo', 'fails', 'forget', 'huge', 'seen', 'slow', 'sockets', 'weather', 'whoami'];

const fixtures: ChildProcess[] = [];
let t: TestRuntime;
let a: AgentToken;

/** The fixture server on streamable HTTP in a process of its own (what it has seen is its own): its URL. */
async function httpFixture(): Promise<string> {
  const p = spawn(process.execPath, [FIXTURE, 'http'], { stdio: ['ignore', 'pipe', 'inherit'] });
  fixtures.push(p);
  let out = '';
  p.stdout!.on('data', (c) => (out += c));
  return until(() => /^(http:\S+)$/m.exec(out)?.[1], 20_000);
}

beforeAll(async () => {
  const [web, shop] = await Promise.all([httpFixture(), httpFixture()]);
  const mcp = mcpSchema.parse({
    servers: {
      web: { url: web, tools: { deny: ['delete_*'] }, timeout_s: 20 },
      // Priced: $0.002 a call, weather $0.001, and `seen` free (so it still answers once the budget is spent).
      shop: { url: shop, cost_per_call_usd: 0.002, tools: { cost_usd: { weather: 0.001, seen: 0 } } },
      proc: { command: process.execPath, args: [FIXTURE, 'stdio', MARK], timeout_s: 30 },
    },
  });
  t = await startTestRuntime({ config: { mcp } });
  a = await agentToken(t, { name: 'frameworks-agent' });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  for (const p of fixtures) p.kill();
});

const textOf = (r: any): string => r.content.map((p: any) => p.text ?? '').join('');
const seenBy = async (c: Client): Promise<Array<Record<string, unknown>>> => JSON.parse(textOf(await c.callTool({ name: 'seen', arguments: {} }))).calls;

/** An agent's MCP client (the official SDK's) on the cage's endpoint for `server`; `fetch` is what its transport sends with. */
async function connect(server: string, o: { token?: string; fetch?: typeof fetch } = {}): Promise<Client> {
  const c = new Client({ name: 'frameworks-agent', version: '1.0.0' });
  await c.connect(
    new StreamableHTTPClientTransport(new URL(`${t.rt.url}/mcp/${server}`), {
      requestInit: { headers: { authorization: `Bearer ${o.token ?? a.token}` } },
      ...(o.fetch ? { fetch: o.fetch } : {}),
      // Reconnects at once: when a resumed stream is asked for is the test's to say (it holds the GET).
      reconnectionOptions: { initialReconnectionDelay: 50, maxReconnectionDelay: 1000, reconnectionDelayGrowFactor: 2, maxRetries: 3 },
    }),
  );
  return c;
}

type Ledger = Record<string, unknown>;
type CallRow = { path: string; status: number; reason: string };
/** An agent's tools/call rows with `server` (written a moment after each answer). */
const callRows = (server: string, agentId: string) =>
  sqliteOf(t.rt.state).prepare('SELECT path, status, reason FROM tool_calls WHERE service = ? AND agent_id = ? ORDER BY id').all(server, agentId) as CallRow[];

/** The pids of the stdio servers this file's cage has running. */
function launched(): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes(MARK)) out.push(Number(d));
    } catch {
      // it ended meanwhile
    }
  }
  return out;
}

describe('MCP through the cage, from LangChain.js (@langchain/mcp-adapters)', () => {
  it('its MultiServerMCPClient lists the allowed tools, and its tool objects call them (plain, structured, PII redacted, a tool error)', async () => {
    const mcp = new MultiServerMCPClient({
      mcpServers: { web: { transport: 'http', url: `${t.rt.url}/mcp/web`, headers: { authorization: `Bearer ${a.token}` } } },
    });
    try {
      const tools: Array<{ name: string; invoke: (args: unknown) => Promise<any> }> = await mcp.getTools();
      const tool = (name: string) => tools.find((x) => x.name === name)!;
      expect(tools.map((x) => x.name).sort()).toEqual(ALLOWED);
      expect(await tool('echo').invoke({ text: 'from langchain, mail zoe@example.org' })).toBe('echo: from langchain, mail [EMAIL_REDACTED]');
      expect(await tool('weather').invoke({ city: 'Oslo' })).toMatchObject({ structuredContent: { city: 'Oslo', tempC: 21 } });
      const contact = await tool('contact').invoke({});
      expect(contact).toContain('[EMAIL_REDACTED]');
      expect(contact).not.toContain('jane.doe@example.com');
      await expect(tool('fails').invoke({})).rejects.toThrow(/returned an error: the tool failed on purpose/);
      // A denied tool is not among its tools; asked for anyway (its own SDK client), the cage refuses it naming the rule.
      const client = await mcp.getClient('web');
      await expect(client!.callTool({ name: 'delete_repo', arguments: {} })).rejects.toThrow(/tool 'delete_repo' is not allowed on MCP server 'web': mcp\.servers\.web\.tools\.deny lists it/);
    } finally {
      await mcp.close();
    }
  });
});

/**
 * A network for an MCP client's transport that breaks once: the SSE stream answering the first
 * tools/call is cut after its first event (the cage's priming event, which carries an id), as a
 * dropped connection would (the client sees its body fail; the cage sees the connection close).
 * A GET resuming a stream (Last-Event-ID) is held until `release()`, so the test says when the
 * client gets back.
 */
function flakyNetwork() {
  const resumed: string[] = [];
  let broken = false;
  let release!: () => void;
  const released = new Promise<void>((r) => (release = r));
  const f: typeof fetch = async (input, init) => {
    const lastEventId = new Headers(init?.headers).get('last-event-id');
    if (init?.method === 'GET' && lastEventId) {
      resumed.push(lastEventId);
      await released;
    }
    const r = await fetch(input, init);
    if (broken || init?.method !== 'POST' || typeof init.body !== 'string' || !init.body.includes('"tools/call"') || !r.body) return r;
    broken = true;
    const reader = r.body.getReader();
    let passed = false;
    const body = new ReadableStream<Uint8Array>({
      async pull(ctl) {
        // The first chunk passes; asked for the next, the connection is gone (an error clears what is queued, so not before).
        if (passed) {
          ctl.error(new TypeError('terminated: the connection was cut'));
          await reader.cancel();
          return;
        }
        const { value, done } = await reader.read();
        if (done) return ctl.close();
        passed = true;
        ctl.enqueue(value);
      },
    });
    return new Response(body, { status: r.status, statusText: r.statusText, headers: r.headers });
  };
  return { fetch: f, resumed, release: () => release() };
}

describe('MCP through the cage, a session resumed (Last-Event-ID)', () => {
  it('a tools/call whose stream breaks is resumed with Last-Event-ID, and the result it missed meanwhile is replayed, the call sent once', async () => {
    const me = await agentToken(t);
    const net = flakyNetwork();
    const c = await connect('web', { token: me.token, fetch: net.fetch });
    try {
      const tokens: string[] = [];
      const call = c.request({ method: 'tools/call', params: { name: 'slow', arguments: { ms: 301 } } }, CallToolResultSchema, { onresumptiontoken: (id) => tokens.push(id) });
      // Cut after the cage's first event: the client asks to resume from it, and is held there until
      // the call has finished at the cage (its row is written after its result is kept for the stream).
      const asked = await until(() => net.resumed[0]);
      expect(asked).toBe(tokens[0]);
      await until(() => callRows('web', me.agentId).some((r) => r.path === 'slow'));
      net.release();
      expect(textOf(await call)).toBe('slow done');
      expect(net.resumed).toEqual([asked]);
      // Resumed, not called again: the server saw it once.
      expect((await seenBy(c)).filter((x) => x.tool === 'slow' && x.ms === 301)).toHaveLength(1);
    } finally {
      await c.close();
    }
    expect(callRows('web', me.agentId)[0]).toEqual({ path: 'slow', status: 200, reason: 'ok' });
  });

  it('a client that restarts picks its call up in the same session from its resumption token', async () => {
    const me = await agentToken(t);
    const first = await connect('web', { token: me.token });
    const sessionId = (first.transport as StreamableHTTPClientTransport).sessionId!;
    const tokens: string[] = [];
    const lost = first
      .request({ method: 'tools/call', params: { name: 'slow', arguments: { ms: 302 } } }, CallToolResultSchema, { onresumptiontoken: (id) => tokens.push(id) })
      .catch((e: unknown) => e);
    const token = await until(() => tokens[0]);
    // The agent's process goes away: its connections close, no DELETE; the session stays with the cage, and the call finishes there.
    await first.close();
    expect(String(await lost)).toMatch(/Connection closed/);
    await until(() => callRows('web', me.agentId).some((r) => r.path === 'slow'));
    const again = new Client({ name: 'frameworks-agent', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${t.rt.url}/mcp/web`), { sessionId, requestInit: { headers: { authorization: `Bearer ${me.token}` } } });
    await again.connect(transport);
    try {
      const r = await again.request({ method: 'tools/call', params: { name: 'slow', arguments: { ms: 302 } } }, CallToolResultSchema, { resumptionToken: token });
      expect(textOf(r)).toBe('slow done');
      expect((await seenBy(again)).filter((x) => x.tool === 'slow' && x.ms === 302)).toHaveLength(1);
    } finally {
      await transport.terminateSession();
      await again.close();
    }
  });
});

describe('MCP through the cage, a budget spent mid-session', () => {
  it('calls pass until the budget is spent, then each priced tools/call is refused in the budget’s words and never sent; the ledger is what the server saw', async () => {
    const poor = await agentToken(t, { name: 'frameworks-poor', budgetUsd: 0.005 });
    const c = await connect('shop', { token: poor.token });
    try {
      // $0.002 + $0.001 + $0.002: the budget, to the cent.
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'one' } }))).toBe('echo: one');
      expect((await c.callTool({ name: 'weather', arguments: { city: 'Oslo' } })).structuredContent).toEqual({ city: 'Oslo', tempC: 21 });
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'two' } }))).toBe('echo: two');
      await expect(c.callTool({ name: 'weather', arguments: { city: 'Rome' } })).rejects.toThrow(/Iron Cage refused this shop\/weather call \(nothing was sent to the provider\): the .*budget/);
      await expect(c.callTool({ name: 'echo', arguments: { text: 'three' } })).rejects.toThrow(/Iron Cage refused this shop\/echo call .*budget/);
      // The same session goes on for what costs nothing: the server saw the three paid calls and nothing refused.
      const seen = await seenBy(c);
      expect(seen).toEqual([
        { tool: 'echo', text: 'one' },
        { tool: 'weather', city: 'Oslo' },
        { tool: 'echo', text: 'two' },
      ]);
      const ledger = sqliteOf(t.rt.state).prepare('SELECT endpoint, provider, model, status, cost_micros FROM llm_requests WHERE agent_id = ? ORDER BY id').all(poor.agentId) as Ledger[];
      expect(ledger.map((r) => r.model)).toEqual(seen.map((x) => `shop/${x.tool}`));
      expect(ledger).toEqual([
        { endpoint: 'mcp', provider: 'mcp', model: 'shop/echo', status: 'ok', cost_micros: 2000 },
        { endpoint: 'mcp', provider: 'mcp', model: 'shop/weather', status: 'ok', cost_micros: 1000 },
        { endpoint: 'mcp', provider: 'mcp', model: 'shop/echo', status: 'ok', cost_micros: 2000 },
      ]);
    } finally {
      await c.close();
    }
    const rows = await until(() => {
      const r = callRows('shop', poor.agentId);
      return r.length >= 6 ? r : null;
    });
    expect(rows.map((r) => [r.path, r.status, r.reason])).toEqual([
      ['echo', 200, 'ok'],
      ['weather', 200, 'ok'],
      ['echo', 200, 'ok'],
      ['weather', 402, 'budget'],
      ['echo', 402, 'budget'],
      ['seen', 200, 'ok'],
    ]);
    const budget = (await (await t.api(`/api/agents/${poor.agentId}/budget`)).json()) as any;
    expect(budget).toMatchObject({ limitUsd: 0.005, spentUsd: 0.005, reservedUsd: 0 });
  });
});

describe('MCP through the cage, a stdio server killed mid-call', () => {
  /** A session on 'proc' with a `slow` call in flight at its server (the server has said so): the client, its server's pid and the call's outcome. */
  async function slowCallInFlight(timeoutMs: number) {
    const before = new Set(launched());
    const c = await connect('proc');
    const pid = await until(() => launched().find((p) => !before.has(p)));
    const t0 = Date.now();
    const outcome = c.callTool({ name: 'slow', arguments: { ms: 25_000 } }, undefined, { timeout: timeoutMs }).then(
      (r) => ({ answer: textOf(r), error: null, ms: Date.now() - t0 }),
      (e: unknown) => ({ answer: null, error: String(e), ms: Date.now() - t0 }),
    );
    await until(async () => (await seenBy(c)).some((x) => x.tool === 'slow'));
    return { c, pid, outcome };
  }

  it('the cage ends the call as failed at once, and the next session launches the server anew and works', async () => {
    const { c, pid, outcome } = await slowCallInFlight(20_000);
    try {
      process.kill(pid, 'SIGKILL');
      const row = await until(() => callRows('proc', a.agentId).find((r) => r.path === 'slow'), 5_000);
      expect(row).toMatchObject({ status: expect.any(Number), reason: expect.not.stringMatching(/^ok$/) });
    } finally {
      await c.close();
    }
    await outcome;
    const again = await connect('proc');
    try {
      expect(launched()).not.toContain(pid);
      expect(textOf(await again.callTool({ name: 'echo', arguments: { text: 'back again' } }))).toBe('echo: back again');
    } finally {
      await again.close();
    }
  });

  // When the launched process dies mid-call, the agent's session stays until the call in flight has
  // its answer (the server is unavailable); before, the session closed at once and the agent waited
  // for its own client's timeout.
  it('the agent is told at once, with a clear MCP error, rather than left to its client’s timeout', async () => {
    const { c, pid, outcome } = await slowCallInFlight(10_000);
    try {
      process.kill(pid, 'SIGKILL');
      const o = await outcome;
      expect(o.error).toMatch(/MCP server 'proc'/);
      expect(o.ms).toBeLessThan(5_000);
    } finally {
      await c.close();
    }
  });
});
