// The server's event-loop stall probe for `npm run bench -- scale` (part 1) and how its record is
// read: each stall split into the main thread's CPU, its wait for a CPU, GC and the rest, and what
// a --cpu-prof says ran in the stalls.
import { readFileSync } from 'node:fs';
import { fmt } from '../lib.js';

/**
 * Loaded into the server with --import: its event loop's delay, the worst of each half second,
 * one JSON line each (`w`); and a stall probe: a 10 ms interval timer that, whenever it fires
 * more than STALL_MIN_MS late, records the gap with what the main thread did in it (`s`): its
 * time on a CPU and its time runnable but waiting for one, from the kernel's per-thread
 * /proc/self/task/<pid>/schedstat (nanoseconds), and the process's CPU (all threads,
 * process.cpuUsage); GC pauses (`g`) are written apart and matched to the gaps by the benchmark.
 * `o`: the monotonic clock's value (µs) at performance.now() = 0, to place a --cpu-prof's samples.
 */
export const LAG_PRELOAD = `
import { monitorEventLoopDelay, PerformanceObserver, performance } from 'node:perf_hooks';
import { appendFileSync, openSync, readSync } from 'node:fs';
const FILE = process.env.SCALE_LAG_FILE;
const TICK = 10, STALL_MIN_MS = 20;
const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();
let gc = 0;
const lines = [JSON.stringify({ k: 'o', us: Number(process.hrtime.bigint() / 1000n) - performance.now() * 1000 })];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    gc = Math.max(gc, e.duration);
    lines.push(JSON.stringify({ k: 'g', at: e.startTime, ms: e.duration }));
  }
}).observe({ entryTypes: ['gc'] });
const fd = openSync('/proc/self/task/' + process.pid + '/schedstat', 'r');
const buf = Buffer.alloc(128);
const sched = () => {
  const s = buf.toString('latin1', 0, readSync(fd, buf, 0, 128, 0)).split(' ');
  return [Number(s[0]) / 1e6, Number(s[1]) / 1e6];
};
let last = performance.now(), [run0, wait0] = sched(), cpu0 = process.cpuUsage();
setInterval(() => {
  const now = performance.now();
  const [run, wait] = sched();
  if (now - last - TICK > STALL_MIN_MS) {
    const cpu = process.cpuUsage(cpu0);
    lines.push(JSON.stringify({ k: 's', from: last, to: now, run: run - run0, wait: wait - wait0, proc: (cpu.user + cpu.system) / 1000 }));
  }
  last = now; run0 = run; wait0 = wait; cpu0 = process.cpuUsage();
}, TICK).unref();
setInterval(() => {
  lines.push(JSON.stringify({ k: 'w', t: Date.now(), at: performance.now(), max: h.max / 1e6, gc }));
  appendFileSync(FILE, lines.join('\\n') + '\\n');
  lines.length = 0;
  h.reset();
  gc = 0;
}, 500).unref();
`;

/** A gap between two ticks of the server's stall probe (its performance.now() ms), and the main thread's share of it. */
export interface Stall {
  from: number;
  to: number;
  /** The main thread on a CPU (ms): our JavaScript, GC, native work (SQLite, sockets). */
  run: number;
  /** The main thread runnable but not running: waiting for a CPU (the machine's load). */
  wait: number;
  /** CPU of the whole process over the gap (all threads: the main one, GC helpers, libuv's pool). */
  proc: number;
}

export interface Lag {
  windows: Array<{ t: number; at: number; max: number; gc: number }>;
  stalls: Stall[];
  gcs: Array<{ at: number; ms: number }>;
  /** The monotonic clock (µs, as a --cpu-prof stamps its samples) at the server's performance.now() = 0. */
  originUs: number;
  /** The server's Date.now() − performance.now(): its probe's times as wall-clock ms. */
  offset: number;
}

export function readLag(file: string): Lag {
  const lag: Lag = { windows: [], stalls: [], gcs: [], originUs: 0, offset: 0 };
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line) continue;
    const x = JSON.parse(line);
    if (x.k === 'w') lag.windows.push(x);
    else if (x.k === 's') lag.stalls.push(x);
    else if (x.k === 'g') lag.gcs.push(x);
    else if (x.k === 'o') lag.originUs = x.us;
  }
  const w = lag.windows[0];
  if (w) lag.offset = w.t - w.at;
  return lag;
}

