import type { ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpSchema } from '../../src/config/mcp.js';
import { sqliteOf } from '../helpers/db.js';
import { connectMcp, startMcpFixture } from '../helpers/mcp.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// The cage's own streamable HTTP transports (src/mcp/agent-transport.ts facing the agent,
// src/mcp/http-upstream.ts facing the server): what the specification asks of each, spoken to in
// raw HTTP where a client library would hide it, and the server-side cases a real server built
// with the SDK gives: a stream the server drops mid-call (resumed), a same-origin redirect, JSON
// answers, and a server killed mid-call.

let servers: ChildProcess[] = [];
let doomed: ChildProcess;
/** The server behind `fickle` (and `json`). */
let fickleUrl: string;
let t: TestRuntime;
let a: AgentToken;

beforeAll(async () => {
  const [web, json, gone] = await Promise.all([startMcpFixture('http'), startMcpFixture('http-json'), startMcpFixture('http')]);
  servers = [web.child, json.child, gone.child];
  doomed = gone.child;
  fickleUrl = json.url;
  const mcp = mcpSchema.parse({
    servers: {
      web: { url: web.url, timeout_s: 5 },
      brief: { url: web.url, timeout_s: 0.5 },
      fickle: { url: json.url, timeout_s: 5, breaker: { failure_threshold: 2 } },
      moved: { url: web.url.replace(/\/mcp$/, '/moved'), timeout_s: 5 },
      json: { url: json.url, timeout_s: 5 },
      doomed: { url: gone.url, timeout_s: 30, breaker: { failure_threshold: 50 } },
    },
  });
  t = await startTestRuntime({ config: { mcp } });
  a = await agentToken(t, { name: 'transport-agent' });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  for (const c of servers) c.kill();
});

interface Raw {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** When the headers came, the body's first piece and its end, in ms from the request. */
  headersMs: number;
  firstMs: number;
  endMs: number;
  body: string;
  /** The first piece of the body as it came. */
  first: string;
}

/** One raw HTTP request to the cage's `/mcp/web`, read whole (bounded: a GET stream is cut after `cutMs`). */
function raw(method: string, headers: Record<string, string>, body?: unknown, cutMs = 0): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request(`${t.rt.url}/mcp/web`, { method, headers: { authorization: `Bearer ${a.token}`, ...headers } }, (res) => {
      const out: Raw = { status: res.statusCode!, headers: res.headers, headersMs: performance.now() - t0, firstMs: 0, endMs: 0, body: '', first: '' };
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (out.body === '') {
          out.first = c;
          out.firstMs = performance.now() - t0;
        }
        out.body += c;
      });
      const done = () => {
        out.endMs ||= performance.now() - t0;
        resolve(out);
      };
      res.on('end', done);
      res.on('close', done);
      if (cutMs > 0) setTimeout(() => res.destroy(), cutMs);
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
  });
}

const POST = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
const VERSION = '2025-11-25';
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

/** The JSON-RPC messages of an SSE body, with the id of the event each came in. */
function events(body: string): Array<{ id: string | null; message: any }> {
  return body
    .split('\n\n')
    .filter((e) => /^data: ./m.test(e))
    .map((e) => ({ id: /^id: (.+)$/m.exec(e)?.[1] ?? null, message: JSON.parse(/^data: (.*)$/m.exec(e)![1]!) }));
}

async function session(): Promise<Record<string, string>> {
  const r = await raw('POST', POST, INIT);
  expect(r.status).toBe(200);
  const id = r.headers['mcp-session-id'] as string;
  const s = { ...POST, 'mcp-session-id': id, 'mcp-protocol-version': VERSION };
  expect((await raw('POST', s, { jsonrpc: '2.0', method: 'notifications/initialized' })).status).toBe(202);
  return s;
}

const call = (id: number, name: string, args: Record<string, unknown>) => ({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } });

