// MCP through the cage: what a tools/call costs through `/mcp/<server>` against the
// same call made directly to the MCP server. A small echo tool on a server built with the official
// SDK (McpServer on its streamable HTTP transport), called with the SDK's Client and
// StreamableHTTPClientTransport as an agent calls it: the latency the cage adds at concurrency 1
// (p50, p99) and calls/s at concurrency 16 (16 sessions, each calling in a closed loop). The
// upstream and the load client run in their own processes so the cage's event loop (in this
// one) only does the cage's work. Beside them the floor: a bare proxy in its own process that
// only forwards the HTTP requests and streams the answers back (undici, keep-alive), what one more
// hop costs on this machine. The three sides take turns, round after round (direct, bare, cage,
// direct, bare, cage…), and each figure is the median over the rounds of that round's figure
// (a ratio taken within the round), so other load on this shared machine falls on all three alike.
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
import { api, fmt, median, percentile, queryState, report, type Row } from './lib.js';

const CONCURRENCY = 16;
/** Calls before each measured run, on the run's own sessions (the SDK, V8 and the cage warmed). */
const WARMUP = { 1: 200, [CONCURRENCY]: 480 } as Record<number, number>;
/** Each measured run stops at this many calls or this long, whichever comes first. */
const MAX_CALLS = { 1: 5_000, [CONCURRENCY]: 40_000 } as Record<number, number>;
const MAX_MS = { 1: 1_000, [CONCURRENCY]: 1_500 } as Record<number, number>;
/**
 * Seconds of calls at c=16 through each side before the rounds, not measured (`BENCH_MCP_WARMUP_S`
 * for the cage, a third of it for the others): V8 optimises the cage's code (the SDK's, zod's,
 * undici's, the guards') on its background threads for 10-15 s of such load on this 2-core
 * machine, and a round measured before that counts mostly the compiler (the cage's CPU a call fell
 * from 3.4 ms to 0.8 ms over its first 15 s, then stayed). The bare proxy and the server, little
 * code, are optimised in a few seconds.
 */
const WARMUP_S = Number(process.env.BENCH_MCP_WARMUP_S ?? 15);
/** Rounds of the three sides in turn (`BENCH_MCP_ROUNDS`). */
const ROUNDS = Number(process.env.BENCH_MCP_ROUNDS ?? 5);
/** The goals: the cage adds at most this over direct at c=1, and at c=16 carries this share of what the bare proxy does. */
const ADDED_P50_TARGET_MS = 0.5;
const RATIO_TARGET = 0.95;
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
  // Asked before and after a run: its CPU, the floor's CPU a call beside the cage's.
  process.on('message', () => process.send!({ cpu: process.cpuUsage(), sessions: 0 }));
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
    // Said as the measured calls begin and end: the processes' CPU is read then too (the calls' own, without the sessions' opening and closing).
    process.send!({ phase: 'measuring' });
    const started = performance.now();
    deadline = started + job.maxMs;
    await Promise.all(clients.map((c) => loop(c.client, true)));
    const elapsedMs = performance.now() - started;
    process.send!({ phase: 'measured' });
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

