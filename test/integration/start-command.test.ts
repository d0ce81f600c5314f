import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { sandboxSupport } from '../../src/sandbox/index.js';
import { CLI, CLI_TEST_TIMEOUT_MS, cli, cliInProcess } from '../helpers/cli.js';
import { PATH_AS_GIVEN } from '../helpers/lean-env.js';
import { processRunning, tempDir, until } from '../helpers/runtime.js';

// `iron-cage start [options] -- <command> [args...]`: any program as the agent, here a plain shell
// script, with the supervision, environment and sandbox a script agent gets. Each run is the CLI as
// a process of its own; what is refused before anything starts runs in-process.

const supported = sandboxSupport();
// CI installs bubblewrap and Perl (.ci/run): there the sandboxed case must run, never skip.
if (process.env.IRON_CAGE_CI && !supported.ok) throw new Error(`the sandbox cannot start here: ${supported.reason}`);

/** An executable shell script in `dir`. */
function script(dir: string, name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}`);
  chmodSync(path, 0o755);
  return path;
}

const agentRow = (db: string) => {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare('SELECT id, name, script, args, status, exit_code AS exitCode, restarts FROM agents').get() as Record<string, unknown>;
  } finally {
    d.close();
  }
};

describe('iron-cage start -- <command>', { timeout: CLI_TEST_TIMEOUT_MS }, () => {
  it('runs a shell script as the agent: its arguments as typed, the gateway in its environment, its calls metered, its name and exit code', async () => {
    const { dir, cleanup } = tempDir();
    try {
      // Every variable the agent's LLM clients read, compared here rather than printed (a token stays out of the log).
      script(
        dir,
        'agent.sh',
        `printf 'arg[%s]\\n' "$@"
