import { type ChildProcess, execFile } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { MCPServerStreamableHttp } from '@openai/agents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import { sqliteOf } from '../helpers/db.js';
import { pythonVenv } from '../helpers/venv.js';
import { connectMcp, MCP_FIXTURE, startMcpFixture } from '../helpers/mcp.js';
import { agentToken, ROOT, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// MCP through the cage. Real MCP parts on both sides: the official SDK's client (as an
// agent uses it) against the cage's /mcp/<server>, and a server built with the SDK's McpServer
// behind it, over streamable HTTP and over stdio (a process the cage launches).

const UPSTREAM_TOKEN = 'Bearer upstream-key-7f3c9a1d2e4b6f80';
const STDIO_TOKEN = 'fixture-env-token-55aa66bb77cc88dd';

let upstream: ChildProcess;
let legacy: ChildProcess;
let t: TestRuntime;
let a: AgentToken;

beforeAll(async () => {
  let url: string;
  let sseUrl: string;
  [{ url, child: upstream }, { url: sseUrl, child: legacy }] = await Promise.all([startMcpFixture('http'), startMcpFixture('sse')]);
  const mcp = mcpSchema.parse({
    servers: {
      web: {
        url,
        headers: { Authorization: UPSTREAM_TOKEN },
        tools: { deny: ['delete_*'] },
        timeout_s: 5,
        max_result_mb: 0.05,
        cost_per_call_usd: 0.002,
        breaker: { failure_threshold: 50 },
        sampling: 'relay',
        elicitation: 'relay',
      },
      old: { url: sseUrl, transport: 'sse', headers: { Authorization: 'Bearer legacy-key-0a1b2c3d4e5f' } },
      local: { command: process.execPath, args: [MCP_FIXTURE, 'stdio'], env: { FIXTURE_TOKEN: STDIO_TOKEN }, tools: { allow: ['echo', 'whoami', 'seen'] } },
    },
  });
  t = await startTestRuntime({ config: { mcp } });
  a = await agentToken(t, { name: 'mcp-agent' });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  upstream?.kill();
  legacy?.kill();
});

/** An agent's MCP client on the cage's endpoint for `server`, with its own token. */
const connect = (server: string, token = a.token): Promise<Client> => connectMcp(t.rt.url, server, token);

const textOf = (r: any): string => r.content.map((p: any) => p.text ?? '').join('');
const rowsNow = (service: string) =>
  sqliteOf(t.rt.state).prepare('SELECT agent_id, service, method, path, status, tier, reason, redactions FROM tool_calls WHERE service = ? ORDER BY id').all(service) as Array<Record<string, unknown>>;
/** A server's call rows once there are at least `n` (rows are group-committed, a moment after the answer). */
function rows(service: string, n: number, which: (r: Record<string, unknown>) => boolean = () => true): Promise<Array<Record<string, unknown>>> {
  return until(() => {
    const r = rowsNow(service).filter(which);
    return r.length >= n ? r : null;
  });
}

describe('MCP through the cage, streamable HTTP upstream', () => {
  it('lists only the allowed tools, calls them (plain, structured, erroring) and records each call with its agent', async () => {
    const c = await connect('web');
    try {
      const names = (await c.listTools()).tools.map((x) => x.name).sort();
      expect(names).toEqual(['ask', 'breaks', 'confirm', 'contact', 'echo', 'fails', 'forget', 'huge', 'seen', 'slow', 'sockets', 'weather', 'whoami']);
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'hello' } }))).toBe('echo: hello');
      const w = await c.callTool({ name: 'weather', arguments: { city: 'Oslo' } });
      expect(w.structuredContent).toEqual({ city: 'Oslo', tempC: 21 });
      const f = await c.callTool({ name: 'fails', arguments: {} });
      expect(f.isError).toBe(true);
      expect(textOf(f)).toBe('the tool failed on purpose');
    } finally {
      await c.close();
    }
    const r = await rows('web', 3);
    expect(r.map((x) => [x.path, x.status, x.reason, x.agent_id])).toEqual([
      ['echo', 200, 'ok', a.agentId],
      ['weather', 200, 'ok', a.agentId],
      ['fails', 200, 'tool_error', a.agentId],
    ]);
    const events = (sqliteOf(t.rt.state).prepare("SELECT data FROM events WHERE agent_id = ? AND type = 'mcp.call' ORDER BY seq").all(a.agentId) as Array<{ data: string }>).map((e) =>
      JSON.parse(e.data),
    );
    expect(events.map((e) => [e.tool, e.status, e.isError, e.costUsd])).toEqual(
      expect.arrayContaining([
        ['echo', 'ok', false, 0.002],
        ['fails', 'ok', true, 0.002],
      ]),
    );
    // Metrics count them as tool calls of their server, as the tool proxy's are (once their rows are written).
    const series = /iron_cage_tool_calls_total\{[^}]*service="web"[^}]*\} 3$/m;
    await until(async () => series.test(await (await t.api('/metrics')).text()), 10_000);
  });

  it('refuses a denied tool with an MCP error naming the rule, and never sends it', async () => {
    const c = await connect('web');
    try {
      await expect(c.callTool({ name: 'delete_repo', arguments: {} })).rejects.toThrow(/tool 'delete_repo' is not allowed on MCP server 'web': mcp\.servers\.web\.tools\.deny lists it \(delete_\*\)/);
      const seen = JSON.parse(textOf(await c.callTool({ name: 'seen', arguments: {} })));
      expect(seen.calls.map((x: any) => x.tool)).not.toContain('delete_repo');
    } finally {
      await c.close();
    }
    expect((await rows('web', 1, (x) => x.path === 'delete_repo'))[0]).toMatchObject({ status: 403, reason: 'not_allowed', tier: null });
  });

  it('redacts PII both ways: in the arguments before they leave, in results, resources and prompts before the agent has them', async () => {
    const c = await connect('web');
    try {
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'mail bob@example.org' } }))).toBe('echo: mail [EMAIL_REDACTED]');
      const seen = JSON.parse(textOf(await c.callTool({ name: 'seen', arguments: {} })));
      expect(JSON.stringify(seen)).not.toContain('bob@example.org');
      const contact = textOf(await c.callTool({ name: 'contact', arguments: {} }));
      expect(contact).not.toContain('jane.doe@example.com');
      expect(contact).toContain('[EMAIL_REDACTED]');
      const res = await c.readResource({ uri: 'file:///readme.txt' });
      expect((res.contents[0] as { text: string }).text).toBe('Owner: [EMAIL_REDACTED]');
      const p = await c.getPrompt({ name: 'greet', arguments: { name: 'Ada' } });
      expect((p.messages[0]!.content as { text: string }).text).toBe('Say hello to Ada');
    } finally {
      await c.close();
    }
  });

  it('keeps the credentials it sends out of every answer (an upstream that echoes them)', async () => {
    const c = await connect('web');
    try {
      const who = textOf(await c.callTool({ name: 'whoami', arguments: {} }));
      expect(who).not.toContain('upstream-key-7f3c9a1d2e4b6f80');
      expect(who).toMatch(/^I was called with \S+/);
    } finally {
      await c.close();
    }
  });

  it('bounds a call in time and a result in size, with clear MCP errors', async () => {
    const c = await connect('web');
    try {
      // Just past the timeout, so the test waits no longer than it must.
      await expect(c.callTool({ name: 'slow', arguments: { ms: 5_500 } })).rejects.toThrow(/MCP server 'web' did not answer within 5 s \(mcp\.servers\.web\.timeout_s\)/);
      await expect(c.callTool({ name: 'huge', arguments: { bytes: 200_000 } })).rejects.toThrow(/over mcp\.servers\.web\.max_result_mb/);
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'still here' } }))).toBe('echo: still here');
    } finally {
      await c.close();
    }
    expect((await rows('web', 2, (x) => x.reason === 'timeout' || x.reason === 'too_large')).map((x) => [x.path, x.reason])).toEqual([
      ['slow', 'timeout'],
      ['huge', 'too_large'],
    ]);
  });

  it('is for agents with their own token, and one agent cannot use another agent’s session', async () => {
    const none = await fetch(`${t.rt.url}/mcp/web`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(none.status).toBe(401);
    const admin = await fetch(`${t.rt.url}/mcp/web`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.rt.adminToken}` }, body: '{}' });
    expect(admin.status).toBe(403);
    const unknown = await fetch(`${t.rt.url}/mcp/nope`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${a.token}` }, body: '{}' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as any).error.message).toMatch(/no MCP server 'nope' is configured \(configured: web, old, local/);
    const c = await connect('web');
    const other = await agentToken(t, { name: 'mcp-other' });
    try {
      const id = (c.transport as StreamableHTTPClientTransport).sessionId!;
      const stolen = await fetch(`${t.rt.url}/mcp/web`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${other.token}`,
          'mcp-session-id': id,
          'mcp-protocol-version': '2025-06-18',
        },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(stolen.status).toBe(404);
    } finally {
      await c.close();
    }
  });
});

describe('MCP through the cage, a stdio server the cage launches', () => {
  it('gives the launched server its own secret, keeps it out of answers, and allows only what tools.allow lists', async () => {
    const c = await connect('local');
    try {
      expect((await c.listTools()).tools.map((x) => x.name).sort()).toEqual(['echo', 'seen', 'whoami']);
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'over stdio' } }))).toBe('echo: over stdio');
      const who = textOf(await c.callTool({ name: 'whoami', arguments: {} }));
      expect(who).not.toContain(STDIO_TOKEN);
      await expect(c.callTool({ name: 'contact', arguments: {} })).rejects.toThrow(/mcp\.servers\.local\.tools\.allow \(echo, whoami, seen\) does not list it/);
    } finally {
      await c.close();
    }
    expect((await rows('local', 3)).map((x) => [x.path, x.reason])).toEqual([
      ['echo', 'ok'],
      ['whoami', 'ok'],
      ['contact', 'not_allowed'],
    ]);
  });
});

describe('MCP through the cage, from the OpenAI Agents SDK', () => {
  it('its MCPServerStreamableHttp lists and calls the tools the cage allows, with the agent token', async () => {
    const s = new MCPServerStreamableHttp({ url: `${t.rt.url}/mcp/web`, name: 'web', requestInit: { headers: { authorization: `Bearer ${a.token}` } } });
    await s.connect();
    try {
      const names = (await s.listTools()).map((x) => x.name);
      expect(names).toContain('weather');
      expect(names).not.toContain('delete_repo');
      const out = await s.callTool('echo', { text: 'from agents sdk, mail ann@example.net' });
      expect(JSON.stringify(out)).toContain('echo: from agents sdk, mail [EMAIL_REDACTED]');
    } finally {
      await s.close();
    }
  });
});

describe('MCP through the cage, from the Python SDK', () => {
  it('the mcp package’s client lists, calls and is refused as the TypeScript one is', async () => {
    const v = await pythonVenv(['test/mcp/requirements.txt']);
    if (!v.ok) throw new Error(v.reason);
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        v.python,
        [join(ROOT, 'test/fixtures/mcp_client.py'), 'web'],
        { env: { ...process.env, IRON_CAGE_MCP_URL: `${t.rt.url}/mcp`, IRON_CAGE_TOKEN: a.token }, timeout: 60_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    const r = JSON.parse(out.trim().split('\n').at(-1)!);
    expect(r.tools).toEqual(['ask', 'breaks', 'confirm', 'contact', 'echo', 'fails', 'forget', 'huge', 'seen', 'slow', 'sockets', 'weather', 'whoami']);
    expect(r.echo).toBe('echo: from python, call [PHONE_REDACTED]');
    expect(r.refused).toMatch(/tool 'delete_repo' is not allowed on MCP server 'web'/);
  }, 600_000);
});

describe('MCP through the cage, a server that asks the client', () => {
  it('relays sampling and elicitation to an agent client that takes them (scanned both ways, said), and refuses them where the config or the client does not', async () => {
    const asked: any[] = [];
    const c = new Client({ name: 'asking-agent', version: '1.0.0' }, { capabilities: { sampling: {}, elicitation: {} } });
    c.setRequestHandler(CreateMessageRequestSchema, async (req) => {
      asked.push(req.params);
      return { role: 'assistant', content: { type: 'text', text: 'a fine account; write to bob@example.net' }, model: 'sim' };
    });
    c.setRequestHandler(ElicitRequestSchema, async (req) => {
      asked.push(req.params);
      return { action: 'accept', content: { ok: true } };
    });
    await connectMcp(t.rt.url, 'web', a.token, c);
    try {
      // The question reaches the agent with its PII redacted; the reply reaches the server redacted too.
      expect(textOf(await c.callTool({ name: 'ask', arguments: {} }))).toBe('sampled: a fine account; write to [EMAIL_REDACTED]');
      expect(JSON.stringify(asked[0])).not.toContain('jane.doe@example.com');
      expect(JSON.stringify(asked[0])).toContain('Summarise the account of');
      expect(textOf(await c.callTool({ name: 'confirm', arguments: {} }))).toBe('elicited: accept {"ok":true}');
      expect(asked[1]).toMatchObject({ message: 'Proceed with the order?' });
    } finally {
      await c.close();
    }
    // A client that does not take sampling: refused by the cage, and said.
    const plain = await connect('web');
    try {
      const r = await plain.callTool({ name: 'ask', arguments: {} });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/does not take sampling requests/);
    } finally {
      await plain.close();
    }
    const said = await until(() => {
      const e = t.rt.state
        .lastEvents(500)
        .filter((x) => x.type === 'mcp.request')
        .map((x) => x.data as any);
      return e.length >= 3 ? e : null;
    });
    expect(said.map((e: any) => [e.method, e.action])).toEqual([
      ['sampling/createMessage', 'relayed'],
      ['elicitation/create', 'relayed'],
      ['sampling/createMessage', 'refused'],
    ]);
    // A server whose config refuses sampling is never told the cage takes it: its own SDK refuses before asking.
    const old = await connect('old');
    try {
      const r = await old.callTool({ name: 'ask', arguments: {} });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/sampling failed: .*sampling/i);
    } finally {
      await old.close();
    }
  });
});

describe('MCP through the cage, sessions and the older transport', () => {
  it('reaches a server on the older HTTP+SSE transport, its credential kept out of answers', async () => {
    const c = await connect('old');
    try {
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'via sse' } }))).toBe('echo: via sse');
      // The server got the cage's credential (it echoes it back); the agent never sees it.
      const who = textOf(await c.callTool({ name: 'whoami', arguments: {} }));
      expect(who).toBe('I was called with [CREDENTIAL_REDACTED] and env no token');
      expect(who).not.toContain('legacy-key-0a1b2c3d4e5f');
    } finally {
      await c.close();
    }
    // (The sampling test's call to `ask` on this server aside.)
    expect((await rows('old', 2, (x) => x.path !== 'ask')).map((x) => [x.path, x.reason])).toEqual([
      ['echo', 'ok'],
      ['whoami', 'ok'],
    ]);
  });

  it('ends a session on DELETE: its id then opens nothing, and the agent starts a new one', async () => {
    const c = await connect('web');
    const transport = c.transport as StreamableHTTPClientTransport;
    const id = transport.sessionId!;
    await transport.terminateSession();
    const after = await fetch(`${t.rt.url}/mcp/web`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${a.token}`, 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(after.status).toBe(404);
    await c.close();
    const again = await connect('web');
    try {
      expect(textOf(await again.callTool({ name: 'echo', arguments: { text: 'new session' } }))).toBe('echo: new session');
    } finally {
      await again.close();
    }
  });
});

