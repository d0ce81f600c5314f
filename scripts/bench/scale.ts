// Cost as the work grows: `npm run bench -- scale`.
//   1. Many agents at once: `iron-cage serve` in its own process and N standard-library Python
//      agents (default 50), each with its own agent key (iron-cage supervises one script per
//      process; agents beyond it connect with a key: docs/agents.md), each making one chat call
//      a second through the gateway (simulated provider) and reporting progress through the
//      Python SDK. Measured against one agent in the same run: the calls' latency as the agents
//      see it (and as the ledger has it), event→client delay at a /ws client, iron-cage's RSS,
//      and the longest event-loop stall (a monitorEventLoopDelay histogram preloaded into the
//      server with --import, so nothing in src/ changes for it).
//   2. A day compressed: SCALE_ROWS ledger rows (default 2,000,000) and SCALE_EVENTS events
//      (default 5,000,000) written at full speed through the StateManager's writer (the gateway's
//      own statements: RequestsStore.insert with its llm.request event in one group commit),
//      then `iron-cage serve` on that file: start-up time, RSS, and the p99 of what the dashboard
//      loads for an agent (/ws's first frame, /api/agents/:id/costs, …).
// Sizes (quick run: SCALE_AGENTS=5 SCALE_SECONDS=5 SCALE_ROWS=100000 SCALE_EVENTS=250000):
//   SCALE_AGENTS, SCALE_SECONDS (each phase of part 1), SCALE_ROWS, SCALE_EVENTS, SCALE_LEDGER_AGENTS;
//   SCALE_PART=agents|ledger runs one part. SCALE_DB=<file>: part 2 on that state file, filled
//   first only when it does not exist yet, and kept (to measure a change on the same day twice).
//   SCALE_CPU_PROF=1: part 1's server under --cpu-prof, the report says what ran in its steady
//   stalls (SCALE_CPU_PROF_KEEP=<dir> keeps the profile and the stall probe's log).
//   BENCH_CLI=<checkout>/bin/iron-cage.js runs that build instead (an A/B under one script).
//   SCALE_PIN=1: part 1 with iron-cage on the machine's last core alone and the agents' interpreters
//   and this benchmark on the others (taskset), as when the agents run on other machines: on 2
//   cores shared by all, the stalls are the server waiting for a core (docs/benchmarks-history.md).
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { adminKey, api, coresApart, cpuMs, fillRun, fmt, percentile, pin, queryState, report, serve, wallNow, type Row, type Serve } from './lib.js';
import { attribute, describeStall, LAG_PRELOAD, profileIn, readLag, stallTotals, type Attributed } from './scale/stalls.js';

