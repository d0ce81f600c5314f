import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, LoggingMessageNotificationSchema, McpError, ResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import { policiesSchema, policySet } from '../../src/config/policies.js';
import { SAFETY_DEFAULTS } from '../../src/config/safety.js';
import { AGENT_NOTIFICATIONS, AGENT_REQUESTS } from '../../src/mcp/session.js';
import { costOf, refusedBy } from '../../src/mcp/policy.js';
import { sqliteOf } from '../helpers/db.js';
import { connectMcp } from '../helpers/mcp.js';
import { agentToken, ROOT, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// "Hardening, fourth round", MCP: every message of a server passes the same guards whatever its
// shape (errors of every method, notifications, progress, its initialize answer, tool
// descriptions), every message of the agent's is scanned on its way out, one gate takes every
// method whatever the server declared, tool rules and prices fold names as the policies do, and
// progress reaches the agent. Real parts: the official SDK's client as the agent, the cage, and a
// server gone bad built on the SDK's Server (test/fixtures/mcp-guarded-server.mjs).

const FIXTURE = join(ROOT, 'test/fixtures/mcp-guarded-server.mjs');
/** What the cage sends each server (its Authorization header): the servers echo it. */
const SECRET = 'Bearer guard-key-5d1f0c9b8a7e6d4c';
const BARE_SECRET = 'Bearer bare-key-0a9b8c7d6e5f4a3b';
/** What the servers' words carry besides: an e-mail address and an SSN. */
const EMAIL = 'jane.doe@example.com';
const SSN = '123-45-6789';
/** What the agent's words carry: an e-mail address, and a card number (its type is `block`). */
const AGENT_EMAIL = 'bob@example.org';
const CARD = '4111 1111 1111 1111';
/** Nothing of these is stored, in any table or log line. */
const RAW = ['guard-key-5d1f0c9b8a7e6d4c', 'bare-key-0a9b8c7d6e5f4a3b', EMAIL, SSN, AGENT_EMAIL, CARD];

let guarded: { url: string; child: ChildProcess };
let bare: { url: string; child: ChildProcess };
let t: TestRuntime;
let a: AgentToken;

async function startFixture(mode: 'full' | 'bare'): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, [FIXTURE, mode], { stdio: ['ignore', 'pipe', 'inherit'] });
  let said = '';
  child.stdout!.on('data', (c) => (said += c));
  const url = await until(() => /^(http:\S+)$/m.exec(said)?.[1], 20_000);
  return { url, child };
}

beforeAll(async () => {
  [guarded, bare] = await Promise.all([startFixture('full'), startFixture('bare')]);
  const mcp = mcpSchema.parse({
    servers: {
      guarded: { url: guarded.url, transport: 'streamable-http', headers: { Authorization: SECRET }, sampling: 'relay', tools: { deny: ['delete_*'], cost_usd: { expensive: 5 } }, timeout_s: 20 },
      rejecting: { url: guarded.url.replace(/\/mcp$/, '/reject'), transport: 'streamable-http', headers: { Authorization: SECRET } },
      bare: { url: bare.url, transport: 'streamable-http', headers: { Authorization: BARE_SECRET }, tools: { deny: ['delete_*'], cost_usd: { delete_all: 5 } }, timeout_s: 20 },
      bounded: { url: guarded.url, transport: 'streamable-http', headers: { Authorization: SECRET }, max_result_mb: 1, timeout_s: 20 },
    },
  });
  const policies = policySet(policiesSchema.parse([{ match: { mcp: 'bare.*', tool: 'delete_all' }, action: 'deny', reason: 'never' }]));
  t = await startTestRuntime({ config: { mcp, policies, safety: { ...SAFETY_DEFAULTS, perType: { CREDIT_CARD: 'block' }, onBlock: 'refuse' } } });
  a = await agentToken(t, { name: 'guarded-agent', budgetUsd: 1 });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  guarded?.child.kill();
  bare?.child.kill();
});

/** An agent's client on the cage's endpoint for `server`. */
const connect = (server: string, client?: Client) => connectMcp(t.rt.url, server, a.token, client);
/** What the fixture `f` was sent so far. */
const seenBy = async (f: { url: string }): Promise<{ requests: Array<{ method: string; params: any }>; notifications: Array<{ method: string; params: any }> }> =>
  (await fetch(new URL('/seen', f.url))).json() as never;
/** The rejection of `p`, as the agent's SDK gives it. */
const rejection = (p: Promise<unknown>): Promise<McpError> =>
  p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e as McpError,
  );
