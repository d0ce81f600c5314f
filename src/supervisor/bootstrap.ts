/**
 * The agent is started through this one-liner so that it dies with iron-cage: Linux's
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
