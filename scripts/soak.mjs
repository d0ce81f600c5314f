// `npm run soak`: the demo's end-to-end test (test/demo/demo-e2e.test.ts, the same checks CI
// makes) ten times in a row, then a table: run time, the lead at which each trigger fired,
// final cost, pass/fail. Exit 0 only for ten passes out of ten.
//
//   npm run soak            # 10 runs
//   npm run soak -- 3       # another number of runs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 10);
if (!Number.isInteger(runs) || runs < 1) {
  process.stderr.write(`soak: the number of runs must be a whole number of 1 or more (got "${process.argv[2]}")\n`);
  process.exit(2);
}
const vitest = join(root, 'node_modules/vitest/vitest.mjs');
const work = mkdtempSync(join(tmpdir(), 'iron-cage-soak-'));
const rows = [];

for (let i = 1; i <= runs; i++) {
  const report = join(work, `run-${i}.json`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [vitest, 'run', 'test/demo/demo-e2e.test.ts', '-t', 'runs the 100 leads'], {
    cwd: root,
    env: { ...process.env, DEMO_SOAK_REPORT: report },
    encoding: 'utf8',
  });
  const m = existsSync(report) ? JSON.parse(readFileSync(report, 'utf8')) : null;
  const pass = r.status === 0 && m !== null;
  rows.push({ i, pass, wallMs: Date.now() - t0, m });
  const lead = (n) => (n === null || n === undefined ? '-' : String(n));
  process.stdout.write(
    `run ${i}/${runs}: ${pass ? 'PASS' : 'FAIL'}${m ? ` in ${(m.runTimeMs / 1000).toFixed(1)}s, $${m.costUsd.toFixed(2)}, breaker ${lead(m.fired.breaker)}, rotation ${lead(m.fired.rotationAsked)}, PII ${lead(m.fired.pii)}, 90% ${lead(m.fired.budgetWarning)}` : ''}\n`,
  );
  const plain = (r.stdout + r.stderr).replace(/\x1b\[[0-9;]*m/g, '');
  if (!pass)
    process.stdout.write(
      `${plain
        .split('\n')
        .filter((l) => /FAIL|Error|expected|^\s*[+-] /.test(l))
        .slice(0, 30)
        .join('\n')}\n`,
    );
}

const cell = (n) => (n === null || n === undefined ? '—' : String(n));
const lines = [
  '',
  '| run | run time | breaker OPEN | rotation asked | rotation done | new key from | PII | 90% | final cost | result |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---|',
  ...rows.map(({ i, pass, m }) =>
    m
      ? `| ${i} | ${(m.runTimeMs / 1000).toFixed(1)} s | ${cell(m.fired.breaker)} | ${cell(m.fired.rotationAsked)} | ${cell(m.fired.rotationDone)} | ${cell(m.newKeyFromLead)} | ${cell(m.fired.pii)} | ${cell(m.fired.budgetWarning)} | $${m.costUsd.toFixed(2)} | ${pass ? 'pass' : 'FAIL'} |`
      : `| ${i} | — | — | — | — | — | — | — | — | FAIL (no report) |`,
  ),
  '',
];
const passed = rows.filter((r) => r.pass).length;
// Determinism is part of the claim: the same trigger leads, new-key lead and cost every run.
const outcome = (m) => JSON.stringify({ fired: m.fired, newKeyFromLead: m.newKeyFromLead, costUsd: m.costUsd.toFixed(6) });
const outcomes = new Set(rows.filter((r) => r.m).map((r) => outcome(r.m)));
lines.push(
  `${passed}/${runs} passed${outcomes.size === 1 ? '; the same trigger leads, new-key lead and final cost every run' : outcomes.size > 1 ? `; runs differ: ${[...outcomes].join(' vs ')}` : ''}`,
);
process.stdout.write(`${lines.join('\n')}\n`);
rmSync(work, { recursive: true, force: true });
process.exit(passed === runs && outcomes.size === 1 ? 0 : 1);
