// Shared helpers for the benchmarks: percentiles, a markdown table, and the JSON record.
import { type ChildProcess, execFileSync, fork, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import Database from 'better-sqlite3';
import { Pool, request } from 'undici';
import WebSocket from 'ws';
import { DEFAULTS } from '../../src/config/index.js';
import { createLogger } from '../../src/core/logger.js';
import { Runtime } from '../../src/runtime/index.js';
import { RequestsStore, StateManager, ToolsStore, type LlmRequestInput } from '../../src/state/index.js';

export interface Row {
  metric: string;
  value: string;
  target?: string;
  ok?: boolean;
}

/** One row of a query on a state file, through a read-only connection of the benchmark's own (nothing in src/ hands out the runtime's). */
export function queryState<T>(path: string, sql: string, ...params: unknown[]): T | undefined {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).get(...params) as T | undefined;
  } finally {
    db.close();
  }
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function report(name: string, title: string, rows: Row[], extra: Record<string, unknown> = {}): void {
  const lines = [`### ${title}`, '', '| metric | value | target | |', '|---|---|---|---|'];
  for (const r of rows) lines.push(`| ${r.metric} | ${r.value} | ${r.target ?? ''} | ${r.ok === undefined ? '' : r.ok ? '✅' : '❌'} |`);
  process.stdout.write(`${lines.join('\n')}\n\n`);
  const dir = join(process.cwd(), 'bench-results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.json`), JSON.stringify({ name, title, at: new Date().toISOString(), node: process.version, rows, ...extra }, null, 2));
}

export const fmt = (n: number, digits = 2) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export const wallNow = () => performance.timeOrigin + performance.now();

/**
 * Records `total` events at `rate` per second (caught up every `tickMs`), each stamped with its
 * wall-clock send time in `data.t` for the receiver to measure from.
 */
export function emitPaced(rt: Runtime, o: { rate: number; total: number; tickMs: number; severity: 'debug' | 'info'; message: (i: number) => string }): Promise<void> {
  const start = performance.now();
  let sent = 0;
  return new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const due = Math.min(o.total, Math.floor(((performance.now() - start) / 1000) * o.rate));
      while (sent < due) {
        rt.state.record({ agentId: null, type: 'agent.event', severity: o.severity, message: o.message(sent), data: { t: wallNow(), i: sent } });
        sent++;
      }
      if (sent >= o.total) {
        clearInterval(tick);
        resolve();
      }
    }, o.tickMs);
  });
}

/**
 * The child side of startClients (a bench file calls it when started with `clients`): open N
 * WebSocket clients, record the delay of every event carrying a send time `data.t`, and report
 * once each client has `expected` of them.
 */
export function wsClientsChild(): void {
  const [, , , url, nStr, expectStr, everyStr] = process.argv;
  const n = Number(nStr);
  const expected = Number(expectStr);
  // Every `every`-th client reads its frames and times each event; the others only drain their
  // socket (one process cannot parse a thousand sockets' frames as fast as the server sends them).
  const every = Math.max(1, Number(everyStr ?? 1));
  const measured = Math.ceil(n / every);
  const delays: number[] = [];
  let received = 0;
  let open = 0;
  const clients: WebSocket[] = [];
  // Several URLs (comma-separated: one per token, as a token holds at most WS_MAX_PER_TOKEN sockets) are taken in turn.
  const urls = url!.split(',');
  for (let i = 0; i < n; i++) {
    const ws = new WebSocket(urls[i % urls.length]!);
    clients.push(ws);
    ws.on('open', () => {
      if (++open === n) process.send!({ ready: true });
    });
    if (i % every !== 0) {
      ws.on('message', () => {});
      continue;
    }
    ws.on('message', (raw) => {
      const now = wallNow();
      const m = JSON.parse(String(raw));
      const events = m.type === 'event' ? [m.event] : m.type === 'events' ? m.items.map((x: any) => x.event) : [];
      for (const e of events) {
        if (typeof e.data?.t !== 'number') continue;
        delays.push(now - e.data.t);
        received++;
      }
      if (received >= expected * measured) {
        process.send!({ delays });
        for (const c of clients) c.close();
        setTimeout(() => process.exit(0), 100);
      }
    });
  }
}

