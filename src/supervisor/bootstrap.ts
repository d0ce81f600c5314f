import { extname } from 'node:path';
import { nodeCommand } from '../core/executable.js';
import { which } from '../core/which.js';

/**
 * A Python agent is started through this one-liner so that it dies with iron-cage: Linux's
 * PR_SET_PDEATHSIG sends it SIGTERM if iron-cage itself is killed (kill -9, OOM), and the
 * setting survives the exec into the real script. Elsewhere (no prctl) it simply execs.
 * sys.argv after exec is exactly [script, args…], as if Python had been started directly.
 * SIGUSR1 (iron-cage's "your secrets were rotated") is ignored until the SDK installs its
 * handler: its default action would end an agent that does not use the SDK.
 */
export const PYTHON_BOOTSTRAP = [
  'import os, signal, sys',
  'if hasattr(signal, "SIGUSR1"):',
  '    signal.signal(signal.SIGUSR1, signal.SIG_IGN)',
  'try:',
  '    import ctypes',
  '    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))',
  'except Exception:',
  '    pass',
  // iron-cage may already have died between fork and prctl (compared by pid: iron-cage may
  // itself be PID 1 in a container).
  'if os.getppid() != int(os.environ.get("IRON_CAGE_SUPERVISOR_PID") or os.getppid()):',
  '    sys.exit(1)',
  'os.execv(sys.executable, [sys.executable] + sys.argv[1:])',
].join('\n');

export function pythonArgs(script: string, args: string[]): string[] {
  return ['-c', PYTHON_BOOTSTRAP, script, ...args];
}

/** The variable that tells a Node agent's bootstrap which descriptor is its lifeline. */
const LIFELINE_VAR = 'IRON_CAGE_LIFELINE_FD';
/** The lifeline's descriptor in the agent: the first after stdin, stdout and stderr. */
export const LIFELINE_FD = 3;

/**
 * Preloaded into a Node agent (`node --import <this> script.mjs`) for what the Python one-liner
 * does with prctl, which Node cannot call:
 * - it dies with iron-cage: descriptor 3 is the read end of a pipe only iron-cage writes to;
 *   when iron-cage is gone (kill -9, OOM, or already gone before this ran) the pipe ends and the
 *   agent gets SIGTERM. The handle is unref'd: it never keeps the agent alive. The variable is
 *   removed, so a Node process the agent starts does not take its own descriptor 3 for one.
 * - SIGUSR1 would open Node's inspector (a debugger on a local port, with the agent's token in
 *   reach): its handler is dropped, so iron-cage sees the signal as not handled (signals.ts)
 *   and never sends it, unless the agent installs a handler of its own.
 * process.argv is [node, script, args…], as if Node had been started directly.
 */
export const NODE_BOOTSTRAP = [
  "import { Socket } from 'node:net';",
  "process.on('SIGUSR1', () => {});",
  "process.removeAllListeners('SIGUSR1');",
  `const fd = Number(process.env.${LIFELINE_VAR});`,
  `delete process.env.${LIFELINE_VAR};`,
  'if (Number.isInteger(fd) && fd > 2) {',
  '  const line = new Socket({ fd, readable: true, writable: false });',
  "  line.on('error', () => {});",
  "  line.on('close', () => process.kill(process.pid, 'SIGTERM'));",
  '  line.resume();',
  '  line.unref();',
  '}',
].join('\n');

export type AgentLanguage = 'python' | 'node';

/** What runs an agent script, by its extension. */
const LANGUAGE_OF: Readonly<Record<string, AgentLanguage>> = { '.py': 'python', '.js': 'node', '.mjs': 'node', '.cjs': 'node' };

/** The extensions `start` accepts, for messages. */
export const AGENT_EXTENSIONS = Object.keys(LANGUAGE_OF);

/** The language of an agent script by its extension, or null for one iron-cage cannot run. */
export function agentLanguage(script: string): AgentLanguage | null {
  return LANGUAGE_OF[extname(script).toLowerCase()] ?? null;
}

/**
 * What `start` runs: a script, by its extension (`start agent.py`), or any program
 * (`start -- <command> [args...]`) already found (checkCommand, src/runtime): its absolute path.
 */
export type AgentProgram = { script: string; args: string[] } | { command: string; args: string[] };

/** The program's file: the script, or the command's executable. */
export const programPath = (p: AgentProgram): string => ('command' in p ? p.command : p.script);

/** How one agent process is started: its command line, what it adds to the environment, and whether it gets the lifeline. */
export interface AgentLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  lifeline: boolean;
}

/**
 * A program of any kind is started through Linux's `setpriv --pdeathsig TERM` (util-linux, beside
 * prlimit) for what the Python bootstrap does with prctl: it gets SIGTERM if iron-cage itself is
 * killed, and the setting survives the exec into the program. A shell between them exits if
 * iron-cage died before setpriv set it (the parent compared by pid, as the Python bootstrap does;
 * inside the sandbox its first process is the parent, and the variable is not given). Both exec:
 * the program keeps the pid the supervisor signals. Where setpriv is missing (macOS), the program
 * is run directly.
 */
const COMMAND_BOOTSTRAP = '[ -z "$IRON_CAGE_SUPERVISOR_PID" ] || [ "$PPID" = "$IRON_CAGE_SUPERVISOR_PID" ] || exit 1; exec "$@"';

let setpriv: string | null | undefined;
/** setpriv, looked for once in the system's own folders (never the agent's PATH). */
const deathSignal = (): string | null => (setpriv ??= process.platform === 'linux' ? which('setpriv', '/usr/bin:/bin:/usr/sbin:/sbin') : null);

/**
 * The command that runs the agent: a `.py` script on `python` through PYTHON_BOOTSTRAP, a
 * .js/.mjs/.cjs one on this very Node (process.execPath, the single executable as Node) through
 * NODE_BOOTSTRAP, any other program as itself (through COMMAND_BOOTSTRAP where it can be).
 *
 * @example agentLaunch({ script: 'agent.mjs', args: ['--leads', '3'] }, 'python3').command // process.execPath
 * @example agentLaunch({ command: '/usr/bin/claude', args: ['-p', 'hi'] }, 'python3').args // ['--pdeathsig', 'TERM', '--', '/bin/sh', '-c', …, 'iron-cage-agent', '/usr/bin/claude', '-p', 'hi']
 */
export function agentLaunch(program: AgentProgram, python: string): AgentLaunch {
  if ('command' in program) {
    const guard = deathSignal();
    if (guard === null) return { command: program.command, args: program.args, env: {}, lifeline: false };
    return { command: guard, args: ['--pdeathsig', 'TERM', '--', '/bin/sh', '-c', COMMAND_BOOTSTRAP, 'iron-cage-agent', program.command, ...program.args], env: {}, lifeline: false };
  }
  const { script, args } = program;
  const language = agentLanguage(script);
  if (language === 'node') {
    const bootstrap = `data:text/javascript,${encodeURIComponent(NODE_BOOTSTRAP)}`;
    const node = nodeCommand();
    return { command: node.command, args: ['--import', bootstrap, script, ...args], env: { ...node.env, [LIFELINE_VAR]: String(LIFELINE_FD) }, lifeline: true };
  }
  if (language === 'python') return { command: python, args: pythonArgs(script, args), env: {}, lifeline: false };
  throw new Error(`cannot run '${script}': iron-cage runs ${AGENT_EXTENSIONS.join(', ')} agents, and any program after --`);
}