const expectClean = (text: string) => {
  for (const raw of RAW) expect(text).not.toContain(raw);
};
const rowsOf = (service: string) =>
  sqliteOf(t.rt.state).prepare('SELECT path, status, tier, reason, detail FROM tool_calls WHERE service = ? ORDER BY id').all(service) as Array<Record<string, unknown>>;
const refusedSaid = () =>
  t.rt.state
    .lastEvents(1000)
    .filter((e) => e.type === 'mcp.request' && (e.data as { action: string }).action === 'refused')
    .map((e) => e.data as { server: string; method: string; reason: string });

describe('MCP guards: a server’s words, whatever their shape', () => {
  it('cleans errors of every method (message and data), the initialize answer, tool descriptions, notifications and progress, and stores nothing raw', async () => {
    const logs: unknown[] = [];
    const c = new Client({ name: 'guards-agent', version: '1.0.0' });
    c.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params));
    await connect('guarded', c);
    let errors: McpError[];
    let told: string;
    try {
      // A tools/call's error, and the errors of methods that are no tools/call.
      errors = await Promise.all([rejection(c.callTool({ name: 'leak', arguments: {} })), rejection(c.readResource({ uri: 'file:///missing.txt' })), rejection(c.getPrompt({ name: 'broken' }))]);
      // A log line the server sends during a call (the agent's own stream may open a moment after it connected).
      await until(async () => {
        await c.callTool({ name: 'notify', arguments: {} });
        return logs.length > 0;
      });
      told = JSON.stringify({
        instructions: c.getInstructions(),
        title: c.getServerVersion()?.title,
        tools: await c.listTools(),
        resources: await c.listResources(),
        prompts: await c.listPrompts(),
        logs,
      });
    } finally {
      await c.close();
    }
    // The row keeps the cleaned error: the server answered (rpc_error), it is not "unavailable".
    const rows = await until(() => {
      const r = rowsOf('guarded').filter((x) => x.path === 'leak');
      return r.length > 0 ? r : null;
    });
    expectClean(String(rows[0]!.detail));
    expect(rows[0]!.detail).toMatch(/\[CREDENTIAL_REDACTED\]/);
    expect(rows[0]).toMatchObject({ status: 502, reason: 'rpc_error', tier: 'failed' });
    for (const e of errors) {
      expect(e).toBeInstanceOf(McpError);
      expect(e.code).toBe(-32000);
      expect(e.message).toMatch(/refused: you sent \[CREDENTIAL_REDACTED\]; ask \[EMAIL_REDACTED\], SSN \[SSN_REDACTED\]/);
      // Keys too: a structure is the server's, and a key is text it chose.
      // Two keys redacted alike are both kept; a `__proto__` key stays a key.
      expect(JSON.stringify(e.data)).toBe(
        JSON.stringify({
          echo: '[CREDENTIAL_REDACTED]',
          owner: '[EMAIL_REDACTED], SSN [SSN_REDACTED]',
          '[CREDENTIAL_REDACTED] for [EMAIL_REDACTED]': 'a key of the data',
          nested: JSON.parse('{"[EMAIL_REDACTED]":1,"[EMAIL_REDACTED] #2":2,"__proto__":{"kept":true}}'),
        }),
      );
    }
    expectClean(told);
    // Scrubbed and scanned, not merely left out: the instructions, a tool's description, the log line.
    expect(told).toMatch(/Call me with \[CREDENTIAL_REDACTED\]; owner \[EMAIL_REDACTED\]/);
    expect(told).toMatch(/Leaks \[CREDENTIAL_REDACTED\] to \[EMAIL_REDACTED\]/);
    expect(told).toMatch(/a log line for \[EMAIL_REDACTED\], SSN \[SSN_REDACTED\] with \[CREDENTIAL_REDACTED\]/);
  });

  it('cleans a server’s refusal of the cage’s initialize (an error page echoing the credential) before the agent or the log has it', async () => {
    const refused = await connect('rejecting').then(
      () => '',
      (e: Error) => e.message,
    );
    expect(refused).toMatch(/MCP server 'rejecting' is unavailable: .*HTTP 401.*bad credentials \[CREDENTIAL_REDACTED\] for \[EMAIL_REDACTED\]/);
    expectClean(refused);
    await until(() => /mcp rejecting: could not connect/.test(t.log()));
    expectClean(t.log());
  });

  it('relays the server’s progress on a long call to the agent, with the agent’s token, its message cleaned', async () => {
    // The fixture sends 4 when the SDK's client calls it directly.
    const direct = new Client({ name: 'direct', version: '1.0.0' });
    await direct.connect(new StreamableHTTPClientTransport(new URL(guarded.url), { requestInit: { headers: { authorization: SECRET } } }));
    const straight: unknown[] = [];
    try {
      await direct.callTool({ name: 'progress', arguments: {} }, undefined, { onprogress: (p) => void straight.push(p) });
    } finally {
      await direct.close();
    }
    expect(straight).toHaveLength(4);

    const c = await connect('guarded');
    const got: Array<{ progress: number; total?: number; message?: string }> = [];
    try {
      const r = await c.callTool({ name: 'progress', arguments: {} }, undefined, { onprogress: (p) => void got.push(p) });
      expect((r.content as Array<{ text: string }>)[0]!.text).toBe('progress done');
    } finally {
      await c.close();
    }
    expect(got.map((p) => [p.progress, p.total])).toEqual([
      [1, 4],
      [2, 4],
      [3, 4],
      [4, 4],
    ]);
    expect(got[0]!.message).toBe('step 1 of 4 for [EMAIL_REDACTED], SSN [SSN_REDACTED] ([CREDENTIAL_REDACTED])');
    expectClean(JSON.stringify(got));
  });
});