/**
 * /ws URLs for `n` viewers at `origin`: one viewer token (made by the admin `admin`) per 100 of
 * them, as a token may hold at most WS_MAX_PER_TOKEN sockets.
 */
export async function viewerUrls(origin: string, admin: string, n: number): Promise<string[]> {
  const urls: string[] = [];
  for (let i = 0; i < Math.ceil(n / 100); i++) {
    const { token } = await api(origin, '/api/tokens', admin, { role: 'viewer', name: `bench-viewers-${Date.now()}-${i}` });
    urls.push(`${origin.replace('http', 'ws')}/ws?token=${token}`);
  }
  return urls;
}

/** N WebSocket clients in a child process (the running bench file, started with `clients`), so they do not share the server's event loop. */
export async function startClients(url: string | string[], n: number, expected: number, every = 1) {
  const child = fork(process.argv[1]!, ['clients', [url].flat().join(','), String(n), String(expected), String(every)], { stdio: 'inherit' });
  const ready = new Promise<void>((r) => child.once('message', () => r()));
  const done = new Promise<number[]>((r) => child.on('message', (m: any) => m.delays && r(m.delays)));
  await ready;
  return { done, child };
}

/**
 * An iron-cage runtime with no agent on an ephemeral port and a fresh database, logging nothing
 * below warnings; `stop()` shuts it down and removes its files.
 *
 * @example
 *   const { rt, stop } = await benchRuntime(); … await stop();
 */
