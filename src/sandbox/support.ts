import { spawnSync } from 'node:child_process';
import { realpathSync } from 'node:fs';
import { which } from '../core/which.js';
import { SENDMSG } from './bridge.js';

// Whether this machine can sandbox an agent, asked once per process: Linux on x86-64 or arm64,
// bubblewrap, Perl (the bridge's, bridge.ts) and prlimit on the PATH, and a user namespace bwrap
// can actually make (a container may forbid it).

/** The sandbox a machine can make: bubblewrap's on Linux, Seatbelt's on macOS. */
export type SandboxTool = { kind: 'bwrap'; bwrap: string; perl: string; prlimit: string } | { kind: 'seatbelt'; sandboxExec: string };
export type Support = ({ ok: true } & SandboxTool) | { ok: false; reason: string; fix: string };

let cached: Support | null = null;

/**
 * Can an agent be sandboxed here? Asked once (a trial bwrap run, ~20 ms); `refresh` asks again.
 *
 * @example
 *   const s = sandboxSupport();
 *   if (!s.ok) console.warn(`not sandboxed: ${s.reason} (${s.fix})`);
 */
export function sandboxSupport(refresh = false): Support {
  if (cached && !refresh) return cached;
  cached = probe();
  return cached;
}

const found = (path: string | null): string | null => (path === null ? null : realpathSync(path));

function probe(): Support {
  if (process.platform === 'darwin') {
    const sandboxExec = which('sandbox-exec', '/usr/bin');
    return sandboxExec ? { ok: true, kind: 'seatbelt', sandboxExec } : { ok: false, reason: 'macOS without /usr/bin/sandbox-exec (Seatbelt)', fix: '--sandbox off' };
  }
  if (process.platform !== 'linux') return { ok: false, reason: `${process.platform} has no sandbox iron-cage can start`, fix: 'run on Linux or macOS to sandbox the agent, or --sandbox off' };
  if (SENDMSG[process.arch] === undefined) return { ok: false, reason: `the sandbox's bridge is written for x64 and arm64 Linux, not ${process.arch}`, fix: '--sandbox off' };
  const bwrap = which('bwrap');
  if (!bwrap) return { ok: false, reason: 'bubblewrap (bwrap) is not installed', fix: 'install it: apt-get install bubblewrap (dnf install bubblewrap), or --sandbox off' };
  // Perl and prlimit run inside the sandbox, where a folder on PATH may be hidden (a link to them in ~/bin or /tmp): by the files they are.
  const perl = found(which('perl'));
  if (!perl)
    return { ok: false, reason: "Perl is not installed (it makes the agent's bridge to the cage)", fix: 'install it: apt-get install perl-base (dnf install perl-interpreter), or --sandbox off' };
  const prlimit = found(which('prlimit'));
  if (!prlimit) return { ok: false, reason: "prlimit is not installed (it sets the agent's limits)", fix: 'install util-linux, or --sandbox off' };
  const trial = spawnSync(bwrap, ['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-user', '--unshare-pid', '--unshare-net', '--die-with-parent', '--', 'true'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    timeout: 10_000,
  });
  if (trial.status !== 0) {
    const said = (trial.stderr?.toString() ?? '').trim().split('\n').pop() ?? '';
    return {
      ok: false,
      reason: `bwrap cannot make a sandbox here (${said || (trial.error?.message ?? `exit ${trial.status}`)})`,
      fix: 'allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; in a container, run it with user namespaces allowed), or --sandbox off',
    };
  }
  return { ok: true, kind: 'bwrap', bwrap, perl, prlimit };
}
