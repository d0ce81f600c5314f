import { writeFileSync } from 'node:fs';
import type { Reporter, TestCase, TestModule, TestRunEndReason, TestSuite, Vitest } from 'vitest/node';

// What a run's time went to, printed at its end, never failed on (speed varies with the machine;
// the lists are what someone reads to fix it):
// - every test that took more than half its timeout, and every file whose hooks did: a test that
//   needs most of its limit here times out on a busier machine, and a user's first `npm test` on
//   a loaded 2-core box must pass (split it, run its parts side by side, or give it an honest limit);
// - the wall time of each project (from its first file's start to its last file's end) and the
//   slowest files, for the README's test section and for whoever makes the suite faster;
// - where the run's wall time went around its files: from the start to the first file (vitest's
//   own start, the run's PostgreSQL), and the tail, the end of the run where fewer files ran than
//   there are workers (a core idle unless a file's own processes fill it).
// TEST_TIMELINE=<file>: each file's start and end (seconds from the run's start, the Unix time of
// that start first), to lay beside a record of the machine's busy cores (what ran when they idled).
// TEST_FAILURES=<file>: each failed test (or file that failed outside its tests) on a line with its
// first error, which `npm test` prints again after its last step: CI keeps only the end of a log,
// where vitest's own report of the failure is long gone behind the other steps' output.
const SHARE = 0.5;
const SLOWEST = 8;

export default class TimingReporter implements Reporter {
  private readonly near: string[] = [];
  private readonly failures: string[] = [];
  private readonly spans = new Map<TestModule, { start: number; end: number }>();
  private began = performance.now();
  private workers = 1;

  onInit(vitest: Vitest): void {
    this.began = performance.now();
    this.workers = Number(vitest.config.maxWorkers) || 1;
  }

  onTestModuleStart(module: TestModule): void {
    this.spans.set(module, { start: performance.now(), end: performance.now() });
  }

  onTestModuleEnd(module: TestModule): void {
    const span = this.spans.get(module);
    if (span) span.end = performance.now();
    // A hook, an import or an unhandled error fails the file outside any one test.
    const errors = module.errors();
    if (errors.length > 0) this.failures.push(failure(`${module.relativeModuleId} (the file)`, errors));
  }

  /** A describe's own hook (beforeAll, afterAll) failed: its tests are skipped, the error is the suite's. */
  onTestSuiteResult(suite: TestSuite): void {
    const errors = suite.errors();
    if (errors.length > 0) this.failures.push(failure(`${suite.module.relativeModuleId} > ${suite.fullName} (its hooks)`, errors));
  }

  onTestCaseResult(test: TestCase): void {
    const result = test.result();
    if (result.state === 'failed') this.failures.push(failure(`${test.module.relativeModuleId} > ${test.fullName}`, result.errors));
    const d = test.diagnostic();
    // `task` is vitest's internal view of the test; it holds the timeout the test ran under.
    const timeout = (test as unknown as { task?: { timeout?: number } }).task?.timeout ?? 0;
    if (!d || timeout <= 0 || d.duration <= timeout * SHARE) return;
    const file = test.module.relativeModuleId;
    this.near.push(`  ${(d.duration / 1000).toFixed(1)} s of ${(timeout / 1000).toFixed(0)} s  ${file} > ${test.fullName}`);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandled: ReadonlyArray<{ message?: string }> = [], reason: TestRunEndReason = 'passed'): void {
    for (const e of unhandled) this.failures.push(failure('an error outside any file', [e]));
    // Failed with nothing above to name (no test file matched, a run interrupted): said so, not left blank.
    if (reason !== 'passed' && this.failures.length === 0)
      this.failures.push(
        `the run ${reason === 'interrupted' ? 'was interrupted' : 'failed'} with no failed test to name (no test file matched, or a file's collection): vitest's report above says why`,
      );
    if (process.env.TEST_FAILURES) writeFileSync(process.env.TEST_FAILURES, this.failures.map((f) => `${f}\n`).join(''));
    if (this.near.length > 0) {
      console.log(`\nTests that took more than ${SHARE * 100}% of their timeout (they fail on a slower machine):`);
      for (const line of this.near) console.log(line);
    }
    const spans = modules.flatMap((m) => {
      const s = this.spans.get(m);
      return s ? [{ module: m, ...s }] : [];
    });
    if (spans.length === 0) return;
    const timeline = process.env.TEST_TIMELINE;
    if (timeline) {
      const at = (ms: number) => ((ms - this.began) / 1000).toFixed(1);
      const lines = [...spans].sort((a, b) => a.start - b.start).map((x) => `${at(x.start)}\t${at(x.end)}\t${x.module.relativeModuleId}`);
      writeFileSync(timeline, `# run started at ${((performance.timeOrigin + this.began) / 1000).toFixed(1)}\n${lines.join('\n')}\n`);
    }
    const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
    const byProject = new Map<string, typeof spans>();
    for (const x of spans) byProject.set(x.module.project.name, [...(byProject.get(x.module.project.name) ?? []), x]);
    console.log('\nWall time by project (first file started → last file ended; files run side by side):');
    for (const [name, xs] of byProject) {
      const wall = Math.max(...xs.map((x) => x.end)) - Math.min(...xs.map((x) => x.start));
      const sum = xs.reduce((a, x) => a + (x.end - x.start), 0);
      console.log(`  ${(name || 'default').padEnd(10)} ${s(wall).padStart(8)} wall, ${xs.length} files, ${s(sum)} of file time`);
    }
    const first = Math.min(...spans.map((x) => x.start));
    const last = Math.max(...spans.map((x) => x.end));
    console.log(`Around the files: ${s(first - this.began)} from the run's start to its first file; ${s(last - fullUntil(spans, this.workers))} of tail with fewer than ${this.workers} files running`);
    console.log(`Slowest ${SLOWEST} files:`);
    for (const x of [...spans].sort((a, b) => b.end - b.start - (a.end - a.start)).slice(0, SLOWEST)) console.log(`  ${s(x.end - x.start).padStart(8)}  ${x.module.relativeModuleId}`);
  }
}

/** One failure on one line: where, and the first line of its first error (stack traces stay in vitest's report). */
function failure(where: string, errors: ReadonlyArray<{ message?: string }> | undefined): string {
  const first = (errors?.[0]?.message ?? 'failed').split('\n')[0]!.trim();
  const more = (errors?.length ?? 0) > 1 ? ` (and ${errors!.length - 1} more)` : '';
  return `${where}: ${first.length > 300 ? `${first.slice(0, 300)}…` : first}${more}`;
}

/** The last moment at which `n` files or more ran at once (the first file's start if never). */
function fullUntil(spans: ReadonlyArray<{ start: number; end: number }>, n: number): number {
  const edges = spans.flatMap((x) => [
    { t: x.start, d: 1 },
    { t: x.end, d: -1 },
  ]);
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let running = 0;
  let until = Math.min(...spans.map((x) => x.start));
  for (const e of edges) {
    if (e.d < 0 && running >= n) until = e.t;
    running += e.d;
  }
  return until;
}