/** A stall as the report gives it: how late the probe's tick was, and of the gap, the main thread's CPU, GC in it, its wait for a CPU, and the rest (asleep or blocked). */
export interface Attributed {
  from: number;
  to: number;
  late: number;
  gap: number;
  cpu: number;
  gc: number;
  waitCpu: number;
  other: number;
  procCpu: number;
}

const PROBE_TICK_MS = 10;

export function attribute(s: Stall, gcs: Lag['gcs']): Attributed {
  const gap = s.to - s.from;
  let gc = 0;
  for (const g of gcs) gc += Math.max(0, Math.min(g.at + g.ms, s.to) - Math.max(g.at, s.from));
  return { from: s.from, to: s.to, late: gap - PROBE_TICK_MS, gap, cpu: s.run, gc, waitCpu: s.wait, other: Math.max(0, gap - s.run - s.wait), procCpu: s.proc };
}

export const describeStall = (a: Attributed) =>
  `${fmt(a.late, 1)} ms late (gap ${fmt(a.gap, 1)} ms: main thread on a CPU ${fmt(a.cpu, 1)} ms, waiting for a CPU ${fmt(a.waitCpu, 1)} ms, asleep or blocked ${fmt(a.other, 1)} ms; in GC pauses ${fmt(a.gc, 1)} ms of wall time; whole process CPU ${fmt(a.procCpu, 1)} ms)`;

/** The sums over stalls: how much of their time was our thread's CPU, GC, and the wait for a CPU. */
export function stallTotals(list: Attributed[]) {
  const sum = (k: keyof Attributed) => list.reduce((a, x) => a + x[k], 0);
  return { count: list.length, gap: sum('gap'), cpu: sum('cpu'), gc: sum('gc'), waitCpu: sum('waitCpu'), other: sum('other') };
}

/**
 * What the main thread ran in `windows` (server performance.now() ms), from a --cpu-prof: CPU ms
 * (samples × the sampling interval) by the function on top of the stack, and by the innermost
 * function of the bundle (our code) on the stack, with the profiler's own (garbage
 * collector)/(program)/(idle). Samples are counted, not weighed by the time to the next one: the
 * profiler's signal waits while the thread waits for a CPU, so that time would land on whatever
 * runs first after it.
 */
export function profileIn(profile: any, originUs: number, windows: Array<{ from: number; to: number }>) {
  const byId = new Map<number, any>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const name = (n: any) => `${n.callFrame.functionName || '(anonymous)'}${n.callFrame.url ? ` ${n.callFrame.url.split('/').at(-1)}:${n.callFrame.lineNumber + 1}` : ''}`;
  const ours = (n: any) => /\/dist\/cli\.js$/.test(n.callFrame.url);
  const top = new Map<string, number>();
  const own = new Map<string, number>();
  let total = 0;
  let t = profile.startTime;
  const deltas = [...profile.timeDeltas].sort((a: number, b: number) => a - b);
  const dt = (deltas[deltas.length >> 1] ?? 1000) / 1000;
  const sorted = [...windows].sort((a, b) => a.from - b.from);
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i];
    const ms = (t - originUs) / 1000;
    const w = sorted.find((x) => ms > x.from && ms <= x.to);
    if (!w) continue;
    total += dt;
    const leaf = byId.get(profile.samples[i])!;
    top.set(name(leaf), (top.get(name(leaf)) ?? 0) + dt);
    let n: any = leaf;
    while (n && !ours(n) && parent.has(n.id)) n = byId.get(parent.get(n.id)!);
    const key = n && ours(n) ? name(n) : name(leaf);
    own.set(key, (own.get(key) ?? 0) + dt);
  }
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([fn, ms]) => ({ fn, ms: Math.round(ms * 10) / 10 }));
  return { sampledMs: total, intervalMs: dt, top: rank(top), ours: rank(own) };
}
