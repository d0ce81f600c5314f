// The agent sandbox: what it costs. Agent start (runner.start until the agent's first line)
// sandboxed vs not; the gateway through the sandbox's bridge (a listener made inside and handed
// to the cage, src/sandbox/bridge.ts) vs direct, kept alive at c=1 (added p50), a new connection
// per call (added p50) and c=16 (throughput), measured by a Python agent under `iron-cage start`,
// direct and bridged side by side in BENCH_SANDBOX_PAIRS pairs of short slices (60), each figure
// the median of the pairs' (this machine is shared and noisy: a ratio is taken within a pair); and
// the RSS of the sandbox's own processes while it runs.
import { execFileSync, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { SANDBOX_DEFAULTS } from '../../src/config/index.js';
import { sandboxPolicy, sandboxSupport, SandboxRunner } from '../../src/sandbox/index.js';
import { seccompFilter } from '../../src/sandbox/seccomp.js';
import { LocalProcessRunner, sdkPath, type AgentRunner } from '../../src/supervisor/index.js';
import { fmt, freePort, percentile, report, type Row } from './lib.js';

const support = sandboxSupport();
if (!support.ok || support.kind !== 'bwrap') {
  console.error(`the bubblewrap sandbox cannot start here: ${support.ok ? 'this is macOS (Seatbelt)' : `${support.reason} (${support.fix})`}`);
  process.exit(1);
}
const CLI = resolve(process.cwd(), 'bin/iron-cage.js');
const python = execFileSync('python3', ['-c', 'import sys; print(sys.executable)']).toString().trim();
const dir = mkdtempSync(join(tmpdir(), 'iron-bench-sandbox-'));

// The agent's start: its first line, then its first call answered (by a server of the bench's own:
// on its port directly, or through the sandbox's bridge), timed from runner.start.
const starter = createServer((_req, res) => res.end('ok'));
await new Promise<void>((r) => starter.listen(0, '127.0.0.1', () => r()));
const starterPort = (starter.address() as AddressInfo).port;
const STARTER = `print("up", flush=True)
import http.client
c = http.client.HTTPConnection("127.0.0.1", ${starterPort})
c.request("GET", "/")
c.getresponse().read()
print("called", flush=True)`;

async function startOnce(runner: AgentRunner): Promise<{ line: number; call: number }> {
  const t0 = performance.now();
  const proc = await runner.start({ command: python, args: ['-S', '-c', STARTER], env: { PATH: process.env.PATH ?? '' }, cwd: dir });
  const at: Record<string, number> = {};
  await new Promise<void>((r) =>
    proc.onLine((_stream, line) => {
      at[line] = performance.now() - t0;
      if (line === 'called') r();
    }),
  );
  await proc.exited;
  return { line: at.up ?? Number.NaN, call: at.called ?? Number.NaN };
}

const sandbox = new SandboxRunner({
  bwrap: support.bwrap,
  perl: support.perl,
  prlimit: support.prlimit,
  seccomp: seccompFilter(),
  accept: (s) => starter.emit('connection', s),
  policy: (spec) =>
    sandboxPolicy({ cwd: spec.cwd, script: join(dir, 'x.py'), interpreter: spec.command, sdk: sdkPath(), port: starterPort, write: [], read: [], limits: SANDBOX_DEFAULTS.limits, secretFiles: [] }),
});
const local = new LocalProcessRunner();
for (let i = 0; i < 3; i++) {
  await startOnce(local);
  await startOnce(sandbox);
}
// Side by side, the order alternating: the machine's moment is the same for both.
const starts: Array<{ plain: { line: number; call: number }; caged: { line: number; call: number } }> = [];
for (let i = 0; i < 21; i++) {
  if (i % 2 === 0) {
    const plain = await startOnce(local);
    starts.push({ plain, caged: await startOnce(sandbox) });
  } else {
    const caged = await startOnce(sandbox);
    starts.push({ plain: await startOnce(local), caged });
  }
}
await sandbox.close();
starter.close();
const p50 = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );

