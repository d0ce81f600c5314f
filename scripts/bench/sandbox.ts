// The agent sandbox: what it costs. Agent start (runner.start until the agent's first line)
// sandboxed vs not; the gateway through the sandbox's bridge (a listener made inside and handed
// to the cage, src/sandbox/bridge.ts) vs direct, kept alive at c=1 (added p50), a new connection
// per call (added p50) and c=16 (throughput), measured by a Python agent under `iron-cage start`,
// direct and bridged alternately for BENCH_SANDBOX_ROUNDS rounds (7), each figure the median of
// the rounds' (this machine is shared and noisy: a ratio is taken within a round); and the RSS of
// the sandbox's own processes while it runs.
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

// The load, as an agent sends it: urllib from threads, each call a chat completion on the simulated provider.
writeFileSync(
  join(dir, 'load_agent.py'),
  `import http.client, json, os, threading, time, urllib.parse
base = urllib.parse.urlsplit(os.environ["OPENAI_BASE_URL"])
path = base.path.rstrip("/") + "/chat/completions"
head = {"Authorization": "Bearer " + (os.environ.get("OPENAI_API_KEY") or os.environ["IRON_CAGE_TOKEN"]), "Content-Type": "application/json"}
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 8})
def conn():
    return http.client.HTTPConnection(base.hostname, base.port)
def call(c):
    t = time.perf_counter()
    c.request("POST", path, body=body, headers=head)
    c.getresponse().read()
    return time.perf_counter() - t
# Kept alive, as the official SDKs keep their connections.
c = conn()
for _ in range(30): call(c)
single = sorted(call(c) for _ in range(400))
# A new connection for each call (urllib's way): what one more connection costs.
fresh = []
for _ in range(100):
    t = time.perf_counter(); x = conn(); call(x); x.close(); fresh.append(time.perf_counter() - t)
fresh.sort()
def worker(n):
    k = conn()
    for _ in range(n): call(k)
t = time.perf_counter()
ts = [threading.Thread(target=worker, args=(80,)) for _ in range(16)]
[x.start() for x in ts]; [x.join() for x in ts]
rate = 16 * 80 / (time.perf_counter() - t)
print("BENCH " + json.dumps({"p50": single[len(single) // 2] * 1000, "fresh": fresh[len(fresh) // 2] * 1000, "rate": rate}), flush=True)
time.sleep(1.5)
`,
);

/** RSS (kB) of the sandbox's own processes (bwrap; the bridge's Perl has exited by then), summed. */
function helperRss(): number {
  let kb = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const name = /^Name:\s*(\S+)/m.exec(status)?.[1];
      if (name === 'bwrap' || name === 'perl') kb += Number(/^VmRSS:\s*(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      /* gone */
    }
  }
  return kb;
}

async function load(mode: 'on' | 'off'): Promise<{ p50: number; fresh: number; rate: number; rssKb: number }> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'start', 'load_agent.py', '--sandbox', mode, '--port', String(port), '--exit', '--db', join(dir, `${mode}.db`)], {
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let rssKb = 0;
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString();
    if (rssKb === 0 && out.includes('BENCH ')) rssKb = helperRss();
  });
  child.stderr.on('data', (c: Buffer) => (out += c.toString()));
  await new Promise((r) => child.once('exit', r));
  const m = /BENCH (\{.*\})/.exec(out);
  if (!m) throw new Error(`the load agent said nothing (${mode}):\n${out.slice(-2000)}`);
  return { ...(JSON.parse(m[1]!) as { p50: number; fresh: number; rate: number }), rssKb };
}

const ROUNDS = Number(process.env.BENCH_SANDBOX_ROUNDS ?? 7);
type Load = Awaited<ReturnType<typeof load>>;
type Round = { direct: Load; bridged: Load };
const rounds: Round[] = [];
for (let i = 0; i < ROUNDS; i++) {
  // The order alternates, so neither side always runs on a machine the other has just warmed.
  if (i % 2 === 0) {
    const direct = await load('off');
    rounds.push({ direct, bridged: await load('on') });
  } else {
    const bridged = await load('on');
    rounds.push({ direct: await load('off'), bridged });
  }
}
rmSync(dir, { recursive: true, force: true });

/** A figure's median over the rounds; each round's; the two sides' medians. */
const of = (f: (r: Round) => number) => p50(rounds.map(f));
const each = (f: (r: Round) => number, digits: number) => rounds.map((r) => fmt(f(r), digits)).join(' · ');
const sides = (f: (l: Load) => number, digits: number) => {
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
  { metric: `gateway c=1 p50 (kept alive, as the SDKs do), direct / through the bridge, median of ${ROUNDS} rounds`, value: `${sides((l) => l.p50, 3)} ms` },
  { metric: 'gateway c=1 added p50 (each round)', value: `${fmt(of(p50Added), 3)} ms (${each(p50Added, 3)})`, target: '≤ 0.05 ms', ok: of(p50Added) <= 0.05 },
  { metric: 'a call on a new connection p50, direct / through the bridge', value: `${sides((l) => l.fresh, 3)} ms` },
  { metric: 'a call on a new connection, added p50 (each round)', value: `${fmt(of(freshAdded), 3)} ms (${each(freshAdded, 3)})`, target: '≤ 0.5 ms', ok: of(freshAdded) <= 0.5 },
  { metric: 'gateway c=16 throughput, direct / through the bridge', value: `${sides((l) => l.rate, 0)} calls/s` },
  { metric: 'gateway c=16 throughput through the bridge, share of direct (each round)', value: `${fmt(of(share), 1)}% (${each(share, 1)})`, target: '≥ 97%', ok: of(share) >= 97 },
  { metric: "RSS of the sandbox's own processes while the load runs (bwrap ×2)", value: `${fmt(of((r) => r.bridged.rssKb) / 1024)} MB` },
];
report('sandbox', 'Agent sandbox: start, the bridge, its processes', rows, { rounds });