export async function benchRuntime(): Promise<{ rt: Runtime; stop: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'iron-bench-'));
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const rt = await Runtime.start({
    config: { ...DEFAULTS, port: 0, db: join(dir, 'bench.db') },
    logger: createLogger({ format: 'json', level: 'warn', stream: sink }),
  });
  return {
    rt,
    stop: async () => {
      await rt.shutdown('bench done');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Portkey's open-source gateway (`@portkey-ai/gateway`, a devDependency) for side-by-side runs:
 * its start script when installed (or at $PORTKEY_GATEWAY_DIR, a folder holding the package),
 * else null and the bench says so.
 *
 * @example
 *   const entry = portkeyEntry(); if (entry) { const pk = await startPortkey(entry); … pk.close(); }
 */
export function portkeyEntry(): string | null {
  const dir = process.env.PORTKEY_GATEWAY_DIR;
  if (dir) return existsSync(join(dir, 'build/start-server.js')) ? join(dir, 'build/start-server.js') : null;
  try {
    const pkg = createRequire(join(process.cwd(), 'package.json')).resolve('@portkey-ai/gateway/package.json');
    return join(dirname(pkg), 'build/start-server.js');
  } catch {
    return null;
  }
}

/** A loopback port free at the moment of asking. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createNetServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** Portkey's gateway in its own process on a free loopback port, once it says it is ready. */
export async function startPortkey(entry: string): Promise<{ origin: string; pid: number; close: () => void }> {
  const port = await freePort();
  const child = spawn(process.execPath, [entry, `--port=${port}`, '--headless'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const deadline = Date.now() + 20_000;
  while (!out.includes('Ready for connections')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Portkey's gateway did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  child.stdout!.removeAllListeners('data').resume();
  child.stderr!.removeAllListeners('data').resume();
  return { origin: `http://127.0.0.1:${port}`, pid: child.pid!, close: () => child.kill() };
}

/** A process's resident memory in MB from /proc (Linux): now (VmRSS) and its peak so far (VmHWM, the kernel's own high-water mark, so no sampling misses a spike). */
export function rssMb(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { now: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** A server's RSS once it has settled after start: `ms` after it said it was ready, with no request in between. */
export async function idleRssMb(pid: number, ms = 3000): Promise<number> {
  await new Promise((r) => setTimeout(r, ms));
  return rssMb(pid).now;
}

/** What Portkey needs to send a call to an OpenAI-shaped upstream at `upstream`. */
export const portkeyHeaders = (upstream: string): Record<string, string> => ({ 'x-portkey-provider': 'openai', 'x-portkey-custom-host': `${upstream}/v1` });

/** The middle value (the upper one of an even count). */
export const median = (xs: number[]): number =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

// ---- a control panel and its runtimes, in their own processes (panel and budgets benchmarks) ----
/** The build under test; `BENCH_CLI=<other checkout>/bin/iron-cage.js` runs another one (an A/B in one session). */
const CLI = process.env.BENCH_CLI || new URL('../../bin/iron-cage.js', import.meta.url).pathname;

/**
 * `iron-cage panel` on `url` in its own process, on a free loopback port, once it printed its login
 * link; its output is drained, not kept, after that. `stop` sends SIGTERM and resolves when it has
 * exited (a panel finishing its requests and closing its pool).
 */
/** How many panels this process started: the n-th takes the n-th of BENCH_PANEL_CPUS's core lists, round robin. */
let panelsStarted = 0;

export async function startPanel(url: string, args: string[] = []): Promise<{ origin: string; link: string; pid: number; child: ChildProcess; stop: () => Promise<void> }> {
  // BENCH_PANEL_NODE_ARGS: flags for the panel's Node (a profile of it under load: --cpu-prof --cpu-prof-dir=…).
  const nodeArgs = (process.env.BENCH_PANEL_NODE_ARGS ?? '').split(' ').filter(Boolean);
  // BENCH_PANEL_CPUS: the cores each panel runs on, taskset's lists separated by `/`, taken in turn
  // (`1`: every panel on core 1; `0/1`: the first on core 0, the second on 1, the third on 0…).
  // Run the bench itself under `taskset -c …` for the rest (PostgreSQL, the load, HAProxy inherit it).
  const cpus = (process.env.BENCH_PANEL_CPUS ?? '').split('/').filter(Boolean);
  const pin = cpus.length > 0 ? cpus[panelsStarted++ % cpus.length]! : null;
  const argv = [...nodeArgs, CLI, 'panel', '--database', url, '--port', '0', '--host', '127.0.0.1', ...args];
  // taskset execs the panel in its own process: the pid is the panel's.
  const child = pin === null ? spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'] }) : spawn('taskset', ['-c', pin, process.execPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  let out = '';
  const found = await new Promise<RegExpExecArray>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /(https?:\/\/127\.0\.0\.1:\d+)\/#login=(\S+)/.exec(out);
      if (m) resolve(m);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`the panel exited (${code}): ${out}`)));
  });
  child.stdout.removeAllListeners('data').resume();
  child.stderr.removeAllListeners('data').resume();
  const stop = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    return exited;
  };
  return { origin: found[1]!, link: found[2]!, pid: child.pid!, child, stop };
}

export async function api(origin: string, path: string, token: string | null, body?: unknown): Promise<any> {
  const res = await request(`${origin}${path}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${path}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}

/** `n` chat calls through a gateway at `c` connections: latencies (ms) and calls per second. */
export async function calls(origin: string, token: string, c: number, n: number): Promise<{ p50: number; rps: number }> {
  const pool = new Pool(origin, { connections: c, pipelining: 1 });
  const body = JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'qualify lead 42: Acme Corp, 200 people, Berlin' }] });
  const latencies: number[] = [];
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (started++ < n) {
        const s = performance.now();
        const r = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
        if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}: ${await r.body.text()}`);
        await r.body.dump();
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  return { p50: percentile(latencies, 50), rps: latencies.length / seconds };
}

/** `iron-cage serve` (simulated provider) in its own process, reporting to a panel or not, with an agent key. */
export async function gateway(dir: string, name: string, panelArgs: string[], env: Record<string, string>): Promise<{ origin: string; pid: number; token: string; stop: () => void }> {
  const dbFile = join(dir, `${name}.db`);
  const created = JSON.parse(execFileSync(process.execPath, [CLI, 'token', 'create', '--role', 'agent', '--name', name, '--budget', '1000000', '--json', '--db', dbFile], { encoding: 'utf8' }));
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--db', dbFile, ...panelArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  const origin = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)\/#login=/.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`iron-cage serve exited (${code}): ${out}`)));
  });
  return { origin, pid: child.pid!, token: created.token, stop: () => child.kill('SIGTERM') };
}

/** utime + stime of a process in ms, from /proc (Linux). */
export function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100;
}

/**
 * Time on a CPU of all of a process's threads in ms, from each thread's schedstat (Linux;
 * nanoseconds, where stat counts 10 ms ticks). A thread that has ended no longer counts: read it
 * over a span in which none ends (node's threads live as long as the process).
 */