// The load, as an agent sends it: http.client from threads, each call a chat completion on the
// simulated provider. Two cages run at once, one agent direct and one sandboxed, and take turns
// in short slices (a file in their shared working folder says whose turn it is; the pairs' order
// alternates), so each bridged slice is compared with a direct one a fraction of a second away:
// this machine is shared, and its load moves more between rounds seconds apart than the bridge
// may cost.
writeFileSync(
  join(dir, 'load_agent.py'),
  `import http.client, json, os, queue, threading, time, urllib.parse
side, pairs, turn_file = os.environ["BENCH_SIDE"], int(os.environ["BENCH_PAIRS"]), os.environ["BENCH_TURN"]
base = urllib.parse.urlsplit(os.environ["OPENAI_BASE_URL"])
path = base.path.rstrip("/") + "/chat/completions"
head = {"Authorization": "Bearer " + (os.environ.get("OPENAI_API_KEY") or os.environ["IRON_CAGE_TOKEN"]), "Content-Type": "application/json"}
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})
# A call never answered fails the run (the other side gives up waiting for its turn) rather than hang it.
def conn():
    return http.client.HTTPConnection(base.hostname, base.port, timeout=30)
def call(c):
    t = time.perf_counter()
    c.request("POST", path, body=body, headers=head)
    c.getresponse().read()
    return time.perf_counter() - t
# c=16: sixteen threads, each with its connection kept alive, told how many calls to make.
todo, done = [queue.Queue() for _ in range(16)], queue.Queue()
def worker(q):
    k = conn()
    while True:
        n = q.get()
        for _ in range(n): call(k)
        done.put(n)
for q in todo: threading.Thread(target=worker, args=(q,), daemon=True).start()
def burst(n):
    t = time.perf_counter()
    for q in todo: q.put(n)
    for _ in todo: done.get(timeout=60)
    return 16 * n / (time.perf_counter() - t)
# Kept alive, as the official SDKs keep their connections.
c = conn()
for _ in range(30): call(c)
burst(10)
print("READY", flush=True)
def owner(k):
    first, second = ("off", "on") if (k // 2) % 2 == 0 else ("on", "off")
    return first if k % 2 == 0 else second
def now():
    try:
        return int(open(turn_file).read())
    except (OSError, ValueError):
        return -1
deadline = time.time() + 300
for k in range(2 * pairs):
    if owner(k) != side: continue
    while now() != k:
        if time.time() > deadline: raise SystemExit("the other side never passed the turn")
        time.sleep(0.001)
    single = sorted(call(c) for _ in range(100))
    fresh = []
    for _ in range(20):
        t = time.perf_counter(); x = conn(); call(x); x.close(); fresh.append(time.perf_counter() - t)
    fresh.sort()
    rate = burst(20)
    print("SLICE " + json.dumps({"pair": k // 2, "p50": single[50] * 1000, "fresh": fresh[10] * 1000, "rate": rate}), flush=True)
    open(turn_file + ".next", "w").write(str(k + 1)); os.replace(turn_file + ".next", turn_file)
# Held until the bench has read this side's processes' CPU.
print("DONE " + json.dumps({"calls": pairs * (100 + 20 + 320)}), flush=True)
while not os.path.exists(turn_file + "." + side) and time.time() < deadline: time.sleep(0.01)
`,
);

const [TICK, PAGE_KB] = ['CLK_TCK', 'PAGESIZE'].map((v) => Number(execFileSync('getconf', [v]).toString().trim())) as [number, number];

