import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxSupport } from '../../src/sandbox/index.js';
import { cli, cliInProcess, freePort } from '../helpers/cli.js';
import { ROOT } from '../helpers/runtime.js';

// The sandbox's limits on real agents under `iron-cage start`: a fork bomb, a memory bomb and a
// CPU spinner each succeed unsandboxed and are stopped sandboxed, said in words ("used its 256 MB
// memory limit") and restarted by the restart policy. And the start when the sandbox cannot be
// made: `on` refuses (exit 2, the reason and the fix), `auto` says why once and runs the agent.

const supported = sandboxSupport();
if (process.env.IRON_CAGE_CI && !supported.ok) throw new Error(`the sandbox cannot start here: ${supported.reason}`);
const AGENTS = join(ROOT, 'test/fixtures/agents/escape');

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'iron-limits-'));
  for (const f of ['fork_bomb.py', 'memory_bomb.py', 'cpu_bomb.py']) writeFileSync(join(work, f), readFileSync(join(AGENTS, f)));
  // CPU time counts the interpreter's start too: only the spinner gets a CPU limit.
  writeFileSync(join(work, 'cpu.yaml'), ['restart:', '  policy: on-failure', '  max_restarts: 1', '  backoff_ms: 100', 'sandbox:', '  limits:', '    cpu_seconds: 1', ''].join('\n'));
  writeFileSync(
    join(work, 'iron-cage.yaml'),
    ['restart:', '  policy: on-failure', '  max_restarts: 1', '  backoff_ms: 100', 'sandbox:', '  limits:', '    processes: 32', '    memory_mb: 128', ''].join('\n'),
  );
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const start = async (script: string, mode: string, env: Record<string, string> = {}) => {
  const config = script === 'cpu_bomb.py' ? ['--config', 'cpu.yaml'] : [];
  const r = await cli(['start', script, '--sandbox', mode, ...config, '--port', String(await freePort()), '--exit'], { cwd: work, env, timeoutMs: 45_000 });
  return { ...r, out: r.stdout + r.stderr };
};

describe.skipIf(!supported.ok)('sandbox limits', () => {
  it.each([
    // Bounded, and light on a machine other tests share: each only needs to pass its limit. The
    // forks take ≥ 320 ms (2 ms apart): a root agent's processes are counted every 100 ms, and 64
    // forks once finished between two counts on a loaded machine (the agent said so before the kill).
    ['fork_bomb.py', { ESCAPE_FORKS: '160' }, 'forked 160', 'used its limit of 32 processes'],
    ['memory_bomb.py', { ESCAPE_MB: '384' }, 'held 384 MB', 'used its 128 MB memory limit'],
    ['cpu_bomb.py', { ESCAPE_SPIN_S: '1.5' }, 'spun', 'used its CPU time limit (1 s)'],
  ])(
    '%s: done unsandboxed; sandboxed, stopped, said, restarted per policy',
    async (script, env, done, said) => {
      const open = await start(script, 'off', env);
      expect(open.code, open.out).toBe(0);
      expect(open.out).toContain(done);
      const caged = await start(script, 'on', env);
      expect(caged.out).not.toContain(done);
      expect(caged.out).toContain(`: the agent ${said})`);
      expect(caged.out).toMatch(/Restarting in [\d.]+s/);
      expect(caged.code, caged.out).toBe(1);
    },
    120_000,
  );
});

describe('when the sandbox cannot be made', () => {
  const noBwrap = { PATH: '/nonexistent' };
  it('--sandbox on refuses to start, exit 2, with the reason and the fix; auto says it once and runs the agent', async () => {
    writeFileSync(join(work, 'hello.py'), 'print("hello from the agent", flush=True)\n');
    const on = await cli(['start', 'hello.py', '--sandbox', 'on', '--python', '/usr/bin/python3', '--exit'], { cwd: work, env: noBwrap });
    expect(on.code, on.stdout + on.stderr).toBe(2);
    expect(on.stderr).toContain('--sandbox on: the agent cannot be sandboxed here: bubblewrap (bwrap) is not installed; install it: apt-get install bubblewrap');
    expect(on.stdout + on.stderr).not.toContain('hello from the agent');
    const auto = await cli(['start', 'hello.py', '--python', '/usr/bin/python3', '--port', String(await freePort()), '--exit'], { cwd: work, env: noBwrap });
    expect(auto.code, auto.stdout + auto.stderr).toBe(0);
    const out = auto.stdout + auto.stderr;
    expect(out.match(/sandbox: NOT sandboxed: bubblewrap \(bwrap\) is not installed/g)).toHaveLength(1);
    expect(out).toContain('hello from the agent');
    // The cage on a port below 1024: the sandbox's own network may not listen there. This refusal
    // and the next are made before anything starts: in-process (cliInProcess, the same program
    // without a cold start of Node).
    const low = await cliInProcess(['start', 'hello.py', '--sandbox', 'on', '--port', '80', '--exit'], { cwd: work });
    expect(low.code).toBe(2);
    expect(low.stderr).toContain("--sandbox on: the agent cannot be sandboxed here: the cage's port 80 is below 1024");
    const bad = await cliInProcess(['start', 'hello.py', '--sandbox', 'sometimes'], { cwd: work });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--sandbox: must be one of off, auto, on');
  }, 90_000);
});
