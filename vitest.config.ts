import { configDefaults, defineConfig } from 'vitest/config';

// Files that change what the process shares: vi.mock of a module others import
// (users.test), and the SDK compatibility suites, which export OPENAI_BASE_URL & co. into
// process.env as a user would and drive SDKs that keep global defaults. Each of these runs
// in a module graph of its own.
const ISOLATED = ['test/unit/users.test.ts', 'test/compat/**/*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    // The default report, then every test that took more than half its timeout (named so it
    // is fixed before it fails on a slower machine than this one).
    reporters: ['default', './test/helpers/timing-reporter.ts'],
    hookTimeout: 30_000,
    // Integration suites spawn real servers and python agents; two cores.
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ISOLATED],
          // Every other file imports the same src/ graph; evaluating it once per worker rather
          // than once per file is about a third of the suite's CPU time. These files hold no
          // state between them beyond what each starts and stops itself.
          isolate: false,
        },
      },
      { extends: true, test: { name: 'isolated', include: ISOLATED } },
    ],
  },
});
