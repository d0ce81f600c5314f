import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../core/process.js';
import { bridgeLines, CHANNEL_FD } from './bridge.js';
import { byDepth, isDir, type SandboxPolicy, under } from './policy.js';

// The command line that runs an agent inside bubblewrap, from its policy: mounts, namespaces,
// limits, and the launcher that makes the bridge to the cage (bridge.ts) before the agent runs.
//
// Inside, the agent has a network of its own with only loopback: nothing outside is reachable,
// no DNS, no other port of the machine. The cage's port is there too, at 127.0.0.1: a listener made
// inside and handed to the cage (bridge.ts), so OPENAI_BASE_URL and the rest stay as they are.

/** The descriptors bwrap reads: its info (the sandbox's first process) and the seccomp program; the bridge's channel after them. */
export const INFO_FD = 4;
export const SECCOMP_FD = 5;
export { CHANNEL_FD };

/**
 * The sh launcher: the bridge (its listener made and sent, its channel closed), then exec the
 * agent. Nothing of the bridge runs beside the agent.
 */
function launcher(port: number, perl: string): string {
  return [...bridgeLines(perl, port), 'exec "$@"'].join('\n');
}

/** prlimit's options for the limits (set inside the sandbox, so the process count is the sandbox's own). */
function limitArgs(l: SandboxPolicy['limits']): string[] {
  const out = [`--data=${l.memoryBytes}`, `--nproc=${l.processes}`, `--nofile=${l.openFiles}`, `--fsize=${l.fileSizeBytes}`];
  // The soft limit sends SIGXCPU (said as the CPU limit); the hard one, a second later, SIGKILL for an agent that ignores it.
  if (l.cpuSeconds !== null) out.push(`--cpu=${l.cpuSeconds}:${l.cpuSeconds + 1}`);
  return out;
}

export interface BwrapRun {
  policy: SandboxPolicy;
  /** Perl, by the file it is (bridge.ts). */
  perl: string;
  prlimit: string;
  cwd: string;
  command: string;
  args: readonly string[];
  /** A seccomp program is passed at SECCOMP_FD. */
  seccomp: boolean;
  /** A folder of device nodes of the run's own (privateDevices), bound over /dev's: null when the host's are safe to share. */
  devices?: string | null;
}

/** A process the cage launches for itself, not the agent (a stdio MCP server, a syntax check): confined in files and processes, no bridge, its pipes as they are. */
export interface BwrapCommand {
  policy: SandboxPolicy;
  prlimit: string;
  cwd: string;
  command: string;
  args: readonly string[];
  /** Whether it keeps the machine's network (an MCP server calling its API); else only loopback of its own. */
  network: boolean;
  /** The descriptor bwrap reads a seccomp program from (null: none). */
  seccomp: number | null;
}

/** The device nodes bwrap's /dev holds (its --dev), by major and minor number. */
const DEVICES = [
  { name: 'null', major: 1, minor: 3 },
  { name: 'zero', major: 1, minor: 5 },
  { name: 'full', major: 1, minor: 7 },
  { name: 'random', major: 1, minor: 8 },
  { name: 'urandom', major: 1, minor: 9 },
  { name: 'tty', major: 5, minor: 0 },
] as const;

/**
 * For a cage run as root: the run's own device nodes, made with mknod in a private folder (0700),
 * to bind over bwrap's /dev (see mounts). Null when not root (the agent owns none of the host's
 * nodes) or where mknod cannot make them; the caller removes the folder when the run ends.
 */
export function privateDevices(): string | null {
  if (process.getuid?.() !== 0) return null;
  // Those of a cage that ended without removing its own (killed with -9), by the pid in their name.
  for (const f of readdirSync(tmpdir())) {
    const pid = /^iron-cage-dev-(\d+)-/.exec(f)?.[1];
    if (pid !== undefined && Number(pid) !== process.pid && !processAlive(Number(pid))) rmSync(join(tmpdir(), f), { recursive: true, force: true });
  }
  // A temporary folder mounted nodev (a tmpfs often is) would make the nodes useless inside: the host's then, as before.
  if (mountedNodev(realpathSync(tmpdir()))) return null;
  const dir = mkdtempSync(join(tmpdir(), `iron-cage-dev-${process.pid}-`));
  try {
    // One process for the six (a start pays for each one spawned).
    execFileSync('/bin/sh', ['-c', DEVICES.map((d) => `mknod -m 666 "$0/${d.name}" c ${d.major} ${d.minor}`).join(' && '), dir], { stdio: 'ignore' });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return null;
  }
}

/** Whether the mount holding `path` has `nodev` (or cannot be told: then as if it had), from /proc/self/mountinfo. */
function mountedNodev(path: string): boolean {
  let best: { point: string; options: string } | null = null;
  try {
    for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
      const f = line.split(' ');
      if (f.length < 6) continue;
      const point = f[4]!.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
      if ((path === point || path.startsWith(point === '/' ? '/' : `${point}/`)) && (best === null || point.length >= best.point.length)) best = { point, options: f[5]! };
    }
  } catch {
    return true;
  }
  return best === null || best.options.split(',').includes('nodev');
}

