import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

// `npm run test:quick`: the inner loop, in under a minute. The pure domain (budget, PII, policy,
// reliability), the gateway and the tool proxy in-process, the stores on SQLite and the unit
// tests; not what needs a server or a process of its own to start: PostgreSQL, Chromium, the CLI
// as a process, a pip venv, the sandbox, a control panel. `npm test` runs everything.

const FOLDERS = ['unit', 'pii', 'budget', 'gateway', 'state', 'reliability', 'tools', 'approvals', 'alerts', 'exe'];
const SLOW = /startPostgres|launchBrowser|launchCli\(|\bcli\(\[|buildVenv|sandboxSupport|startPanel|startHaproxy|startPrometheus/;

/** vi.mock of a module the others import: it needs a module graph of its own (vitest.config.ts). */
const ISOLATED = new Set(['test/unit/users.test.ts']);

const quick = FOLDERS.flatMap((f) =>
  readdirSync(join('test', f), { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.test.ts'))
    .map((name) => join('test', f, name)),
).filter((f) => !ISOLATED.has(f) && !SLOW.test(readFileSync(f, 'utf8')));

export default defineConfig({
  test: {
    ...base.test,
    projects: undefined,
    include: quick,
    isolate: false,
    globalSetup: [],
  },
});