echo "base $OPENAI_BASE_URL"
[ "$OPENAI_API_BASE" = "$OPENAI_BASE_URL" ] && echo 'old clients same base'
echo "anthropic $ANTHROPIC_BASE_URL"
[ "$OPENAI_API_KEY" = "$IRON_CAGE_TOKEN" ] && [ "$ANTHROPIC_API_KEY" = "$IRON_CAGE_TOKEN" ] && [ "$ANTHROPIC_AUTH_TOKEN" = "$IRON_CAGE_TOKEN" ] && echo 'keys are the run token'
echo "agent $IRON_CAGE_AGENT_ID restarts $IRON_CAGE_RESTARTS"
node -e 'fetch(process.env.OPENAI_BASE_URL + "/chat/completions", { method: "POST", headers: { authorization: "Bearer " + process.env.OPENAI_API_KEY, "content-type": "application/json" }, body: JSON.stringify({ model: "gpt-4o-mini", messages: [{ role: "user", content: "hi" }] }) }).then((r) => console.log("llm status", r.status))'
exit 3
`,
      );
      const db = join(dir, 's.db');
      const r = await cli(['start', '--exit', '--restart', 'never', '--budget', '1', '--port', '0', '--db', db, '--', './agent.sh', '010', '1e3', 'two words', '-p', '--flag=x'], {
        cwd: dir,
        // A token of the user's own, which Anthropic clients would send before the run token: replaced by it.
        env: { ANTHROPIC_AUTH_TOKEN: 'users-own-anthropic-token' },
      });
      expect(r.code, r.stderr).toBe(3);
      for (const a of ['010', '1e3', 'two words', '-p', '--flag=x']) expect(r.stdout).toContain(`arg[${a}]`);
      expect(r.stdout).toMatch(/base http:\/\/\S+:\d+\/v1$/m);
      expect(r.stdout).toContain('old clients same base');
      expect(r.stdout).toMatch(/anthropic http:\/\/\S+:\d+$/m);
      expect(r.stdout).toContain('keys are the run token');
      expect(r.stdout).toMatch(/agent ag-[0-9a-f]{8} restarts 0/);
      expect(r.stdout).toContain('llm status 200');
      expect(r.stdout).not.toContain('users-own');
      expect(r.stdout).toMatch(/Agent crashed \(exit 3\)/);
      expect(r.stdout).toMatch(/^Agent +agent\.sh \(ag-[0-9a-f]{8}\): crashed, exit 3$/m);
      expect(r.stdout).toMatch(/^Total cost +\$[\d.]+ of \$1\.00 budget \(1 LLM call\)$/m);
      expect(agentRow(db)).toMatchObject({ name: 'agent.sh', script: join(dir, 'agent.sh'), args: JSON.stringify(['010', '1e3', 'two words', '-p', '--flag=x']), status: 'crashed', exitCode: 3 });
    } finally {
      cleanup();
    }
  });

  it('restarts a program that crashed, as the restart policy says, with a fresh token; --name names it', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'iron-cage.yaml'), 'restart: { backoff_ms: 50 }\n');
      // Its token said by a checksum, never whole.
      script(dir, 'flaky.sh', 'echo "run $IRON_CAGE_RESTARTS token $(printf %s "$IRON_CAGE_TOKEN" | cksum)"\n[ "$IRON_CAGE_RESTARTS" = 0 ] && { echo crashing >&2; exit 1; }\necho recovered\n');
      const db = join(dir, 's.db');
      const r = await cli(['start', '--exit', '--name', 'flaky-tool', '--port', '0', '--db', db, '--', join(dir, 'flaky.sh')], { cwd: dir });
      expect(r.code, r.stderr).toBe(0);
      const tokens = [0, 1].map((n) => new RegExp(`run ${n} token (\\d+)`).exec(r.stdout)?.[1]);
      expect(tokens[0]).toBeDefined();
      expect(tokens[1]).toBeDefined();
      expect(tokens[1]).not.toBe(tokens[0]);
      expect(r.stdout).toContain('recovered');
      expect(r.stdout).toMatch(/^Restarts +1$/m);
      expect(agentRow(db)).toMatchObject({ name: 'flaky-tool', status: 'completed', exitCode: 0, restarts: 1 });
    } finally {
      cleanup();
    }
  });

  it('refuses, in one line and exit 2 before anything starts: a command not found, not a file, not executable, none at all', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'plain.sh'), 'echo not executable\n');
      mkdirSync(join(dir, 'folder'));
      const db = join(dir, 's.db');
      const at = ['--port', '0', '--db', db];
      const cases: Array<[string[], RegExp]> = [
        [[...at, '--', 'no-such-agent-d41d8c', '-p', 'hi'], /^iron-cage: agent command 'no-such-agent-d41d8c': not found on PATH \(install it, or give its path\)$/],
        [[...at, '--', './missing.sh'], /^iron-cage: agent command \.\/missing\.sh: file not found$/],
        [[...at, '--', './folder'], /^iron-cage: agent command \.\/folder: not a file$/],
        [[...at, '--', './plain.sh'], /^iron-cage: agent command \.\/plain\.sh: not executable \(chmod \+x \.\/plain\.sh, or name its interpreter: -- sh \.\/plain\.sh\)$/],
        [[...at, '--exit'], /^iron-cage: start: name the agent: iron-cage start agent\.py, or any program after --: iron-cage start \[options\] -- <command> \[args\.\.\.\]$/],
        // A program named without -- is taken for a script: the refusal says how to run it.
        [['claude', ...at], /^iron-cage: agent script claude: file not found \(a program runs after --: iron-cage start -- claude …\)$/],
      ];
      for (const [args, message] of cases) {
        const r = await cliInProcess(['start', ...args], { cwd: dir, env: { PATH: '/usr/bin:/bin' } });
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr.trim().split('\n')[0], args.join(' ')).toMatch(message);
        expect(r.stdout).toBe('');
      }
      expect(existsSync(db)).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('`start -- agent.py` runs the script as `start agent.py` does; `start agent.py -- …` still passes flags to the script', async () => {
    const { dir, cleanup } = tempDir();
    try {
      writeFileSync(join(dir, 'agent.py'), 'import sys\nimport iron_cage\nprint("py", sys.argv[1:], "sdk", iron_cage.__name__)\n');
      const db = join(dir, 's.db');
      const [asCommand, withFlags] = await Promise.all([
        cli(['start', '--exit', '--port', '0', '--db', db, '--', 'agent.py', '--leads', '010'], { cwd: dir }),
        cli(['start', 'agent.py', '--exit', '--port', '0', '--db', join(dir, 's2.db'), '--', '--leads', '010'], { cwd: dir }),
      ]);
      for (const r of [asCommand, withFlags]) {
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain("py ['--leads', '010'] sdk iron_cage");
        expect(r.stdout).toMatch(/^Agent +agent \(ag-[0-9a-f]{8}\): completed, exit 0$/m);
      }
    } finally {
      cleanup();
    }
  });

  it('SIGTERM to iron-cage reaches the program (graceful stop, exit 0); a kill -9 of iron-cage takes it down with it', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const marker = join(dir, 'signal.txt');
      script(dir, 'sleeper.sh', `trap 'echo got TERM; echo TERM > "${marker}"; exit 0' TERM\necho "sleeper ready $$"\nwhile :; do sleep 0.1; done\n`);
      const start = (db: string) => {
        const child = spawn(process.execPath, [CLI, 'start', '--sandbox', 'off', '--port', '0', '--db', join(dir, db), '--', './sleeper.sh'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
        const out = { text: '' };
        child.stdout.on('data', (c) => (out.text += c));
        child.stderr.on('data', (c) => (out.text += c));
        const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
        return { child, out, exited };
      };
      const graceful = start('a.db');
      await until(() => graceful.out.text.includes('sleeper ready'));
      graceful.child.kill('SIGTERM');
      expect(await graceful.exited).toBe(0);
      expect(readFileSync(marker, 'utf8')).toBe('TERM\n');
      expect(graceful.out.text).toContain('got TERM');
      expect(agentRow(join(dir, 'a.db'))).toMatchObject({ status: 'stopped' });

      // The program keeps the pid iron-cage started (the bootstrap execs): it is the one the shell reports.
      const killed = start('b.db');
      const pid = Number(await until(() => /sleeper ready (\d+)/.exec(killed.out.text)?.[1]));
      expect(killed.out.text).toContain(`Agent started (pid ${pid})`);
      expect(processRunning(pid)).toBe(true);
      killed.child.kill('SIGKILL');
      await until(() => !processRunning(pid), 5000);
    } finally {
      cleanup();
    }
  });

  // The suite runs Python found directly (test/helpers/lean-env.ts); a user of pyenv starts it through its shim, a bash script.
  it.skipIf(!supported.ok || !process.env[PATH_AS_GIVEN])('sandboxed, a Python agent runs through the `python3` shim the PATH names (pyenv’s), its syntax check too', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const shim = execFileSync('sh', ['-c', 'command -v python3'], { env: { PATH: process.env[PATH_AS_GIVEN] }, encoding: 'utf8' }).trim();
      expect(readFileSync(shim, 'utf8').startsWith('#!'), `${shim} is a script`).toBe(true);
      writeFileSync(join(dir, 'agent.py'), 'import sys\nprint("agent ran on Python", sys.version_info[0])\n');
      const r = await cli(['start', 'agent.py', '--sandbox', 'on', '--exit', '--port', '0', '--db', join(dir, 's.db')], { cwd: dir, env: { PATH: process.env[PATH_AS_GIVEN] } });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('agent ran on Python 3');
      expect(r.stdout).toMatch(/^Agent +agent \(ag-[0-9a-f]{8}\): completed, exit 0$/m);
    } finally {
      cleanup();
    }
  });

  it.skipIf(!supported.ok)('sandboxed, a program installed in a hidden folder runs, reads its own folder, writes its working folder and nothing else', async () => {
    const { dir, cleanup } = tempDir();
    try {
      // A tool on PATH under /tmp (hidden in the sandbox), with a data file beside it; a folder outside the agent's.
      const tools = join(dir, 'tools');
      const work = join(dir, 'work');
      const outside = join(dir, 'outside');
      for (const d of [join(tools, 'bin'), join(tools, 'share'), work, outside]) mkdirSync(d, { recursive: true });
      // Installed as a package is (its root marked by its package.json): the whole package is its code.
      writeFileSync(join(tools, 'package.json'), '{"name":"mytool"}\n');
      writeFileSync(join(tools, 'share', 'data.txt'), 'tool data\n');
      script(
        join(tools, 'bin'),
        'mytool',
        `cat "$(dirname "$0")/../share/data.txt" 2>/dev/null || echo 'cannot read its own install'
echo mine > written.txt && echo 'wrote its folder'
echo no > "${outside}/x.txt" 2>/dev/null || echo 'outside refused'
echo no > "$(dirname "$0")/planted" 2>/dev/null || echo 'its own install refused'
`,
      );
      const r = await cli(['start', '--sandbox', 'on', '--exit', '--port', '0', '--db', join(dir, 's.db'), '--', 'mytool'], { cwd: work, env: { PATH: `${join(tools, 'bin')}:${process.env.PATH}` } });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('tool data');
      expect(r.stdout).toContain('wrote its folder');
      expect(r.stdout).toContain('outside refused');
      expect(r.stdout).toContain('its own install refused');
      expect(readFileSync(join(work, 'written.txt'), 'utf8')).toBe('mine\n');
      expect(existsSync(join(outside, 'x.txt'))).toBe(false);
      expect(existsSync(join(tools, 'bin', 'planted'))).toBe(false);
      expect(r.stdout).toMatch(/^Agent +mytool \(my-[0-9a-f]{8}\): completed, exit 0$/m);
    } finally {
      cleanup();
    }
  });
});
