// Tool egress proxy: the latency it adds over calling the service directly (p50/p99 at
// concurrency 16, keep-alive on both legs), and what a call refused by an open circuit costs,
// through the proxy and in-process. The upstream and the load client run in their own
// processes so the proxy's event loop only does the proxy's work.
// Run: npm run build && node scripts/bench/run.mjs tools
import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Pool } from 'undici';
import { DEFAULTS } from '../../src/config/index.js';
import { toolsSchema } from '../../src/config/tools.js';
import { createLogger } from '../../src/core/logger.js';
import { CircuitBreaker } from '../../src/domain/reliability/index.js';
import { Runtime } from '../../src/runtime/index.js';
import { redactResponse } from '../../src/tools/index.js';
import { fmt, percentile, queryState, report, type Row } from './lib.js';

const CONCURRENCY = 16;
const WARMUP = 2_000;
const MAX_REQUESTS = 20_000;
const MAX_MS = 5_000;
const OVERHEAD_TARGET_MS = 1;
const REJECT_TARGET_US = 50;

// A lead record of the size the demo's LinkedIn stand-in answers with.
const BODY = JSON.stringify({
  id: 'p-1042',
  name: 'Dana Whitfield',
  title: 'VP Engineering',
  company: { name: 'Acme Widgets', size: '201-500', industry: 'Manufacturing', hq: 'Toledo, OH' },
  skills: ['distributed systems', 'hiring', 'platform'],
  summary: 'Leads the platform group; previously built data pipelines for logistics companies.',
});

/**
 * A page of a list API of about `bytes`: short records (names, numbers, booleans, tags), an
 * e-mail address in one record of fifty. Thousands of short strings: what makes a tool answer
 * costly to scan value by value.
 */
function listAnswer(bytes: number): string {
  const first = ['Dana', 'Lee', 'Priya', 'Marco', 'Yuki', 'Olu', 'Sven', 'Ana'];
  const last = ['Whitfield', 'Okafor', 'Nakamura', 'Rossi', 'Singh', 'Berg', 'Costa', 'Hale'];
  const cities = ['Toledo', 'Lyon', 'Osaka', 'Porto', 'Austin', 'Leeds'];
  const items: string[] = [];
  for (let i = 0, size = 0; size < bytes; i++) {
    const name = `${first[i % 8]} ${last[(i * 7) % 8]}`;
    const record: Record<string, unknown> = {
      id: 100_000 + i,
      name,
      city: cities[i % 6],
      age: 20 + (i % 50),
      active: i % 3 !== 0,
      score: ((i * 37) % 1000) / 10,
      tags: ['lead', i % 2 ? 'warm' : 'cold'],
    };
    if (i % 50 === 7) record.email = `${first[i % 8]!.toLowerCase()}.${i}@example.org`;
    const s = JSON.stringify(record);
    items.push(s);
    size += s.length + 1;
  }
  return `{"page":1,"items":[${items.join(',')}]}`;
}
const LIST_BYTES = 1 << 20;
const LIST_RUNS = 30;

interface LoadJob {
  origin: string;
  path: string;
  headers: Record<string, string>;
  count: number;
  maxMs: number;
  concurrency: number;
  /** Append `&n=<call number>` so each call asks (and gets) something new. */
  vary?: boolean;
}

interface LoadResult {
  latencies: number[];
  statuses: Record<string, number>;
  elapsedMs: number;
}

const role = process.argv[2];
if (role === 'upstream') runUpstream();
else if (role === 'bare') runBareProxy(process.argv[3]!);
else if (role === 'client') runClient();
else await main();

function runUpstream(): void {
  const list = listAnswer(LIST_BYTES);
  const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    if (req.url?.startsWith('/fail')) {
      res.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"down"}');
      return;
    }
    if (req.url?.startsWith('/list')) {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(list) }).end(list);
      return;
    }
    // `n=` makes every answer different (a different lead each call); without it, one lead.
    const n = /[?&]n=(\d+)/.exec(req.url ?? '')?.[1];
    const body = n === undefined ? BODY : BODY.replace('"p-1042"', `"p-${n}"`);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
}

/**
 * The floor: a proxy that only forwards (undici, keep-alive, no auth, breaker, cache, scan or
 * record). What the machine charges for one more hop, so the proxy's own cost can be read off.
 */
