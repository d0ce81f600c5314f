// Peak memory under a load of short calls: `iron-cage serve` started fresh, idle
// 3 s, then MEM_CALLS (3,000) short chat calls at MEM_C (16) connections, every fourth streamed
// (20 chunks), against the gateway benchmark's mock upstream. Each server runs with a preload
// (memory/probe.mjs) that notes what its memory holds at its highest RSS; the peak itself is the
// kernel's high-water mark (VmHWM). The gateway runs on a core of its own (MEM_PIN=0: not
// pinned), so its CPU a call is comparable between builds and rounds.
//
// MEM_AB="<variant>,<variant>…" compares builds or flags in the same rounds, order reversed every
// round; a variant is `[label:]<checkout or bin> [--node-flag …] [ENV=value …]`, e.g.
// MEM_AB="main:/tmp/base,.,semi4:. --max-semi-space-size=4". MEM_ROUNDS (default 3) rounds.
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { Pool } from 'undici';
import { REQUEST, serveMock, startGateway, startMock, STREAM_REQUEST } from './gateway/load.js';
import { coresApart, cpuMs, fmt, median, pin, report, rssMb, type Row } from './lib.js';

const CALLS = Number(process.env.MEM_CALLS ?? 3000);
const C = Number(process.env.MEM_C ?? 16);
const ROUNDS = Number(process.env.MEM_ROUNDS ?? 3);
const PROBE = resolve(process.cwd(), 'scripts/bench/memory/probe.mjs');

interface Variant {
  label: string;
  cli: string;
  nodeArgs: string[];
  env: Record<string, string>;
}

function variants(spec: string): Variant[] {
  return spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const [first, ...rest] = entry.split(/\s+/);
      const m = /^([\w.-]+):(.+)$/.exec(first!);
      const path = resolve(m ? m[2]! : first!);
      const cli = existsSync(path) && statSync(path).isDirectory() ? join(path, 'bin', 'iron-cage.js') : path;
      if (!existsSync(cli)) throw new Error(`MEM_AB: ${first}: no such build`);
      const env = Object.fromEntries(rest.filter((t) => /^[A-Z_][A-Z0-9_]*=/.test(t)).map((t) => [t.slice(0, t.indexOf('=')), t.slice(t.indexOf('=') + 1)]));
      const nodeArgs = rest.filter((t) => t.startsWith('--'));
      return { label: m ? m[1]! : rest.length > 0 ? rest.join(' ') : i === 0 ? 'this build' : first!, cli, nodeArgs, env };
    });
}

/** `total` calls on `c` connections, every `every`-th streamed; all must answer 200. */
async function mixedLoad(origin: string, token: string, total: number, c: number, every = 4): Promise<{ n: number; seconds: number }> {
  const pool = new Pool(origin, { connections: c, pipelining: 1, keepAliveTimeout: 60_000 });
  let started = 0;
  let n = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (started < total) {
      const stream = started++ % every === every - 1;
      const r = await pool.request({
        path: '/v1/chat/completions',
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: stream ? STREAM_REQUEST : REQUEST,
      });
      if (r.statusCode !== 200) throw new Error(`HTTP ${r.statusCode}: ${await r.body.text()}`);
      if (stream) for await (const _ of r.body);
      else await r.body.dump();
      n++;
    }
  };
  await Promise.all(Array.from({ length: c }, worker));
  const seconds = (performance.now() - t0) / 1000;
  await pool.close();
  return { n, seconds };
}

/** The probe's JSON, read as it was written. */
type Probe = any;
interface Run {
  idle: number;
  peak: number;
  rps: number;
  cpu: number;
  probe: Probe;
}