describe('MCP guards: the agent’s words, every method', () => {
  it('scans prompts/get arguments, resources/read URIs, completion values and a cancellation’s reason before they leave; block mode refuses; a cursor passes as it is', async () => {
    const c = await connect('guarded');
    try {
      const p = await c.getPrompt({ name: 'greet', arguments: { name: AGENT_EMAIL } });
      expect((p.messages[0]!.content as { text: string }).text).toBe('Say hello to [EMAIL_REDACTED]');
      await c.readResource({ uri: `file:///users/${AGENT_EMAIL}/notes.txt` });
      await c.complete({ ref: { type: 'ref/prompt', name: 'greet' }, argument: { name: 'name', value: AGENT_EMAIL } });
      await c.setLoggingLevel('warning');
      await c.listTools({ cursor: 'page-2' });
      // Block mode (cards here): refused, never sent.
      const blocked = await rejection(c.getPrompt({ name: 'greet', arguments: { name: CARD } }));
      expect(blocked.message).toMatch(/blocked .*CREDIT_CARD/);
      // A cancellation's reason is the agent's word too.
      const cancel = new AbortController();
      const slow = rejection(c.callTool({ name: 'slow', arguments: { ms: 10_000 } }, undefined, { signal: cancel.signal }));
      await until(async () => (await seenBy(guarded)).requests.some((r) => r.method === 'tools/call' && r.params.name === 'slow'));
      cancel.abort(`stop it, write to ${AGENT_EMAIL}`);
      await slow;
      // (The client sends its cancellation after it gave up: closed at once, it would never leave.)
      await until(async () => (await seenBy(guarded)).notifications.some((n) => n.method === 'notifications/cancelled'));
    } finally {
      await c.close();
    }
    const seen = await seenBy(guarded);
    const sent = (method: string) => seen.requests.filter((r) => r.method === method).map((r) => r.params);
    expect(sent('prompts/get').map((x) => x.arguments)).toContainEqual({ name: '[EMAIL_REDACTED]' });
    expect(sent('resources/read').map((x) => x.uri)).toContain('file:///users/[EMAIL_REDACTED]/notes.txt');
    expect(sent('completion/complete').map((x) => x.argument.value)).toContain('[EMAIL_REDACTED]');
    expect(sent('logging/setLevel')).toContainEqual({ level: 'warning' });
    expect(sent('tools/list').map((x) => x?.cursor)).toContain('page-2');
    expect(seen.notifications.find((n) => n.method === 'notifications/cancelled')!.params.reason).toBe('stop it, write to [EMAIL_REDACTED]');
    expectClean(JSON.stringify(seen));
  });

  it('relays the agent’s progress on a question the server asked it with the server’s token, scanned; the question reaches the agent cleaned', async () => {
    const asked: unknown[] = [];
    const c = new Client({ name: 'sampling-agent', version: '1.0.0' }, { capabilities: { sampling: {} } });
    c.setRequestHandler(CreateMessageRequestSchema, async (req, extra) => {
      asked.push(req.params);
      const token = req.params._meta?.progressToken;
      if (token !== undefined) await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2, message: `half way, ask ${AGENT_EMAIL}` } });
      return { role: 'assistant', content: { type: 'text', text: 'a summary' }, model: 'sim' };
    });
    await connect('guarded', c);
    try {
      expect((await c.callTool({ name: 'ask', arguments: {} })).content).toEqual([{ type: 'text', text: 'sampled: a summary' }]);
      const progress = await until(async () => (await seenBy(guarded)).notifications.find((n) => n.method === 'notifications/progress') ?? null);
      expect(progress.params).toEqual({ progressToken: 'server-token-7', progress: 1, total: 2, message: 'half way, ask [EMAIL_REDACTED]' });
    } finally {
      await c.close();
    }
    // The agent was asked with the cage's own token, never the server's.
    expect((asked[0] as { _meta: { progressToken: unknown } })._meta.progressToken).not.toBe('server-token-7');
    expect(JSON.stringify(asked)).toContain('Summarise [EMAIL_REDACTED], SSN [SSN_REDACTED]');
    expectClean(JSON.stringify(asked));
  });

  it('drops a notification it does not know and says so; one it knows passes only scanned', async () => {
    const c = new Client({ name: 'rooted', version: '1.0.0' }, { capabilities: { roots: { listChanged: true } } });
    await connect('guarded', c);
    try {
      await c.notification({ method: 'notifications/acme/leak', params: { who: AGENT_EMAIL } } as never);
      await c.notification({ method: 'notifications/roots/list_changed', params: { _meta: { who: AGENT_EMAIL } } });
      // A request after them: the notifications were handled before it was answered.
      await c.listPrompts();
    } finally {
      await c.close();
    }
    await until(() => refusedSaid().some((e) => e.method === 'notifications/acme/leak'));
    const seen = await seenBy(guarded);
    expect(seen.notifications.map((n) => n.method)).not.toContain('notifications/acme/leak');
    expectClean(JSON.stringify(seen));
  });
});

