import { configDefaults, defineConfig } from 'vitest/config';
import { leanTestEnv } from './test/helpers/lean-env.js';
import SlowFirst from './test/helpers/sequencer.js';

// Before any worker starts: what every process a test starts would pay for nothing (a CA bundle
// parsed at each Node start, a shell shim before each Python) out of the environment they inherit.
leanTestEnv();

// Files that change what the process shares: vi.mock of a module others import
// (users.test), and the SDK compatibility suites, which export OPENAI_BASE_URL & co. into
// process.env as a user would and drive SDKs that keep global defaults. Each of these runs
// in a module graph of its own.
const ISOLATED = ['test/unit/users.test.ts', 'test/compat/**/*.test.ts'];

/**
 * Files run side by side: four on two cores. A file spends about half its time waiting on what it
 * started (a runtime's answer, an agent, a panel, a browser, a lease's timer): with three, the
 * slow files that mostly wait ran together and left both cores idle for tens of seconds (busy 85%
 * of the run); with four, 94% (two runs each in turn on a warm clone: 359 and 316 s with three, 324
 * and 283 s with four). TEST_WORKERS sets another number.
 */
const WORKERS = Number(process.env.TEST_WORKERS ?? 4);

export default defineConfig({
  test: {
    testTimeout: 30_000,
    // The default report, then every test that took more than half its timeout (named so it
    // is fixed before it fails on a slower machine than this one), each project's wall time
    // and the slowest files.
    reporters: ['default', './test/helpers/timing-reporter.ts'],
    hookTimeout: 30_000,
    // Each module as transformed kept on disk (node_modules/.experimental-vitest-cache), so a run
    // transforms only what changed since the last: test:quick 20 → 4 s of transform, 68 → 62 s
    // of CPU on a second run. A fresh clone's first run pays for all of it, as before.
    experimental: { fsModuleCache: true },
    // After each file, the temporary folders it left (test/helpers/temp-setup.ts); before its tests,
    // the modules' exports made fast for V8 (test/helpers/exports-setup.ts). TEST_CPU_LOG=<file>:
    // each file's CPU, a line each (test/helpers/cpu-setup.ts).
    setupFiles: ['test/helpers/temp-setup.ts', 'test/helpers/exports-setup.ts', ...(process.env.TEST_CPU_LOG ? ['test/helpers/cpu-setup.ts'] : [])],
    maxWorkers: WORKERS,
    // The slowest files start first, so that the run does not end on one of them alone.
    sequence: { sequencer: SlowFirst },
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ISOLATED],
          // Every other file imports the same src/ graph; evaluating it once per worker rather
          // than once per file is about a third of the suite's CPU time. These files hold no
          // state between them beyond what each starts and stops itself, and the worker's one
          // Chromium (test/helpers/browser.ts).
          isolate: false,
          // One PostgreSQL server for the run; each file takes a database of its own on it.
          globalSetup: ['test/helpers/postgres-setup.ts'],
        },
      },
      { extends: true, test: { name: 'isolated', include: ISOLATED } },
    ],
  },
});
