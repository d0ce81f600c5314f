// The control panel under a fleet, one replica and several: simulated runtimes against (a) one panel replica and
// (b) three replicas behind a real HAProxy, on one PostgreSQL.
//   A simulated runtime is not a whole runtime: it is the two HTTP contracts a runtime keeps with
//   its panel, spoken as a runtime speaks them. It makes 2 LLM calls a second, each a ledger row
//   and its `llm.request` event charged to the central budgets covering it; reports them as the
//   reporter does (a hello, then numbered batches, one in flight, 200 ms of linger after the first
//   new row, then at most a batch a second while rows keep coming); and keeps central-budget leases as
//   src/report/leases.ts does (an empty ask first, then every renewInMs, sooner when a quarter of
//   the grant is left, asking for what it spent plus 20 s at its rate). Its token is made through
//   the panel's API (POST /api/runtimes), its rows pass the panel's real checks (budget coverage).
//   A viewer: one WebSocket per replica, straight to it, with an admin session from the start's
//   one-time link. Each batch's events carry their send time; a viewer notes when the batch's
//   frame reaches it. HAProxy says which replica took a batch (X-Served-By): with several, a
//   batch's visibility is read on the NEXT replica's viewer (another process than the one that
//   took it), and on the taker's own for comparison.
//   The fleet is stepped up (FLEET_BENCH_STEPS) until a step misses: visible p99 ≥ 2 s, an error,
//   or fewer calls made than offered; each step a ramp, a warm-up, then the measured window.
// Everything is a real process on 127.0.0.1: PostgreSQL (Debian's, as the tests start it, durable),
// `iron-cage panel` replicas, HAProxy (test/helpers/haproxy.ts), the load and the viewers each in a
// process of their own (this file, forked). All stopped and deleted at the end.
// Run: npm run bench -- fleet
//   FLEET_BENCH_STEPS=100,200,300,…   FLEET_BENCH_REPLICAS=1,3   FLEET_BENCH_CHECK_PATH=/readyz (the default)
//   FLEET_BENCH_BUDGET_S=420 (the whole run; a step that would not fit is not started)
//   FLEET_BENCH_WARM_S=4 (each step's warm-up before its measured window)
import { type ChildProcess, execFileSync, fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import WebSocket from 'ws';
import type { LeaseAsk } from '../../src/domain/budget/index.js';
import type { LeaseAnswer, TelemetryBatch, TelemetryHello } from '../../src/state/index.js';
import { freePort } from '../../test/helpers/http.js';
import { haproxyAbsent, startHaproxy, type TestHaproxy } from '../../test/helpers/haproxy.js';
import { startPostgres } from '../../test/helpers/postgres.js';
import { api, cpuMs, fmt, percentile, report, rssMb, startPanel, wallNow, type Row } from './lib.js';

const STEPS = (process.env.FLEET_BENCH_STEPS ?? '250,500,750,1000,1250,1500,2000').split(',').map(Number);
const SETUPS = (process.env.FLEET_BENCH_REPLICAS ?? '1,3').split(',').map(Number);
/** The load balancer's health check: `/readyz` once the replicas serve it. */
const CHECK_PATH = process.env.FLEET_BENCH_CHECK_PATH ?? '/readyz';
const BUDGET_MS = Number(process.env.FLEET_BENCH_BUDGET_S ?? 420) * 1000;
const CALLS_PER_S = 2;
/** Each call's cost, micro-dollars ($0.00015: a small model's call). */
const COST = 150;
/** A lease asks for 20 s at the runtime's rate beyond what it spent (src/report/leases.ts's horizon). */
const AHEAD = CALLS_PER_S * COST * 20;
/** The reporter's linger (src/report/reporter.ts): after the first new row; and the least time between two sends while rows keep coming. */
const LINGER_MS = 200;
const INTERVAL_MS = 1_000;
/** At most this many calls (two rows each) in one batch: the reporter's 1,000 rows of a kind. */
const BATCH_CALLS = 1_000;
/** Runtimes start spread over the ramp; the window is measured after the warm-up. */
const RAMP_MS = 2_000;
const WARM_MS = Number(process.env.FLEET_BENCH_WARM_S ?? 4) * 1000;
const MEASURE_MS = 12_000;
/** After the window: what is pending is sent (bounded), then frames are waited for. */
const FLUSH_MS = 5_000;
const FRAMES_MS = 1_500;
/** What one step takes beyond its window (start, ramp, warm-up, flush, frames, settling), for the time budget. */
const STEP_MS = 1_000 + RAMP_MS + WARM_MS + MEASURE_MS + 2_000 + FRAMES_MS + 1_000;
const VISIBLE_P99_MS = 2_000;
const USERS = 10;

// ---- wire shapes ----------------------------------------------------------------------------------
// Rows as the panel reads them (the input schema of a row is `unknown`: its columns are checked at run time).
type CallRow = TelemetryBatch['llmRequests'][number];
type EventRow = TelemetryBatch['events'][number];
type AgentRow = TelemetryBatch['agents'][number];

interface RunOrder {
  type: 'run';
  origin: string;
  /** The replicas' names as X-Served-By says them, in index order. */
  servers: string[];
  runtimes: Array<{ id: string; token: string }>;
  /** Wall-clock ms: the ramp begins; the measured window; calls stop at `windowTo`. */
  t0: number;
  windowFrom: number;
  windowTo: number;
}

interface LoadResult {
  type: 'result';
  /** Batches sent in the window, five numbers each: runtime index, seq, replica index (-1 unknown), sent (wall ms), ack ms. */
  batches: number[];
  /** Calls made in the window, and calls a runtime could not make for want of a lease. */
  calls: number;
  unleased: number;
  /** Lease calls begun in the window: their round trips (ms). */
  leaseMs: number[];
  /** The pace each ack in the window asked for (ms before the next batch; 0: none). */
  paces: number[];
  /** Budgets a lease answer said were contended (none, with these limits). */
  contended: number;
  /** Answers other than 200, and network failures, by kind. */
  errors: Record<string, number>;
  /** Ledger rows the panel acknowledged over the whole step (events as many). */
  callsSent: number;
  /** Rows still unsent when the flush after the window gave up. */
  unflushed: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

// ---- the load: simulated runtimes (a child process) -----------------------------------------------
class SimRuntime {
  seq = 0;
  eventSeq = 0;
  callId = 0;
  readonly pending: Array<{ call: CallRow; event: EventRow; data: Record<string, unknown> }> = [];
  keys: string[] = [];
  readonly granted = new Map<string, number>();
  readonly used = new Map<string, number>();
  answered = false;
  leaseDueAt = Number.POSITIVE_INFINITY;
  leasing = false;
  wake: (() => void) | null = null;
  readonly agent: AgentRow;
  readonly pool: Pool;

  constructor(
    readonly idx: number,
    readonly id: string,
    readonly token: string,
    origin: string,
  ) {
    const now = new Date().toISOString();
    this.agent = {
      id: `${id}-a1`,
      name: 'lead-gen',
      kind: 'supervised',
      script: 'agent.py',
      args: '[]',
      status: 'running',
      pid: 4242,
      supervisorPid: 4241,
      createdAt: now,
      startedAt: now,
      endedAt: null,
      exitCode: null,
      exitSignal: null,
      restarts: 0,
      progressDone: 0,
      progressTotal: null,
      progressUnit: 'leads',
      limitMicros: null,
      environment: 'production',
      progressSucceeded: null,
      progressFailed: null,
      paused: null,
      sandbox: null,
    };
    // A runtime's own client: a kept-alive connection for its reports, another for a lease call beside one.
    this.pool = new Pool(origin, { connections: 2, pipelining: 1, keepAliveTimeout: 30_000 });
  }

  headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' };
  }

  /** One LLM call, as the gateway records it: reserved from every central budget covering it, a row and its event. */
  call(rec: LoadRecorder): boolean {
    if (!this.answered) return false;
    for (const k of this.keys) if ((this.granted.get(k) ?? 0) - (this.used.get(k) ?? 0) < COST) return false;
    for (const k of this.keys) this.used.set(k, (this.used.get(k) ?? 0) + COST);
    const id = ++this.callId;
    const seq = ++this.eventSeq;
    const ts = new Date().toISOString();
    const model = id % 3 === 0 ? 'gpt-4o' : 'gpt-4o-mini';
    this.pending.push({
      call: {
        id,
        ts,
        agentId: this.agent.id,
        endpoint: 'chat',
        provider: 'openai',
        model,
        stream: id % 2 === 0,
        status: 'ok',
        httpStatus: 200,
        promptTokens: 812,
        completionTokens: 96,
        costMicros: COST,
        reservedMicros: 400,
        usageSource: 'provider',
        latencyMs: 412.5,
        firstByteMs: 80.25,
        redactions: 0,
        error: null,
        attempts: 1,
        budgets: this.keys.length > 0 ? JSON.stringify(this.keys) : null,
        step: null,
        chain: null,
      },
      event: { seq, ts, agentId: this.agent.id, type: 'llm.request', severity: 'debug', message: `${model} 812+96 tokens $0.00015`, data: '' },
      data: { requestId: id, endpoint: 'chat', provider: 'openai', model, status: 'ok', httpStatus: 200, promptTokens: 812, completionTokens: 96, costUsd: COST / 1e6, latencyMs: 412.5 },
    });
    rec.called();
    this.wake?.();
    return true;
  }

  /** A lease call as src/report/leases.ts makes one: each budget it knows, what it spent, and what it wants. */
  async lease(rec: LoadRecorder): Promise<void> {
    this.leasing = true;
    const asks: LeaseAsk[] = this.keys.map((k) => {
      const [budget, window] = k.split('@') as [string, string];
      const used = this.used.get(k) ?? 0;
      return { budget, window: Number(window), want: Math.max(this.granted.get(k) ?? 0, used + AHEAD), used, held: 0, waiting: 0, need: 0, rate: CALLS_PER_S * 60 * COST };
    });
    const sent = wallNow();
    try {
      const r = await this.pool.request({ path: '/api/leases', method: 'POST', headers: this.headers(), body: JSON.stringify({ budgets: asks }) });
      const text = await r.body.text();
      if (r.statusCode !== 200) {
        rec.error(`lease ${r.statusCode}`, text);
        this.leaseDueAt = performance.now() + 500;
        return;
      }
      rec.leased(sent, wallNow() - sent);
      const a = JSON.parse(text) as LeaseAnswer;
      const keys: string[] = [];
      let unasked = false;
      for (const b of a.budgets) {
        const k = `${b.budget}@${b.window}`;
        keys.push(k);
        unasked ||= !this.keys.includes(k);
        this.granted.set(k, b.granted);
        if (b.contended) rec.contended++;
      }
      this.keys = keys.sort();
      this.answered = true;
      // A budget this call did not ask for (the first call, a new window): asked for at once, as a runtime does.
      this.leaseDueAt = performance.now() + (unasked ? 0 : a.renewInMs);
    } catch (e) {
      rec.error('lease network', String(e));
      this.leaseDueAt = performance.now() + 500;
    } finally {
      this.leasing = false;
    }
  }

  /** Due now, or sooner as a runtime asks: a quarter of a grant left. */
  leaseDue(now: number): boolean {
    if (this.leasing || !this.answered) return false;
    if (now >= this.leaseDueAt) return true;
    for (const k of this.keys) {
      const g = this.granted.get(k) ?? 0;
      if ((g - (this.used.get(k) ?? 0)) * 4 < g) return true;
    }
    return false;
  }

  async hello(): Promise<void> {
    const r = await this.pool.request({ path: '/api/telemetry', method: 'GET', headers: this.headers() });
    const text = await r.body.text();
    if (r.statusCode !== 200) throw new Error(`hello of ${this.id}: ${r.statusCode} ${text}`);
    const h = JSON.parse(text) as TelemetryHello;
    this.seq = h.lastSeq;
    this.eventSeq = Math.max(this.eventSeq, h.cursor.eventSeq);
    this.callId = Math.max(this.callId, h.cursor.llmRequestId);
  }

  /** The next batch, sent until the panel takes it (the same bytes again after a failure), as the reporter does. */
  /** The pace the panel's last ack asked for (ms before the next batch), as the reporter follows it. */
  paceMs = 0;

  async send(rec: LoadRecorder, giveUpAt: number): Promise<void> {
    const rows = this.pending.splice(0, BATCH_CALLS);
    const seq = this.seq + 1;
    const t = wallNow();
    const batch: TelemetryBatch = {
      runtime: this.id,
      seq,
      sentAt: new Date().toISOString(),
      behind: this.pending.length * 2,
      hostname: `host-${this.idx}`,
      version: 'fleet-bench',
      agents: [this.agent],
      events: rows.map((r) => ({ ...r.event, data: JSON.stringify({ ...r.data, t }) })),
      llmRequests: rows.map((r) => r.call),
      toolCalls: [],
      breakers: [],
    };
    const body = JSON.stringify(batch);
    for (;;) {
      const s = wallNow();
      try {
        const r = await this.pool.request({ path: '/api/telemetry', method: 'POST', headers: this.headers(), body });
        const text = await r.body.text();
        if (r.statusCode === 200) {
          this.seq = seq;
          this.paceMs = (JSON.parse(text) as { paceMs?: number }).paceMs ?? 0;
          rec.paced(t, this.paceMs);
          rec.batch(this.idx, seq, String(r.headers['x-served-by'] ?? ''), t, wallNow() - s, rows.length);
          return;
        }
        rec.error(`telemetry ${r.statusCode}`, text);
        if (r.statusCode === 409) {
          // Out of order: where the panel stands, and these rows again after it (as the reporter resumes).
          await this.hello();
          this.pending.unshift(...rows);
          return;
        }
        if (r.statusCode < 500 && r.statusCode !== 429 && r.statusCode !== 408) return; // refused: dropped, counted
      } catch (e) {
        rec.error('telemetry network', String(e));
      }
      if (Date.now() > giveUpAt) {
        rec.unflushed += rows.length;
        return;
      }
      await sleep(500);
    }
  }
}

/** What the load child notes: the window's batches, calls and lease round trips. */
class LoadRecorder {
  readonly batches: number[] = [];
  readonly leaseMs: number[] = [];
  readonly paces: number[] = [];
  calls = 0;
  unleased = 0;
  contended = 0;
  callsSent = 0;
  unflushed = 0;
  readonly errors: Record<string, number> = {};
  private readonly sample: Record<string, string> = {};

  constructor(private readonly o: RunOrder) {}

  inWindow(wall = Date.now()): boolean {
    return wall >= this.o.windowFrom && wall < this.o.windowTo;
  }

  called(): void {
    if (this.inWindow()) this.calls++;
  }

  batch(idx: number, seq: number, server: string, sent: number, ackMs: number, calls: number): void {
    this.callsSent += calls;
    if (this.inWindow(sent)) this.batches.push(idx, seq, this.o.servers.indexOf(server), sent, ackMs);
  }

  paced(sent: number, ms: number): void {
    if (this.inWindow(sent)) this.paces.push(ms);
  }

  leased(sent: number, ms: number): void {
    if (this.inWindow(sent)) this.leaseMs.push(ms);
  }

  error(kind: string, text: string): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
    this.sample[kind] ??= text.slice(0, 300);
  }

  result(): LoadResult {
    const errors = { ...this.errors };
    for (const [k, v] of Object.entries(this.sample)) if (errors[k]) process.stderr.write(`fleet load: ${errors[k]}× ${k}: ${v}\n`);
    return {
      type: 'result',
      batches: this.batches,
      calls: this.calls,
      unleased: this.unleased,
      leaseMs: this.leaseMs,
      paces: this.paces,
      contended: this.contended,
      errors,
      callsSent: this.callsSent,
      unflushed: this.unflushed,
    };
  }
}