/** The processes under `root`, root included, as /proc has them now: CPU (seconds, with their reaped children's) and RSS. */
function tree(root: number): Array<{ pid: number; comm: string; cpu: number; rssKb: number }> {
  const all = new Map<number, { pid: number; ppid: number; comm: string; cpu: number; rssKb: number }>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const end = stat.lastIndexOf(')');
      // After the name: field 3 (state) at 0, so field N at N - 3 (proc(5)).
      const f = stat
        .slice(end + 2)
        .split(' ')
        .map(Number);
      const ticks = f[11]! + f[12]! + f[13]! + f[14]!;
      all.set(Number(p), { pid: Number(p), ppid: f[1]!, comm: stat.slice(stat.indexOf('(') + 1, end), cpu: ticks / TICK, rssKb: f[21]! * (PAGE_KB / 1024) });
    } catch {
      /* gone */
    }
  }
  const out = [];
  const todo = [root];
  while (todo.length > 0) {
    const pid = todo.pop()!;
    const p = all.get(pid);
    if (p) out.push(p);
    for (const c of all.values()) if (c.ppid === pid) todo.push(c.pid);
  }
  return out;
}

interface Slice {
  pair: number;
  p50: number;
  fresh: number;
  rate: number;
}

const PAIRS = Number(process.env.BENCH_SANDBOX_PAIRS ?? 60);
const turn = join(dir, 'turn');
rmSync(turn, { force: true });
/** The RSS of the sandbox's own processes (neither the cage nor the agent) while the load runs. */
let rssKb = 0;
/** Each side's cage and bridge over its slices (READY to DONE): CPU seconds (the cage's process and the sandbox's own, the agent's not) and calls. */
const cpu: Record<'on' | 'off', { seconds: number; calls: number }> = { on: { seconds: 0, calls: 0 }, off: { seconds: 0, calls: 0 } };
const notAgent = (comm: string) => !comm.startsWith('python');
/** One side's cage and agent; `ready` once the agent has warmed up; its slices once it ends. */
async function side(mode: 'on' | 'off', ready: () => void): Promise<Slice[]> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'start', 'load_agent.py', '--sandbox', mode, '--restart', 'never', '--port', String(port), '--exit', '--db', join(dir, `${mode}.db`)], {
    cwd: dir,
    env: { ...process.env, BENCH_SIDE: mode, BENCH_PAIRS: String(PAIRS), BENCH_TURN: turn },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const cageCpu = () =>
    tree(child.pid!)
      .filter((p) => notAgent(p.comm))
      .reduce((n, p) => n + p.cpu, 0);
  let readyCpu: number | null = null;
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    if (readyCpu === null && out.includes('READY')) {
      readyCpu = cageCpu();
      ready();
    }
    if (mode === 'on' && rssKb === 0 && out.includes('SLICE '))
      rssKb = tree(child.pid!)
        .filter((p) => p.pid !== child.pid && notAgent(p.comm))
        .reduce((n, p) => n + p.rssKb, 0);
    const done = /DONE (\{.*\})/.exec(out);
    if (done && cpu[mode].calls === 0) {
      cpu[mode] = { seconds: cageCpu() - (readyCpu ?? 0), calls: (JSON.parse(done[1]!) as { calls: number }).calls };
      writeFileSync(`${turn}.${mode}`, '');
    }
  });
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((r) => child.once('exit', r));
  const slices = [...out.matchAll(/SLICE (\{.*\})/g)].map((m) => JSON.parse(m[1]!) as Slice);
  if (slices.length !== PAIRS) throw new Error(`the ${mode} side's agent measured ${slices.length} of ${PAIRS} slices:\n${out.slice(-2000)}`);
  return slices;
}
// Both cages start, both agents warm up; then the first turn is given.
let waiting = 2;
const readyOnce = () => {
  let said = false;
  return () => {
    if (said) return;
    said = true;
    if (--waiting === 0) writeFileSync(turn, '0');
  };
};
const [offSlices, onSlices] = await Promise.all([side('off', readyOnce()), side('on', readyOnce())]);
rmSync(dir, { recursive: true, force: true });

