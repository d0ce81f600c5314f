import { appendFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';
import { treeSeconds } from './proc-cpu.js';

// TEST_CPU_LOG=<file> npm test: a line per test file with the CPU it cost, for whoever makes the
// suite faster (the suite is bound by CPU on two cores, so wall time per file says little: three
// run side by side). Tab-separated: the file, its worker's own CPU while it ran, and its
// processes' (seconds): the children that ended in that time (agents, CLI processes, npm) and
// what the live ones (the worker's one Chromium, a panel the file left running) spent meanwhile.
// The run's PostgreSQL is said once at the end (test/helpers/postgres-setup.ts).

const log = process.env.TEST_CPU_LOG;
if (log) {
  let own = process.cpuUsage();
  let processes = 0;
  let file = '';
  beforeAll(() => {
    file = expect.getState().testPath ?? '?';
    own = process.cpuUsage();
    processes = treeSeconds(process.pid);
  });
  afterAll(() => {
    const d = process.cpuUsage(own);
    appendFileSync(log, `${file.replace(`${process.cwd()}/`, '')}\t${((d.user + d.system) / 1e6).toFixed(2)}\t${(treeSeconds(process.pid) - processes).toFixed(2)}\n`);
  });
}