async function runLoad(o: RunOrder): Promise<LoadResult> {
  const rec = new LoadRecorder(o);
  const sims = o.runtimes.map((r) => new SimRuntime(Number(r.id.slice(3)), r.id, r.token, o.origin));
  const giveUpAt = o.windowTo + FLUSH_MS;
  let stopped = false;
  // One poll for every runtime's lease, as each runtime's loop looks every 100 ms.
  const leasePoll = setInterval(() => {
    const now = performance.now();
    for (const s of sims) if (!stopped && s.leaseDue(now)) void s.lease(rec);
  }, 100);
  const timers: NodeJS.Timeout[] = [];
  const one = async (s: SimRuntime, i: number) => {
    await sleep(o.t0 + (RAMP_MS * i) / sims.length - Date.now());
    await s.hello();
    // Which budgets cover it, then a grant of each (a restarted runtime's first two lease calls).
    await s.lease(rec);
    if (s.leaseDueAt <= performance.now()) await s.lease(rec);
    // Its calls, from a phase of its own.
    await sleep(Math.random() * (1000 / CALLS_PER_S));
    if (Date.now() < o.windowTo)
      timers.push(
        setInterval(() => {
          if (Date.now() >= o.windowTo) return;
          if (!s.call(rec) && rec.inWindow()) rec.unleased++;
        }, 1000 / CALLS_PER_S),
      );
    // The reporter: one batch in flight; linger after the first new row, and a second between sends while rows keep coming.
    for (;;) {
      if (s.pending.length === 0) {
        if (Date.now() >= o.windowTo) break;
        await new Promise<void>((r) => {
          s.wake = r;
        });
        s.wake = null;
        if (s.pending.length === 0) break;
        await sleep(LINGER_MS);
      }
      if (Date.now() > giveUpAt) {
        rec.unflushed += s.pending.length;
        break;
      }
      const sentAt = Date.now();
      await s.send(rec, giveUpAt);
      await sleep(Math.max(LINGER_MS, INTERVAL_MS - (Date.now() - sentAt), s.paceMs));
    }
  };
  const runs = sims.map((s, i) =>
    one(s, i).catch((e) => {
      rec.error('runtime', String(e));
    }),
  );
  await sleep(o.windowTo - Date.now());
  // The agents stop calling; each reporter sends what it has, then ends.
  for (const t of timers) clearInterval(t);
  for (const s of sims) s.wake?.();
  await Promise.all(runs);
  stopped = true;
  clearInterval(leasePoll);
  await Promise.all(sims.map((s) => s.pool.close().catch(() => undefined)));
  return rec.result();
}

