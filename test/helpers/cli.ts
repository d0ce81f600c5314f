import { type ChildProcess, spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import type { CliIo } from '../../src/cli/program.js';
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

/**
 * Runs `iron-cage …` in this process: the program a user runs (src/cli/program.ts, which
 * dist/cli.js runs on the process's own arguments and stdio), on these arguments, with `input`
 * as its stdin, `env` over this process's environment and `cwd` as its working folder, and
 * resolves with what it wrote and its exit code, as `cli` does. No cold start of Node: for what
 * is decided before anything is served (a refused flag or config, --help, a short command on a
 * database file); what is about the process (signals, its exit with the agent's, a server
 * listening) runs with `cli`.
 *
 * The environment, the working folder, process.exitCode and what the commands write to
 * process.stdout and process.stderr are the process's, so runs here go one at a time and each
 * puts them back. A command that would end the process (process.exit: a served command's end)
 * gets code 1 and the stack on stderr instead, and one that leaves a signal or exit handler
 * behind (it got as far as starting to serve) rejects: either belongs in `cli`.
 * @example const r = await cliInProcess(['start', 'nope.py'], { cwd: dir }) // r.code 2, r.stderr one line
 */
export function cliInProcess(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): Promise<CliResult> {
  const result = inProcessTail.then(() => runInProcess(args, o));
  inProcessTail = result.catch(() => undefined);
  return result;
}

let inProcessTail: Promise<unknown> = Promise.resolve();
const PROCESS_EVENTS: string[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'exit', 'beforeExit'];
const handlersOf = (event: string): Array<(...a: unknown[]) => void> => process.listeners(event as NodeJS.Signals) as Array<(...a: unknown[]) => void>;

async function runInProcess(args: string[], o: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer }): Promise<CliResult> {
  const { run } = await import('../../src/cli/program.js');
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sink = (into: Buffer[]) =>
    new Writable({
      write(chunk: Buffer | string, encoding, done) {
        into.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, encoding));
        done();
      },
    });
  let exitCode: number | undefined;
  const io: CliIo = { stdout: sink(out), stderr: sink(err), stdin: Readable.from([Buffer.isBuffer(o.input) ? o.input : Buffer.from(o.input ?? '')]), exit: (code) => void (exitCode = code) };

  const saved = { cwd: process.cwd(), exitCode: process.exitCode, exit: process.exit, stdout: process.stdout.write, stderr: process.stderr.write };
  const listeners = new Map(PROCESS_EVENTS.map((event) => [event, handlersOf(event)]));
  const env = Object.entries(o.env ?? {}).map(([name, value]) => ({ name, had: name in process.env, before: process.env[name], value }));
  const divert =
    (into: Buffer[]) =>
    (chunk: Uint8Array | string, encoding?: BufferEncoding | ((e?: Error | null) => void), done?: (e?: Error | null) => void): boolean => {
      into.push(typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : Buffer.from(chunk));
      (typeof encoding === 'function' ? encoding : done)?.();
      return true;
    };
  try {
    for (const e of env) {
      if (e.value === undefined) delete process.env[e.name];
      else process.env[e.name] = e.value;
    }
    // (process.chdir works in vitest's forks, the default pool; not in its threads.)
    if (process.cwd() !== (o.cwd ?? ROOT)) process.chdir(o.cwd ?? ROOT);
    process.exitCode = undefined;
    process.exit = ((code?: number) => {
      throw new Error(`process.exit(${code ?? ''}) in-process: \`iron-cage ${args.join(' ')}\` ends its process; run it with cli()`);
    }) as typeof process.exit;
    process.stdout.write = divert(out) as typeof process.stdout.write;
    process.stderr.write = divert(err) as typeof process.stderr.write;
    await run(args, io);
    exitCode ??= typeof process.exitCode === 'number' ? process.exitCode : 0;
    // A handler for a signal or the exit, left behind, would act in this process later (hold
    // off vitest's SIGTERM, delete a file at exit): the command started what belongs in `cli`.
    const added = PROCESS_EVENTS.flatMap((event) =>
      handlersOf(event)
        .filter((l) => !listeners.get(event)!.includes(l))
        .map((l) => ({ event, l })),
    );
    for (const { event, l } of added) process.removeListener(event, l);
    if (added.length > 0) throw new Error(`\`iron-cage ${args.join(' ')}\` in-process left process handlers (${added.map((a) => a.event).join(', ')}); run it with cli()`);
  } finally {
    process.stdout.write = saved.stdout;
    process.stderr.write = saved.stderr;
    process.exit = saved.exit;
    process.exitCode = saved.exitCode;
    if (process.cwd() !== saved.cwd) process.chdir(saved.cwd);
    for (const e of env) {
      if (e.had) process.env[e.name] = e.before;
      else delete process.env[e.name];
    }
  }
  return { code: exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
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