describe('MCP through the cage, a paused agent', () => {
  it('holds a paused agent’s tools/call at the gate, sending nothing, and lets it through once resumed', async () => {
    const p = await agentToken(t, { name: 'mcp-paused' });
    const c = await connect('web', p.token);
    try {
      const post = (path: string, body: unknown) => t.api(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      expect((await post(`/api/agents/${p.agentId}/pause`, { reason: 'checking the MCP gate' })).status).toBe(200);
      let answered = false;
      const call = c.callTool({ name: 'echo', arguments: { text: 'held at the gate' } }).then((r) => {
        answered = true;
        return r;
      });
      // Held: no row, and the server has not seen it (asked by another agent), until resumed.
      const other = await connect('web');
      try {
        await until(async () => JSON.parse(textOf(await other.callTool({ name: 'seen', arguments: {} }))).calls.length > 0);
        const seen = JSON.parse(textOf(await other.callTool({ name: 'seen', arguments: {} })));
        expect(seen.calls.some((x: any) => x.text === 'held at the gate')).toBe(false);
      } finally {
        await other.close();
      }
      expect(answered).toBe(false);
      expect(rowsNow('web').filter((x) => x.agent_id === p.agentId)).toEqual([]);
      expect((await post(`/api/agents/${p.agentId}/resume`, {})).status).toBe(200);
      expect(textOf(await call)).toBe('echo: held at the gate');
    } finally {
      await c.close();
    }
  });
});

describe('MCP through the cage, charged to the budget', () => {
  it('holds a priced call’s cost before it leaves, charges it with a ledger row, and refuses the call its budget cannot cover', async () => {
    const poor = await agentToken(t, { name: 'mcp-poor', budgetUsd: 0.005 });
    const c = await connect('web', poor.token);
    try {
      // $0.002 a call on 'web': two fit in $0.005, the third does not.
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'one' } }))).toBe('echo: one');
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'two' } }))).toBe('echo: two');
      await expect(c.callTool({ name: 'echo', arguments: { text: 'three' } })).rejects.toThrow(/budget/i);
    } finally {
      await c.close();
    }
    // The refused call never reached the server (asked by an agent with budget to spare).
    const rich = await connect('web');
    try {
      const seen = JSON.parse(textOf(await rich.callTool({ name: 'seen', arguments: {} })));
      expect(seen.calls.filter((x: any) => x.text === 'three')).toEqual([]);
    } finally {
      await rich.close();
    }
    const ledger = sqliteOf(t.rt.state).prepare('SELECT endpoint, provider, model, status, cost_micros FROM llm_requests WHERE agent_id = ? ORDER BY id').all(poor.agentId);
    expect(ledger).toEqual([
      { endpoint: 'mcp', provider: 'mcp', model: 'web/echo', status: 'ok', cost_micros: 2000 },
      { endpoint: 'mcp', provider: 'mcp', model: 'web/echo', status: 'ok', cost_micros: 2000 },
    ]);
    expect((await rows('web', 1, (x) => x.agent_id === poor.agentId && x.reason === 'budget')).map((x) => [x.path, x.status])).toEqual([['echo', 402]]);
    const budget = (await (await t.api(`/api/agents/${poor.agentId}/budget`)).json()) as any;
    expect(budget).toMatchObject({ limitUsd: 0.005, spentUsd: 0.004, reservedUsd: 0 });
    // /metrics' spend is the ledger's, MCP charges included; they are not LLM calls.
    const metrics = await (await t.api('/metrics')).text();
    const spend = [...metrics.matchAll(/^iron_cage_spend_usd_total\{([^}]*provider="mcp"[^}]*)\} (\S+)$/gm)].filter((m) => m[1]!.includes('model="web/echo"'));
    const charged = sqliteOf(t.rt.state).prepare("SELECT coalesce(sum(cost_micros), 0) AS m FROM llm_requests WHERE endpoint = 'mcp' AND model = 'web/echo'").get() as { m: number };
    expect(Math.round(spend.reduce((n, m) => n + Number(m[2]), 0) * 1e6)).toBe(charged.m);
    expect(charged.m).toBeGreaterThanOrEqual(4000);
    expect(metrics).not.toMatch(/^iron_cage_llm_calls_total\{[^}]*provider="mcp"/m);
  });
});