function loadChild(): void {
  // The bench gone (killed, crashed): this goes with it.
  process.once('disconnect', () => process.exit(0));
  process.on('message', (m: RunOrder) => {
    if (m.type !== 'run') return;
    runLoad(m).then(
      (r) => process.send!(r),
      (e) => {
        process.stderr.write(`fleet load failed: ${e}\n`);
        process.exit(1);
      },
    );
  });
  process.send!({ type: 'ready' });
}

// ---- the viewers (a child process) ----------------------------------------------------------------
/** One WebSocket per URL (a replica each); every batch frame noted as [viewer, runtime index, seq, ms since its send]. */
function viewersChild(urls: string[]): void {
  let records: number[] = [];
  let open = 0;
  let closing = false;
  const sockets = urls.map((url, v) => {
    const ws = new WebSocket(url);
    ws.on('open', () => {
      if (++open === urls.length) process.send!({ type: 'ready' });
    });
    ws.on('error', (e) => {
      process.stderr.write(`fleet viewer ${v}: ${e}\n`);
      process.exit(1);
    });
    ws.on('close', (code) => {
      if (!closing) {
        process.stderr.write(`fleet viewer ${v}: closed (${code})\n`);
        process.exit(1);
      }
    });
    ws.on('message', (raw) => {
      const now = wallNow();
      const f = JSON.parse(String(raw)) as { kind: string; runtime?: string; seq?: number; events?: Array<{ data?: { t?: unknown } }> };
      if (f.kind !== 'batch') return;
      const t = f.events?.[0]?.data?.t;
      if (typeof t !== 'number' || !f.runtime?.startsWith('rt-')) return;
      records.push(v, Number(f.runtime.slice(3)), f.seq!, now - t);
    });
    return ws;
  });
  process.once('disconnect', () => process.exit(0));
  process.on('message', (m: { type: string }) => {
    if (m.type === 'collect') {
      process.send!({ type: 'records', records });
      records = [];
    }
    if (m.type === 'close') {
      closing = true;
      for (const ws of sockets) ws.close();
      setTimeout(() => process.exit(0), 200);
    }
  });
}

