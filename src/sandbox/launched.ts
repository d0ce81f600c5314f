import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Config, McpServerConfig } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import { bwrapCommand } from './bwrap.js';
import { cageFiles, type SandboxChoice } from './choose.js';
import { releaseNames, takeNames } from './placeholders.js';
import { agentWritable, codeRoot, isDir, real, sandboxPolicy, shebang, under } from './policy.js';
import { seccompFilter } from './seccomp.js';
import { which } from '../core/which.js';

// The processes the cage launches for itself while its agent is sandboxed: stdio MCP servers
// (with their secrets in their environment and the network they are configured for) and the
// syntax check of the agent's script. Nothing the agent can write may decide what they run:
//
// - a server's command is resolved when the runtime starts, before the agent runs, on a PATH
//   without relative entries or the agent's folders; its code (the command, an interpreter its
//   first line names, a file among its arguments) must lie outside the folders the agent
//   writes, or the start is refused, naming the key;
// - it works in a folder of its own, never the agent's (Python's `-m` and `npx` look in the
//   working folder first), and interpreter search paths in its `env` may not name the agent's folders;
// - on Linux it runs confined: the system read-only, iron-cage's files masked, its own folder
//   writable and the agent's folders only where its arguments name them, its code read-only,
//   the agent's limits, the seccomp filter, and the network only where it is configured.

/** What a launched process is started as: its command, arguments, folder and environment over the server's own. */
export interface Launch {
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  /** Its folder removed and the names it kept from the agent given back, once the process has ended. */
  done(): void;
}

/** How a stdio server is launched while the agent is sandboxed (src/mcp/upstream.ts). */
export type Confine = (server: string, target: Extract<McpServerConfig['target'], { kind: 'stdio' }>) => Launch;

/** Environment variables through which an interpreter or the loader finds code: none may name the agent's folders. */
const SEARCH_PATHS = [
  'PATH',
  'PYTHONPATH',
  'PYTHONHOME',
  'PYTHONSTARTUP',
  'PYTHONUSERBASE',
  'NODE_PATH',
  'NODE_OPTIONS',
  'LD_LIBRARY_PATH',
  'LD_PRELOAD',
  'PERL5LIB',
  'RUBYLIB',
  'GEM_PATH',
  'GEM_HOME',
  'CLASSPATH',
  'BUN_INSTALL',
  'UV_PROJECT_ENVIRONMENT',
  'VIRTUAL_ENV',
];

/** A server as resolved at start: what it runs and which folders its arguments name. */
interface Plan {
  command: string;
  args: string[];
  /** Its configured folder (not the agent's), or null: a private one per launch. */
  cwd: string | null;
  /** Folders its arguments name that the agent also writes: the server may write them (it acts for the agent). */
  write: string[];
  /** Folders its code is in, and folders its arguments name elsewhere: visible to it, read-only. */
  read: string[];
  network: boolean;
}

interface Context {
  /** The folders the sandboxed agent writes. */
  writable: string[];
  /** The agent's working folder: relative paths in the config are read from it, as before. */
  cwd: string;
  /** The PATH a command is looked up on: the cage's, without relative entries or the agent's folders. */
  path: string;
}

/** The descriptor a launched process's seccomp program is read from (a shell opens it, then becomes bwrap). */
const SECCOMP_LAUNCHED_FD = 9;

/** The PATH a launched process gets and its command is found on: only absolute entries the agent cannot write. */
function safePath(path: string | undefined, writable: readonly string[]): string {
  return (path ?? '')
    .split(delimiter)
    .filter((d) => d !== '' && isAbsolute(d) && !writable.some((w) => under(real(d), w)))
    .join(delimiter);
}

/** Files that are code or a program's configuration, by name; an executable or a script by its mode or first line. */
const STEERING = /\.(py|pyc|pyz|pyw|js|mjs|cjs|ts|mts|cts|jsx|tsx|sh|bash|zsh|fish|rb|pl|pm|php|lua|r|jar|class|wasm|so|dylib|node|json|jsonc|json5|ya?ml|toml|ini|cfg|conf|env|pth)$/i;

/** Whether a file among a server's arguments decides what it runs or does (code, configuration), rather than data it works on. */
function steersServer(path: string, mode: number): boolean {
  return STEERING.test(path) || (mode & 0o111) !== 0 || shebang(path).length > 0;
}

