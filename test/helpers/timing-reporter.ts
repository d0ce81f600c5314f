import type { Reporter, TestCase, TestModule } from 'vitest/node';

// Names every test that took more than half its timeout, and every file whose hooks did. A
// test that needs most of its limit here times out on a busier machine: a user's first
// `npm test` on a loaded 2-core box must pass. Printed, never failed on: speed varies with the
// machine, and the list is what someone reads to fix it (split it, run its parts concurrently,
// or give it an honest limit).
const SHARE = 0.5;

export default class TimingReporter implements Reporter {
  private readonly near: string[] = [];

  onTestCaseResult(test: TestCase): void {
    const d = test.diagnostic();
    // `task` is vitest's internal view of the test; it holds the timeout the test ran under.
    const timeout = (test as unknown as { task?: { timeout?: number } }).task?.timeout ?? 0;
    if (!d || timeout <= 0 || d.duration <= timeout * SHARE) return;
    const file = test.module.relativeModuleId;
    this.near.push(`  ${(d.duration / 1000).toFixed(1)} s of ${(timeout / 1000).toFixed(0)} s  ${file} > ${test.fullName}`);
  }

  onTestRunEnd(modules: ReadonlyArray<TestModule>): void {
    void modules;
    if (this.near.length === 0) return;
    console.log(`\nTests that took more than ${SHARE * 100}% of their timeout (they fail on a slower machine):`);
    for (const line of this.near) console.log(line);
  }
}