async function once(v: Variant, upstream: string, cpu: number | undefined): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'iron-mem-bench-'));
  const out = join(dir, 'probe.json');
  const gw = await startGateway(dir, upstream, { cli: v.cli, cpu, nodeArgs: [`--import=${PROBE}`, ...v.nodeArgs], env: { ...v.env, IRON_CAGE_MEM_PROBE: out } });
  const pid = gw.child.pid!;
  // MEM_SERVER_OUT=<file>: the server's stdout from here on appended there (V8's --trace-* output, with BENCH_NODE_ARGS).
  if (process.env.MEM_SERVER_OUT) gw.child.stdout!.on('data', (d: Buffer) => appendFileSync(process.env.MEM_SERVER_OUT!, d));
  try {
    await new Promise((r) => setTimeout(r, 3000));
    const idle = rssMb(pid).now;
    process.kill(pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 50));
    const cpu0 = cpuMs(pid);
    const r = await mixedLoad(gw.origin, gw.token, CALLS, C);
    const cpuPerCall = (cpuMs(pid) - cpu0) / r.n;
    process.kill(pid, 'SIGUSR2');
    await new Promise((r) => setTimeout(r, 200));
    const peak = rssMb(pid).peak;
    gw.child.kill('SIGTERM');
    await new Promise((r) => gw.child.once('exit', r));
    const probe = existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) : null;
    return { idle, peak, rps: r.n / r.seconds, cpu: cpuPerCall, probe };
  } finally {
    if (gw.child.exitCode === null) gw.child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The peak's breakdown, in MB: what the resident set holds, as the probe saw it at its highest sample. */
function breakdown(label: string, run: Run, rows: Row[]): void {
  const p = run.probe?.peak;
  if (!p) {
    rows.push({ metric: `${label}: breakdown at the peak`, value: 'no probe output' });
    return;
  }
  const s = p.spaces;
  const sp = (name: string) => s[name]?.physical ?? 0;
  const heapPhys = p.heap.totalPhysical;
  const native = p.status.anon - heapPhys;
  const marks = run.probe.marks as Array<{ atMs: number; preparedSinceMark: number; sqlite: Array<{ cacheSize: number; pageSize: number; pages: number }> }>;
  const loadStart = marks[0]?.atMs ?? 0;
  const loadEnd = marks[1]?.atMs ?? Number.NaN;
  const where = p.atMs < loadStart ? 'before the load' : p.atMs > loadEnd ? 'after the load' : `${fmt((p.atMs - loadStart) / 1000, 2)} s into the load (of ${fmt((loadEnd - loadStart) / 1000, 2)} s)`;
  const add = (metric: string, value: string) => rows.push({ metric: `${label}, at the peak: ${metric}`, value });
  add('when (highest 5 ms sample / VmHWM)', `${where}: ${fmt(p.status.rss, 1)} / ${fmt(run.peak, 1)} MB`);
  add('RSS = anonymous + file pages', `${fmt(p.status.rss, 1)} = ${fmt(p.status.anon, 1)} + ${fmt(p.status.file, 1)} MB`);
  add(
    'V8 heap, resident (used)',
    `${fmt(heapPhys, 1)} MB (${fmt(p.heap.used, 1)}): new ${fmt(sp('new_space'), 1)} (${fmt(s.new_space?.used ?? 0, 1)}), old ${fmt(sp('old_space'), 1)} (${fmt(s.old_space?.used ?? 0, 1)}), large objects ${fmt(sp('large_object_space') + sp('new_large_object_space'), 1)}, code ${fmt(sp('code_space') + sp('code_large_object_space'), 1)}, other ${fmt(heapPhys - sp('new_space') - sp('old_space') - sp('large_object_space') - sp('new_large_object_space') - sp('code_space') - sp('code_large_object_space'), 1)}`,
  );
  add(
    'outside the V8 heap (anonymous − heap)',
    `${fmt(native, 1)} MB: V8 zones ${fmt(p.heap.malloced, 1)} (peak ${fmt(p.heap.peakMalloced, 1)}), external ${fmt(p.memoryUsage.external, 1)} (of it ArrayBuffers/Buffers ${fmt(p.memoryUsage.arrayBuffers, 1)}), the rest (glibc arenas' free and used chunks: SQLite, compile, libuv; thread stacks) ${fmt(native - p.heap.malloced - p.memoryUsage.external, 1)}`,
  );
  const sm = run.probe.peakSmaps;
  if (sm) {
    const top = Object.entries(sm.kinds as Record<string, number>)
      .slice(0, 6)
      .map(([k, mb]) => `${k} ${fmt(mb, 1)}`)
      .join(', ');
    add(`/proc/self/smaps at ${fmt(sm.rss, 0)} MB`, top);
  }
  const loaded = Object.entries(p.loaded as Record<string, boolean>)
    .filter(([, on]) => on)
    .map(([k]) => k);
  add('loaded on first use', loaded.join(', ') || 'none');
  const db = marks[1]?.sqlite?.[0];
  if (db)
    add(
      'SQLite (the state file)',
      `cache_size ${db.cacheSize} (${db.cacheSize < 0 ? `${fmt(-db.cacheSize / 1024, 1)} MB` : `${db.cacheSize} pages`}), page ${db.pageSize} B, file ${fmt((db.pages * db.pageSize) / 1024 / 1024, 1)} MB`,
    );
  add(
    'statements prepared: at start / during the load (per call)',
    `${run.probe.marks[0]?.prepared ?? '?'} / ${marks[1]?.preparedSinceMark ?? '?'} (${fmt((marks[1]?.preparedSinceMark ?? 0) / CALLS, 3)})`,
  );
}

async function main(): Promise<void> {
  const vs = variants(process.env.MEM_AB ?? '.');
  const pinned = process.env.MEM_PIN !== '0';
  const cores = pinned ? coresApart('MEM_PIN') : null;
  if (cores) pin(process.pid, cores.others);
  const mock = await startMock();
  const rows: Row[] = [];
  const load0 = loadavg();
  const runs = new Map<string, Run[]>(vs.map((v) => [v.label, []]));
  try {
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? vs : [...vs].reverse();
      for (const v of order) {
        const r = await once(v, mock.url, cores?.own);
        runs.get(v.label)!.push(r);
        process.stderr.write(`round ${round + 1} ${v.label}: idle ${fmt(r.idle, 1)} MB, peak ${fmt(r.peak, 1)} MB, ${fmt(r.rps, 0)} calls/s, CPU ${fmt(r.cpu, 3)} ms a call\n`);
      }
    }
  } finally {
    mock.close();
  }
  const load1 = loadavg();
  rows.push({
    metric: 'load',
    value: `${CALLS} chat calls at c=${C}, every 4th streamed (20 chunks); ${ROUNDS} rounds, a fresh server each; gateway ${pinned ? 'on a core of its own' : 'not pinned'}; load average ${fmt(load0[0]!, 2)} → ${fmt(load1[0]!, 2)}`,
  });
  const first = runs.get(vs[0]!.label)!;
  for (const v of vs) {
    const rs = runs.get(v.label)!;
    const list = (xs: number[], d: number) => xs.map((x) => fmt(x, d)).join(', ');
    const peaks = rs.map((r) => r.peak);
    rows.push({
      metric: `${v.label}: idle RSS, median (rounds)`,
      value: `${fmt(median(rs.map((r) => r.idle)), 1)} MB (${list(
        rs.map((r) => r.idle),
        1,
      )})`,
    });
    rows.push({ metric: `${v.label}: peak RSS (VmHWM), median (rounds)`, value: `${fmt(median(peaks), 1)} MB (${list(peaks, 1)})`, target: '< 150 MB', ok: median(peaks) < 150 });
    rows.push({
      metric: `${v.label}: calls/s, CPU a call (medians; rounds)`,
      value: `${fmt(median(rs.map((r) => r.rps)), 0)}, ${fmt(median(rs.map((r) => r.cpu)), 3)} ms (${list(
        rs.map((r) => r.cpu),
        3,
      )})`,
    });
    if (v !== vs[0]) {
      const ratio = (k: 'peak' | 'cpu') => rs.map((r, i) => r[k] / first[i]![k]);
      rows.push({
        metric: `${v.label} / ${vs[0]!.label}: peak, CPU a call (median ratio of rounds)`,
        value: `${fmt(median(ratio('peak')), 3)}, ${fmt(median(ratio('cpu')), 3)} (${list(ratio('cpu'), 2)})`,
      });
    }
    const mid = [...rs].sort((a, b) => a.peak - b.peak)[Math.floor(rs.length / 2)]!;
    breakdown(v.label, mid, rows);
  }
  const dir = join(process.cwd(), 'bench-results');
  mkdirSync(dir, { recursive: true });
  report('memory', 'Peak memory under load (npm run bench -- memory)', rows, { variants: vs, runs: Object.fromEntries(runs) });
  process.exit(0);
}

if (process.argv[2] === 'mock') await serveMock();
else await main();
