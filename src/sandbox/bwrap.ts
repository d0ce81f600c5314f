import { isDir, type SandboxPolicy } from './policy.js';

// The command line that runs an agent inside bubblewrap, from its policy: mounts, namespaces,
// limits, and the launcher that bridges the cage's port into the sandbox's own network.
//
// Inside, the agent has a network of its own with only loopback: nothing outside is reachable,
// no DNS, no other port of the machine. `socat` listens on 127.0.0.1:<the cage's port> there and
// carries each connection over a Unix socket (bound into the sandbox, nothing else is) to the
// cage, so OPENAI_BASE_URL and the rest stay as they are. The launcher starts it, waits until it
// listens (so the agent's first call cannot find nothing there), then execs the agent.

/** Where the cage's Unix socket appears inside the sandbox. */
export const SANDBOX_SOCKET = '/run/iron-cage/cage.sock';
/** The descriptors bwrap reads: its info (the sandbox's first process) and the seccomp program. */
export const INFO_FD = 4;
export const SECCOMP_FD = 5;
/** The launcher's exit code when the bridge did not come up. */
export const BRIDGE_FAILED = 70;

/**
 * The sh launcher: socat in the background, deaf to the signals the supervisor sends the agent's
 * group (a graceful stop may still make calls through it), then exec the agent, which hears them.
 * It waits for socat's listening socket in /proc/net/tcp (the sandbox's own, so only its own),
 * with the shell's own `read`: nothing from PATH.
 */
function launcher(port: number, socat: string): string {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const sigs = 'TERM INT HUP USR1 USR2';
  return [
    `trap '' ${sigs}`,
    `${socat} -lf /dev/null TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork UNIX-CONNECT:${SANDBOX_SOCKET} &`,
    `trap - ${sigs}`,
    'i=0',
    `until (while read -r _ local _ st _; do [ "$local" = 0100007F:${hex} ] && [ "$st" = 0A ] && exit 0; done < /proc/net/tcp; exit 1); do`,
    '  i=$((i+1))',
    `  if [ "$i" -gt 1000 ]; then echo 'iron-cage sandbox: the bridge to the cage did not start' >&2; exit ${BRIDGE_FAILED}; fi`,
    'done',
    'exec "$@"',
  ].join('\n');
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
  /** The cage's Unix socket on this side. */
  socket: string;
  socat: string;
  prlimit: string;
  cwd: string;
  command: string;
  args: readonly string[];
  /** A seccomp program is passed at SECCOMP_FD. */
  seccomp: boolean;
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

/** A hidden folder the agent does not write: empty and read-only, its size only what bwrap's mount points take. */
const HIDDEN_BYTES = 1024 * 1024;

/**
 * The mounts every confined process gets: the system read-only, homes and /tmp hidden,
 * iron-cage's files masked and its names not yet taken reserved. Every folder that lives in the
 * host's memory (tmpfs) is sized: the ones the agent writes (`scratch`, and /dev/shm) at
 * `scratchBytes`, the others read-only, /dev too once /dev/shm is in place. `inner`: mounts of the
 * caller's that go in before the folders they sit in are made read-only.
 */
function mounts(p: SandboxPolicy, inner: readonly string[] = []): string[] {
  const a: string[] = ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--size', String(p.scratchBytes), '--tmpfs', '/dev/shm'];
  for (const d of p.hidden) a.push('--size', String(p.scratch.includes(d) ? p.scratchBytes : HIDDEN_BYTES), '--tmpfs', d);
  for (const d of p.read) a.push('--ro-bind-try', d, d);
  for (const d of p.write) a.push('--bind-try', d, d);
  // iron-cage's own code, where a writable folder holds it: read-only over it.
  for (const d of p.own) a.push('--ro-bind-try', d, d);
  // Over everything above: iron-cage's own files, wherever they are, and the system's secrets.
  for (const f of p.masked) {
    if (isDir(f)) a.push('--tmpfs', f, '--remount-ro', f);
    else a.push('--ro-bind', '/dev/null', f);
  }
  // Its names not taken yet: the runner made each an empty file (its mount point) before the start.
  for (const f of p.reserved) a.push('--ro-bind', '/dev/null', f);
  a.push(...inner, '--remount-ro', '/dev');
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
 *   spawn('bwrap', bwrapArgs({ policy, socket, socat: '/usr/bin/socat', cwd, command: 'python3', args: ['agent.py'], seccomp: true }))
 */
export function bwrapArgs(r: BwrapRun): string[] {
  const p = r.policy;
  const a = mounts(p, ['--dir', '/run/iron-cage', '--ro-bind', r.socket, SANDBOX_SOCKET]);
  a.push('--unshare-user', '--unshare-pid', '--unshare-net', '--unshare-ipc', '--unshare-uts', '--unshare-cgroup-try', '--disable-userns');
  a.push('--die-with-parent', '--new-session', '--cap-drop', 'ALL', '--hostname', 'iron-cage-sandbox');
  a.push('--info-fd', String(INFO_FD));
  if (r.seccomp) a.push('--seccomp', String(SECCOMP_FD));
  a.push('--chdir', r.cwd);
  a.push('--', r.prlimit, ...limitArgs(p.limits), '--', '/bin/sh', '-c', launcher(p.port, r.socat), 'iron-cage-sandbox', r.command, ...r.args);
  return a;
}
