// The agent sandbox: what it costs. Agent start (runner.start until the agent's first
// line) sandboxed vs not; the gateway through the sandbox's bridge (socat, a Unix socket) vs
// direct, at c=1 (added p50) and c=16 (throughput), measured by a Python agent under
// `iron-cage start`; and the RSS of the sandbox's own processes (bwrap and socat) while it runs.
import { execFileSync, spawn } from 'node:child_process';
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

async function startTimes(runner: AgentRunner, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const proc = await runner.start({ command: python, args: ['-S', '-c', 'print("up", flush=True)'], env: { PATH: process.env.PATH ?? '' }, cwd: dir });
    await new Promise<void>((r) => proc.onLine(() => r()));
    out.push(performance.now() - t0);
    await proc.exited;
  }
  return out.sort((a, b) => a - b);
}

const sandbox = new SandboxRunner({
  bwrap: support.bwrap,
  socat: support.socat,
  prlimit: support.prlimit,
  seccomp: seccompFilter(),
  accept: (s) => s.destroy(),
  policy: (spec) =>
    sandboxPolicy({ cwd: spec.cwd, script: join(dir, 'x.py'), interpreter: spec.command, sdk: sdkPath(), port: 40_999, write: [], read: [], limits: SANDBOX_DEFAULTS.limits, secretFiles: [] }),
});
await startTimes(new LocalProcessRunner(), 3);
const plain = await startTimes(new LocalProcessRunner(), 21);
await startTimes(sandbox, 3);
const caged = await startTimes(sandbox, 21);
await sandbox.close();

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

/** RSS (kB) of bwrap and socat processes, summed. */
function helperRss(): number {
  let kb = 0;
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const status = readFileSync(`/proc/${p}/status`, 'utf8');
      const name = /^Name:\s*(\S+)/m.exec(status)?.[1];
      if (name === 'bwrap' || name === 'socat') kb += Number(/^VmRSS:\s*(\d+)/m.exec(status)?.[1] ?? 0);
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

const direct = await load('off');
const bridged = await load('on');
rmSync(dir, { recursive: true, force: true });

const startAdded = percentile(caged, 50) - percentile(plain, 50);
const p50Added = bridged.p50 - direct.p50;
const rateLoss = (1 - bridged.rate / direct.rate) * 100;
const rows: Row[] = [
  { metric: 'agent start p50, not sandboxed', value: `${fmt(percentile(plain, 50))} ms` },
  { metric: 'agent start p50, sandboxed', value: `${fmt(percentile(caged, 50))} ms` },
  { metric: 'agent start added p50', value: `${fmt(startAdded)} ms`, target: '≤ 50 ms', ok: startAdded <= 50 },
  { metric: 'gateway c=1 p50 (kept alive, as the SDKs do), direct', value: `${fmt(direct.p50)} ms` },
  { metric: 'gateway c=1 p50, through the bridge', value: `${fmt(bridged.p50)} ms` },
  { metric: 'gateway c=1 added p50', value: `${fmt(p50Added)} ms`, target: `≤ 5% (${fmt(direct.p50 * 0.05)} ms)`, ok: p50Added <= direct.p50 * 0.05 },
  { metric: 'a call on a new connection p50, direct', value: `${fmt(direct.fresh)} ms` },
  { metric: 'a call on a new connection p50, through the bridge (socat forks per connection)', value: `${fmt(bridged.fresh)} ms` },
  { metric: 'gateway c=16 throughput, direct', value: `${fmt(direct.rate)} calls/s` },
  { metric: 'gateway c=16 throughput, through the bridge', value: `${fmt(bridged.rate)} calls/s`, target: '≥ 95% of direct', ok: rateLoss <= 5 },
  { metric: "RSS of the sandbox's processes (bwrap ×2, socat and its connections)", value: `${fmt(bridged.rssKb / 1024)} MB` },
];
report('sandbox', 'Agent sandbox: start, the bridge, its processes', rows);