export function threadsCpuMs(pid: number): number {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended between the listing and the read
    }
  }
  return ns / 1e6;
}

/**
 * The machine's cores split for a benchmark that gives the process under test a core of its own:
 * the last one for it, the others for the load (and everything else), all of them to undo.
 */
export function coresApart(what: string): { own: number; others: string; all: string } {
  const n = cpus().length;
  if (n < 2) throw new Error(`${what} needs at least 2 cores (one for the process under test, the others for the load)`);
  return { own: n - 1, others: n === 2 ? '0' : `0-${n - 2}`, all: `0-${n - 1}` };
}

/** `node args`, on core `cpu` alone when given (taskset execs node: the child's pid is node's). */
export function spawnNode(args: string[], cpu: number | undefined, opts: SpawnOptions): ChildProcess {
  return cpu === undefined ? spawn(process.execPath, args, opts) : spawn('taskset', ['-c', String(cpu), process.execPath, ...args], opts);
}

/** Pin a process (and the threads and children it starts from now on) to these CPUs. */
export function pin(pid: number, cpus: string): void {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
}

// ---- `iron-cage serve` on a state file, in its own process (bench -- scale, bench -- dashboard) ----

export interface Serve {
  origin: string;
  pid: number;
  admin: string;
  startMs: number;
  child: ChildProcess;
  stop: () => Promise<void>;
}

/** An admin key on the state file `db`, made by the command line before the server starts. */
export function adminKey(db: string): string {
  const name = `scale-admin-${Date.now()}`; // a kept file (SCALE_DB) has the last run's
  return JSON.parse(execFileSync(process.execPath, [CLI, 'token', 'create', '--role', 'admin', '--name', name, '--json', '--db', db], { encoding: 'utf8' })).token;
}

/**
 * `iron-cage serve` on `db` in its own process (with the lag monitor when `lagFile`, node's own
 * flags `nodeArgs`, e.g. --cpu-prof, and on core `cpu` alone when given); start-up time is spawn →
 * its dashboard line.
 */
export async function serve(db: string, admin: string, lagFile?: string, nodeArgs: string[] = [], cpu?: number): Promise<Serve> {
  const t0 = performance.now();
  const args = [...nodeArgs, ...(lagFile ? ['--import', join(lagFile, '..', 'lag.mjs')] : []), CLI, 'serve', '--port', '0', '--db', db, '--log-format', 'json'];
  const env = { ...process.env, ...(lagFile ? { SCALE_LAG_FILE: lagFile } : {}) };
  const child = spawnNode(args, cpu, { stdio: ['ignore', 'pipe', 'pipe'], env });
  let out = '';
  const origin = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer) => {
      out += d.toString();
      const m = /dashboard (http:\/\/127\.0\.0\.1:\d+)\//.exec(out);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`iron-cage serve exited (${code}): ${out}`)));
  });
  const startMs = performance.now() - t0;
  child.stdout!.removeAllListeners('data').resume();
  child.stderr!.removeAllListeners('data').resume();
  return {
    origin,
    pid: child.pid!,
    admin,
    startMs,
    child,
    stop: () =>
      new Promise<void>((r) => {
        child.removeAllListeners('exit');
        child.once('exit', () => r());
        child.kill('SIGTERM');
      }),
  };
}

// ---- a long run written at full speed through the writer (bench -- scale, bench -- dashboard) ----

const MODELS = ['gpt-4o-mini', 'gpt-4o', 'claude-3-5-haiku-latest'];

/**
 * Write `rows` LLM calls (each with its llm.request event) and `events` events in all over a day
 * ending now, through the StateManager's writer (the gateway's own statements: RequestsStore.insert
 * with its event in one group commit), spread round-robin over `agentIds`; the events beside the
 * calls' own are progress reports and output lines, plus one notable event (a budget change,
 * which the timeline marks) every `notableEvery` calls, and a tool call every `toolEvery` calls
 * (0: none). Seconds taken.
 */