describe('the cage’s streamable HTTP endpoint, as the specification says', () => {
  it('refuses what is not the transport with the status and words a client expects', async () => {
    expect((await raw('POST', { 'content-type': 'application/json', accept: 'application/json' }, INIT)).status).toBe(406);
    const type = await raw('POST', { ...POST, 'content-type': 'text/plain' }, INIT);
    expect(type.status).toBe(415);
    expect(JSON.parse(type.body).error.message).toMatch(/Content-Type must be application\/json/);
    const s = await session();
    const bad = await raw('POST', s, { jsonrpc: '1.0', id: 1, method: 'tools/list' });
    expect([bad.status, JSON.parse(bad.body).error.code]).toEqual([400, -32700]);
    // Bytes that are not UTF-8 were read as U+FFFD and handed on changed.
    const latin1 = await raw('POST', s, Buffer.from(JSON.stringify(call(3, 'echo', { text: 'café' })), 'latin1'));
    expect([latin1.status, JSON.parse(latin1.body).error]).toEqual([400, { code: -32700, message: 'Parse error: the body is not valid UTF-8 (JSON-RPC messages are UTF-8 JSON)' }]);
    const big = await raw(
      'POST',
      s,
      Array.from({ length: 101 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'ping' })),
    );
    expect([big.status, JSON.parse(big.body).error.message]).toEqual([400, 'Invalid Request: Batch must not exceed 100 messages']);
    const again = await raw('POST', s, INIT);
    expect([again.status, JSON.parse(again.body).error.message]).toEqual([400, 'Invalid Request: Server already initialized']);
    const version = await raw('POST', { ...s, 'mcp-protocol-version': '1999-01-01' }, { jsonrpc: '2.0', id: 2, method: 'ping' });
    expect(version.status).toBe(400);
    expect(JSON.parse(version.body).error.message).toMatch(/Unsupported protocol version: 1999-01-01 \(supported versions: 2025-11-25/);
    expect((await raw('PUT', s, {})).status).toBe(405);
    // What the SDK's schemas take no message for is refused, not handed on unanswered.
    for (const odd of [
      { ...call(5, 'echo', { text: 'x' }), trace: 'abc' },
      { ...call(5, 'echo', { text: 'x' }), id: 1.5 },
    ]) {
      const r = await raw('POST', s, odd);
      expect([r.status, JSON.parse(r.body).error.code]).toEqual([400, -32700]);
    }
  });

  it('answers a quick call whole, in one response with its length; a slow one opens its stream with an id to resume from before the answer', async () => {
    const s = await session();
    // Whole when the answer comes within the stream's short wait (10 ms): most of a handful of
    // echoes; on a machine so busy that none of the first eight makes it, more are sent (at most
    // 40) until one does. Each answer reads the same either way.
    const quick: Raw[] = [];
    for (let i = 1; i <= 40 && (i <= 8 || quick.every((r) => r.headers['content-length'] === undefined)); i++) {
      const r = await raw('POST', s, call(i, 'echo', { text: `hi ${i}` }));
      expect(r.status).toBe(200);
      expect(r.headers['content-type']).toBe('text/event-stream');
      expect(events(r.body)[0]!.message).toMatchObject({ id: i, result: { content: [{ type: 'text', text: `echo: hi ${i}` }] } });
      // Its priming event comes first: an id with no message.
      expect(r.body).toMatch(/^id: \S+\ndata: \n\n/);
      quick.push(r);
    }
    const whole = quick.filter((r) => r.headers['content-length'] !== undefined);
    expect(whole.length).toBeGreaterThan(0);
    for (const r of whole) {
      expect(r.headers['content-length']).toBe(String(Buffer.byteLength(r.body)));
      expect(r.headers['transfer-encoding']).toBeUndefined();
    }

    // A 600 ms call: its stream opens (the headers and the priming event) well before its answer
    // ends it, not held back to the end. Measured against the call's own end, which a loaded
    // machine delays alike (the headers within 450 ms of the request was once the check).
    const slow = await raw('POST', s, call(100, 'slow', { ms: 600 }));
    expect(slow.headers['transfer-encoding']).toBe('chunked');
    expect(slow.endMs - slow.headersMs).toBeGreaterThan(300);
    expect(slow.endMs - slow.firstMs).toBeGreaterThan(300);
    expect(slow.first).toMatch(/^id: \S+\ndata: \n\n$/);
    expect(events(slow.body)[0]!.message).toMatchObject({ id: 100, result: { content: [{ text: 'slow done' }] } });
  });

  it('resumes a stream the client lost from its last event id, and keeps one GET stream a session', async () => {
    const s = await session();
    // The client goes away 100 ms into a 500 ms call, having read only the priming event.
    const lost = await raw('POST', s, call(3, 'slow', { ms: 500 }), 100);
    const priming = /^id: (\S+)/.exec(lost.body)![1]!;
    expect(events(lost.body)).toEqual([]);
    await new Promise((r) => setTimeout(r, 700));
    const back = await raw('GET', { accept: 'text/event-stream', 'mcp-session-id': s['mcp-session-id']!, 'last-event-id': priming });
    expect(back.status).toBe(200);
    const replayed = events(back.body);
    expect(replayed.map((e) => e.message)).toEqual([expect.objectContaining({ id: 3, result: expect.objectContaining({ content: [{ type: 'text', text: 'slow done' }] }) })]);
    expect(replayed[0]!.id).toMatch(/\S/);

    const open = raw('GET', { accept: 'text/event-stream', 'mcp-session-id': s['mcp-session-id']! }, undefined, 1_000);
    await new Promise((r) => setTimeout(r, 200));
    const second = await raw('GET', { accept: 'text/event-stream', 'mcp-session-id': s['mcp-session-id']! });
    expect(second.status).toBe(409);
    expect((await open).status).toBe(200);
    const unknown = await raw('GET', { accept: 'text/event-stream', 'mcp-session-id': s['mcp-session-id']!, 'last-event-id': 'no-such-event' });
    expect(unknown.status).toBe(400);
  });

  it('ends a call’s stream when its client cancels it (the server will not answer it)', async () => {
    const s = await session();
    // A 4 s call (under the server's 5 s timeout), cancelled at 200 ms: its stream ends before the
    // call would have, with nothing in it (a 3 s call ended within 2 s was the check: a loaded
    // machine took 2.2 s).
    const t0 = performance.now();
    const pending = raw('POST', s, call(7, 'slow', { ms: 4_000 }));
    await new Promise((r) => setTimeout(r, 200));
    expect((await raw('POST', s, { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 7, reason: 'the user gave up' } })).status).toBe(202);
    const r = await pending;
    expect(performance.now() - t0).toBeLessThan(3_500);
    expect(events(r.body)).toEqual([]);
  });

  it('ends a session on DELETE', async () => {
    const s = await session();
    expect((await raw('DELETE', s)).status).toBe(200);
    expect((await raw('POST', s, call(4, 'echo', { text: 'after' }))).status).toBe(404);
  });
});

