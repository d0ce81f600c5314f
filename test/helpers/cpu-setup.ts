import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect } from 'vitest';

// TEST_CPU_LOG=<file> npm test: a line per test file with the CPU it cost, for whoever makes the
// suite faster (the suite is bound by CPU on two cores, so wall time per file says little: three
// run side by side). The worker's own CPU while the file ran, plus its children's that ended in
// that time (agents, CLI processes, npm; not the worker's one Chromium, which outlives the file,
// nor the run's PostgreSQL). Tab-separated: file, own s, children s.

/** This process's children's CPU that has been waited for, in seconds (/proc/self/stat cutime + cstime). */
function childrenSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return 0;
  }
}

const log = process.env.TEST_CPU_LOG;
if (log) {
  let own = process.cpuUsage();
  let children = 0;
  let file = '';
  beforeAll(() => {
    file = expect.getState().testPath ?? '?';
    own = process.cpuUsage();
    children = childrenSeconds();
  });
  afterAll(() => {
    const d = process.cpuUsage(own);
    appendFileSync(log, `${file.replace(`${process.cwd()}/`, '')}\t${((d.user + d.system) / 1e6).toFixed(2)}\t${(childrenSeconds() - children).toFixed(2)}\n`);
  });
}
