// MCP through the cage: what a tools/call costs through `/mcp/<server>` against the
// same call made directly to the MCP server. A small echo tool on a server built with the official
// SDK (McpServer on its streamable HTTP transport), called with the SDK's Client and
// StreamableHTTPClientTransport as an agent calls it: the latency the cage adds at concurrency 1
// (p50, p99) and calls/s at concurrency 16 (16 sessions, each calling in a closed loop). The
// upstream and the load client run in their own processes so the cage's event loop (in this
// one) only does the cage's work. Each side runs twice, alternating (direct, cage, cage, direct),
// and the two runs of a side are pooled, so drift on this shared machine falls on both. Beside
// them, once, the floor: a bare proxy in its own process that only forwards the HTTP requests
// and streams the answers back (undici, keep-alive): what one more hop costs on this machine.
// Run: npm run build && node scripts/bench/run.mjs mcp
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { Pool } from 'undici';
import * as z from 'zod';
import { DEFAULTS } from '../../src/config/index.js';
import { mcpSchema } from '../../src/config/mcp.js';
import { createLogger } from '../../src/core/logger.js';
import { Runtime } from '../../src/runtime/index.js';
import { api, fmt, percentile, queryState, report, type Row } from './lib.js';

const CONCURRENCY = 16;
/** Calls before each measured run, on the run's own sessions (the SDK, V8 and the cage warmed). */
const WARMUP = { 1: 200, [CONCURRENCY]: 800 } as Record<number, number>;
/** Each measured run stops at this many calls or this long, whichever comes first. */
const MAX_CALLS = { 1: 5_000, [CONCURRENCY]: 40_000 } as Record<number, number>;
const MAX_MS = { 1: 2_000, [CONCURRENCY]: 3_000 } as Record<number, number>;
const ADDED_P50_TARGET_MS = 1;
const RATIO_TARGET = 0.8;
/** What the agent asks the tool to echo: a line of the demo's sort, no PII in it. */
const TEXT = 'qualify lead 42: Acme Corp, 200 people, Berlin';

interface LoadJob {
  url: string;
  /** One agent token per client (the cage), or none (direct). */
  tokens: string[];
  concurrency: number;
  warmup: number;
  count: number;
  maxMs: number;
}

interface LoadResult {
  latencies: number[];
  elapsedMs: number;
  errors: string[];
}

const role = process.argv[2];
if (role === 'upstream') runUpstream();
else if (role === 'bare') runBareProxy(process.argv[3]!);
else if (role === 'client') runClient();
else await main();

/** The MCP server: one McpServer per session (as the SDK's examples do), an `echo` tool, nothing kept per call. */
function runUpstream(): void {
  const build = () => {
    const s = new McpServer({ name: 'bench', version: '1.0.0' });
    s.registerTool('echo', { description: 'Echo the text back', inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }));
    return s;
  };
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const server = createServer({ keepAliveTimeout: 60_000 }, async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length > 0 ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : undefined;
    const id = req.headers['mcp-session-id'];
    let t = typeof id === 'string' ? transports.get(id) : undefined;
    if (!t && req.method === 'POST' && isInitializeRequest(body)) {
      const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => randomUUID(), onsessioninitialized: (sid) => void transports.set(sid, created) });
      created.onclose = () => void (created.sessionId && transports.delete(created.sessionId));
      await build().connect(created);
      t = created;
    }
    if (!t) {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message: 'no session' }, id: null }));
      return;
    }
    await t.handleRequest(req, res, body);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  // Asked before and after a run: its CPU, to tell the cage's share of the machine from the server's.
  process.on('message', () => process.send!({ cpu: process.cpuUsage(), sessions: transports.size }));
}

/**
 * The floor: forwards each request (method, MCP headers, body) to the server and streams its
 * answer back, SSE included (the clients' GET streams stay open: a connection each). No auth,
 * no MCP session of its own, no scan, no record.
 */
