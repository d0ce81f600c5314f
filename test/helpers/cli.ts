import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './runtime.js';

export { freePort } from './http.js';

/** The built command line, as `npm test` builds it before the suites run. */
export const CLI = join(ROOT, 'dist/cli.js');

/**
 * The limit for a test that runs the command line several times in a row: each run is a cold
 * start of Node (about half a second of CPU, several seconds on a loaded 2-core machine) and
 * many of them derive an Argon2id key. A test that takes 10 s alone stays under half of it.
 */
export const CLI_TEST_TIMEOUT_MS = 60_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `iron-cage …` as its own process and resolves when it has exited. Asynchronous, so a
 * test that checks many refusals runs them side by side: each one is a cold start of Node
 * (about half a second of CPU), and a loop of them one after another is what brings a test
 * near its timeout on a busy machine. At most one process per core runs at once (more only
 * queue for the CPU and each one's own clock runs out). Killed after `timeoutMs`, which then
 * shows as code null.
 * @example const r = await cli(['secrets', 'list', '--db', db], { env: { IRON_CAGE_MASTER_KEY: key } })
 */
export async function cli(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CliResult> {
  while (running >= SLOTS) await new Promise<void>((wake) => queue.push(wake));
  running++;
  try {
    return await runOnce(args, o);
  } finally {
    running--;
    queue.shift()?.();
  }
}

const SLOTS = Math.max(1, availableParallelism());
let running = 0;
const queue: Array<() => void> = [];

function runOnce(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: o.cwd ?? ROOT,
      env: { ...process.env, ...o.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: o.timeoutMs ?? CLI_TEST_TIMEOUT_MS - 10_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A command that exits before reading its input closes the pipe under us: not an error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(o.input ?? '');
  });
}

/** A long-running `iron-cage …` (a panel, a runtime) in its own process: its output so far and its exit. */
export interface LaunchedCli {
  child: ChildProcess;
  out: () => string;
  exited: Promise<number | null>;
}

/**
 * Start `bin/iron-cage.js …` and leave it running (stop it with `child.kill`), its stdout and
 * stderr kept together.
 * @example const panel = launchCli(['panel', '--database', url, '--port', String(port)]);
 */
export function launchCli(args: string[], env: NodeJS.ProcessEnv = {}, cwd = ROOT): LaunchedCli {
  const child = spawn(process.execPath, [join(ROOT, 'bin/iron-cage.js'), ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout!.on('data', (c) => (text += c));
  child.stderr!.on('data', (c) => (text += c));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out: () => text, exited };
}
