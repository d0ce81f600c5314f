// Cold start: `iron-cage start agent.py` until /api/health answers, over several runs.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fmt, freePort, percentile, report } from './lib.js';

const CLI = resolve(process.cwd(), 'bin/iron-cage.js');

async function once(dir: string): Promise<number> {
  const port = await freePort();
  const agent = join(dir, 'idle_agent.py');
  writeFileSync(agent, 'import time\ntime.sleep(30)\n');
  const t0 = performance.now();
  const child = spawn(process.execPath, [CLI, 'start', agent, '--port', String(port), '--db', join(dir, `s-${port}.db`)], { stdio: 'ignore' });
  try {
    for (;;) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/api/health`);
        if (r.ok) return performance.now() - t0;
      } catch {
        /* not up yet */
      }
      if (performance.now() - t0 > 10_000) throw new Error('iron-cage did not answer within 10 s');
      await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'iron-cold-'));
const times: number[] = [];
for (let i = 0; i < 7; i++) times.push(await once(dir));
rmSync(dir, { recursive: true, force: true });
times.sort((a, b) => a - b);
const median = percentile(times, 50);
report('coldstart', 'Cold start (npm run bench -- coldstart)', [
  { metric: '`iron-cage start` → /api/health answers, median of 7', value: `${fmt(median, 0)} ms`, target: '< 1 s', ok: median < 1000 },
  { metric: 'slowest of 7', value: `${fmt(times.at(-1)!, 0)} ms` },
]);
