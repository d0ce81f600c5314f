#!/usr/bin/env node
// `npm test`: everything, in the least wall time a 2-core machine allows. The build goes first
// (the suites run the built CLI and dashboard); then the type-checks, the lint, vitest and the
// Python SDK's tests run side by side: none of them changes what another reads, and the checks
// are single-threaded work that fits beside vitest's waits on its servers and agents. vitest's
// output streams as it comes; each other step's is shown when the last one has ended (in full when
// it failed), then one line per step with its time. The exit code is the first failure's.
//
// `node scripts/test.mjs -- <vitest args>` passes the rest to vitest (a file, `-t name`).

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const started = performance.now();
const seconds = (ms) => `${(ms / 1000).toFixed(1)} s`;
const vitestArgs = process.argv.includes('--') ? process.argv.slice(process.argv.indexOf('--') + 1) : [];

/** One step: a command, its output kept (or streamed), its exit code and time. */
function step(name, command, args, { stream = false, env = {} } = {}) {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', stream ? 'inherit' : 'pipe', stream ? 'inherit' : 'pipe'], env: { ...process.env, ...env } });
    let out = '';
    child.stdout?.on('data', (c) => (out += c));
    child.stderr?.on('data', (c) => (out += c));
    child.on('error', (err) => resolve({ name, code: 127, out: `${name}: cannot run ${command}: ${err.message}\n`, ms: performance.now() - t0 }));
    child.on('close', (code, signal) => resolve({ name, code: code ?? (signal ? 128 : 1), out, ms: performance.now() - t0 }));
  });
}

const npx = (bin) => `node_modules/.bin/${bin}`;

const build = await step('build', process.execPath, ['scripts/build.mjs']);
if (build.code !== 0) {
  process.stdout.write(build.out);
  console.error(`\nnpm test: the build failed (exit ${build.code}); nothing else was run`);
  process.exit(build.code);
}

// vitest's timing reporter writes each failed test there on a line; they are printed again last,
// where a log cut to its end (CI's) still shows them.
const failuresDir = mkdtempSync(join(tmpdir(), 'iron-cage-test-'));
const failuresFile = join(failuresDir, 'failures.txt');
const [vitest, ...rest] = await Promise.all([
  step('vitest', npx('vitest'), ['run', ...vitestArgs], { stream: true, env: { TEST_FAILURES: failuresFile } }),
  // Incremental: what the last run checked and nothing since changed is not checked again (its
  // record under node_modules/.cache). TypeScript 7's native compiler, on one thread: beside vitest
  // the CPU is what counts, and a fresh clone's two checks cost 12 s of it that way, 21 s with its
  // four checkers (5.9: ~75 s).
  step('typecheck', npx('tsc'), ['--noEmit', '--singleThreaded', '--incremental', '--tsBuildInfoFile', 'node_modules/.cache/tsc/src.tsbuildinfo']),
  step('typecheck web', npx('tsc'), ['--noEmit', '-p', 'web', '--singleThreaded', '--incremental', '--tsBuildInfoFile', 'node_modules/.cache/tsc/web.tsbuildinfo']),
  // (infos left out: the failure summary below names the first findings, and an info is none)
  step('lint', npx('biome'), ['check', '--error-on-warnings', '--diagnostic-level=warn']),
  step('python', 'python3', ['-m', 'unittest', 'discover', '-s', 'test/python', '-v'], { env: { PYTHONPATH: 'src/python' } }),
]);

const steps = [build, vitest, ...rest];
for (const s of rest) {
  // The Python runner's own report stays whole (CI counts its "Ran N tests"); the checks say little when they pass.
  if (s.code !== 0 || s.name === 'python') process.stdout.write(`\n── ${s.name} ──\n${s.out}`);
}
console.log('\nnpm test, step by step (wall time; the steps after the build ran side by side):');
for (const s of steps) console.log(`  ${s.code === 0 ? 'ok  ' : 'FAIL'} ${s.name.padEnd(14)} ${seconds(s.ms).padStart(8)}${s.code === 0 ? '' : `  (exit ${s.code})`}`);
console.log(`  total ${seconds(performance.now() - started)}`);
let failures = '';
try {
  failures = readFileSync(failuresFile, 'utf8');
} catch {
  // vitest ended before its reporters did (it crashed): its own output says why.
}
rmSync(failuresDir, { recursive: true, force: true });
// Python's unittest names its failures in lines of their own ("FAIL: test_x (module.Class.test_x)").
const python = rest.find((s) => s.name === 'python');
const pyFailures = python && python.code !== 0 ? python.out.split('\n').filter((l) => /^(FAIL|ERROR): /.test(l)) : [];
// The checks' first findings: tsc's `file(line,col): error TS…`, biome's `file:line:col rule` or `file format`.
const found = (s, re) =>
  s.code === 0
    ? []
    : s.out
        .replace(/\x1b\[[0-9;]*m/g, '')
        .split('\n')
        .filter((l) => re.test(l))
        .slice(0, 3)
        .map((l) => `${s.name}: ${l.trim()}`);
const checks = rest.flatMap((s) => (s.name.startsWith('typecheck') ? found(s, /error TS\d+/) : s.name === 'lint' ? found(s, /^\S+(?::\d+:\d+ \S+| format )/) : []));
const lines = [...failures.split('\n').filter(Boolean), ...pyFailures.map((l) => `test/python: ${l}`), ...checks];
// vitest that ended without its reporters' last word (killed, out of memory, a global setup that threw).
if (vitest.code !== 0 && !failures) lines.unshift(`vitest: exit ${vitest.code} and no failed test named: it crashed, or its global setup (the run's PostgreSQL) failed; its output above says how`);
// Few enough that the step summary and this list after it fit the last 30 lines of a log.
const SHOWN = 10;
if (lines.length > 0) {
  console.log("\nWhat failed (the reports above have each one's stack):");
  for (const l of lines.slice(0, SHOWN)) console.log(`  ${l}`);
  if (lines.length > SHOWN) console.log(`  … and ${lines.length - SHOWN} more`);
}
const failed = steps.find((s) => s.code !== 0);
process.exit(failed ? failed.code : 0);