const env = (name: string, def: number) => {
  const v = process.env[name];
  if (v === undefined || v === '') return def;
  const n = Number(v.replaceAll('_', ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${name}=${v}: a positive integer, please`);
  return n;
};
const AGENTS = env('SCALE_AGENTS', 50);
const SECONDS = env('SCALE_SECONDS', 30);
// Each agent's first calls, and the event loop in those seconds, share the machine with the
// interpreters of every agent starting at once; the steady-state rows leave them out.
const STEADY_AFTER_S = 3;
const ROWS = env('SCALE_ROWS', 2_000_000);
const EVENTS = env('SCALE_EVENTS', 5_000_000);
const LEDGER_AGENTS = env('SCALE_LEDGER_AGENTS', 50);
const PART = process.env.SCALE_PART ?? 'all';
/** SCALE_CPU_PROF=1: the server runs with --cpu-prof, and the report says what ran in the steady stalls. */
const CPU_PROF = process.env.SCALE_CPU_PROF === '1';
/** SCALE_CPU_PROF_KEEP=<dir>: the profile is copied there too (to read it in DevTools or with a script). */
const CPU_PROF_KEEP = process.env.SCALE_CPU_PROF_KEEP || null;
const KEPT_DB = process.env.SCALE_DB || null;
/** SCALE_PIN=1: the server's own core (the last), and the cores this benchmark and its agents keep. */
const PIN = process.env.SCALE_PIN === '1' ? coresApart('SCALE_PIN=1') : null;
const PYTHONPATH = new URL('../../src/python', import.meta.url).pathname;
const MB = 1024 * 1024;

/** A standard-library agent: one chat call a second for argv[1] seconds, progress after each; prints its latencies. */
const AGENT_PY = `
import http.client, json, os, random, sys, time
import iron_cage
host, port = os.environ["IRON_CAGE_URL"].split("//")[1].split(":")
token = os.environ["IRON_CAGE_TOKEN"]
n = int(sys.argv[1])
conn = http.client.HTTPConnection(host, int(port), timeout=30)
headers = {"authorization": "Bearer " + token, "content-type": "application/json"}
time.sleep(random.random())
start, lat = time.monotonic(), []
for i in range(n):
    wait = start + i - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    body = json.dumps({"model": "gpt-4o-mini", "max_tokens": 16, "messages": [{"role": "user", "content": "qualify lead %d: Acme Corp, 200 people, Berlin" % i}]})
    t0 = time.perf_counter()
    conn.request("POST", "/v1/chat/completions", body, headers)
    r = conn.getresponse()
    r.read()
    lat.append((time.perf_counter() - t0) * 1000)
    if r.status != 200:
        sys.exit("HTTP %d" % r.status)
    iron_cage.report_progress(i + 1, n, unit="calls")
print(json.dumps({"lat": lat, "cpu": time.process_time()}), flush=True)
`;

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** The delay from an event's record time (its `ts`) to its arrival, for every event of `agents` a /ws client gets. */
async function watchEvents(origin: string, token: string) {
  const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws?token=${token}`);
  const delays = new Map<string, Array<{ at: number; ms: number }>>();
  ws.on('message', (raw) => {
    const now = wallNow();
    const m = JSON.parse(String(raw));
    const events = m.type === 'event' ? [m.event] : m.type === 'events' ? m.items.map((x: any) => x.event) : [];
    for (const e of events) {
      if (!e.agentId) continue;
      let list = delays.get(e.agentId);
      if (!list) delays.set(e.agentId, (list = []));
      const at = Date.parse(e.ts);
      list.push({ at, ms: now - at });
    }
  });
  await new Promise((r, j) => ws.once('open', r).once('error', j));
  return { delays, close: () => ws.close() };
}

interface Phase {
  agents: number;
  latencies: number[];
  steady: number[];
  ledger: number[];
  eventDelays: number[];
  steadyEvents: number[];
  rssMax: number;
  stallMax: number;
  steadyStallMax: number;
  steadyGcMax: number;
  /** The stall probe's steady-state gaps, longest first. */
  probed: Attributed[];
  /** The machine's CPU in the steady state (% of all its cores), iron-cage's and this benchmark's shares; the agents' CPU over the whole phase. */
  cpuSplit: { seconds: number; busyPct: number; servePct: number; benchPct: number; agentsCpuMs: number; agentsPct: number; servePerCallMs: number } | null;
  calls: number;
}

/** One chat call through the gateway right after start, and the longest event-loop stall the lag file saw around it. */
async function firstCall(s: Serve, token: string, lagFile: string): Promise<{ ms: number; stall: number }> {
  const from = Date.now();
  const t0 = performance.now();
  const r = await fetch(`${s.origin}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 16, messages: [{ role: 'user', content: 'qualify lead 0: Acme Corp, 200 people, Berlin' }] }),
  });
  await r.text();
  const ms = performance.now() - t0;
  if (!r.ok) throw new Error(`the first call answered ${r.status}`);
  // The lag preload writes its window every 500 ms: wait for the one that holds the call.
  await new Promise((res) => setTimeout(res, 1200));
  const to = Date.now();
  const windows = readLag(lagFile).windows.filter((x) => x.t > from && x.t <= to);
  return { ms, stall: Math.max(0, ...windows.map((x) => x.max)) };
}

/** `agents` Python agents for SECONDS calls each, at once. */
async function phase(s: Serve, dir: string, keys: Array<{ agentId: string; token: string }>, watcher: Awaited<ReturnType<typeof watchEvents>>, lagFile: string, db: string): Promise<Phase> {
  const startedAt = Date.now();
  const startId = queryState<{ m: number | null }>(db, 'SELECT max(id) AS m FROM llm_requests')?.m ?? 0;
  let rssMax = rssMb(s.pid);
  const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMb(s.pid))), 250);
  // The machine's CPU over the steady state, and who used it (/proc/stat: all cores, in ticks of 10 ms).
  const machine = () => {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    return { busy: (f.reduce((a, b) => a + b, 0) - f[3]! - f[4]!) * 10, all: f.reduce((a, b) => a + b, 0) * 10 };
  };
  const sample = () => ({ machine: machine(), serve: cpuMs(s.pid), bench: (process.cpuUsage().user + process.cpuUsage().system) / 1000, at: Date.now() });
  let steadyStart: ReturnType<typeof sample> | null = null;
  const steadyTimer = setTimeout(() => (steadyStart = sample()), (STEADY_AFTER_S + 1) * 1000);
  let agentsCpu = 0;
  const runs = keys.map(
    (k) =>
      new Promise<number[]>((resolve, reject) => {
        const child = spawn('python3', [join(dir, 'agent.py'), String(SECONDS)], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { ...process.env, PYTHONPATH, IRON_CAGE_URL: s.origin, IRON_CAGE_AGENT_ID: k.agentId, IRON_CAGE_TOKEN: k.token },
        });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        child.on('exit', (code) => {
          const line = out.trim().split('\n').at(-1) ?? '';
          if (code === 0 && line.startsWith('{')) {
            const r = JSON.parse(line);
            agentsCpu += r.cpu * 1000;
            resolve(r.lat);
          } else reject(new Error(`agent ${k.agentId} exited ${code}: ${err.slice(-500)}`));
        });
      }),
  );
  const perAgent = await Promise.all(runs);
  clearTimeout(steadyTimer);
  const steadyEnd = sample();
  const cpuSplit = steadyStart
    ? (() => {
        const a = steadyStart as ReturnType<typeof sample>;
        const all = steadyEnd.machine.all - a.machine.all;
        const pct = (x: number) => (100 * x) / all;
        return {
          seconds: (steadyEnd.at - a.at) / 1000,
          busyPct: pct(steadyEnd.machine.busy - a.machine.busy),
          servePct: pct(steadyEnd.serve - a.serve),
          benchPct: pct(steadyEnd.bench - a.bench),
          agentsCpuMs: agentsCpu,
          agentsPct: (100 * agentsCpu) / ((steadyEnd.at - startedAt) * cpus().length),
          // Each agent makes a call and reports progress once a second.
          servePerCallMs: (steadyEnd.serve - a.serve) / (((steadyEnd.at - a.at) / 1000) * keys.length),
        };
      })()
    : null;
  const latencies = perAgent.flat().sort((a, b) => a - b);
  // The steady state: each agent's calls after its first STEADY_AFTER_S (the interpreters' start,
  // 50 at once on a small machine, is the machine's load, not the server's).
  const steady = perAgent.flatMap((l) => l.slice(STEADY_AFTER_S)).sort((a, b) => a - b);
  // The last progress reports leave on the SDK's thread; give their events a moment to land.
  await new Promise((r) => setTimeout(r, 1000));
  clearInterval(sampler);
  const endedAt = Date.now();
  const lag = readLag(lagFile);
  const stalls = lag.windows.filter((x) => x.t > startedAt + 500 && x.t <= endedAt + 500);
  const steadyFrom = startedAt + (STEADY_AFTER_S + 1) * 1000;
  const steadyStalls = stalls.filter((x) => x.t > steadyFrom);
  // The probe's gaps in the steady state, each with what the main thread did in it.
  const probed = lag.stalls
    .filter((x) => x.from + lag.offset > steadyFrom && x.to + lag.offset <= endedAt)
    .map((x) => attribute(x, lag.gcs))
    .sort((a, b) => b.late - a.late);
  const seen = keys.flatMap((k) => watcher.delays.get(k.agentId) ?? []);
  const eventDelays = seen.map((x) => x.ms).sort((a, b) => a - b);
  const steadyEvents = seen
    .filter((x) => x.at > startedAt + (STEADY_AFTER_S + 1) * 1000)
    .map((x) => x.ms)
    .sort((a, b) => a - b);
  for (const k of keys) watcher.delays.delete(k.agentId);
  const ledger = queryStateAll(db, 'SELECT latency_ms AS ms FROM llm_requests WHERE id > ? ORDER BY latency_ms', startId).map((r) => (r as { ms: number }).ms);
  return {
    agents: keys.length,
    latencies,
    steady,
    ledger,
    eventDelays,
    steadyEvents,
    rssMax,
    stallMax: Math.max(0, ...stalls.map((x) => x.max)),
    steadyStallMax: Math.max(0, ...steadyStalls.map((x) => x.max)),
    steadyGcMax: Math.max(0, ...steadyStalls.map((x) => x.gc)),
    probed,
    cpuSplit,
    calls: latencies.length,
  };
}

function queryStateAll(path: string, sql: string, ...params: unknown[]): unknown[] {
  // lib's queryState returns one row; this one all of them (same read-only connection of the bench's own).
  const rows: unknown[] = [];
  const one = queryState<{ j: string }>(path, `SELECT json_group_array(json_object('ms', ms)) AS j FROM (${sql})`, ...params);
  for (const r of JSON.parse(one?.j ?? '[]')) rows.push(r);
  return rows;
}

async function manyAgents(rows: Row[]): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'iron-bench-scale-'));
  try {
    writeFileSync(join(dir, 'lag.mjs'), LAG_PRELOAD);
    writeFileSync(join(dir, 'agent.py'), AGENT_PY);
    const lagFile = join(dir, 'lag.jsonl');
    writeFileSync(lagFile, '');
    const db = join(dir, 'agents.db');
    const s = await serve(db, adminKey(db), lagFile, CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', dir] : [], PIN?.own);
    if (PIN) pin(process.pid, PIN.others); // its agents inherit them
    let stopped = false;
    try {
      const keys: Array<{ agentId: string; token: string }> = [];
      for (let i = 0; i <= AGENTS; i++) {
        const created = await api(s.origin, '/api/tokens', s.admin, { role: 'agent', name: `scale-${i}` });
        keys.push({ agentId: created.agentId, token: created.token });
      }
      const watcher = await watchEvents(s.origin, s.admin);
      await new Promise((r) => setTimeout(r, 1000));
      const idle = rssMb(s.pid);
      // The server's first call loads what it loads on first use (the model's BPE table, undici,
      // the price table: docs/benchmarks-history.md), a one-time pause of the event loop: timed here, apart
      // from the phases, which measure the steady state.
      const first = await firstCall(s, keys[0]!.token, lagFile);
      const one = await phase(s, dir, keys.slice(0, 1), watcher, lagFile, db);
      const many = await phase(s, dir, keys.slice(1), watcher, lagFile, db);
      watcher.close();

      const p = (xs: number[], q: number) => percentile(xs, q);
      const ratio = (a: number, b: number) => a / b;
      const label = `${AGENTS} agents (serve + ${AGENTS} external Python agents with keys)`;
      rows.push({
        metric: 'where the processes ran',
        value: PIN
          ? `iron-cage on core ${PIN.own} alone; the agents' interpreters and this benchmark on ${PIN.others} (SCALE_PIN=1)`
          : `all on the machine's ${cpus().length} cores, shared (SCALE_PIN=1: iron-cage on a core of its own)`,
      });
      const ms = (x: number) => `${fmt(x, 2)} ms`;
      const lat = (name: string, key: 'latencies' | 'steady' | 'ledger' | 'eventDelays' | 'steadyEvents', q: number, target: boolean) => {
        const a = p(one[key], q);
        const b = p(many[key], q);
        const r = ratio(b, a);
        rows.push({ metric: `${name} p${q}: 1 agent → ${label}`, value: `${ms(a)} → ${ms(b)} (×${fmt(r, 2)})`, ...(target ? { target: '≤ ×1.5', ok: r <= 1.5 } : {}) });
      };
      lat('gateway call as the agent sees it', 'latencies', 50, true);
      lat('gateway call as the agent sees it', 'latencies', 99, false);
      lat(`gateway call as the agent sees it, after each agent's first ${STEADY_AFTER_S} s,`, 'steady', 99, true);
      lat('gateway call in the ledger (latency_ms)', 'ledger', 50, false);
      lat('gateway call in the ledger (latency_ms)', 'ledger', 99, false);
      lat('event→client (/ws)', 'eventDelays', 99, false);
      lat(`event→client (/ws), after the phases' first ${STEADY_AFTER_S + 1} s,`, 'steadyEvents', 99, true);
      const perAgent = (many.rssMax - one.rssMax) / (AGENTS - 1);
      rows.push({ metric: 'iron-cage RSS: idle → 1 agent → all agents (peak)', value: `${fmt(idle, 0)} → ${fmt(one.rssMax, 0)} → ${fmt(many.rssMax, 0)} MB` });
      rows.push({ metric: 'iron-cage RSS growth per agent ((all − 1) / (N − 1))', value: `${fmt(perAgent, 2)} MB`, target: '< 2 MB', ok: perAgent < 2 });
      rows.push({
        metric: 'longest event-loop stall in iron-cage (monitorEventLoopDelay), 1 agent / all: whole phases',
        value: `${fmt(one.stallMax, 1)} / ${fmt(many.stallMax, 1)} ms`,
      });
      const stall = Math.max(one.steadyStallMax, many.steadyStallMax);
      rows.push({
        metric: `the same after the phases' first ${STEADY_AFTER_S + 1} s (the agents' interpreters started)`,
        value: `${fmt(one.steadyStallMax, 1)} / ${fmt(many.steadyStallMax, 1)} ms (the longest GC pause in them: ${fmt(one.steadyGcMax, 1)} / ${fmt(many.steadyGcMax, 1)} ms)`,
        target: '< 50 ms',
        ok: stall < 50,
      });
      // What the stalls were: the probe's steady gaps, the main thread's CPU and GC in them against its wait for a CPU.
      const longest = (x: Phase) => x.probed[0];
      for (const [name, x] of [
        ['1 agent', one],
        ['all agents', many],
      ] as const) {
        const l = longest(x);
        rows.push({ metric: `longest steady stall (probe), ${name}: what the main thread did in it`, value: l ? describeStall(l) : 'no tick over 20 ms late' });
      }
      const over = (x: Phase) => stallTotals(x.probed.filter((a) => a.late >= 50));
      const t = over(many);
      rows.push({
        metric: 'steady stalls ≥ 50 ms late, all agents: count; their gaps in all: main-thread CPU (GC) / waiting for a CPU / asleep or blocked',
        value: t.count === 0 ? 'none' : `${t.count}; ${fmt(t.gap, 0)} ms: ${fmt(t.cpu, 0)} (${fmt(t.gc, 0)}) / ${fmt(t.waitCpu, 0)} / ${fmt(t.other, 0)} ms`,
      });
      for (const [name, x] of [
        ['1 agent', one],
        ['all agents', many],
      ] as const) {
        const c = x.cpuSplit;
        if (!c) continue;
        rows.push({
          metric: `the machine's ${cpus().length} cores in the steady state, ${name}: busy; iron-cage's share; this benchmark's (its /ws client); the rest (the agents, other jobs)`,
          value: `${fmt(c.busyPct, 0)}%: ${fmt(c.servePct, 1)}% / ${fmt(c.benchPct, 1)}% / ${fmt(c.busyPct - c.servePct - c.benchPct, 0)}% (the agents' interpreters: ${fmt(c.agentsPct, 1)}% over the whole phase)`,
        });
        rows.push({ metric: `iron-cage's CPU (all its threads) per agent call with its progress report, steady state, ${name}`, value: `${fmt(c.servePerCallMs, 2)} ms` });
      }
      rows.push({ metric: "the server's first call after start (loads its tables): latency; longest event-loop stall around it", value: `${fmt(first.ms, 0)} ms; ${fmt(first.stall, 0)} ms` });
      rows.push({ metric: 'calls measured (1 agent / all), events measured', value: `${one.calls} / ${many.calls}, ${one.eventDelays.length} / ${many.eventDelays.length}` });
      await s.stop();
      stopped = true;
      // With SCALE_CPU_PROF=1: what ran on the main thread in the steady stalls of the many-agent phase (≥ 20 ms late).
      let profile: ReturnType<typeof profileIn> | null = null;
      if (CPU_PROF) {
        const lag = readLag(lagFile);
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        if (file && CPU_PROF_KEEP) copyFileSync(join(dir, file), join(CPU_PROF_KEEP, `scale-${Date.now()}.cpuprofile`));
        if (file && CPU_PROF_KEEP) writeFileSync(join(CPU_PROF_KEEP, `scale-${Date.now()}.lag.jsonl`), readFileSync(lagFile));
        if (file) profile = profileIn(JSON.parse(readFileSync(join(dir, file), 'utf8')), lag.originUs, many.probed);
        if (profile) {
          const list = (xs: Array<{ fn: string; ms: number }>) =>
            xs
              .slice(0, 5)
              .map((x) => `${x.fn} ${fmt(x.ms, 0)}`)
              .join('; ');
          rows.push({
            metric: `CPU profile in the ${many.probed.length} steady stalls (all agents, ≥ 20 ms late): main-thread CPU ms (samples), top of stack`,
            value: `${fmt(profile.sampledMs, 0)} ms: ${list(profile.top)}`,
          });
          rows.push({ metric: 'the same by the innermost function of ours on the stack', value: list(profile.ours) });
        }
      }
      const stalls = (x: Phase) => ({ longest: x.probed.slice(0, 5), over50: over(x), over20: stallTotals(x.probed) });
      return { one: summary(one), many: summary(many), idleRssMb: idle, firstCallMs: first.ms, firstCallStallMs: first.stall, stalls: { one: stalls(one), many: stalls(many) }, profile };
    } finally {
      if (!stopped) await s.stop();
      if (PIN) pin(process.pid, PIN.all);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const summary = (x: Phase) => ({
  agents: x.agents,
  calls: x.calls,
  latencyP50: percentile(x.latencies, 50),
  latencyP99: percentile(x.latencies, 99),
  ledgerP50: percentile(x.ledger, 50),
  ledgerP99: percentile(x.ledger, 99),
  eventP99: percentile(x.eventDelays, 99),
  rssMaxMb: x.rssMax,
  stallMaxMs: x.stallMax,
});

// ── part 2: a day compressed ───────────────────────────────────────────────────────────

const ledgerAgentIds = () => Array.from({ length: LEDGER_AGENTS }, (_, i) => `scale-${String(i).padStart(3, '0')}`);

/** Write ROWS calls and EVENTS events through the writer, as a day of LEDGER_AGENTS agents would; seconds taken. */
async function fill(db: string): Promise<{ seconds: number; agentIds: string[] }> {
  const agentIds = ledgerAgentIds();
  const { seconds } = await fillRun(db, { rows: ROWS, events: EVENTS, agentIds });
  return { seconds, agentIds };
}

/** Milliseconds of `n` sequential runs of `f` after two warm-ups, sorted (or what `f` returns, when it times itself). */
async function timed(n: number, f: (i: number) => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 2; i++) await f(i);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const own = await f(i);
    out.push(typeof own === 'number' ? own : performance.now() - t);
  }
  return out.sort((a, b) => a - b);
}

