import { LocalProcessRunner, type AgentProcess, type AgentRunner, type RunSpec } from '../supervisor/index.js';
import { isDir, policyView, type SandboxPolicy } from './policy.js';

// The sandbox on macOS: Seatbelt (`sandbox-exec -p <profile>`), the kernel sandbox Apple's own
// tools and Anthropic's sandbox-runtime use there. The same policy as on Linux, written as a
// Seatbelt profile: files (the system readable, the working folder and `sandbox.write` writable,
// the home folders hidden but for `sandbox.read` and what the agent needs, iron-cage's files
// denied), network (outbound TCP to the cage's port on localhost only; no listening), processes
// (its own children; signals only within the sandbox). macOS has no network namespace, so the
// agent reaches the cage's port directly, and no PID namespace. Limits are not applied here.
// Written and documented; it cannot be tested on the Linux machines this project is built on.

/** A string as a Seatbelt profile literal. */
const q = (s: string) => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
const paths = (kind: 'subpath' | 'literal', xs: readonly string[]) => xs.map((x) => `(${kind} ${q(x)})`).join(' ');

/**
 * The Seatbelt profile for a policy. In a profile the last rule that matches an operation decides,
 * so each narrowing follows what it narrows: hidden folders after the readable system, what the
 * agent may read after the hidden, its writable folders after that, iron-cage's files last.
 *
 * @example seatbeltProfile(policy) // '(version 1)\n(deny default)\n…'
 */
export function seatbeltProfile(p: SandboxPolicy): string {
  const dirs = p.masked.filter((m) => isDir(m));
  // A name not taken yet is denied as a literal path: Seatbelt needs nothing to exist to refuse creating it.
  const files = [...p.masked.filter((m) => !dirs.includes(m)), ...p.reserved];
  const lines = [
    '(version 1)',
    '(deny default)',
    ';; Processes: run and fork; signal only its own.',
    '(allow process-exec process-fork)',
    '(allow signal (target same-sandbox))',
    ';; What an interpreter needs of the system to start.',
    '(allow sysctl-read mach-lookup ipc-posix-shm iokit-open)',
    ';; Files: the system readable; the hidden folders not; what it may read again; its folders writable.',
    '(allow file-read*)',
    ...(p.hidden.length > 0 ? [`(deny file-read* file-write* ${paths('subpath', p.hidden)})`] : []),
    ...(p.read.length > 0 ? [`(allow file-read* ${paths('subpath', p.read)})`] : []),
    `(allow file-read* file-write* ${paths('subpath', p.write)} (subpath "/private/tmp") (subpath "/private/var/folders") (literal "/dev/null") (literal "/dev/tty"))`,
    ";; iron-cage's own code, read-only where a writable folder holds it; its files, wherever they are.",
    ...(p.own.length > 0 ? [`(deny file-write* ${paths('subpath', p.own)})`] : []),
    // The folders holding its files where the agent writes: never renamed or removed (their files would go along).
    ...(p.pinned.length > 0 ? [`(deny file-write* ${paths('literal', p.pinned)})`] : []),
    ...(files.length > 0 ? [`(deny file-read* file-write* ${paths('literal', files)})`] : []),
    ...(dirs.length > 0 ? [`(deny file-read* file-write* ${paths('subpath', dirs)})`] : []),
    ";; Network: the cage's port, nothing else (no DNS, no listening).",
    `(allow network-outbound (remote tcp ${q(`localhost:${p.port}`)}))`,
  ];
  return `${lines.join('\n')}\n`;
}

/** Runs the agent under `sandbox-exec` with its policy's profile. */
export class SeatbeltRunner implements AgentRunner {
  constructor(
    private readonly sandboxExec: string,
    private readonly policy: (spec: RunSpec) => SandboxPolicy,
  ) {}

  start(spec: RunSpec): Promise<AgentProcess> {
    const policy = this.policy(spec);
    return new LocalProcessRunner(policyView(policy)).start({ ...spec, command: this.sandboxExec, args: ['-p', seatbeltProfile(policy), spec.command, ...spec.args] });
  }
}
