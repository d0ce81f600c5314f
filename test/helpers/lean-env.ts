import { spawnSync } from 'node:child_process';
import { delimiter, dirname } from 'node:path';
import { which } from '../../src/core/which.js';

/**
 * Takes out of the run's environment what every process a test starts would pay for and no test
 * needs, once, before the workers start (vitest.config.ts), so that the workers and every CLI,
 * agent and server they start inherit the lean one. Measured on this machine's image (the CI's):
 *
 * - `NODE_EXTRA_CA_CERTS` (set to the system's bundle here, for a TLS-terminating egress proxy):
 *   Node 20 reads and parses the ~140 certificates at every start, 0.15 s of CPU before the first
 *   line of the script (`node -e 0`: 0.19 s with it, 0.04 s without). A run starts ~230 Node
 *   processes that inherit it (CLIs, panels, MCP servers, agents): ~35 s of CPU. Nothing a test
 *   starts makes a TLS connection to the outside but npm, which has its own `cafile` setting.
 * - `python3` through a shim (pyenv's: a bash script that runs `pyenv exec`): +0.1 s of CPU and of
 *   wall at every Python start, and a runtime start is two (the syntax check, then the agent). The
 *   interpreter the shim picks goes first on PATH instead: the same Python, found directly. An
 *   activated venv or a plain `/usr/bin/python3` is left as it is (the folder already on PATH).
 *   One test still starts an agent through the shim (test/integration/start-command.test.ts).
 *
 * The product is not changed by either: a user's own environment is the user's.
 */
export function leanTestEnv(env: NodeJS.ProcessEnv = process.env): void {
  delete env.NODE_EXTRA_CA_CERTS;
  const found = which('python3', env.PATH ?? '');
  if (!found) return;
  const r = spawnSync(found, ['-c', 'import sys; print(sys.executable)'], { env, encoding: 'utf8', timeout: 20_000 });
  const exe = r.status === 0 ? r.stdout.trim() : '';
  // (A folder already on PATH is not moved ahead of the others: pyenv's `system` runs /usr/bin's.)
  if (!exe || (env.PATH ?? '').split(delimiter).includes(dirname(exe)) || which('python3', dirname(exe)) === null) return;
  env[PATH_AS_GIVEN] = env.PATH;
  env.PATH = `${dirname(exe)}${delimiter}${env.PATH}`;
}

/**
 * The PATH as the run was given it, set only when `python3` on it was a shim that leanTestEnv went
 * around: for the test that starts an agent through that shim, as its user does.
 */
export const PATH_AS_GIVEN = 'IRON_TEST_PATH_AS_GIVEN';