export async function fillRun(db: string, o: { rows: number; events: number; agentIds: string[]; toolEvery?: number; notableEvery?: number }): Promise<{ seconds: number }> {
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const logger = createLogger({ format: 'json', level: 'warn', stream: sink });
  const state = StateManager.open(db, { warn: (m) => logger.warn(m) });
  const requests = new RequestsStore(state);
  const tools = new ToolsStore(state);
  for (const id of o.agentIds) state.registerAgent({ id, name: id, kind: 'external', script: null, args: [], limitMicros: null });
  const n = o.agentIds.length;
  const day = 86_400_000;
  const t0 = Date.now() - day;
  const notable = o.notableEvery ?? 0;
  const toolEvery = o.toolEvery ?? 0;
  const extraPerCall = (o.events - o.rows - (notable > 0 ? o.rows / notable : 0)) / o.rows; // progress and output events beside each call's own
  const started = performance.now();
  const CHUNK = 2_000;
  let extra = 0;
  for (let i = 0; i < o.rows; i += CHUNK) {
    let last: Promise<unknown> = Promise.resolve();
    for (let j = i; j < Math.min(o.rows, i + CHUNK); j++) {
      const agentId = o.agentIds[j % n]!;
      const model = MODELS[j % 7 === 0 ? 1 : j % 11 === 0 ? 2 : 0]!;
      const ok = j % 50 !== 0;
      const ts = new Date(t0 + Math.floor((j / o.rows) * day)).toISOString();
      const row: LlmRequestInput = {
        ts,
        agentId,
        endpoint: 'chat',
        provider: model.startsWith('claude') ? 'anthropic' : 'openai',
        model,
        stream: j % 3 === 0,
        status: ok ? 'ok' : 'error',
        httpStatus: ok ? 200 : 502,
        promptTokens: ok ? 120 + (j % 400) : 0,
        completionTokens: ok ? 16 + (j % 200) : 0,
        costMicros: ok ? 30 + (j % 500) : 0,
        reservedMicros: 900,
        usageSource: 'provider',
        latencyMs: 0.3 + (j % 100) / 10,
        firstByteMs: null,
        redactions: j % 97 === 0 ? 1 : 0,
        error: ok ? null : 'upstream 502',
        attempts: 1,
        budgets: null,
      };
      last = state.writeSoon(
        (tx) => requests.insert(tx, row),
        (id) => ({
          agentId,
          type: 'llm.request',
          severity: ok ? 'debug' : 'warn',
          message: `${model} ${row.promptTokens}+${row.completionTokens} tokens $0.0001`,
          data: {
            requestId: id,
            endpoint: 'chat',
            provider: row.provider,
            model,
            stream: row.stream,
            status: row.status as 'ok',
            httpStatus: row.httpStatus ?? 0,
            promptTokens: row.promptTokens,
            completionTokens: row.completionTokens,
            costUsd: row.costMicros / 1e6,
            spentUsd: 0,
            limitUsd: null,
            latencyMs: row.latencyMs ?? 0,
            redactions: row.redactions,
            usageSource: 'provider',
            attempts: 1,
          },
        }),
      );
      if (toolEvery > 0 && j % toolEvery === 0)
        last = tools.recordCall({
          ts,
          agentId,
          service: 'crm',
          method: 'GET',
          path: `/leads/${j}`,
          status: j % 40 === 0 ? 503 : 200,
          tier: j % 40 === 0 ? 'failed' : 'live',
          reason: j % 40 === 0 ? 'upstream_error' : 'ok',
          detail: null,
          upstreamStatus: j % 40 === 0 ? 503 : 200,
          latencyMs: 4 + (j % 30),
          upstreamMs: 3 + (j % 30),
          bytes: 512,
          redactions: 0,
          fault: false,
        });
      if (notable > 0 && j % notable === 0)
        last = state.writeSoon(() => undefined, { agentId, type: 'budget.changed', severity: 'info', message: `limit set to $${j}`, data: { limitUsd: j, previousUsd: null, by: 'bench' } });
      for (extra += extraPerCall; extra >= 1; extra--) {
        const k = Math.floor(j / n) + 1;
        last = state.writeSoon(
          () => undefined,
          j % 2 === 0
            ? { agentId, type: 'agent.progress', severity: 'debug', message: `${k} calls`, data: { done: k, total: null, unit: 'calls', succeeded: null, failed: null } }
            : { agentId, type: 'agent.output', severity: 'info', message: `lead ${k}: qualified (score 0.82)`, data: { stream: 'stdout' } },
        );
      }
    }
    await last;
  }
  const seconds = (performance.now() - started) / 1000;
  await state.close();
  return { seconds };
}