/** A job run by the load client; `phase` is told as its measured calls begin and end. */
function load(client: ChildProcess, job: LoadJob, phase?: (p: 'measuring' | 'measured') => void): Promise<LoadResult> {
  return new Promise((resolve) => {
    const heard = (m: unknown) => {
      if (typeof m === 'object' && m !== null && 'phase' in m) return phase?.((m as { phase: 'measuring' | 'measured' }).phase);
      client.off('message', heard);
      resolve(m as LoadResult);
    };
    client.on('message', heard);
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
  /** CPU (user + system) per call, µs: the process in the middle (the cage's, the bare proxy's; none direct), and the MCP server. */
  middleCpuUs: number;
  upstreamCpuUs: number;
  /** The same over the measured calls only (the sessions' opening and closing, and the warm-up calls, left out). */
  middleCallCpuUs: number;
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

    type SideName = 'direct' | 'bare' | 'cage';
    type Sides = Record<SideName, Side>;
    /** One run of one side: `concurrency` new sessions, warmed, then measured. */
    const run = async (side: SideName, concurrency: number): Promise<Side> => {
      const job: LoadJob = {
        url: side === 'direct' ? upstreamUrl : side === 'bare' ? bareUrl : cageUrl,
        tokens: side === 'cage' ? tokens.slice(0, concurrency) : [],
        concurrency,
        warmup: WARMUP[concurrency]!,
        count: MAX_CALLS[concurrency]!,
        maxMs: MAX_MS[concurrency]!,
      };
      const up0 = await upstreamState(upstream);
      const bare0 = await upstreamState(bare);
      const cpu0 = process.cpuUsage();
      // The middle process's CPU as the measured calls begin and end: the cage's here, the bare proxy's asked of it.
      const middle = () => (side === 'bare' ? upstreamState(bare).then((b) => b.cpu) : Promise.resolve(process.cpuUsage()));
      const marks: Array<Promise<NodeJS.CpuUsage>> = [];
      const r = await load(client, job, () => marks.push(middle()));
      const cageCpu = process.cpuUsage(cpu0);
      const [m0, m1] = marks.length === 2 ? await Promise.all(marks) : [null, null];
      const bare1 = await upstreamState(bare);
      const up1 = await upstreamState(upstream);
      const cpu = side === 'bare' ? { user: bare1.cpu.user - bare0.cpu.user, system: bare1.cpu.system - bare0.cpu.system } : cageCpu;
      if (r.errors.length > 0) throw new Error(`bench: ${side} calls at concurrency ${concurrency} failed: ${r.errors.join('; ')}`);
      const sorted = r.latencies.sort((a, b) => a - b);
      // Both include the warm-up and the sessions' start and end: per call, a slight overstatement on every side alike.
      const calls = sorted.length + job.warmup;
      return {
        n: sorted.length,
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        rps: sorted.length / (r.elapsedMs / 1000),
        middleCpuUs: (cpu.user + cpu.system) / calls,
        upstreamCpuUs: (up1.cpu.user + up1.cpu.system - up0.cpu.user - up0.cpu.system) / calls,
        middleCallCpuUs: m0 && m1 && sorted.length > 0 ? (m1.user + m1.system - m0.user - m0.system) / sorted.length : Number.NaN,
      };
    };
    /** `ROUNDS` rounds of the three sides in turn (direct, bare, cage, direct, bare, cage…): what other load the machine has falls on each side alike. */
    const measure = async (concurrency: number): Promise<Sides[]> => {
      const rounds: Sides[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const round = {} as Sides;
        for (const side of ['direct', 'bare', 'cage'] as const) round[side] = await run(side, concurrency);
        rounds.push(round);
      }
      return rounds;
    };
    // Warmed first (WARMUP_S): what the rounds measure is each side's steady state, not V8 compiling it.
    const warmed: Record<string, number> = {};
    for (const side of ['direct', 'bare', 'cage'] as const) {
      const seconds = side === 'cage' ? WARMUP_S : WARMUP_S / 3;
      if (seconds <= 0) continue;
      const cpu0 = process.cpuUsage();
      const r = await load(client, {
        url: side === 'direct' ? upstreamUrl : side === 'bare' ? bareUrl : cageUrl,
        tokens: side === 'cage' ? tokens : [],
        concurrency: CONCURRENCY,
        warmup: 0,
        count: Number.MAX_SAFE_INTEGER,
        maxMs: seconds * 1000,
      });
      if (r.errors.length > 0) throw new Error(`bench: warming ${side} failed: ${r.errors.join('; ')}`);
      if (side === 'cage') {
        const cpu = process.cpuUsage(cpu0);
        warmed.cageCalls = r.latencies.length;
        warmed.cageCpuUs = (cpu.user + cpu.system) / Math.max(1, r.latencies.length);
      }
    }
    const one = await measure(1);
    const many = await measure(CONCURRENCY);

    // Every call through the cage is a tool_calls row and an mcp.call event (written a moment after
    // the answer), counted by what their inserts keep beside them: mcp_totals (the tools/call rows,
    // per server and tool; tool_calls itself keeps its last TOOL_CALLS_KEPT rows, which a long
    // bench can pass) and event_counts.
    const cageCalls = [...one, ...many].reduce((n, r) => n + r.cage.n, 0) + ROUNDS * (WARMUP[1]! + WARMUP[CONCURRENCY]!) + (warmed.cageCalls ?? 0);
    const counted = () => ({
      recorded: queryState<{ n: number }>(rt.state.path, "SELECT coalesce(sum(calls - errors - refusals), 0) AS n FROM mcp_totals WHERE server = 'bench'")!.n,
      events: queryState<{ n: number }>(rt.state.path, "SELECT coalesce(sum(n), 0) AS n FROM event_counts WHERE type = 'mcp.call'")!.n,
    });
    const landedBy = performance.now() + 5_000;
    while (counted().events < cageCalls && performance.now() < landedBy) await new Promise((r) => setTimeout(r, 50));
    const { recorded, events } = counted();
    const left = (await upstreamState(upstream)).sessions;

    const ms = (v: number) => `${fmt(v, 3)} ms`;
    const pct = (v: number) => `${fmt(v * 100, 1)}%`;
    /** The median of a figure over the rounds, and its range. */
    const over = (rounds: Sides[], f: (r: Sides) => number) => {
      const xs = rounds.map(f);
      return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs) };
    };
    const ranged = (o: { median: number; min: number; max: number }, say: (v: number) => string) => `${say(o.median)} (rounds ${say(o.min)} to ${say(o.max)})`;
    const p50 = (rounds: Sides[], side: SideName) => over(rounds, (r) => r[side].p50);
    const added1 = over(one, (r) => r.cage.p50 - r.direct.p50);
    const bareAdded1 = over(one, (r) => r.bare.p50 - r.direct.p50);
    const ofBare = over(many, (r) => r.cage.rps / r.bare.rps);
    const ofDirect = over(many, (r) => r.cage.rps / r.direct.rps);
    const bareOfDirect = over(many, (r) => r.bare.rps / r.direct.rps);
    const p99 = (rounds: Sides[], side: SideName) => ms(over(rounds, (r) => r[side].p99).median);
    rows.push({ metric: `rounds (direct, bare proxy, cage in turn), medians over them`, value: `${ROUNDS}` });
    rows.push({
      metric: 'concurrency 1, p50 / p99: direct; bare proxy; through the cage',
      value: (['direct', 'bare', 'cage'] as const).map((s) => `${ms(p50(one, s).median)} / ${p99(one, s)}`).join('; '),
    });
    rows.push({ metric: 'added latency of the cage, p50, concurrency 1', value: ranged(added1, ms), target: `≤ ${ADDED_P50_TARGET_MS} ms`, ok: added1.median <= ADDED_P50_TARGET_MS });
    rows.push({ metric: 'floor: a bare forwarding proxy adds, p50, concurrency 1', value: ranged(bareAdded1, ms) });
    rows.push({
      metric: `concurrency ${CONCURRENCY} (${CONCURRENCY} sessions), p50 / p99: direct; bare proxy; through the cage`,
      value: (['direct', 'bare', 'cage'] as const).map((s) => `${ms(p50(many, s).median)} / ${p99(many, s)}`).join('; '),
    });
    rows.push({
      metric: `concurrency ${CONCURRENCY}, calls/s: direct / bare proxy / through the cage`,
      value: (['direct', 'bare', 'cage'] as const).map((s) => fmt(over(many, (r) => r[s].rps).median, 0)).join(' / '),
    });
    rows.push({ metric: `concurrency ${CONCURRENCY}, calls/s through the cage / the bare proxy`, value: ranged(ofBare, pct), target: `≥ ${RATIO_TARGET * 100}%`, ok: ofBare.median >= RATIO_TARGET });
    rows.push({ metric: `concurrency ${CONCURRENCY}, calls/s through the cage / direct; the bare proxy / direct`, value: `${ranged(ofDirect, pct)}; ${ranged(bareOfDirect, pct)}` });
    rows.push({
      metric: `CPU per call (user + system), concurrency ${CONCURRENCY}: the cage / the bare proxy (their ratio); the MCP server direct / through the cage`,
      value: `${fmt(over(many, (r) => r.cage.middleCpuUs).median, 0)} / ${fmt(over(many, (r) => r.bare.middleCpuUs).median, 0)} µs (×${fmt(over(many, (r) => r.cage.middleCpuUs / r.bare.middleCpuUs).median, 2)}); ${fmt(over(many, (r) => r.direct.upstreamCpuUs).median, 0)} / ${fmt(over(many, (r) => r.cage.upstreamCpuUs).median, 0)} µs`,
    });
    rows.push({
      metric: `CPU per call over the measured calls only (the sessions' opening and closing, and the warm-up calls, left out), concurrency ${CONCURRENCY}: the cage / the bare proxy (their ratio)`,
      value: `${fmt(over(many, (r) => r.cage.middleCallCpuUs).median, 0)} / ${fmt(over(many, (r) => r.bare.middleCallCpuUs).median, 0)} µs (×${fmt(over(many, (r) => r.cage.middleCallCpuUs / r.bare.middleCallCpuUs).median, 2)})`,
    });
    rows.push({
      metric: 'the same at concurrency 1: the cage / the bare proxy (their ratio)',
      value: `${fmt(over(one, (r) => r.cage.middleCallCpuUs).median, 0)} / ${fmt(over(one, (r) => r.bare.middleCallCpuUs).median, 0)} µs (×${fmt(over(one, (r) => r.cage.middleCallCpuUs / r.bare.middleCallCpuUs).median, 2)})`,
    });
    if (warmed.cageCpuUs !== undefined)
      rows.push({
        metric: `warm-up before the rounds (${fmt(WARMUP_S, 0)} s through the cage, ${fmt(WARMUP_S / 3, 0)} s each other side, c=${CONCURRENCY}): the cage's CPU per call meanwhile`,
        value: `${fmt(warmed.cageCpuUs, 0)} µs over ${fmt(warmed.cageCalls!, 0)} calls`,
      });
    rows.push({ metric: 'load average (1 min) at the start, on this many cores', value: `${fmt(load1, 2)} on ${availableParallelism()}` });
    rows.push({
      metric: 'calls through the cage / tool_calls rows / mcp.call events (as counted beside the pruned tables)',
      value: `${fmt(cageCalls, 0)} / ${fmt(recorded, 0)} / ${fmt(events, 0)}`,
      target: 'all three equal',
      ok: recorded === cageCalls && events === cageCalls,
    });
    Object.assign(extra, { warmupS: WARMUP_S, warmed, one, many, cageCalls, recorded, events, upstreamSessionsLeft: left, seconds: (performance.now() - started) / 1000 });
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
