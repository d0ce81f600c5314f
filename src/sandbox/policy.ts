import { closeSync, existsSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { scratchBytes, type SandboxLimits } from '../config/index.js';
import { executableFolder } from '../core/executable.js';
import { ownCode } from './own-code.js';
import { isPlaceholder, named } from './placeholders.js';
import type { SandboxView } from '../state/index.js';
import { which } from '../core/which.js';

// What a sandboxed agent may touch, as one value: computed from the config and the run, shown on
// the dashboard and in /api/agents/:id, and turned into bwrap's mounts (bwrap.ts). The rules:
// the system read-only; the working folder and `sandbox.write` writable; /tmp private; the home
// folders hidden except `sandbox.read` (and what the agent needs to run: its interpreter, the SDK);
// iron-cage's own files (state, keys, config, TLS key) invisible wherever they are.

export interface SandboxPolicy {
  /** Writable folders: the working folder first. */
  write: string[];
  /** Folders readable though under a hidden one (sandbox.read, the interpreter, the SDK, the script's folder). */
  read: string[];
  /** Folders replaced by an empty one: the home folders, /tmp, /run. Read-only but for `scratch`. */
  hidden: string[];
  /** The hidden folders the agent writes, in memory: /tmp, /var/tmp, its home (and /dev/shm, which bwrap makes), each `scratchBytes` at most. */
  scratch: string[];
  scratchBytes: number;
  /** iron-cage's files and folders the agent must not see, each covered wherever it is. */
  masked: string[];
  /**
   * iron-cage's own code inside a folder the agent writes (`ownCode`: a clone run from its own
   * folder, an unpacked executable under a writable home): mounted read-only over it, since the
   * cage loads code from there after the agent has started.
   */
  own: string[];
  /**
   * iron-cage's files that do not exist yet in a folder the agent may write (a config under any
   * name iron-cage looks for, a state file's journal, its keys), or exist only as another run's
   * placeholder: each name is held for the run by an empty placeholder mounted read-only, so the
   * agent cannot plant what the next start would read. The runner makes (or adopts) them before
   * the agent starts; the last run holding one removes it (placeholders.ts).
   */
  reserved: string[];
  /**
   * The folders between a folder the agent writes and iron-cage's files in it (`state/` of
   * `--db state/iron_state.db`), each bound onto itself: a mount point cannot be renamed or
   * removed, so the agent cannot carry the cage's files away from under their masks (a folder
   * renamed takes its masked files along, readable at their new names after a restart) nor put a
   * folder of its own in their place for the next start. Writable still, shallowest first.
   */
  pinned: string[];
  /** The one port the agent reaches: the cage's, on 127.0.0.1 inside the sandbox. */
  port: number;
  /** Hosts it may reach over HTTP(S) through the cage's egress proxy (`sandbox.network.allow`). */
  allow: string[];
  limits: SandboxLimits;
}

export interface PolicyInput {
  cwd: string;
  script: string;
  /** The interpreter command (python3, a venv's python, process.execPath), or what starts a program (setpriv). */
  interpreter: string;
  /** A program run as the agent (`start -- <command>`), found: the folders its code needs are readable (`programFolders`). */
  program?: string;
  /** The agent-side Python SDK's folder. */
  sdk: string;
  port: number;
  allow?: readonly string[];
  write: readonly string[];
  read: readonly string[];
  limits: SandboxLimits;
  /** iron-cage's own files: state, keys, config, TLS key. */
  secretFiles: readonly string[];
  home?: string;
  /** The PATH the interpreter is found on (the agent's). */
  path?: string;
}

/** Folders hidden whatever the config says (each that exists). */
const HIDDEN = ['/home', '/root', '/tmp', '/var/tmp', '/run', '/var/run', '/mnt', '/media', '/srv'];
/** Of those, the ones an agent writes scratch files to (besides its home folder). */
const SCRATCH = ['/tmp', '/var/tmp'];
/** The system's own secrets, readable by their owner (a root agent is their owner). */
const SYSTEM_SECRETS = ['/etc/shadow', '/etc/gshadow', '/etc/shadow-', '/etc/gshadow-', '/etc/ssh', '/etc/ssl/private', '/var/lib', '/var/log', '/var/spool', '/var/backups', '/var/mail'];

/** A path as the kernel resolves it (links followed), or as written where it does not exist. */
export const real = (p: string): string => {
  try {
    return realpathSync(p);
  } catch {
    return resolve(p);
  }
};

/** Whether `p` is `dir` or inside it. */
/** Paths, shallowest first (a parent before what it holds). */
export const byDepth = (paths: readonly string[]): string[] => [...paths].sort((a, b) => a.split(sep).length - b.split(sep).length);

export const under = (p: string, dir: string) => p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep);