// ---- the orchestra ----------------------------------------------------------------------------------
interface Replica {
  name: string;
  origin: string;
  pid: number;
  stop: () => Promise<void>;
}

interface StepFigures {
  replicas: number;
  runtimes: number;
  /** Calls made in the window per second, and offered (runtimes × 2). */
  callsPerS: number;
  offeredPerS: number;
  batchesPerS: number;
  ackP50: number;
  ackP99: number;
  /** The pace the panel's acks asked for: median and most (ms; 0: none). */
  paceP50: number;
  paceMax: number;
  /** Visible on the taker's own replica, and (replicas > 1) on another. */
  same: { p50: number; p99: number; seen: number };
  cross: { p50: number; p99: number; seen: number } | null;
  /** Which the step is judged by. */
  judged: 'same' | 'cross';
  leaseP50: number;
  leaseP99: number;
  leaseCalls: number;
  contended: number;
  /** % of one core, user+sys over the window. */
  replicaCpu: number[];
  replicaRss: number[];
  replicaPeakRss: number[];
  /** Batches each replica took. */
  taken: number[];
  pgCpu: number;
  lbCpu: number | null;
  loadCpu: number;
  viewersCpu: number;
  pgConnections: number;
  /** The panels' PostgreSQL sessions, on average over the window: running a statement, in a transaction waiting for the panel's next one, waiting on a lock. */
  pgSessions: { running: number; inTransaction: number; onLock: number };
  /** The machine's 1-minute load average as the window ended (other work on it included). */
  load: number;
  errors: Record<string, number>;
  unleased: number;
  unflushed: number;
  ok: boolean;
  why: string;
}