/** Open /ws and read its first frame (the snapshot the dashboard starts from); its bytes. */
function firstFrame(origin: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws?token=${token}`);
    ws.once('message', (raw: Buffer) => {
      resolve(raw.length);
      ws.close();
    });
    ws.once('error', reject);
  });
}

async function aDay(rows: Row[]): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), 'iron-bench-scale-'));
  try {
    const db = KEPT_DB ?? join(dir, 'day.db');
    const reused = KEPT_DB !== null && existsSync(KEPT_DB);
    const { seconds, agentIds } = reused ? { seconds: Number.NaN, agentIds: ledgerAgentIds() } : await fill(db);
    if (reused) process.stderr.write(`scale: reusing ${db} (SCALE_DB)\n`);
    else process.stderr.write(`scale: ledger written in ${fmt(seconds, 1)} s\n`);
    const bytes = statSync(db).size;
    const perK = bytes / (ROWS / 1000);
    if (!reused)
      rows.push({
        metric: `wrote ${fmt(ROWS, 0)} ledger rows + ${fmt(EVENTS, 0)} events (${LEDGER_AGENTS} agents) through the writer`,
        value: `${fmt(seconds, 1)} s (${fmt(ROWS / seconds, 0)} calls/s)`,
      });
    rows.push({ metric: 'database file size per 1,000 calls (with their 2.5 events each)', value: `${fmt(perK / 1024, 1)} KB (${fmt(bytes / MB, 0)} MB in all)` });

    const admin = adminKey(db);
    const starts: number[] = [];
    let s: Serve | null = null;
    for (let i = 0; i < 3; i++) {
      if (s) await s.stop();
      s = await serve(db, admin);
      starts.push(s.startMs);
    }
    const srv = s!;
    try {
      starts.sort((a, b) => a - b);
      rows.push({ metric: 'iron-cage serve start-up on that database (spawn → listening), median of 3', value: `${fmt(starts[1]!, 0)} ms`, target: '< 2,000 ms', ok: starts[1]! < 2000 });
      const rssStart = rssMb(srv.pid);
      // An agent key to move the feed between snapshots (a snapshot is cached while nothing happens).
      const key = await api(srv.origin, '/api/tokens', srv.admin, { role: 'agent', name: `scale-probe-${Date.now()}` });
      const poke = () => api(srv.origin, `/api/agents/${key.agentId}/events`, key.token, { message: 'probe', severity: 'debug' });
      const N = 100;
      const pick = (i: number) => agentIds[(i * 7) % agentIds.length]!;
      const results: Record<string, number[]> = {};
      const measure = async (name: string, f: (i: number) => Promise<unknown>, target = true) => {
        const t = await timed(N, f);
        results[name] = t;
        const p99 = percentile(t, 99);
        rows.push({ metric: `${name} p99 (p50), ${N} sequential`, value: `${fmt(p99, 1)} ms (${fmt(percentile(t, 50), 1)})`, ...(target ? { target: '< 50 ms', ok: p99 < 50 } : {}) });
      };
      let frameBytes = 0;
      await measure('dashboard snapshot: /ws first frame', async () => {
        await poke();
        const t = performance.now();
        frameBytes = await firstFrame(srv.origin, srv.admin);
        return performance.now() - t;
      });
      await measure(`GET /api/agents/:id/costs (an agent of ${fmt(ROWS / LEDGER_AGENTS, 0)} calls)`, (i) => api(srv.origin, `/api/agents/${pick(i)}/costs`, srv.admin));
      // What else the page loads for an agent (no target set for it: shown for the record).
      await measure('GET /api/agents/:id/performance', (i) => api(srv.origin, `/api/agents/${pick(i)}/performance`, srv.admin), false);
      await measure('GET /api/agents/:id/protection', (i) => api(srv.origin, `/api/agents/${pick(i)}/protection`, srv.admin), false);
      await measure("GET /api/events?agentId=…&limit=1000 (the page's event log)", (i) => api(srv.origin, `/api/events?agentId=${pick(i)}&limit=1000`, srv.admin), false);
      const rssEnd = rssMb(srv.pid);
      rows.push({ metric: 'iron-cage RSS after start-up → after those requests', value: `${fmt(rssStart, 0)} → ${fmt(rssEnd, 0)} MB (snapshot frame ${fmt(frameBytes / 1024, 0)} KB)` });
      return { fillSeconds: seconds, bytes, perThousandCalls: perK, startMs: starts, rssStartMb: rssStart, rssEndMb: rssEnd, requestMs: results };
    } finally {
      await srv.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: Row[] = [];
const extra: Record<string, unknown> = { sizes: { AGENTS, SECONDS, ROWS, EVENTS, LEDGER_AGENTS } };
if (PART === 'all' || PART === 'agents') extra.agents = await manyAgents(rows);
if (PART === 'all' || PART === 'ledger') extra.ledger = await aDay(rows);
report('scale', 'Cost as the work grows (npm run bench -- scale)', rows, extra);
process.exit(0);