describe('MCP through the cage, on the timeline', () => {
  it('links a tools/call to the LLM call whose answer asked for it, when the next call carries its result', async () => {
    const me = await agentToken(t, { name: 'linked' });
    const chat = (messages: unknown[]) =>
      fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${me.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages }),
      });
    expect((await chat([{ role: 'user', content: 'say hello with echo' }])).status).toBe(200);
    const c = await connect('web', me.token);
    try {
      await c.callTool({ name: 'echo', arguments: { text: 'hello' } });
    } finally {
      await c.close();
    }
    const asked = [
      { role: 'user', content: 'say hello with echo' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'echo', arguments: '{"text":"hello"}' } }] },
      { role: 'tool', tool_call_id: 'call_1', content: 'echo: hello' },
    ];
    expect((await chat(asked)).status).toBe(200);
    const page = await until(async () => {
      const p = (await (await t.api(`/api/agents/${me.agentId}/timeline?lanes=llm,tool`)).json()) as any;
      return p.items.filter((i: any) => i.lane === 'llm' && i.detail.endpoint === 'chat').length >= 2 && p.items.some((i: any) => i.lane === 'tool') ? p : null;
    });
    // (This server's calls are priced: their charges are ledger rows in the llm lane too, endpoint mcp.)
    const [first, second] = page.items.filter((i: any) => i.lane === 'llm' && i.detail.endpoint === 'chat');
    const tool = page.items.find((i: any) => i.lane === 'tool');
    expect(second.detail.chain).toBe('echo');
    expect(tool.links).toEqual([first.key]);
    expect(first.links).toEqual([tool.key]);
    expect(second.links).toEqual([]);
  });

  it("charges the agent's very next LLM call to the MCP server's chain, however soon it comes, and only that call", async () => {
    // The call's row may commit up to 50 ms after its answer (Writer.later): the chain's mark
    // must not wait for it, or a quick agent's next call starts unmarked and the one after it
    // takes the mark.
    const me = await agentToken(t, { name: 'quick' });
    const chat = (content: string) =>
      fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${me.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }),
      });
    const c = await connect('web', me.token);
    try {
      await c.callTool({ name: 'echo', arguments: { text: 'hello' } });
      expect((await chat('what did echo say?')).status).toBe(200);
    } finally {
      await c.close();
    }
    expect((await chat('and now?')).status).toBe(200);
    const chains = await until(() => {
      const r = sqliteOf(t.rt.state).prepare("SELECT chain FROM llm_requests WHERE agent_id = ? AND endpoint = 'chat' ORDER BY id").all(me.agentId) as Array<{ chain: string | null }>;
      return r.length === 2 ? r.map((x) => x.chain) : null;
    });
    expect(chains).toEqual(['web', null]);
  });
});