/** The first line of an executable file when it names an interpreter (`#!/usr/bin/env python3` → ['/usr/bin/env', 'python3']). */
export function shebang(file: string): string[] {
  let fd: number | null = null;
  try {
    fd = openSync(file, 'r');
    const buf = Buffer.alloc(256);
    const n = readSync(fd, buf, 0, buf.length, 0);
    const line = buf.subarray(0, n).toString('latin1').split('\n', 1)[0]!;
    return line.startsWith('#!') ? line.slice(2).trim().split(/\s+/).filter(Boolean) : [];
  } catch {
    return [];
  } finally {
    if (fd !== null) closeSync(fd);
  }
}

/** What marks a folder as a project's root: its dependencies are found from there (node_modules, a venv beside it or the venv itself). */
const PROJECT_MARKS = ['package.json', 'node_modules', 'pyproject.toml', 'setup.py', 'requirements.txt', 'pyvenv.cfg'];

/** Folders a project root is never taken to be, however they look: the whole home or /tmp would be seen with it. */
const NEVER_ROOTS = new Set(['/', '/home', '/root', '/tmp', '/var/tmp', '/srv', '/mnt', '/media', '/run', real(homedir())]);

/**
 * The folder a script's code lives in as its interpreter reads it: the nearest folder above it
 * that is a project's root (Node looks for `node_modules` in every folder up from the script),
 * never a home or /tmp itself, else the script's own folder.
 * @example codeRoot('/opt/tools/mcp/src/server.mjs') // '/opt/tools/mcp' (it holds package.json)
 */
export function codeRoot(file: string): string {
  for (let d = dirname(file); !NEVER_ROOTS.has(d) && d !== dirname(d); d = dirname(d)) if (PROJECT_MARKS.some((m) => existsSync(join(d, m)))) return d;
  return dirname(file);
}

/**
 * The folders a program run as the agent (`start -- <command>`) needs to read, found as it is
 * run: the folder it was found in, its code's (`codeRoot` of the file it links to), the
 * `node_modules` that file is in (a package's dependencies are its siblings there: Codex CLI's
 * binary is a package of its own), and its interpreter's install when its first line names one
 * (`#!/usr/bin/env node`). A home folder or /tmp itself is never one: the file alone is, then.
 *
 * @example programFolders('/w/node_modules/.bin/codex') // ['/w/node_modules/.bin', '/w/node_modules/@openai/codex', '/w/node_modules', '/usr']
 */
export function programFolders(command: string, path?: string): string[] {
  const file = real(command);
  const folders = [dirname(command), codeRoot(file)];
  for (let d = dirname(file); d !== dirname(d); d = dirname(d)) {
    if (basename(d) !== 'node_modules') continue;
    folders.push(d);
    break;
  }
  const [interpreter, first] = shebang(file);
  const found = interpreter?.endsWith('/env') && first ? which(first, path ?? process.env.PATH) : (interpreter ?? null);
  if (found) folders.push(dirname(dirname(real(found))));
  return [...new Set(folders.map((f) => (NEVER_ROOTS.has(f) ? file : f)))];
}

/**
 * The folders a sandboxed agent may write: its working folder, then `sandbox.write` (relative to
 * it), as the kernel resolves them. What lies in them is the agent's to change: nothing the cage
 * runs or trusts may come from there.
 * @example agentWritable('/work/proj', ['../shared']) // ['/work/proj', '/work/shared']
 */
export function agentWritable(cwd: string, write: readonly string[]): string[] {
  return [...new Set([real(cwd), ...write.map((p) => real(isAbsolute(p) ? p : resolve(cwd, p)))])];
}

/**
 * The policy for one run.
 *
 * @example
 *   sandboxPolicy({ cwd: '/work/proj', script: '/work/proj/agent.py', interpreter: 'python3', sdk, port: 8080, write: [], read: [], limits, secretFiles })
 */