function runBareProxy(upstream: string): void {
  const target = new URL(upstream);
  const pool = new Pool(target.origin, { connections: 4 * CONCURRENCY, keepAliveTimeout: 60_000 });
  const pass = ['content-type', 'accept', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id'];
  const server = createServer({ keepAliveTimeout: 60_000 }, async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const headers: Record<string, string> = {};
    for (const h of pass) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h];
    const r = await pool.request({ path: target.pathname, method: req.method as 'POST', headers, body: chunks.length > 0 ? Buffer.concat(chunks) : undefined });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string' && k !== 'connection' && k !== 'keep-alive' && k !== 'transfer-encoding') out[k] = v;
    res.writeHead(r.statusCode, out);
    res.on('close', () => r.body.destroy());
    for await (const c of r.body) res.write(c);
    res.end();
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
}

/** The load: `concurrency` SDK clients (sessions), each calling echo in a closed loop; the sessions ended (DELETE) after. */
function runClient(): void {
  process.on('message', async (job: LoadJob) => {
    const errors: string[] = [];
    const clients: Array<{ client: Client; transport: StreamableHTTPClientTransport }> = [];
    for (let i = 0; i < job.concurrency; i++) {
      const token = job.tokens[i];
      const transport = new StreamableHTTPClientTransport(new URL(job.url), token ? { requestInit: { headers: { authorization: `Bearer ${token}` } } } : undefined);
      const client = new Client({ name: 'bench-agent', version: '1.0.0' });
      await client.connect(transport);
      clients.push({ client, transport });
    }
    let issued = 0;
    let limit = job.warmup;
    let deadline = Number.POSITIVE_INFINITY;
    const latencies: number[] = [];
    const loop = async (c: Client, measured: boolean) => {
      while (issued < limit && performance.now() < deadline) {
        const n = issued++;
        const t0 = performance.now();
        try {
          const r = (await c.callTool({ name: 'echo', arguments: { text: `${TEXT} #${n}` } })) as { content: Array<{ text?: string }> };
          if (r.content[0]?.text !== `echo: ${TEXT} #${n}`) throw new Error(`unexpected answer ${JSON.stringify(r).slice(0, 200)}`);
          if (measured) latencies.push(performance.now() - t0);
        } catch (e) {
          if (errors.length < 5) errors.push(e instanceof Error ? e.message : String(e));
          return;
        }
      }
    };
    await Promise.all(clients.map((c) => loop(c.client, false)));
    issued = 0;
    limit = job.count;
    const started = performance.now();
    deadline = started + job.maxMs;
    await Promise.all(clients.map((c) => loop(c.client, true)));
    const elapsedMs = performance.now() - started;
    for (const c of clients) {
      await c.transport.terminateSession().catch(() => undefined);
      await c.client.close();
    }
    process.send!({ latencies, elapsedMs, errors } satisfies LoadResult);
  });
}

function child(args: string[]): ChildProcess {
  return fork(process.argv[1]!, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function load(client: ChildProcess, job: LoadJob): Promise<LoadResult> {
  return new Promise((resolve) => {
    client.once('message', (m) => resolve(m as LoadResult));
    client.send(job);
  });
}

function upstreamState(upstream: ChildProcess): Promise<{ cpu: NodeJS.CpuUsage; sessions: number }> {
  return new Promise((resolve) => {
    upstream.once('message', (m) => resolve(m as { cpu: NodeJS.CpuUsage; sessions: number }));
    upstream.send('state');
  });
}

interface Side {
  n: number;
  p50: number;
  p99: number;
  rps: number;
  /** CPU (user + system) per call, µs: the process that ran this side's middle (the cage), and the MCP server. */
  cageCpuUs: number;
  upstreamCpuUs: number;
}

async function main(): Promise<void> {
  const started = performance.now();
  const upstream = child(['upstream']);
  const { port } = await new Promise<{ port: number }>((resolve) => upstream.once('message', (m) => resolve(m as { port: number })));
  const upstreamUrl = `http://127.0.0.1:${port}/mcp`;
  const bare = child(['bare', upstreamUrl]);
  const barePort = await new Promise<number>((resolve) => bare.once('message', (m) => resolve((m as { port: number }).port)));
  const bareUrl = `http://127.0.0.1:${barePort}/mcp`;
  const client = child(['client']);
  const load1 = loadavg()[0]!;

  const dir = mkdtempSync(join(tmpdir(), 'iron-bench-mcp-'));
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const rt = await Runtime.start({
    config: { ...DEFAULTS, port: 0, db: join(dir, 'bench.db'), mcp: mcpSchema.parse({ servers: { bench: { url: upstreamUrl } } }) },
    logger: createLogger({ format: 'json', level: 'warn', stream: sink }),
  });
  const rows: Row[] = [];
  const extra: Record<string, unknown> = { concurrency: CONCURRENCY };
  try {
    // One agent per session: the cage lets one agent hold at most 8 sessions with a server.
    const tokens: string[] = [];
    for (let i = 0; i < CONCURRENCY; i++) tokens.push((await api(rt.url, '/api/tokens', rt.adminToken, { role: 'agent', name: `bench-mcp-${i}` })).token);
    const cageUrl = `${rt.url}/mcp/bench`;

    type Sides = Record<'direct' | 'cage' | 'bare', Side>;
    const measure = async (concurrency: number): Promise<Sides> => {
      const pooled = {} as Record<keyof Sides, { latencies: number[]; ms: number; legs: number; cage: number; up: number }>;
      for (const side of ['direct', 'cage', 'bare'] as const) pooled[side] = { latencies: [], ms: 0, legs: 0, cage: 0, up: 0 };
      for (const side of ['direct', 'cage', 'bare', 'cage', 'direct'] as const) {
        const job: LoadJob = {
          url: side === 'direct' ? upstreamUrl : side === 'bare' ? bareUrl : cageUrl,
          tokens: side === 'cage' ? tokens.slice(0, concurrency) : [],
          concurrency,
          warmup: WARMUP[concurrency]!,
          count: MAX_CALLS[concurrency]!,
          maxMs: MAX_MS[concurrency]!,
        };
        const up0 = await upstreamState(upstream);
        const cpu0 = process.cpuUsage();
        const r = await load(client, job);
        const cpu = process.cpuUsage(cpu0);
        const up1 = await upstreamState(upstream);
        if (r.errors.length > 0) throw new Error(`bench: ${side} calls at concurrency ${concurrency} failed: ${r.errors.join('; ')}`);
        const p = pooled[side];
        p.latencies.push(...r.latencies);
        p.ms += r.elapsedMs;
        p.legs++;
        // Both include the warm-up and the sessions' start and end: per call, a slight overstatement on both sides alike.
        p.cage += cpu.user + cpu.system;
        p.up += up1.cpu.user + up1.cpu.system - up0.cpu.user - up0.cpu.system;
      }
      const sides = {} as Sides;
      for (const side of ['direct', 'cage', 'bare'] as const) {
        const p = pooled[side];
        const sorted = p.latencies.sort((a, b) => a - b);
        const calls = sorted.length + p.legs * WARMUP[concurrency]!;
        sides[side] = { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), rps: sorted.length / (p.ms / 1000), cageCpuUs: p.cage / calls, upstreamCpuUs: p.up / calls };
      }
      return sides;
    };
    const one = await measure(1);
    const many = await measure(CONCURRENCY);

    // Every call through the cage is a tool_calls row and an mcp.call event (their writes are asynchronous: a moment to land).
    const cageCalls = one.cage.n + 2 * WARMUP[1]! + many.cage.n + 2 * WARMUP[CONCURRENCY]!;
    await new Promise((r) => setTimeout(r, 500));
    const recorded = queryState<{ n: number }>(rt.state.path, "SELECT count(*) AS n FROM tool_calls WHERE service = 'bench' AND method = 'tools/call' AND status = 200")!.n;
    const events = queryState<{ n: number }>(rt.state.path, "SELECT count(*) AS n FROM events WHERE type = 'mcp.call'")!.n;
    const left = (await upstreamState(upstream)).sessions;

    const ms = (v: number) => `${fmt(v, 3)} ms`;
    const added1 = one.cage.p50 - one.direct.p50;
    const ratio = many.cage.rps / many.direct.rps;
    const pair = (x: Side) => `${ms(x.p50)} / ${ms(x.p99)}`;
    rows.push({ metric: `concurrency 1, p50 / p99: direct (${fmt(one.direct.n, 0)} calls)`, value: pair(one.direct) });
    rows.push({ metric: `concurrency 1, p50 / p99: through the cage (${fmt(one.cage.n, 0)} calls)`, value: pair(one.cage) });
    rows.push({ metric: 'added latency of the cage, p50, concurrency 1', value: ms(added1), target: `≤ ${ADDED_P50_TARGET_MS} ms`, ok: added1 <= ADDED_P50_TARGET_MS });
    rows.push({ metric: 'added latency of the cage, p99, concurrency 1', value: ms(one.cage.p99 - one.direct.p99) });
    rows.push({ metric: 'floor: a bare forwarding proxy adds, p50, concurrency 1', value: ms(one.bare.p50 - one.direct.p50) });
    rows.push({ metric: `concurrency ${CONCURRENCY} (${CONCURRENCY} sessions), p50 / p99: direct`, value: pair(many.direct) });
    rows.push({ metric: `concurrency ${CONCURRENCY}, p50 / p99: bare proxy / through the cage`, value: `${pair(many.bare)}; ${pair(many.cage)}` });
    rows.push({ metric: `concurrency ${CONCURRENCY}, calls/s: direct / bare proxy / through the cage`, value: `${fmt(many.direct.rps, 0)} / ${fmt(many.bare.rps, 0)} / ${fmt(many.cage.rps, 0)}` });
    rows.push({ metric: `concurrency ${CONCURRENCY}, calls/s through the cage / direct`, value: `${fmt(ratio * 100, 1)}%`, target: `≥ ${RATIO_TARGET * 100}%`, ok: ratio >= RATIO_TARGET });
    rows.push({ metric: `concurrency ${CONCURRENCY}, calls/s through the bare proxy / direct`, value: `${fmt((many.bare.rps / many.direct.rps) * 100, 1)}%` });
    rows.push({
      metric: `CPU per call (user + system), concurrency ${CONCURRENCY}: the cage; the MCP server direct / through the cage`,
      value: `${fmt(many.cage.cageCpuUs, 0)} µs; ${fmt(many.direct.upstreamCpuUs, 0)} / ${fmt(many.cage.upstreamCpuUs, 0)} µs`,
    });
    rows.push({ metric: 'load average (1 min) at the start, on this many cores', value: `${fmt(load1, 2)} on ${availableParallelism()}` });
    rows.push({ metric: 'calls through the cage / tool_calls rows / mcp.call events', value: `${fmt(cageCalls, 0)} / ${fmt(recorded, 0)} / ${fmt(events, 0)}` });
    Object.assign(extra, { one, many, cageCalls, recorded, events, upstreamSessionsLeft: left, seconds: (performance.now() - started) / 1000 });
  } finally {
    client.kill();
    bare.kill();
    upstream.kill();
    await rt.shutdown('bench done');
    rmSync(dir, { recursive: true, force: true });
  }
  report('mcp', 'MCP through the cage (npm run bench -- mcp)', rows, extra);
  process.stdout.write(
    'A tools/call through the cage: the agent token checked and its session looked up; the tool checked against ' +
      'tools.allow/deny; its arguments scanned for PII before they leave; the call sent on the cage’s own session with ' +
      'the server (the SDK’s Client), under the breaker and timeout_s; the result sized against max_result_mb, scrubbed ' +
      'of the credentials the cage sent and scanned for PII before the agent has it; a tool_calls row and an mcp.call ' +
      'event written, metrics and a span. Direct: the same SDK client straight to the server.\n\n',
  );
  // A missed target shows as ❌ in the table; the run itself succeeded.
  process.exit(0);
}