function runBareProxy(upstream: string): void {
  const pool = new Pool(upstream, { connections: CONCURRENCY, keepAliveTimeout: 60_000 });
  const server = createServer({ keepAliveTimeout: 60_000 }, async (req, res) => {
    const r = await pool.request({ path: req.url!.replace('/tools/leads', ''), method: 'GET' });
    const body = Buffer.from(await r.body.arrayBuffer());
    res.writeHead(r.statusCode, { 'content-type': String(r.headers['content-type']), 'content-length': body.length }).end(body);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
  // Asked before and after a run: its CPU, to set beside iron-cage's own.
  process.on('message', () => process.send!(process.cpuUsage()));
}

function runClient(): void {
  process.on('message', async (job: LoadJob) => {
    const pool = new Pool(job.origin, { connections: job.concurrency, keepAliveTimeout: 60_000 });
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let issued = 0;
    const started = performance.now();
    const deadline = started + job.maxMs;
    const worker = async () => {
      while (issued < job.count && performance.now() < deadline) {
        issued++;
        const t0 = performance.now();
        const r = await pool.request({ path: job.vary ? `${job.path}&n=${issued}` : job.path, method: 'GET', headers: job.headers });
        await r.body.dump();
        latencies.push(performance.now() - t0);
        statuses[r.statusCode] = (statuses[r.statusCode] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: job.concurrency }, worker));
    const result: LoadResult = { latencies, statuses, elapsedMs: performance.now() - started };
    await pool.close();
    process.send!(result);
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

function cpuOf(proc: ChildProcess): Promise<NodeJS.CpuUsage> {
  return new Promise((resolve) => {
    proc.once('message', (m) => resolve(m as NodeJS.CpuUsage));
    proc.send('cpu');
  });
}

function summary(r: LoadResult) {
  const sorted = [...r.latencies].sort((a, b) => a - b);
  return { n: sorted.length, p50: percentile(sorted, 50), p99: percentile(sorted, 99), rps: sorted.length / (r.elapsedMs / 1000), statuses: r.statuses };
}

/** The PII step alone on the list answer: ms per answer, median of LIST_RUNS (after one warm-up). */
function measureListRedaction(): { ms: number; bytes: number; redactions: number } {
  const body = Buffer.from(listAnswer(LIST_BYTES));
  const redactor = redactResponse('redact');
  let redactions = redactor(body, 'application/json', null).redactions;
  const times: number[] = [];
  for (let i = 0; i < LIST_RUNS; i++) {
    const t0 = performance.now();
    redactions = redactor(body, 'application/json', null).redactions;
    times.push(performance.now() - t0);
  }
  return {
    ms: percentile(
      times.sort((a, b) => a - b),
      50,
    ),
    bytes: body.length,
    redactions,
  };
}

/** ns per acquire() on an open breaker, median of batches. */
function measureAcquire(): number {
  const breaker = new CircuitBreaker('bench', { failureThreshold: 1, cooldownMs: 86_400_000 });
  const a = breaker.acquire();
  if (a.allowed) breaker.record(a.permit, { kind: 'failure', reason: 'http_503' });
  let sink = 0;
  const batch = 10_000;
  for (let i = 0; i < batch * 5; i++) {
    const r = breaker.acquire();
    if (!r.allowed) sink += r.retryAfterMs;
  }
  const perBatch: number[] = [];
  for (let b = 0; b < 100; b++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < batch; i++) {
      const r = breaker.acquire();
      if (!r.allowed) sink += r.retryAfterMs;
    }
    perBatch.push(Number(process.hrtime.bigint() - t0) / batch);
  }
  if (sink === 0) throw new Error('bench: the breaker never refused');
  return percentile(
    perBatch.sort((x, y) => x - y),
    50,
  );
}

async function main(): Promise<void> {
  const upstream = child(['upstream']);
  const { port } = await new Promise<{ port: number }>((resolve) => upstream.once('message', (m) => resolve(m as { port: number })));
  const upstreamUrl = `http://127.0.0.1:${port}`;
  const bare = child(['bare', upstreamUrl]);
  const barePort = await new Promise<number>((resolve) => bare.once('message', (m) => resolve((m as { port: number }).port)));
  const client = child(['client']);

  const dir = mkdtempSync(join(tmpdir(), 'iron-bench-tools-'));
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const rt = await Runtime.start({
    config: {
      ...DEFAULTS,
      port: 0,
      db: join(dir, 'bench.db'),
      tools: toolsSchema.parse({
        leads: { url: upstreamUrl, cost_per_call_usd: 0.1 },
        down: { url: upstreamUrl, cache_ttl_s: 0, breaker: { failure_threshold: 1, cooldown_s: 86_400 } },
      }),
    },
    logger: createLogger({ format: 'json', level: 'warn', stream: sink }),
  });
  const { token } = await rt.tokens.issueRun({ name: 'bench', agentId: 'be-00000000' });
  const auth = { authorization: `Bearer ${token}` };
  const rows: Row[] = [];

  try {
    const job = (origin: string, path: string, headers: Record<string, string>, concurrency: number): LoadJob => ({
      origin,
      path,
      headers,
      concurrency,
      count: concurrency === 1 ? MAX_REQUESTS / 4 : MAX_REQUESTS,
      maxMs: MAX_MS,
    });
    const path = '/people/1042?fields=all';
    const measure = async (concurrency: number) => {
      const direct = job(upstreamUrl, path, {}, concurrency);
      const floor = job(`http://127.0.0.1:${barePort}`, `/tools/leads${path}`, {}, concurrency);
      const proxied = job(rt.url, `/tools/leads${path}`, auth, concurrency);
      for (const j of [direct, floor, proxied]) await load(client, { ...j, count: WARMUP });
      const d = summary(await load(client, direct));
      const bareCpu0 = await cpuOf(bare);
      const f = summary(await load(client, floor));
      const bareCpu1 = await cpuOf(bare);
      const bareCpuPerCallUs = (bareCpu1.user + bareCpu1.system - bareCpu0.user - bareCpu0.system) / f.n;
      const cpu0 = process.cpuUsage();
      const p = summary(await load(client, proxied));
      const cpu = process.cpuUsage(cpu0);
      if (p.statuses['200'] !== p.n) throw new Error(`bench: proxied calls did not all succeed: ${JSON.stringify(p.statuses)}`);
      return { d, f, p, cpuPerCallUs: (cpu.user + cpu.system) / p.n, bareCpuPerCallUs };
    };
    const ms = (v: number) => `${fmt(v, 3)} ms`;
    const one = await measure(1);
    const many = await measure(CONCURRENCY);
    // Every call a different lead: each answer is scanned for PII and written to the cache.
    const distinctDirect = summary(await load(client, { ...job(upstreamUrl, path, {}, CONCURRENCY), vary: true }));
    const distinctCpu0 = process.cpuUsage();
    const distinct = summary(await load(client, { ...job(rt.url, `/tools/leads${path}`, auth, CONCURRENCY), vary: true }));
    const distinctCpu = process.cpuUsage(distinctCpu0);

    // A 1 MB list answer, each call a new URL (so scanned, not served from the cache), one at a time.
    const listJob: LoadJob = { origin: upstreamUrl, path: '/list?page=1', headers: {}, concurrency: 1, count: LIST_RUNS, maxMs: MAX_MS * 2, vary: true };
    const listDirect = summary(await load(client, listJob));
    await load(client, { ...listJob, origin: rt.url, path: `/tools/leads${listJob.path}`, headers: auth, count: 3 });
    const listProxied = summary(await load(client, { ...listJob, origin: rt.url, path: `/tools/leads${listJob.path}`, headers: auth }));
    if (listProxied.statuses['200'] !== listProxied.n) throw new Error(`bench: list calls did not all succeed: ${JSON.stringify(listProxied.statuses)}`);
    const list = measureListRedaction();

    // Open the `down` circuit with one failure; every later call is refused without the upstream.
    await load(client, { ...job(rt.url, '/tools/down/fail', auth, 1), count: 1 });
    const openJob = job(rt.url, '/tools/down/fail', auth, CONCURRENCY);
    await load(client, { ...openJob, count: WARMUP });
    const o = summary(await load(client, openJob));
    if (o.statuses['503'] !== o.n) throw new Error(`bench: open-circuit calls were not all refused: ${JSON.stringify(o.statuses)}`);
    const acquireNs = measureAcquire();

    const over1 = one.p.p50 - one.d.p50;
    const over50 = many.p.p50 - many.d.p50;
    const over99 = many.p.p99 - many.d.p99;
    const floor50 = many.f.p50 - many.d.p50;
    rows.push({ metric: 'added latency of the proxy, p50, one call at a time', value: ms(over1) });
    rows.push({ metric: `direct to the service p50 / p99 (concurrency ${CONCURRENCY}, ${fmt(many.d.n, 0)} calls)`, value: `${ms(many.d.p50)} / ${ms(many.d.p99)}` });
    rows.push({ metric: `through /tools/ p50 / p99 (concurrency ${CONCURRENCY}, ${fmt(many.p.n, 0)} calls)`, value: `${ms(many.p.p50)} / ${ms(many.p.p99)}` });
    rows.push({ metric: `added latency of the proxy, p50 (concurrency ${CONCURRENCY})`, value: ms(over50), target: `< ${OVERHEAD_TARGET_MS} ms`, ok: over50 < OVERHEAD_TARGET_MS });
    rows.push({ metric: `added latency of the proxy, p99 (concurrency ${CONCURRENCY})`, value: ms(over99) });
    rows.push({ metric: `floor: a bare forwarding proxy adds, p50 (concurrency ${CONCURRENCY})`, value: ms(floor50) });
    rows.push({ metric: 'throughput direct / bare proxy / iron-cage proxy', value: `${fmt(many.d.rps, 0)} / ${fmt(many.f.rps, 0)} / ${fmt(many.p.rps, 0)} calls/s` });
    rows.push({ metric: 'CPU per proxied call (user + system): bare proxy / iron-cage', value: `${fmt(many.bareCpuPerCallUs, 1)} µs / ${fmt(many.cpuPerCallUs, 1)} µs` });
    rows.push({
      metric: `every call a different answer (scanned, cached): added latency p50 / p99 (concurrency ${CONCURRENCY})`,
      value: `${ms(distinct.p50 - distinctDirect.p50)} / ${ms(distinct.p99 - distinctDirect.p99)}`,
    });
    rows.push({
      metric: 'every call a different answer: throughput, CPU per call',
      value: `${fmt(distinct.rps, 0)} calls/s, ${fmt((distinctCpu.user + distinctCpu.system) / distinct.n, 1)} µs`,
    });
    const mbps = (t: number) => `${fmt(list.bytes / 1e6 / (t / 1000), 1)} MB/s`;
    rows.push({
      metric: `1 MB JSON list answer (short records, an address in 2%): tool response redactor in-process, median of ${LIST_RUNS}`,
      value: `${mbps(list.ms)} (${ms(list.ms)}, ${fmt(list.redactions, 0)} redactions)`,
    });
    rows.push({
      metric: 'the same answer through /tools/ (scanned, cached), one call at a time: p50 direct / proxied, added',
      value: `${ms(listDirect.p50)} / ${ms(listProxied.p50)}, ${ms(listProxied.p50 - listDirect.p50)} (${mbps(listProxied.p50 - listDirect.p50)})`,
    });
    rows.push({ metric: `refused while OPEN, through /tools/ p50 / p99 (HTTP round trip, concurrency ${CONCURRENCY})`, value: `${ms(o.p50)} / ${ms(o.p99)}` });
    rows.push({ metric: 'refused while OPEN, in-process (acquire())', value: `${fmt(acquireNs / 1000, 3)} µs`, target: `< ${REJECT_TARGET_US} µs`, ok: acquireNs / 1000 < REJECT_TARGET_US });
    const m = queryState<{ n: number }>(rt.state.path, "SELECT count(*) AS n FROM tool_calls WHERE service = 'leads'")!;
    rows.push({ metric: 'calls on record in tool_calls (leads)', value: fmt(m.n, 0) });
  } finally {
    client.kill();
    bare.kill();
    upstream.kill();
    await rt.shutdown('bench done');
    rmSync(dir, { recursive: true, force: true });
  }
  report('tools', 'Tool egress proxy (npm run bench -- tools)', rows, { concurrency: CONCURRENCY });
  // A missed target shows as ❌ in the table; the run itself succeeded.
  process.exit(0);
}
