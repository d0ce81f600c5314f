// Installed iron-cage, `npm run bench -- install`: the single executable's size, its
// start to /api/health on a clean cache (it unpacks itself) and on a warm one, its idle RSS beside
// `node bin/iron-cage.js serve` in the same run; the npm tarball's size and its install into an
// empty prefix, with better-sqlite3's addon prebuilt (what a machine that reaches its download
// gets) and compiled from source (what this one, which reaches no GitHub, gets).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fmt, freePort, idleRssMb, median, report } from './lib.js';

const ROOT = process.cwd();
const RUNS = 5;

/** `serve` started by `command`: ms until /api/health answers 200, and the process (still running). */
async function toHealth(command: string, args: string[], env: NodeJS.ProcessEnv, db: string): Promise<{ ms: number; child: ChildProcess }> {
  const port = await freePort();
  const t0 = performance.now();
  const child = spawn(command, [...args, 'serve', '--port', String(port), '--db', db], { stdio: 'ignore', env: { ...process.env, ...env, IRON_CAGE_MASTER_KEY: 'the install benchmark' } });
  for (;;) {
    try {
      if ((await fetch(`http://127.0.0.1:${port}/api/health`)).status === 200) return { ms: performance.now() - t0, child };
    } catch {
      /* not up yet */
    }
    if (performance.now() - t0 > 20_000) throw new Error(`${command} did not answer within 20 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const dir = mkdtempSync(join(tmpdir(), 'iron-install-'));
try {
  execFileSync(process.execPath, [join(ROOT, 'scripts/exe.mjs'), join(dir, 'exe')], { stdio: 'ignore' });
  const exe = join(dir, 'exe', `iron-cage-${process.platform}-${process.arch}`);
  const size = statSync(exe).size / 1024 / 1024;

  const clean: number[] = [];
  const warm: number[] = [];
  const exeRss: number[] = [];
  const nodeRss: number[] = [];
  const nodeStart: number[] = [];
  const home = join(dir, 'home');
  for (let i = 0; i < RUNS; i++) {
    rmSync(home, { recursive: true, force: true });
    mkdirSync(home);
    const first = await toHealth(exe, [], { HOME: home }, join(dir, `c${i}.db`));
    clean.push(first.ms);
    await stop(first.child);
    const again = await toHealth(exe, [], { HOME: home }, join(dir, `w${i}.db`));
    warm.push(again.ms);
    exeRss.push(await idleRssMb(again.child.pid!));
    await stop(again.child);
    const node = await toHealth(process.execPath, [resolve(ROOT, 'bin/iron-cage.js')], {}, join(dir, `n${i}.db`));
    nodeStart.push(node.ms);
    nodeRss.push(await idleRssMb(node.child.pid!));
    await stop(node.child);
  }

  mkdirSync(join(dir, 'pack'));
  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', join(dir, 'pack')], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  )[0] as {
    filename: string;
    size: number;
    entryCount: number;
  };
  const tarball = join(dir, 'pack', packed.filename);
  const sqlite = JSON.parse(readFileSync(join(ROOT, 'node_modules/better-sqlite3/package.json'), 'utf8')).version;
  mkdirSync(join(dir, 'prebuilds'));
  execFileSync('tar', [
    '-czf',
    join(dir, 'prebuilds', `better-sqlite3-v${sqlite}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`),
    '-C',
    join(ROOT, 'node_modules/better-sqlite3'),
    'build/Release/better_sqlite3.node',
  ]);
  const install = (name: string, env: NodeJS.ProcessEnv) => {
    const t0 = performance.now();
    execFileSync('npm', ['install', '--global', '--prefix', join(dir, name), '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: dir, stdio: 'ignore', env: { ...process.env, ...env } });
    return (performance.now() - t0) / 1000;
  };
  const prebuilt = install('prefix-prebuilt', { npm_config_better_sqlite3_local_prebuilds: join(dir, 'prebuilds') });
  const compiled = install('prefix-compiled', {});

  const rssRatio = median(exeRss) / median(nodeRss);
  report('install', 'Installed iron-cage (npm run bench -- install)', [
    { metric: 'single executable, size', value: `${fmt(size, 1)} MB`, target: '≤ 115 MB', ok: size <= 115 },
    { metric: `executable, start → /api/health on a clean cache (unpacks), median of ${RUNS}`, value: `${fmt(median(clean), 0)} ms`, target: '≤ 1,500 ms', ok: median(clean) <= 1500 },
    { metric: `executable, start → /api/health on a warm cache, median of ${RUNS}`, value: `${fmt(median(warm), 0)} ms`, target: '≤ 500 ms', ok: median(warm) <= 500 },
    { metric: `\`node bin/iron-cage.js serve\`, start → /api/health, median of ${RUNS}`, value: `${fmt(median(nodeStart), 0)} ms` },
    {
      metric: `idle RSS (3 s after /api/health), executable beside \`node bin/iron-cage.js\`, medians of ${RUNS}`,
      value: `${fmt(median(exeRss), 1)} MB beside ${fmt(median(nodeRss), 1)} MB (${fmt(rssRatio, 2)}×)`,
      target: 'within 10%',
      ok: Math.abs(rssRatio - 1) <= 0.1,
    },
    { metric: `npm tarball, packed (${packed.entryCount} files)`, value: `${fmt(packed.size / 1024 / 1024, 1)} MB`, target: '≤ 15 MB', ok: packed.size <= 15 * 1024 * 1024 },
    { metric: '`npm install -g` of the tarball, better-sqlite3 prebuilt', value: `${fmt(prebuilt, 1)} s` },
    { metric: '`npm install -g` of the tarball, better-sqlite3 compiled here', value: `${fmt(compiled, 1)} s` },
  ]);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
