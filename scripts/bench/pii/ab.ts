// `iron-cage scan --json` on the near-miss records (seed 3, one record, as `npm run bench -- pii`
// feeds it) through several builds in one run, builds alternating every round, so that builds
// are compared on the same machine at the same moment (a load that changes between runs would be measured instead). A build is a directory with
// bin/iron-cage.js and dist/ (a copy of the worktree's after `npm run build`) and a node_modules
// beside them. Per build and round:
// - warm: dist/cli.js on a core of its own, 90 rounds one after another, CPU of all threads
//   (schedstat) over rounds 51-90, as the bench reads it;
// - first three rounds of a fresh process through bin/iron-cage.js once it waits for input:
//   CPU of all threads, pinned to one core (the bench's method), and wall time, unpinned (as a
//   user running `iron-cage scan` sees it, V8's compiler threads free to use the other core);
// - with --engine, the engine's first three rounds in a fresh process (the bench's own
//   `dist/bench/pii.js --first-rounds iron-cage`: scan and redact, CPU of all threads, pinned).
// Prints the medians, the minimum (a shared machine inflates CPU time, never shrinks it) and each
// build's ratio of medians to the first.
//
//   npx tsx scripts/bench/pii/ab.ts [--rounds N] [--only warm|cold|none] [--engine] DIR [DIR…]
//   (a DIR written `DIR=--flag,--flag` runs node with those flags for that build)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { threadsCpuMs } from '../lib.js';
import { nearMissCorpus } from './near-miss.js';

const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  if (i === -1) return undefined;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const rounds = Number(opt('--rounds') ?? 5);
const only = opt('--only');
const engine = args.includes('--engine');
if (engine) args.splice(args.indexOf('--engine'), 1);
const builds = args.map((a) => {
  const cut = a.indexOf('=');
  return cut === -1 ? { dir: a, flags: [] } : { dir: a.slice(0, cut), flags: a.slice(cut + 1).split(',') };
});
const corpus = nearMissCorpus(2000, 3);
const payload = `${JSON.stringify({ id: 'near-miss', text: corpus.text })}\n`;
const mb = Buffer.byteLength(payload) / (1024 * 1024);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function start(build: (typeof builds)[number], script: string, core: number | null) {
  const node = [...build.flags, join(build.dir, script), 'scan', '--json'];
  const child =
    core === null ? spawn(process.execPath, node, { stdio: ['pipe', 'pipe', 'inherit'] }) : spawn('taskset', ['-c', String(core), process.execPath, ...node], { stdio: ['pipe', 'pipe', 'inherit'] });
  let lines = 0;
  const ends: number[] = [];
  const cpus: number[] = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) {
      lines++;
      ends.push(performance.now());
      cpus.push(threadsCpuMs(child.pid!));
    }
  });
  const closed = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`scan exited with ${code}`))));
  });
  return { child, ends, cpus, closed, lines: () => lines };
}

async function idle(pid: number): Promise<void> {
  let last = threadsCpuMs(pid);
  for (let still = 0; still < 3; ) {
    await sleep(25);
    const now = threadsCpuMs(pid);
    still = now - last < 0.2 ? still + 1 : 0;
    last = now;
  }
}

/** Rounds fed one at a time; CPU and wall of rounds from+1..to. Pinned, this process keeps off the child's core (as the bench does). */
async function run(build: (typeof builds)[number], script: string, core: number | null, total: number, from: number) {
  execFileSync('taskset', ['-a', '-p', '-c', core === null ? '0-1' : '0', String(process.pid)], { stdio: 'ignore' });
  const p = start(build, script, core);
  await idle(p.child.pid!);
  const cpu0 = threadsCpuMs(p.child.pid!);
  const t0 = performance.now();
  for (let r = 0; r < total; r++) {
    p.child.stdin!.write(payload);
    while (p.lines() <= r) await sleep(0.5);
  }
  p.child.stdin!.end();
  await p.closed;
  const cpuFrom = from === 0 ? cpu0 : p.cpus[from - 1]!;
  const tFrom = from === 0 ? t0 : p.ends[from - 1]!;
  return { cpuMs: p.cpus[total - 1]! - cpuFrom, wallMs: p.ends[total - 1]! - tFrom, rounds: total - from };
}

const textFile = join(mkdtempSync(join(tmpdir(), 'pii-ab-')), 'near-miss.txt');
writeFileSync(textFile, corpus.text);
const textMb = Buffer.byteLength(corpus.text) / (1024 * 1024);
const results = builds.map(() => ({ warm: [] as number[], coldCpu: [] as number[], coldWall: [] as number[], engine: [] as number[] }));
const load: number[] = [];
for (let r = 0; r < rounds; r++) {
  load.push(loadavg()[0]!);
  const order = r % 2 === 0 ? builds.map((_, i) => i) : builds.map((_, i) => builds.length - 1 - i);
  for (const i of order) {
    const b = builds[i]!;
    if (only !== 'cold' && only !== 'none') {
      const w = await run(b, 'dist/cli.js', 1, 90, 50);
      results[i]!.warm.push((mb * w.rounds) / (w.cpuMs / 1000));
    }
    if (engine) {
      const out = execFileSync('taskset', ['-c', '1', process.execPath, ...b.flags, join(b.dir, 'dist/bench/pii.js'), '--first-rounds', 'iron-cage', textFile], { encoding: 'utf8' });
      results[i]!.engine.push((textMb * 3) / ((JSON.parse(out) as { cpuMs: number }).cpuMs / 1000));
    }
    if (only !== 'warm' && only !== 'none') {
      const c = await run(b, 'bin/iron-cage.js', 1, 3, 0);
      results[i]!.coldCpu.push((mb * 3) / (c.cpuMs / 1000));
      const u = await run(b, 'bin/iron-cage.js', null, 3, 0);
      results[i]!.coldWall.push((mb * 3) / (u.wallMs / 1000));
    }
  }
}
const median = (xs: number[]) => (xs.length === 0 ? Number.NaN : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!);
console.log(`near-miss seed 3, ${mb.toFixed(2)} MB, ${rounds} rounds; load average ${Math.min(...load).toFixed(1)}-${Math.max(...load).toFixed(1)} (now ${loadavg()[0]!.toFixed(1)})`);
console.log('| build | warm CPU MB/s (51-90) | first 3, CPU pinned | first 3, wall unpinned | engine first 3, CPU pinned |');
console.log('|---|---|---|---|---|');
const fmt = (xs: number[], base: number[]) =>
  xs.length === 0 ? '' : `${median(xs).toFixed(1)}, max ${Math.max(...xs).toFixed(1)} (${xs.map((x) => x.toFixed(1)).join(' ')})${base === xs ? '' : ` ×${(median(xs) / median(base)).toFixed(2)}`}`;
results.forEach((res, i) => {
  const b = results[0]!;
  console.log(`| ${args[i]} | ${fmt(res.warm, b.warm)} | ${fmt(res.coldCpu, b.coldCpu)} | ${fmt(res.coldWall, b.coldWall)} | ${fmt(res.engine, b.engine)} |`);
});
