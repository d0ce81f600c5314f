import type { SandboxView } from '../state/index.js';
import type { AgentProgram } from './bootstrap.js';

// The runner abstraction: how an agent process is started and controlled. The local child
// process is the one implementation today; a container or remote runner would fit the same shape.

export interface RunSpec {
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  /** Give the agent a lifeline at descriptor 3: a pipe that ends when iron-cage does (bootstrap.ts). */
  lifeline?: boolean;
  /** What the agent is (its script, or the program it runs), whatever `command` starts it through: the sandbox shows its code read-only. */
  program?: AgentProgram;
  /** Folders of the cage's the agent writes besides its working folder (a coding agent's configuration home). */
  write?: string[];
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** A sandbox limit the agent reached, in words: "used its 4 GB memory limit". */
  limit?: string;
}

export type OutputStream = 'stdout' | 'stderr';

export interface AgentProcess {
  readonly pid: number;
  /** What the process may touch (src/sandbox), when its runner says. */
  readonly sandbox?: SandboxView;
  /** Resolves once the process has exited and its output has been fully read. */
  readonly exited: Promise<ExitInfo>;
  /** Every complete output line, in order per stream (long lines are split, not buffered forever). */
  onLine(listener: (stream: OutputStream, line: string) => void): void;
  /** To the agent and its process group, or with `only` to the agent's own process alone. */
  signal(sig: NodeJS.Signals, only?: boolean): boolean;
  /** Send `sig`, wait up to `graceMs`, then kill. Resolves with the exit. */
  stop(sig: NodeJS.Signals, graceMs: number): Promise<ExitInfo>;
  isHealthy(): boolean;
}

export interface AgentRunner {
  /** Rejects (with a message a user can act on) when the process cannot be started at all. */
  start(spec: RunSpec): Promise<AgentProcess>;
}

/**
 * The one way a runner stops its agent: `sig` sent, then `kill` once `graceMs` passed without the
 * exit; resolves with the exit either way (an agent that ended meanwhile is left alone).
 *
 * @example
 *   stopWithGrace(proc.exited, () => proc.signal('SIGTERM'), () => proc.signal('SIGKILL'), 10_000)
 */
export async function stopWithGrace(exited: Promise<ExitInfo>, signal: () => void, kill: () => void, graceMs: number): Promise<ExitInfo> {
  signal();
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      kill();
      resolve();
    }, graceMs);
  });
  await Promise.race([exited, killed]);
  clearTimeout(timer);
  return exited;
}