/** What in a fresh /proc belongs to the whole machine and may be written by its owner (root). */
const PROC_GLOBAL = [
  '/proc/sys',
  '/proc/sysrq-trigger',
  '/proc/irq',
  '/proc/bus',
  '/proc/fs',
  '/proc/acpi',
  '/proc/scsi',
  '/proc/driver',
  '/proc/tty',
  '/proc/timer_list',
  '/proc/kcore',
  '/proc/keys',
  '/proc/sysvipc',
  '/proc/pressure',
];

/** A hidden folder the agent does not write: empty and read-only, its size only what bwrap's mount points take. */
const HIDDEN_BYTES = 1024 * 1024;

/**
 * The mounts every confined process gets: the system read-only, homes and /tmp hidden,
 * iron-cage's files masked and its names not yet taken reserved. Every folder that lives in the
 * host's memory (tmpfs) is sized: the ones the agent writes (`scratch`, and /dev/shm) at
 * `scratchBytes`, the others read-only, /dev too once /dev/shm is in place.
 */
function mounts(p: SandboxPolicy, devices: string | null = null): string[] {
  const a: string[] = ['--ro-bind', '/', '/', '--dev', '/dev'];
  // bwrap's /dev binds the host's own nodes: a cage run as root runs its agent as their owner, whose
  // chmod would change the host's /dev/null. The run's own nodes instead (the same devices).
  if (devices !== null) for (const d of DEVICES) a.push('--dev-bind', join(devices, d.name), `/dev/${d.name}`);
  a.push('--proc', '/proc');
  // The kernel's settings and triggers in /proc are the whole machine's, guarded by owner and mode
  // only: a cage run as root runs its agent as the host's uid 0 (its user namespace maps 0 to 0),
  // which may write them (core_pattern: a command the kernel runs as root; sysrq-trigger: a
  // reboot). bwrap covers them only where its own write test passes: read-only here, always.
  for (const f of PROC_GLOBAL) a.push('--ro-bind-try', f, f);
  a.push('--size', String(p.scratchBytes), '--tmpfs', '/dev/shm');
  for (const d of p.hidden) a.push('--size', String(p.scratch.includes(d) ? p.scratchBytes : HIDDEN_BYTES), '--tmpfs', d);
  for (const d of p.read) a.push('--ro-bind-try', d, d);
  // Shallowest first: a folder bound after one inside it would cover that one's mount (a working
  // folder inside a `sandbox.write` folder would be no mount point, and could be renamed).
  for (const d of byDepth(p.write)) a.push('--bind-try', d, d);
  // The folders that hold iron-cage's files where the agent writes: each its own mount point (policy.ts `pinned`).
  for (const d of p.pinned) if (!p.own.some((o) => under(d, o))) a.push('--bind-try', d, d);
  // iron-cage's own code, where a writable folder holds it: read-only over it.
  for (const d of p.own) a.push('--ro-bind-try', d, d);
  // Over everything above: iron-cage's own files, wherever they are, and the system's secrets.
  for (const f of p.masked) {
    if (isDir(f)) a.push('--tmpfs', f, '--remount-ro', f);
    else a.push('--ro-bind', '/dev/null', f);
  }
  // Its names not taken yet: the runner made each an empty file (its mount point) before the start.
  for (const f of p.reserved) a.push('--ro-bind', '/dev/null', f);
  a.push('--remount-ro', '/dev');
  for (const d of p.hidden) if (!p.scratch.includes(d)) a.push('--remount-ro', d);
  return a;
}

/**
 * bwrap's arguments for a process the cage launches itself (a stdio MCP server): the agent's
 * file rules and limits, its own pid, IPC and user namespaces, and the network only if asked.
 *
 * @example spawn('bwrap', bwrapCommand({ policy, prlimit, cwd, command: '/usr/bin/node', args: ['/opt/mcp/server.mjs'], network: true, seccomp: null }))
 */
export function bwrapCommand(r: BwrapCommand): string[] {
  const a = mounts(r.policy);
  a.push('--unshare-user', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--disable-userns');
  if (!r.network) a.push('--unshare-net');
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'iron-cage-sandbox');
  if (r.seccomp !== null) a.push('--seccomp', String(r.seccomp));
  a.push('--chdir', r.cwd, '--', r.prlimit, ...limitArgs(r.policy.limits), '--', r.command, ...r.args);
  return a;
}

/**
 * bwrap's arguments for one agent process.
 *
 * @example
 *   spawn('bwrap', bwrapArgs({ policy, perl: '/usr/bin/perl', prlimit: '/usr/bin/prlimit', cwd, command: 'python3', args: ['agent.py'], seccomp: true }))
 */
export function bwrapArgs(r: BwrapRun): string[] {
  const p = r.policy;
  const a = mounts(p, r.devices ?? null);
  a.push('--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--disable-userns');
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'iron-cage-sandbox');
  a.push('--info-fd', String(INFO_FD));
  if (r.seccomp) a.push('--seccomp', String(SECCOMP_FD));
  a.push('--chdir', r.cwd);
  a.push('--', r.prlimit, ...limitArgs(p.limits), '--', '/bin/sh', '-c', launcher(p.port, r.perl), 'iron-cage-sandbox', r.command, ...r.args);
  return a;
}