describe('MCP guards: one gate for every method, whatever the server declared', () => {
  it('relays the specification’s methods only, each with the scan both ways; the agent’s known notifications are listed', () => {
    expect(Object.keys(AGENT_REQUESTS).sort()).toEqual([
      'completion/complete',
      'logging/setLevel',
      'prompts/get',
      'prompts/list',
      'resources/list',
      'resources/read',
      'resources/subscribe',
      'resources/templates/list',
      'resources/unsubscribe',
      'tools/call',
      'tools/list',
    ]);
    // Every method through a door that scans it out, sends it through the breaker, bounds and cleans what comes back.
    for (const [method, r] of Object.entries(AGENT_REQUESTS)) {
      expect(
        r.door.applied().map((a) => a.guard),
        method,
      ).toEqual(expect.arrayContaining(['auth', 'pause', 'read', 'allow', 'pii', 'send', 'size', 'scrub', 'answer.pii', 'answer.injection']));
    }
    expect(AGENT_REQUESTS['tools/call']!.door.applied().map((a) => a.guard)).toEqual(expect.arrayContaining(['policy', 'budget', 'record', 'observe']));
    expect(Object.keys(AGENT_NOTIFICATIONS).sort()).toEqual(['notifications/cancelled', 'notifications/initialized', 'notifications/progress', 'notifications/roots/list_changed']);
  });

  it('refuses a tools/call to a server that declared no tools (recorded as refused, never sent), and methods it does not relay (tasks/*, a vendor’s)', async () => {
    const c = await connect('bare');
    try {
      expect(c.getServerCapabilities()?.tools).toBeUndefined();
      const call = await rejection(c.callTool({ name: 'delete_all', arguments: { everything: true } }));
      expect(call.code).toBe(-32601);
      expect(call.message).toMatch(/tools\/call refused by the cage: MCP server 'bare' did not declare the tools capability/);
      expect((await rejection(c.listTools())).code).toBe(-32601);
      for (const method of ['tasks/list', 'tasks/get', 'acme/wipe']) {
        const e = await rejection(c.request({ method, params: { taskId: 'x' } } as never, ResultSchema));
        expect(e.code, method).toBe(-32601);
        expect(e.message, method).toMatch(/is not passed on by the cage/);
      }
      // What it declared passes, scanned.
      const p = await c.getPrompt({ name: 'greet', arguments: { name: AGENT_EMAIL } });
      expect((p.messages[0]!.content as { text: string }).text).toBe('Say hello to [EMAIL_REDACTED]');
    } finally {
      await c.close();
    }
    // On a server that declared resources but not subscriptions, a subscription is refused too.
    const g = await connect('guarded');
    try {
      expect((await rejection(g.subscribeResource({ uri: 'file:///readme.txt' }))).message).toMatch(/did not declare resources\.subscribe/);
    } finally {
      await g.close();
    }
    const seen = await seenBy(bare);
    expect(seen.requests.map((r) => r.method)).toEqual(['prompts/get']);
    expect((await seenBy(guarded)).requests.map((r) => r.method)).not.toContain('resources/subscribe');
    const row = await until(() => rowsOf('bare').find((x) => x.path === 'delete_all') ?? null);
    expect(row).toMatchObject({ status: 403, tier: null, reason: 'not_declared' });
    await until(() => ['tasks/list', 'tasks/get', 'acme/wipe', 'tools/list'].every((m) => refusedSaid().some((e) => e.server === 'bare' && e.method === m)));
    const refused = t.rt.state.lastEvents(1000).filter((e) => e.type === 'tool.refused' && (e.data as { service: string }).service === 'mcp:bare');
    expect(refused).toHaveLength(1);
  });
});

