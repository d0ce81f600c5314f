import { execFile } from 'node:child_process';

/** How a program ended: its exit code (null when killed or not started) and what it printed. */
export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a program to its end, with `input` on its standard input (closed at once without it);
 * killed after `timeoutMs` (code null). The environment is `env` as given, or this process's.
 *
 * @example const r = await run('npm', ['pack', '--json'], { cwd: ROOT }); expect(r.code, r.stderr).toBe(0);
 */
export function run(command: string, args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(command, args, { cwd: o.cwd, env: o.env, encoding: 'utf8', timeout: o.timeoutMs ?? 240_000, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr: `${stderr}${err && typeof err.code !== 'number' && !stderr ? String(err) : ''}` }),
    );
    child.stdin?.end(o.input ?? '');
  });
}