describe('MCP through the cage, for an agent iron-cage runs', () => {
  it('gives the agent IRON_CAGE_MCP_URL beside its token: a Python agent on the mcp SDK reaches the server through the cage with nothing else', async () => {
    const v = await pythonVenv(['test/mcp/requirements.txt']);
    if (!v.ok) throw new Error(v.reason);
    const mcp = mcpSchema.parse({ servers: { web: { url: (t.rt.config.mcp.web!.target as { url: string }).url, tools: { deny: ['delete_*'] } } } });
    const run = await startTestRuntime({ config: { mcp, python: v.python }, agent: { script: join(ROOT, 'test/fixtures/mcp_client.py'), args: ['web'] } });
    try {
      const line = await until(() => /\{"tools": .*\}/.exec(run.log())?.[0], 60_000);
      const r = JSON.parse(line);
      expect(r.echo).toBe('echo: from python, call [PHONE_REDACTED]');
      expect(r.refused).toMatch(/tool 'delete_repo' is not allowed on MCP server 'web'/);
      const agentId = run.rt.state.listAgents()[0]!.id;
      const calls = await until(() => {
        const c = sqliteOf(run.rt.state).prepare("SELECT path, reason FROM tool_calls WHERE agent_id = ? AND service = 'web' ORDER BY id").all(agentId) as Array<{ path: string; reason: string }>;
        return c.length >= 2 ? c : null;
      });
      expect(calls).toEqual([
        { path: 'echo', reason: 'ok' },
        { path: 'delete_repo', reason: 'not_allowed' },
      ]);
    } finally {
      await run.stop();
    }
  }, 600_000);
});

