import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, tempDir } from '../helpers/runtime.js';

// `iron-cage start` as a user runs it, as a real process.

const CLI = join(ROOT, 'bin/iron-cage.js');

function run(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('iron-cage start', () => {
  it('refuses an agent with a syntax error before starting anything: one line with file:line and the error, exit 2', () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = run(['start', 'test/fixtures/agents/syntax_error.py', '--exit', '--port', '0', '--db', join(dir, 's.db')]);
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/agent script test\/fixtures\/agents\/syntax_error\.py:3: SyntaxError: .*\(fix it and start again\)$/);
      expect(r.stdout).not.toContain('Agent started');
      expect(existsSync(join(dir, 's.db'))).toBe(false);
      // Compiled without leaving bytecode beside the agent.
      expect(existsSync(join(ROOT, 'test/fixtures/agents/__pycache__'))).toBe(false);
    } finally {
      cleanup();
    }
  });
});