/** A stdio server's command as the shell finds it (a name on `path`, a path from `base`), or a ConfigError naming `key`. */
function foundCommand(key: string, command: string, base: string, path: string | undefined): string {
  const found = command.includes('/') ? resolve(base, command) : which(command, path);
  if (found === null || !statSync(found, { throwIfNoEntry: false })?.isFile())
    throw new ConfigError(`${key}.command: '${command}' ${command.includes('/') ? `is not a file (${found})` : 'is not found on PATH'}`);
  return found;
}

/**
 * One stdio server resolved before the agent runs: its command found, its code and folder checked
 * against the agent's, its arguments' paths read. Throws ConfigError naming the key to change.
 */
function plan(name: string, t: Extract<McpServerConfig['target'], { kind: 'stdio' }>, c: Context): Plan {
  const key = `mcp.servers.${name}`;
  const agentFolder = (p: string) => c.writable.find((w) => under(real(p), w)) ?? null;
  const refuse = (where: string, path: string, folder: string, what: string): never => {
    throw new ConfigError(
      `${key}.${where}: ${path} is in ${folder}, a folder the sandboxed agent writes: ${what}. Keep the server's code and folder outside the agent's folders (the working folder and sandbox.write), or run with --sandbox off`,
    );
  };
  const base = t.cwd === null ? c.cwd : resolve(c.cwd, t.cwd);
  if (t.cwd !== null) {
    if (!isDir(base)) throw new ConfigError(`${key}.cwd: ${base} is not a folder`);
    const f = agentFolder(base);
    if (f) refuse('cwd', base, f, 'an interpreter looks for code in its working folder first (python -m, npx)');
  }
  // The command, found now on a PATH the agent cannot add to; then an interpreter its first line names.
  const found = foundCommand(key, t.command, base, c.path);
  // Run as found (a venv's python is a link whose folder makes it the venv's), checked as found and as the file it is.
  const command = resolve(found);
  const code = [command, real(command)];
  const [interpreter, first] = shebang(command);
  if (interpreter) code.push(resolve(interpreter.endsWith('/env') && first ? (which(first, c.path) ?? first) : interpreter));
  for (const p of code) {
    const f = c.writable.find((w) => under(resolve(p), w)) ?? agentFolder(p);
    if (f) refuse('command', p, f, 'the agent could replace what the cage runs with the server’s secrets and network');
  }
  // Arguments that name something that exists, read from where they were before (the agent's
  // folder, or the configured one): code or configuration is read-only and never the agent's; a
  // folder, or a data file, in the agent's folders is what the server works on for it.
  const write: string[] = [];
  const read = [dirname(command), codeRoot(code[1]!), ...code.slice(2).map((p) => dirname(dirname(real(p))))];
  const args = t.args.map((a, i) => {
    if (a.startsWith('-') || a.includes('\0')) return a;
    const path = resolve(base, a);
    const st = statSync(path, { throwIfNoEntry: false });
    if (!st) return a.startsWith('./') || a.startsWith('../') ? path : a;
    const f = agentFolder(path);
    if (f && st.isFile() && steersServer(path, st.mode)) refuse(`args[${i}]`, real(path), f, 'the agent could rewrite the code or configuration the cage runs with the server’s secrets and network');
    if (f) write.push(real(path));
    // Code elsewhere is seen whole, read-only: its project (a script's dependencies beside it), wherever it is, /tmp too.
    else read.push(st.isDirectory() ? real(path) : codeRoot(real(path)));
    return path;
  });
  for (const [k, v] of Object.entries(t.env)) {
    if (!SEARCH_PATHS.includes(k)) continue;
    for (const part of v.split(/[\s:]+/)) {
      if (part === '' || part.startsWith('-')) continue;
      const path = resolve(base, part);
      const f = agentFolder(path);
      if (f) refuse(`env.${k}`, path, f, `${k} tells the server where to find code`);
      // Where it says code is: seen read-only.
      if (isDir(path)) read.push(real(path));
    }
  }
  return { command, args, cwd: t.cwd === null ? null : real(base), write, read, network: t.network };
}

/**
 * How the cage launches its stdio MCP servers while the agent is sandboxed; null when it is not
 * (then the agent runs with the user's rights and a server as configured). Every stdio server is
 * resolved here, at start, before the agent runs: a server whose code or folder the agent could
 * write refuses the start (ConfigError, exit 2).
 *
 * @example
 *   const confine = confineLaunched(choice, config, process.cwd()); // throws for ./server.py in the agent's folder
 *   const launch = confine?.('files', target); // { command: '/usr/bin/bwrap', args: [...], cwd, env }
 */