export function sandboxPolicy(i: PolicyInput): SandboxPolicy {
  const home = real(i.home ?? homedir());
  const hidden = [...HIDDEN.filter((d) => existsSync(d)).map(real), ...(home !== '/' && existsSync(home) ? [home] : [])];
  const uniq = (xs: string[]) => [...new Set(xs)];
  const folder = (p: string) => real(isAbsolute(p) ? p : resolve(i.cwd, p));
  const isHidden = (p: string) => hidden.some((h) => under(p, h));
  // A venv or an install prefix: …/bin/python → …, for the command as named (a venv's python is
  // a link, its packages beside the link) and for the file it is (pyenv, a Node under ~/.nvm).
  // iron-cage's own Node: its install, or the single executable and the folder it unpacked itself
  // into (the executable's folder may be ~/bin: never its parent).
  const unpacked = executableFolder();
  const interpreterHomes = (cmd: string): string[] => {
    const path = isAbsolute(cmd) || cmd.includes(sep) ? resolve(i.cwd, cmd) : which(cmd, i.path ?? process.env.PATH);
    if (path === null || (unpacked !== null && real(path) === real(process.execPath))) return [];
    return [dirname(dirname(path)), dirname(dirname(real(path)))].map(real);
  };
  const ownNode = unpacked === null ? interpreterHomes(process.execPath) : [real(process.execPath), real(unpacked)];
  const program = i.program ? programFolders(i.program, i.path) : [];
  const needed = [dirname(real(i.script)), real(i.sdk), ...interpreterHomes(i.interpreter), ...ownNode, ...program].filter(isHidden);
  const write = agentWritable(i.cwd, i.write);
  const writable = (f: string) => isDir(dirname(f)) && write.some((w) => under(dirname(f), w));
  // A name held only by a placeholder (another run's in the same folder, or one a killed run
  // left) is reserved like a free one, so that this run holds it too (placeholders.ts).
  const free = new Set(i.secretFiles.filter((f) => !existsSync(f) || (isPlaceholder(f) && writable(named(f)))));
  const all = uniq([...i.secretFiles.filter((f) => !free.has(f)).map(real), ...SYSTEM_SECRETS.filter((f) => existsSync(f))]);
  // One inside a masked folder is hidden with it (and could not be mounted over in its empty, read-only stand-in).
  const masked = all.filter((f) => !all.some((d) => d !== f && under(f, d)));
  // A name not taken yet matters only where the agent could create it: in a folder it writes.
  const reserved = uniq([...free].map(named).filter((f) => writable(f) && !masked.some((m) => under(f, m))));
  const scratch = uniq([...SCRATCH.filter((d) => existsSync(d)).map(real), ...(home !== '/' && existsSync(home) ? [home] : [])]);
  // From the outermost writable folder that holds it: every folder in between, a writable one
  // inside it (the working folder in a `sandbox.write` parent) among them.
  const pinned = new Set<string>();
  for (const f of [...masked, ...reserved]) {
    const w = byDepth(write.filter((x) => under(f, x) && f !== x))[0];
    if (w === undefined) continue;
    for (let d = dirname(f); d !== w && under(d, w); d = dirname(d)) pinned.add(d);
  }
  return {
    write,
    read: uniq([...i.read.map(folder), ...needed]),
    hidden: uniq(hidden),
    scratch,
    scratchBytes: scratchBytes(i.limits),
    masked,
    own: uniq(ownCode().map(real)).filter((o) => write.some((w) => under(o, w))),
    reserved,
    pinned: byDepth([...pinned]),
    port: i.port,
    allow: [...(i.allow ?? [])],
    limits: i.limits,
  };
}

/**
 * The policy as an agent's record shows it (the dashboard, /api/agents/:id, the summary).
 *
 * @example policyView(policy).reach // ['127.0.0.1:8080 (the cage)']
 */
export function policyView(p: SandboxPolicy): SandboxView {
  const mb = (b: number) => Math.round(b / 1024 / 1024);
  const l = p.limits;
  return {
    sandboxed: true,
    write: p.write,
    read: p.read,
    hidden: p.hidden,
    reach: [`127.0.0.1:${p.port} (the cage)`, ...p.allow.map((h) => `${h} (through the cage's proxy)`)],
    limits: { memoryMb: mb(l.memoryBytes), processes: l.processes, openFiles: l.openFiles, fileSizeMb: mb(l.fileSizeBytes), cpuSeconds: l.cpuSeconds, tmpMb: mb(p.scratchBytes) },
  };
}

/** Whether `p` is a directory (a mask of a folder is an empty folder, of a file an empty file). */
export function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}