type Round = { direct: Slice; bridged: Slice };
const rounds: Round[] = offSlices.map((direct) => ({ direct, bridged: onSlices.find((s) => s.pair === direct.pair)! }));
/** A figure's median over the pairs; its quartiles; the two sides' medians. */
const of = (f: (r: Round) => number) => p50(rounds.map(f));
const spread = (f: (r: Round) => number, digits: number) => {
  const xs = rounds.map(f).sort((a, b) => a - b);
  return `${fmt(percentile(xs, 25), digits)} to ${fmt(percentile(xs, 75), digits)}`;
};
const sidesOf = (f: (l: Slice) => number, digits: number) => {
  const [d, b] = [of((r) => f(r.direct)), of((r) => f(r.bridged))];
  return `${fmt(d, digits)} / ${fmt(b, digits)}`;
};
const p50Added = (r: Round) => r.bridged.p50 - r.direct.p50;
const freshAdded = (r: Round) => r.bridged.fresh - r.direct.fresh;
const share = (r: Round) => (r.bridged.rate / r.direct.rate) * 100;
const start = (f: (s: (typeof starts)[number]) => number) => p50(starts.map(f));
const startAdded = start((x) => x.caged.line - x.plain.line);
const callAdded = start((x) => x.caged.call - x.plain.call);
const rows: Row[] = [
  { metric: "agent start p50 (runner.start until the agent's first line), not sandboxed / sandboxed", value: `${fmt(start((x) => x.plain.line))} / ${fmt(start((x) => x.caged.line))} ms` },
  { metric: 'agent start added p50 (21 pairs, each side by side)', value: `${fmt(startAdded)} ms`, target: '≤ 50 ms', ok: startAdded <= 50 },
  { metric: 'until its first call is answered p50, not sandboxed / sandboxed', value: `${fmt(start((x) => x.plain.call))} / ${fmt(start((x) => x.caged.call))} ms` },
  { metric: 'until its first call is answered, added p50', value: `${fmt(callAdded)} ms`, target: '≤ 50 ms', ok: callAdded <= 50 },
  { metric: `gateway c=1 p50 (kept alive, as the SDKs do), direct / through the bridge, median of ${PAIRS} pairs of slices`, value: `${sidesOf((l) => l.p50, 3)} ms` },
  { metric: 'gateway c=1 added p50 (median of the pairs; their quartiles)', value: `${fmt(of(p50Added), 3)} ms (${spread(p50Added, 3)})`, target: '≤ 0.05 ms', ok: of(p50Added) <= 0.05 },
  { metric: 'a call on a new connection p50, direct / through the bridge', value: `${sidesOf((l) => l.fresh, 3)} ms` },
  { metric: 'a call on a new connection, added p50 (quartiles)', value: `${fmt(of(freshAdded), 3)} ms (${spread(freshAdded, 3)})`, target: '≤ 0.5 ms', ok: of(freshAdded) <= 0.5 },
  { metric: 'gateway c=16 throughput, direct / through the bridge', value: `${sidesOf((l) => l.rate, 0)} calls/s` },
  { metric: 'gateway c=16 throughput through the bridge, share of direct (quartiles)', value: `${fmt(of(share), 1)}% (${spread(share, 1)})`, target: '≥ 97%', ok: of(share) >= 97 },
  {
    metric: "CPU per call of the cage and the sandbox's own processes over the slices, direct / bridged",
    value: `${fmt((cpu.off.seconds / cpu.off.calls) * 1e6, 0)} / ${fmt((cpu.on.seconds / cpu.on.calls) * 1e6, 0)} µs (×${fmt(cpu.on.seconds / cpu.on.calls / (cpu.off.seconds / cpu.off.calls), 3)})`,
  },
  { metric: "RSS of the sandbox's own processes while the load runs (neither the cage nor the agent)", value: `${fmt(rssKb / 1024)} MB` },
];
report('sandbox', 'Agent sandbox: start, the bridge, its processes', rows, { rounds });