/** A child process of this file in `mode`, once it said it is ready. */
async function child(mode: string, args: string[] = []): Promise<ChildProcess> {
  const c = fork(process.argv[1]!, [mode, ...args], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  // A send to a child already gone (a signal to the whole group) is not this process's crash.
  c.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    c.once('message', () => resolve());
    c.once('exit', (code) => reject(new Error(`the ${mode} process exited (${code}) before it was ready`)));
  });
  return c;
}

function ask<T>(c: ChildProcess, message: unknown, type: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (m: { type: string }) => {
      if (m.type !== type) return;
      c.off('message', onMessage);
      c.off('exit', onExit);
      resolve(m as T);
    };
    const onExit = (code: number | null) => reject(new Error(`a bench process exited (${code})`));
    c.on('message', onMessage);
    c.once('exit', onExit);
    c.send(message as object);
  });
}

/** CPU ms of a process and its children now (PostgreSQL's backends, HAProxy's worker), by pid. */
function treeCpu(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  const add = (p: number) => {
    try {
      out.set(p, cpuMs(p));
    } catch {
      // gone between the listing and the read
    }
  };
  add(pid);
  let kids: number[] = [];
  try {
    kids = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    // none
  }
  for (const k of kids) add(k);
  return out;
}

/** CPU ms spent between two readings (a process that began since counts whole; one that ended is lost). */
const spent = (a: Map<number, number>, b: Map<number, number>) => [...b].reduce((n, [pid, ms]) => n + ms - (a.get(pid) ?? 0), 0);

/** p50/p99 of delays where a batch never seen counts as never (Infinity); and the share seen. */
function visible(delays: number[], total: number): { p50: number; p99: number; seen: number } {
  const all = [...delays, ...Array<number>(Math.max(0, total - delays.length)).fill(Number.POSITIVE_INFINITY)].sort((a, b) => a - b);
  return { p50: percentile(all, 50), p99: percentile(all, 99), seen: total === 0 ? 0 : delays.length / total };
}

const ms = (n: number) => (Number.isFinite(n) ? `${fmt(n, n < 10 ? 1 : 0)} ms` : 'never');