export function confineLaunched(choice: SandboxChoice | undefined, config: Config, agentCwd: string): Confine | null {
  if (!choice?.on) {
    // Unconfined, each runs as configured; still a command that is not there is a config error
    // now, not a server "unavailable" at the agent's first call.
    for (const s of Object.values(config.mcp))
      if (s.target.kind === 'stdio') foundCommand(`mcp.servers.${s.name}`, s.target.command, s.target.cwd === null ? agentCwd : resolve(agentCwd, s.target.cwd), s.target.env.PATH ?? process.env.PATH);
    return null;
  }
  const writable = agentWritable(agentCwd, config.sandbox.write);
  const c: Context = { writable, cwd: agentCwd, path: safePath(process.env.PATH, writable) };
  const plans = new Map<string, Plan>();
  for (const s of Object.values(config.mcp)) if (s.target.kind === 'stdio') plans.set(s.name, plan(s.name, s.target, c));
  const scratch = tmpdir();
  if (plans.size > 0 && writable.some((w) => under(real(scratch), w)))
    throw new ConfigError(`the temporary folder ${scratch} (TMPDIR) is in a folder the sandboxed agent writes: iron-cage's launched processes keep their own folders there; point TMPDIR elsewhere`);
  let filter: Buffer | null = null;
  if (choice.kind === 'bwrap') {
    try {
      filter = seccompFilter();
    } catch {
      filter = null;
    }
  }
  return (server, target) => {
    const p = plans.get(server) ?? plan(server, target, c);
    // Its own folder: its working folder unless the config names one, and where its seccomp program waits to be read.
    const own = mkdtempSync(join(scratch, `iron-cage-mcp-${server}-`));
    const cwd = p.cwd ?? own;
    const env = { PATH: c.path };
    if (choice.kind !== 'bwrap') return { command: p.command, args: p.args, cwd, env, done: () => rmSync(own, { recursive: true, force: true }) };
    const policy = sandboxPolicy({
      cwd,
      script: p.command,
      interpreter: p.command,
      sdk: cwd,
      port: 0,
      write: p.write,
      read: [...new Set(p.read)],
      limits: config.sandbox.limits,
      secretFiles: cageFiles(config, agentCwd),
      path: c.path,
    });
    const argv = bwrapCommand({ policy, prlimit: choice.prlimit, cwd, command: p.command, args: p.args, network: p.network, seccomp: filter === null ? null : SECCOMP_LAUNCHED_FD });
    // bwrap reads the filter from a descriptor, which the SDK's spawn cannot pass: a shell opens it and becomes bwrap.
    const file = join(own, 'seccomp.bpf');
    if (filter !== null) writeFileSync(file, filter, { mode: 0o600 });
    // The names last, once nothing can fail before `done` is handed over: a hold never given back keeps its placeholder.
    const taken = takeNames(policy.reserved);
    const done = () => {
      releaseNames(taken);
      rmSync(own, { recursive: true, force: true });
    };
    if (filter === null) return { command: choice.bwrap, args: argv, cwd, env, done };
    return { command: '/bin/sh', args: ['-c', `f=$0; exec "$@" ${SECCOMP_LAUNCHED_FD}<"$f"`, file, choice.bwrap, ...argv], cwd, env, done };
  };
}

/**
 * How a check of the agent's script (its syntax, compiled by its own interpreter) runs while the
 * agent is sandboxed: confined like the agent, read-only, without network. The interpreter may be
 * a venv in the agent's folder, which the agent could have changed in its last run; outside the
 * sandbox, it would run the agent's code with the user's rights. Null where the agent is not sandboxed.
 */
export function confineCheck(choice: SandboxChoice | undefined, config: Config, cwd: string): ((command: string, args: string[]) => { command: string; args: string[] }) | null {
  if (!choice?.on || choice.kind !== 'bwrap') return null;
  const { bwrap, prlimit } = choice;
  return (command, args) => {
    const script = args.find((a) => isAbsolute(a) && statSync(a, { throwIfNoEntry: false })?.isFile()) ?? cwd;
    const base = sandboxPolicy({
      cwd,
      script,
      interpreter: command,
      sdk: cwd,
      port: 0,
      write: [],
      read: config.sandbox.read,
      limits: config.sandbox.limits,
      secretFiles: cageFiles(config, cwd),
    });
    // It reads the script and writes nothing: the working folder too is read-only, and no name is reserved.
    const policy = { ...base, write: [], read: [...base.read, ...base.write], reserved: [] };
    return { command: bwrap, args: bwrapCommand({ policy, prlimit, cwd, command, args, network: false, seccomp: null }) };
  };
}