describe('MCP through the cage, a server that goes away', () => {
  it('answers a clear MCP error, never a hang, and a new session is refused as unavailable while it is down', async () => {
    const c = await connect('old');
    try {
      expect(textOf(await c.callTool({ name: 'echo', arguments: { text: 'before' } }))).toBe('echo: before');
      legacy.kill('SIGKILL');
      await new Promise((r) => legacy.once('exit', r));
      await expect(c.callTool({ name: 'echo', arguments: { text: 'after' } })).rejects.toThrow(/MCP server 'old' is unavailable|Session not found|fetch failed/);
    } finally {
      await c.close().catch(() => undefined);
    }
    await expect(connect('old')).rejects.toThrow(/MCP server 'old' is unavailable/);
  });
});

describe('MCP through the cage, a server that asks on its own stream', () => {
  it('has the server’s own stream open before a call reaches it: a sampling request sent there while a call runs is never lost', async () => {
    // Each new session's first call races the opening of the server's own (GET) stream; a server
    // that asks unrelated to a request finds it open (the fixture's `ask` uses server.createMessage).
    for (let i = 0; i < 5; i++) {
      const c = new Client({ name: `asking-${i}`, version: '1.0.0' }, { capabilities: { sampling: {} } });
      c.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: `reply ${i}` }, model: 'sim' }));
      await connectMcp(t.rt.url, 'web', a.token, c);
      try {
        expect(textOf(await c.callTool({ name: 'ask', arguments: {} }))).toBe(`sampled: reply ${i}`);
      } finally {
        await c.close();
      }
    }
  });
});