async function main(): Promise<void> {
  const started = Date.now();
  const load0 = loadavg();
  if (SETUPS.some((n) => n > 1) && haproxyAbsent()) throw new Error('the fleet benchmark needs HAProxy: `apt-get install -y haproxy`');
  // A durable server, as in production (every commit on disk), with room for every replica's pool.
  const db = await startPostgres({ settings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', shared_buffers: "'256MB'", max_connections: '300', max_wal_size: "'2GB'" } });
  const dir = mkdtempSync(join(tmpdir(), 'iron-fleet-bench-'));
  const postmaster = Number(readFileSync(join(db.dir, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
  const monitor = new pg.Client(db.url);
  await monitor.connect();
  const steps: StepFigures[] = [];
  const notes: string[] = [];
  /** Per setup: the ledger rows found on the panel, equal to those acknowledged (checked after each clean step). */
  const checked = new Map<number, number>();
  const cleanups: Array<() => Promise<unknown>> = [];
  // Once, whoever asks first (the end, an error, a signal); the others wait for the same.
  let cleaning: Promise<void> | null = null;
  const cleanUp = () =>
    (cleaning ??= (async () => {
      while (cleanups.length > 0) await cleanups.pop()!().catch(() => undefined);
      await monitor.end().catch(() => undefined);
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    })());
  // Interrupted (Ctrl-C, a timeout's SIGTERM): the replicas, HAProxy and PostgreSQL are stopped all the same.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => {
      process.stderr.write(`fleet: ${sig}, stopping what the bench started\n`);
      void cleanUp().finally(() => process.exit(130));
    });
  try {
    for (const [s, n] of SETUPS.entries()) {
      // Each setup its share of the time left: what an earlier one did not use goes to those after.
      const setupEnd = Date.now() + (BUDGET_MS - (Date.now() - started)) / (SETUPS.length - s);
      const dbName = `fleet_${n}`;
      const url = await db.createDatabase(dbName);
      const lbPort = n > 1 ? await freePort() : null;
      const config = join(dir, `panel-${n}.yaml`);
      // Behind the load balancer a replica is asked for by the balancer's name (its DNS-rebinding guard).
      writeFileSync(config, lbPort ? `allowed_hosts: ["127.0.0.1:${lbPort}"]\n` : '{}\n');
      const replicas: Replica[] = [];
      const stopReplicas = () => Promise.all(replicas.map((r) => r.stop()));
      cleanups.push(stopReplicas);
      const first = await startPanel(url, ['--config', config]);
      replicas.push({ name: 'r0', origin: first.origin, pid: first.pid, stop: first.stop });
      const admin = (await api(first.origin, '/api/session', null, { link: first.link })).token as string;
      for (let i = 1; i < n; i++) {
        const p = await startPanel(url, ['--config', config]);
        replicas.push({ name: `r${i}`, origin: p.origin, pid: p.pid, stop: p.stop });
      }
      let lb: TestHaproxy | null = null;
      if (lbPort) {
        // The checks as docs/panel.md configures them (every 1 s, down after 2 failures, 3 s each).
        lb = await startHaproxy({
          port: lbPort,
          backends: replicas.map((r) => ({ port: Number(new URL(r.origin).port), name: r.name })),
          checkPath: CHECK_PATH,
          interMs: 1_000,
          fall: 2,
          rise: 1,
          checkTimeoutMs: 3_000,
        });
        cleanups.push(() => lb!.stop());
        await lb.waitUp();
      }
      const origin = lb ? lb.url : first.origin;
      // One or a few central budgets: the whole fleet's, and a team's (half the users).
      await api(first.origin, '/api/budgets', admin, { id: 'fleet', scope: 'fleet', period: 'day', limitUsd: 100_000 });
      await api(first.origin, '/api/budgets', admin, { id: 'team-a', scope: 'team', users: Array.from({ length: USERS / 2 }, (_, u) => `user-${u}`), period: 'day', limitUsd: 50_000 });
      const tokens: Array<{ id: string; token: string }> = [];
      const ledger = new pg.Client(url);
      await ledger.connect();
      cleanups.push(() => ledger.end());
      let sentSoFar = 0;
      let clean = true;
      const viewers = await child('viewers', [JSON.stringify(replicas.map((r) => `${r.origin.replace('http', 'ws')}/ws?token=${admin}`))]);
      cleanups.push(async () => {
        if (viewers.exitCode !== null || viewers.signalCode !== null) return;
        const gone = new Promise((r) => viewers.once('exit', r));
        if (viewers.connected) viewers.send({ type: 'close' });
        else viewers.kill();
        await gone;
      });
      const loader = await child('load');
      cleanups.push(async () => {
        loader.kill();
      });
      for (const size of STEPS) {
        if (Date.now() + STEP_MS + (size / 200) * 1000 > setupEnd) {
          notes.push(`${n} replica${n > 1 ? 's' : ''}: ${size.toLocaleString('en-US')} runtimes not run (the time budget, FLEET_BENCH_BUDGET_S)`);
          break;
        }
        // Tokens for the new runtimes, through the panel's API (an admin adding runtimes).
        for (let from = tokens.length; from < size; from += 16) {
          const made = await Promise.all(
            Array.from({ length: Math.min(16, size - from) }, async (_, k) => {
              const id = `rt-${from + k}`;
              return { id, token: (await api(first.origin, '/api/runtimes', admin, { id, user: `user-${(from + k) % USERS}` })).token as string };
            }),
          );
          tokens.push(...made);
        }
        const t0 = Date.now() + 500;
        const windowFrom = t0 + RAMP_MS + WARM_MS;
        const windowTo = windowFrom + MEASURE_MS;
        const result = ask<LoadResult>(loader, { type: 'run', origin, servers: replicas.map((r) => r.name), runtimes: tokens.slice(0, size), t0, windowFrom, windowTo } satisfies RunOrder, 'result');
        // Awaited after the window: a load process that dies meanwhile is that await's error, not an unhandled one.
        result.catch(() => undefined);
        await sleep(windowFrom - Date.now());
        const cpu0 = { replicas: replicas.map((r) => cpuMs(r.pid)), pg: treeCpu(postmaster), lb: lb ? treeCpu(lb.pid) : null, load: cpuMs(loader.pid!), viewers: cpuMs(viewers.pid!) };
        let pgConnections = 0;
        const sessions = { samples: 0, running: 0, inTransaction: 0, onLock: 0 };
        while (Date.now() < windowTo - 100) {
          const c = await monitor.query<{ n: string; running: string; tx: string; lock: string }>(
            `SELECT count(*) AS n,
                    count(*) FILTER (WHERE state = 'active' AND wait_event_type IS DISTINCT FROM 'Lock') AS running,
                    count(*) FILTER (WHERE state = 'idle in transaction') AS tx,
                    count(*) FILTER (WHERE wait_event_type = 'Lock') AS lock
               FROM pg_stat_activity WHERE datname = $1 AND application_name = 'iron-cage panel'`,
            [dbName],
          );
          const x = c.rows[0]!;
          pgConnections = Math.max(pgConnections, Number(x.n));
          sessions.samples++;
          sessions.running += Number(x.running);
          sessions.inTransaction += Number(x.tx);
          sessions.onLock += Number(x.lock);
          await sleep(Math.min(250, windowTo - Date.now()));
        }
        await sleep(windowTo - Date.now());
        const seconds = (Date.now() - windowFrom) / 1000;
        const cpu1 = { replicas: replicas.map((r) => cpuMs(r.pid)), pg: treeCpu(postmaster), lb: lb ? treeCpu(lb.pid) : null, load: cpuMs(loader.pid!), viewers: cpuMs(viewers.pid!) };
        const rss = replicas.map((r) => rssMb(r.pid));
        const r = await result;
        await sleep(FRAMES_MS);
        const { records } = await ask<{ records: number[] }>(viewers, { type: 'collect' }, 'records');
        // Each viewer's delay for each batch it saw.
        const seenBy = replicas.map(() => new Map<number, number>());
        const key = (rt: number, seq: number) => rt * 1e7 + seq;
        for (let i = 0; i < records.length; i += 4) seenBy[records[i]!]!.set(key(records[i + 1]!, records[i + 2]!), records[i + 3]!);
        const same: number[] = [];
        const cross: number[] = [];
        const ack: number[] = [];
        const taken = replicas.map(() => 0);
        let batches = 0;
        for (let i = 0; i < r.batches.length; i += 5) {
          batches++;
          const k = key(r.batches[i]!, r.batches[i + 1]!);
          const taker = n === 1 ? 0 : r.batches[i + 2]!;
          ack.push(r.batches[i + 4]!);
          if (taker < 0) continue;
          taken[taker]!++;
          const d = seenBy[taker]!.get(k);
          if (d !== undefined) same.push(d);
          if (n > 1) {
            const c = seenBy[(taker + 1) % n]!.get(k);
            if (c !== undefined) cross.push(c);
          }
        }
        ack.sort((a, b) => a - b);
        const lease = [...r.leaseMs].sort((a, b) => a - b);
        const sameV = visible(same, batches);
        const crossV = n > 1 ? visible(cross, batches) : null;
        // Judged on another replica's viewer once frames cross replicas at all; until then on the taker's.
        const judged = crossV && crossV.seen > 0 ? 'cross' : 'same';
        const v = judged === 'cross' ? crossV! : sameV;
        const errorCount = Object.values(r.errors).reduce((a, b) => a + b, 0);
        const offered = size * CALLS_PER_S;
        const callsPerS = r.calls / seconds;
        const why =
          v.p99 >= VISIBLE_P99_MS
            ? `visible p99 ${ms(v.p99)}`
            : errorCount > 0
              ? `${errorCount} errors`
              : callsPerS < offered * 0.95
                ? `${fmt(callsPerS, 0)} calls/s of ${offered} offered`
                : r.unleased > 0
                  ? `${r.unleased} calls without a lease`
                  : '';
        const fig: StepFigures = {
          replicas: n,
          runtimes: size,
          callsPerS,
          offeredPerS: offered,
          batchesPerS: batches / seconds,
          ackP50: percentile(ack, 50),
          ackP99: percentile(ack, 99),
          paceP50: percentile(
            [...r.paces].sort((a, b) => a - b),
            50,
          ),
          paceMax: r.paces.reduce((m, x) => Math.max(m, x), 0),
          same: sameV,
          cross: crossV,
          judged,
          leaseP50: percentile(lease, 50),
          leaseP99: percentile(lease, 99),
          leaseCalls: lease.length,
          contended: r.contended,
          replicaCpu: replicas.map((_, i) => (100 * (cpu1.replicas[i]! - cpu0.replicas[i]!)) / (seconds * 1000)),
          replicaRss: rss.map((x) => x.now),
          replicaPeakRss: rss.map((x) => x.peak),
          taken,
          pgCpu: (100 * spent(cpu0.pg, cpu1.pg)) / (seconds * 1000),
          lbCpu: cpu0.lb && cpu1.lb ? (100 * spent(cpu0.lb, cpu1.lb)) / (seconds * 1000) : null,
          loadCpu: (100 * (cpu1.load - cpu0.load)) / (seconds * 1000),
          viewersCpu: (100 * (cpu1.viewers - cpu0.viewers)) / (seconds * 1000),
          pgConnections,
          pgSessions: { running: sessions.running / sessions.samples, inTransaction: sessions.inTransaction / sessions.samples, onLock: sessions.onLock / sessions.samples },
          load: loadavg()[0]!,
          errors: r.errors,
          unleased: r.unleased,
          unflushed: r.unflushed,
          ok: why === '',
          why,
        };
        steps.push(fig);
        process.stderr.write(
          `fleet: ${n} replica(s), ${size} runtimes: ${fmt(callsPerS, 0)} calls/s, visible (${judged}) p50/p99 ${ms(v.p50)} / ${ms(v.p99)}, pace asked p50/most ${ms(fig.paceP50)} / ${ms(fig.paceMax)}, lease p99 ${ms(fig.leaseP99)}, CPU ${fig.replicaCpu.map((c) => `${fmt(c, 0)}%`).join('/')}, PG ${fmt(fig.pgCpu, 0)}%${why ? `: missed (${why})` : ''}\n`,
        );
        // The ledger rows the panel holds are those the runtimes had acknowledged, once and no more.
        sentSoFar += r.callsSent;
        clean &&= errorCount === 0 && r.unflushed === 0;
        if (clean) {
          const held = Number((await ledger.query<{ n: string }>('SELECT count(*) AS n FROM llm_requests')).rows[0]!.n);
          if (held !== sentSoFar) throw new Error(`${n} replica(s), ${size} runtimes: the panel holds ${held} ledger rows, the runtimes had ${sentSoFar} acknowledged`);
          checked.set(n, held);
        }
        if (!fig.ok) break;
        await sleep(1_000);
      }
      while (cleanups.length > 0) await cleanups.pop()!();
    }
  } finally {
    await cleanUp();
  }
  printSteps(steps, load0);
  const rows: Row[] = [{ metric: 'load average at the start (1 / 5 / 15 min)', value: `${load0.map((l) => fmt(l, 2)).join(' / ')} on ${cpus().length} cores` }];
  const carried = (n: number) => Math.max(0, ...steps.filter((x) => x.replicas === n && x.ok).map((x) => x.runtimes));
  const largestOne = carried(1);
  if (SETUPS.includes(1))
    rows.push({
      metric: '1 replica: the largest fleet with visible p99 < 2 s (no errors, every offered call made)',
      value: `${largestOne.toLocaleString('en-US')} runtimes`,
      target: '≥ 1,000',
      ok: largestOne >= 1_000,
    });
  for (const n of SETUPS.filter((x) => x > 1)) {
    const judged = steps.find((x) => x.replicas === n)?.judged;
    const largest = carried(n);
    rows.push({
      metric: `${n} replicas behind HAProxy: the largest fleet with visible p99 < 2 s (${judged === 'cross' ? "viewer on another replica than the batch's" : 'viewer on the replica that took the batch: no frame crossed replicas (this build has no feed between replicas)'})`,
      value: `${largest.toLocaleString('en-US')} runtimes`,
      target: SETUPS.includes(1) ? `≥ 1 replica's (${largestOne.toLocaleString('en-US')})` : undefined,
      ok: SETUPS.includes(1) ? largest >= largestOne : undefined,
    });
  }
  for (const [n, held] of checked)
    rows.push({ metric: `${n} replica${n > 1 ? 's' : ''}: ledger rows on the panel = rows the runtimes had acknowledged (each once)`, value: held.toLocaleString('en-US'), ok: true });
  for (const note of notes) rows.push({ metric: 'note', value: note });
  report('fleet', `Control panel under a fleet: simulated runtimes at ${CALLS_PER_S} LLM calls/s each, 1 replica and ${SETUPS.filter((x) => x > 1).join(', ')} behind HAProxy`, rows, {
    steps,
    loadavg: { start: load0, end: loadavg() },
    checkPath: CHECK_PATH,
    seconds: (Date.now() - started) / 1000,
  });
}

/** The steps as a table of their own: one line a setup and fleet size. */
function printSteps(steps: StepFigures[], load0: number[]): void {
  const pct = (xs: number[]) => xs.map((x) => `${fmt(x, 0)}%`).join(' · ');
  const mb = (xs: number[]) => xs.map((x) => fmt(x, 0)).join(' · ');
  const lines = [
    `### Control panel under a fleet, step by step (load average at the start ${fmt(load0[0]!, 2)}, ${cpus().length} cores)`,
    '',
    '| replicas | runtimes | calls/s made (offered) | batches/s | batch ack p50 / p99 | pace asked p50 / most | visible p50 / p99, viewer on the taking replica | visible p50 / p99, viewer on another replica | lease call p50 / p99 (calls) | panel CPU per replica | CPU per batch: panels · PostgreSQL | panel RSS per replica, MB (peak) | PostgreSQL CPU · connections | the panel sessions, on average: running · in a transaction, waiting for the panel · waiting on a lock | HAProxy CPU | load generator · viewers CPU | load average | |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of steps) {
    const seen = (v: { seen: number }) => (v.seen < 0.9995 ? ` (${fmt(v.seen * 100, 1)}% seen)` : '');
    lines.push(
      `| ${s.replicas} | ${s.runtimes.toLocaleString('en-US')} | ${fmt(s.callsPerS, 0)} (${s.offeredPerS.toLocaleString('en-US')}) | ${fmt(s.batchesPerS, 0)} | ${ms(s.ackP50)} / ${ms(s.ackP99)} | ${ms(s.paceP50)} / ${ms(s.paceMax)} | ${ms(s.same.p50)} / ${ms(s.same.p99)}${seen(s.same)} | ${s.cross ? `${ms(s.cross.p50)} / ${ms(s.cross.p99)}${seen(s.cross)}` : '—'} | ${ms(s.leaseP50)} / ${ms(s.leaseP99)} (${s.leaseCalls}) | ${pct(s.replicaCpu)} | ${fmt((s.replicaCpu.reduce((a, b) => a + b, 0) * 10) / s.batchesPerS, 2)} · ${fmt((s.pgCpu * 10) / s.batchesPerS, 2)} ms | ${mb(s.replicaRss)} (${mb(s.replicaPeakRss)}) | ${fmt(s.pgCpu, 0)}% · ${s.pgConnections} | ${fmt(s.pgSessions.running, 1)} · ${fmt(s.pgSessions.inTransaction, 1)} · ${fmt(s.pgSessions.onLock, 1)} | ${s.lbCpu === null ? '—' : `${fmt(s.lbCpu, 0)}%`} | ${fmt(s.loadCpu, 0)}% · ${fmt(s.viewersCpu, 0)}% | ${fmt(s.load, 1)} | ${s.ok ? '✅' : `❌ ${s.why}`} |`,
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}

const mode = process.argv[2];
if (mode === 'load') loadChild();
else if (mode === 'viewers') viewersChild(JSON.parse(process.argv[3]!) as string[]);
else await main();
