import { describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cliInProcess } from '../helpers/cli.js';
import { ROOT, tempDir, until } from '../helpers/runtime.js';

// `iron-cage start` as a user runs it, as a real process; but for the Node agent refused for its
// syntax before anything starts, in-process (cliInProcess: the same program, no cold start of Node;
// the Python one is refused the same way by a process of its own).

const CLI = join(ROOT, 'bin/iron-cage.js');

function run(args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? ROOT, env: { ...process.env, ...opts.env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('iron-cage start', () => {
  it('refuses an agent with a syntax error before starting anything: one line with file:line and the error, exit 2', { timeout: 60_000 }, () => {
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

  it('refuses a Node agent with a syntax error the same way (node --check)', { timeout: 60_000 }, async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'agent.mjs'), "import { env } from 'node:process';\nconsole.log(env.HOME;\n");
      const r = await cliInProcess(['start', 'agent.mjs', '--exit', '--port', '0', '--db', join(dir, 's.db')], { cwd: dir });
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^iron-cage: agent script agent\.mjs:2: SyntaxError: .+ \(fix it and start again\)$/);
      expect(existsSync(join(dir, 's.db'))).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('prints the run summary when the agent ends: calls, tokens, spend of the budget by model, PII, breakers, restarts, run time', { timeout: 60_000 }, () => {
    const { dir, cleanup } = tempDir();
    try {
      const r = run(['start', 'test/fixtures/agents/urllib_llm.py', '--exit', '--port', '0', '--budget', '5', '--db', join(dir, 's.db')]);
      expect(r.code).toBe(0);
      const table = r.stdout.slice(r.stdout.indexOf('\nRun summary\n'));
      expect(table).toMatch(/^Agent +urllib_llm \(\S+\): completed, exit 0$/m);
      expect(table).toMatch(/^Total cost +\$[\d.]+ of \$5\.00 budget \(3 LLM calls\)$/m);
      expect(table).toMatch(/^ {2}gpt-4o-mini +\$[\d.]+ \(3 calls\)$/m);
      expect(table).toMatch(/^Tokens +[1-9][\d,]* in, [1-9][\d,]* out$/m);
      expect(table).toMatch(/^PII caught +0$/m);
      expect(table).toMatch(/^Breakers tripped +none$/m);
      expect(table).toMatch(/^Restarts +0$/m);
      // One duration, one format: the run's time is what the agent's exit line said.
      const exited = /Agent completed \(exit 0\) in (\d+\.\d)s/.exec(r.stdout + r.stderr);
      expect(exited, 'the exit line').not.toBeNull();
      expect(table).toMatch(new RegExp(`^Run time +${exited![1]!.replace('.', '\\.')}s$`, 'm'));
      // Printed once, before iron-cage stops.
      expect(r.stdout.split('Run summary')).toHaveLength(2);
      expect(r.stdout.indexOf('Run summary')).toBeLessThan(r.stdout.indexOf('Iron Cage stopping'));
    } finally {
      cleanup();
    }
  });

  it('calls the agent by the name it gives itself through the SDK, says its --name beside it when one was given, and says nothing of a vault a plain start does not use', { timeout: 60_000 }, () => {
    const { dir, cleanup } = tempDir();
    try {
      const env = { HELLO_DELAY: '0', IRON_CAGE_MASTER_KEY: '' };
      const plain = run(['start', 'demo/hello_agent.py', '--exit', '--port', '0', '--db', join(dir, 'a.db')], { env });
      expect(plain.code).toBe(0);
      // demo/hello_agent.py runs AgentRuntime(name="hello"): not "agent" or the script's name.
      expect(plain.stdout).toMatch(/^Agent +hello \([a-z]{2}-[0-9a-f]{8}\): completed, exit 0$/m);
      expect(`${plain.stdout}${plain.stderr}`).not.toMatch(/vault/i);
      const named = run(['start', 'demo/hello_agent.py', '--exit', '--port', '0', '--name', 'greeter', '--db', join(dir, 'b.db')], { env });
      expect(named.code).toBe(0);
      expect(named.stdout).toMatch(/^Agent +hello \(--name greeter, [a-z]{2}-[0-9a-f]{8}\): completed, exit 0$/m);
      expect(named.stdout).toContain('Agent calls itself hello (it runs as greeter)');
    } finally {
      cleanup();
    }
  });

  it('stops cleanly on a Ctrl-C that comes while iron-cage is still starting: exit 0, the agent stopped, one summary', { timeout: 60_000 }, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const child = spawn(process.execPath, [CLI, 'start', 'test/fixtures/agents/sleeper.py', '--port', '0', '--db', join(dir, 's.db')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      // The first line is printed while the runtime starts, before the agent is launched.
      child.stdout.once('data', () => child.kill('SIGINT'));
      child.stdout.on('data', (c) => (out += c));
      expect(await exited).toBe(0);
      expect(out).toMatch(/received SIGINT/);
      expect(out.split('Run summary')).toHaveLength(2);
    } finally {
      cleanup();
    }
  });

  it('prints the run summary on Ctrl-C, once the agent has stopped', { timeout: 60_000 }, async () => {
    const { dir, cleanup } = tempDir();
    try {
      const child = spawn(process.execPath, [CLI, 'start', 'test/fixtures/agents/sleeper.py', '--port', '0', '--db', join(dir, 's.db')], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      await until(() => out.includes('Agent started'), 15_000, 20);
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(out).toMatch(/^Agent +sleeper \(\S+\): stopped/m);
      expect(out).toMatch(/^Total cost +\$0\.00 \(0 LLM calls\)$/m);
      expect(out.split('Run summary')).toHaveLength(2);
    } finally {
      cleanup();
    }
  });
});