describe('MCP guards: every result bounded, whatever the method', () => {
  it('refuses a resource or a prompt larger than max_result_mb as it refuses a tool’s result, and passes one within it', async () => {
    const c = await connect('bounded');
    try {
      const small = await c.readResource({ uri: 'file:///big.txt?bytes=1000' });
      expect((small.contents[0] as { text: string }).text).toHaveLength(1000);
      const resource = await rejection(c.readResource({ uri: 'file:///big.txt?bytes=2000000' }));
      expect(resource.message).toMatch(/resources\/read: the result is \d+ bytes, over mcp\.servers\.bounded\.max_result_mb \(1048576 bytes\): not passed on/);
      const prompt = await rejection(c.getPrompt({ name: 'big', arguments: { bytes: '2000000' } }));
      expect(prompt.message).toMatch(/prompts\/get: the result is \d+ bytes, over mcp\.servers\.bounded\.max_result_mb/);
    } finally {
      await c.close();
    }
    // They were asked of the server: its answers are what was refused.
    const asked = (await seenBy(guarded)).requests.map((r) => (r.method === 'resources/read' ? r.params.uri : r.params?.name));
    expect(asked).toEqual(expect.arrayContaining(['file:///big.txt?bytes=2000000', 'big']));
  });
});

describe('MCP guards: tool names fold as the policies fold them', () => {
  it('refusedBy and costOf compare names NFKC- and case-folded', () => {
    const s = { allow: ['search_*'], deny: ['delete_*'], costPerCallMicros: 1, toolCostMicros: { delete_all: 5_000_000, Expensive: 2_000_000 } } as never;
    expect(refusedBy(s, 'Delete_All')).toBe('tools.deny lists it (delete_*)');
    expect(refusedBy(s, 'ＤＥＬＥＴＥ_all')).toBe('tools.deny lists it (delete_*)');
    expect(refusedBy(s, 'SEARCH_docs')).toBeNull();
    expect(costOf(s, 'DELETE_ALL')).toBe(5_000_000);
    expect(costOf(s, 'expensive')).toBe(2_000_000);
    expect(costOf(s, 'other')).toBe(1);
  });

  it('hides and refuses a differently-cased denied tool, and charges a differently-cased priced one its price', async () => {
    const c = await connect('guarded');
    try {
      expect((await c.listTools()).tools.map((x) => x.name)).not.toContain('Delete_All');
      expect((await rejection(c.callTool({ name: 'Delete_All', arguments: {} }))).message).toMatch(/tools\.deny lists it \(delete_\*\)/);
      // $5 on a $1 budget: refused, whatever its case.
      expect((await rejection(c.callTool({ name: 'EXPENSIVE', arguments: {} }))).message).toMatch(/budget/i);
    } finally {
      await c.close();
    }
    const names = (await seenBy(guarded)).requests.filter((r) => r.method === 'tools/call').map((r) => r.params.name);
    expect(names).not.toContain('Delete_All');
    expect(names).not.toContain('EXPENSIVE');
    const rows = await until(() => {
      const r = rowsOf('guarded').filter((x) => x.path === 'Delete_All' || x.path === 'EXPENSIVE');
      return r.length >= 2 ? r : null;
    });
    expect(rows.map((x) => [x.path, x.reason])).toEqual([
      ['Delete_All', 'not_allowed'],
      ['EXPENSIVE', 'budget'],
    ]);
  });
});

describe('MCP guards: nothing raw is kept', () => {
  it('no table of the state file and no log line holds what the servers or the agent said raw', async () => {
    const db = sqliteOf(t.rt.state);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Array<{ name: string }>).map((x) => x.name);
    for (const table of tables) {
      const text = JSON.stringify(db.prepare(`SELECT * FROM "${table}"`).all());
      for (const raw of RAW) expect(text.includes(raw), `${raw} in ${table}`).toBe(false);
    }
    for (const raw of RAW) expect(t.log().includes(raw), `${raw} in the log`).toBe(false);
  });
});