describe('the cage’s session with a streamable HTTP server', () => {
  it('picks up a call whose stream the server dropped three times (Last-Event-ID each time), and the tool ran once', async () => {
    const c = await connectMcp(t.rt.url, 'web', a.token);
    const before = JSON.parse(((await c.callTool({ name: 'seen' })) as any).content[0].text).calls.filter((x: any) => x.tool === 'breaks').length;
    const r = (await c.callTool({ name: 'breaks', arguments: { times: 3 } })) as any;
    expect(r.content[0].text).toBe('answered after the stream was dropped 3 time(s)');
    const after = JSON.parse(((await c.callTool({ name: 'seen' })) as any).content[0].text).calls.filter((x: any) => x.tool === 'breaks').length;
    expect(after - before).toBe(1);
    await c.close();
  });

  it('lets go of a call’s stream once the call is given up on (its time limit), so no connection to the server stays taken', async () => {
    const c = await connectMcp(t.rt.url, 'web', a.token);
    const count = async () => Number(((await c.callTool({ name: 'sockets' })) as any).content[0].text);
    const slow = await connectMcp(t.rt.url, 'brief', a.token);
    const before = await count();
    for (let i = 0; i < 5; i++) await expect(slow.callTool({ name: 'slow', arguments: { ms: 1_500 } })).rejects.toThrow(/did not answer within 0.5 s/);
    // The server never answers a cancelled call; the cage let go of each stream when it gave up
    // (each would otherwise hold a connection of its own until the session ended: 5 more).
    await until(async () => ((await count()) <= before + 1 ? true : null), 5_000);
    await slow.close();
    await c.close();
  });

  it('starts over when the server forgets the session (404): the agent is told to start a new one, and the server’s breaker is not tripped', async () => {
    // The server forgets a moment after it answers `forget`: wait for it rather than for a time.
    const forgotten = () => until(async () => (await (await fetch(new URL('/sessions', fickleUrl))).text()) === '0');
    const c = await connectMcp(t.rt.url, 'fickle', a.token);
    expect(((await c.callTool({ name: 'echo', arguments: { text: 'one' } })) as any).content[0].text).toBe('echo: one');
    await c.callTool({ name: 'forget' });
    await forgotten();
    await expect(c.callTool({ name: 'echo', arguments: { text: 'two' } })).rejects.toThrow(/MCP server 'fickle' ended this session .*start a new session/);
    await c.close().catch(() => undefined);
    // Three times over (the breaker opens at 2 failures): each time a new session simply works.
    for (let i = 0; i < 3; i++) {
      const again = await connectMcp(t.rt.url, 'fickle', a.token);
      expect(((await again.callTool({ name: 'echo', arguments: { text: `again ${i}` } })) as any).content[0].text).toBe(`echo: again ${i}`);
      await again.callTool({ name: 'forget' });
      await forgotten();
      await expect(again.callTool({ name: 'echo', arguments: { text: 'gone' } })).rejects.toThrow(/ended this session/);
      await again.close().catch(() => undefined);
    }
    const breakers = (await (await t.api('/api/mcp/servers')).json()) as { servers: Array<{ name: string; breaker: { state: string } }> };
    expect(breakers.servers.find((s) => s.name === 'fickle')!.breaker.state).toBe('CLOSED');
  });

  it('never counts a call the agent cancelled against the server’s breaker, which every agent shares', async () => {
    const c = await connectMcp(t.rt.url, 'fickle', a.token);
    try {
      // Twice over a breaker that opens at 2 failures: the agent gives up on its own slow calls.
      for (let i = 0; i < 2; i++) {
        const gaveUp = new AbortController();
        const call = c.callTool({ name: 'slow', arguments: { ms: 2_000 } }, undefined, { signal: gaveUp.signal });
        setTimeout(() => gaveUp.abort('the agent gave up'), 200);
        await expect(call).rejects.toThrow();
      }
      const fickle = (await (await t.api('/api/breakers/mcp/fickle')).json()) as { state: string; failures: number; consecutiveFailures: number };
      expect(fickle).toMatchObject({ state: 'CLOSED', failures: 0, consecutiveFailures: 0 });
      expect(t.rt.state.lastEvents(5000).filter((e) => e.type === 'breaker.transition' && (e.data as { service?: string }).service === 'fickle')).toEqual([]);
      // Each is on record as the agent's doing, not the server's timeout (its row written a moment after it ended).
      const rows = await until(() => {
        const all = sqliteOf(t.rt.state).prepare("SELECT reason FROM tool_calls WHERE service = 'fickle' AND path = 'slow' ORDER BY id").all() as Array<{ reason: string }>;
        return all.length === 2 ? all : null;
      });
      expect(rows.map((r) => r.reason)).toEqual(['client_aborted', 'client_aborted']);
      expect(((await c.callTool({ name: 'echo', arguments: { text: 'still fine' } })) as any).content[0].text).toBe('echo: still fine');
    } finally {
      await c.close();
    }
  });

  it('follows a redirect to the same origin that keeps the method (a server mounted one path over)', async () => {
    const c = await connectMcp(t.rt.url, 'moved', a.token);
    expect(((await c.callTool({ name: 'echo', arguments: { text: 'moved' } })) as any).content[0].text).toBe('echo: moved');
    await c.close();
  });

  it('reads a server that answers each request with JSON rather than a stream', async () => {
    const c = await connectMcp(t.rt.url, 'json', a.token);
    expect((await c.listTools()).tools.map((x) => x.name)).toContain('echo');
    expect(((await c.callTool({ name: 'weather', arguments: { city: 'Oslo' } })) as any).structuredContent).toEqual({ city: 'Oslo', tempC: 21 });
    await c.close();
  });

  it('tells the agent at once when the server dies mid-call, rather than at the call’s 30 s limit', async () => {
    const c = await connectMcp(t.rt.url, 'doomed', a.token);
    const t0 = performance.now();
    const pending = c.callTool({ name: 'slow', arguments: { ms: 20_000 } }).then(
      () => 'answered',
      (e: Error) => e.message,
    );
    await new Promise((r) => setTimeout(r, 300));
    doomed.kill('SIGKILL');
    const said = await pending;
    expect(said).toMatch(/MCP server 'doomed' is unavailable/);
    expect(performance.now() - t0).toBeLessThan(10_000);
    const row = await until(
      () => sqliteOf(t.rt.state).prepare("SELECT status, reason FROM tool_calls WHERE service = 'doomed' AND path = 'slow'").get() as { status: number; reason: string } | undefined,
    );
    expect(row).toEqual({ status: 503, reason: 'unavailable' });
    await c.close().catch(() => undefined);
  });
});
