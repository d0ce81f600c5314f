import type { AgentStatus } from '../core/events.js';
import { formatElapsed } from '../core/duration.js';
import { formatUsd } from '../core/money.js';
import type { StateManager } from '../state/index.js';
import { agentLaunch, programPath, type AgentProgram } from './bootstrap.js';
import { catchesSignal } from './signals.js';
import type { AgentProcess, AgentRunner, ExitInfo, OutputStream } from './runner.js';

export interface RestartPolicy {
  policy: 'on-failure' | 'never';
  maxRestarts: number;
  backoffMs: number;
  maxBackoffMs: number;
}

export interface SupervisorOptions {
  agentId: string;
  name: string;
  /** The interpreter of a .py agent; a .js/.mjs/.cjs one runs on iron-cage's own Node, any other program as itself. */
  python: string;
  program: AgentProgram;
  cwd: string;
  /** Folders of the cage's the agent keeps its own state in (a coding agent's configuration home): the sandbox lets it write them. */
  write?: string[];
  limitMicros: number | null;
  /** The run's secrets environment (recorded with the agent). */
  environment?: string;
  restart: RestartPolicy;
  gracePeriodMs: number;
  state: StateManager;
  runner: AgentRunner;
  /** Environment for one launch; `restarts` lets the agent know it is resuming. May decrypt secrets, hence async. */
  env: (restarts: number) => NodeJS.ProcessEnv | Promise<NodeJS.ProcessEnv>;
  /** Where an output line goes before it is recorded (redaction hooks in here). */
  filterLine?: (stream: OutputStream, line: string) => string;
  /** Each agent process's exit, before any restart (its credentials end here, not at the next launch). */
  onProcessExit?: () => void;
}

/**
 * A crash this soon after launch, with nothing the cage saw the agent do (no LLM call, progress,
 * checkpoint or event) and the same last error line as the run before it, which crashed the same
 * way, is not transient: restarting it again would only repeat it (a syntax error in a module it
 * imports, a missing package, a bad argument). Any agent that ran longer or got anywhere keeps
 * the full restart policy.
 */
export const IMMEDIATE_CRASH_MS = 5000;
/** What the agent does that shows it got going, whatever its language. */
const WORK = /^(llm\.|tool\.|budget\.)|^agent\.(progress|checkpoint|event)$/;

const pad2 = (n: number): string => String(n).padStart(2, '0');
const clockTime = (iso: string): string => {
  const d = new Date(iso);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
};

/** What a crash looked like, to tell a crash that repeats itself before doing anything. */
interface CrashSign {
  lastError: string;
  worked: boolean;
  ranMs: number;
}

export interface AgentOutcome {
  status: AgentStatus;
  exitCode: number | null;
}

/**
 * Keeps one agent running: launch, watch, restart on failure with backoff, stop on request.
 * Status: starting → running → completed | stopped | crashed, or after a crash that will be
 * restarted: running → restarting (the backoff) → starting → running.
 */
export class AgentSupervisor {
  readonly agentId: string;
  /** Resolves when the agent has ended for good (no restart pending). */
  readonly done: Promise<AgentOutcome>;
  private resolveDone!: (o: AgentOutcome) => void;
  private proc: AgentProcess | null = null;
  private restarts = 0;
  private stopRequested: { by: string; signal: NodeJS.Signals } | null = null;
  private restartTimer: NodeJS.Timeout | null = null;
  private finished = false;
  private launchedAt = 0;
  /** A restart asked for (secret rotation): the next exit relaunches at once, whatever its code. */
  private restartRequested: string | null = null;
  /** This process's last stderr line and whether it did any work the cage saw. */
  private lastError = '';
  private worked = false;
  private lastCrash: CrashSign | null = null;
  private unwatch: (() => void) | null = null;

  constructor(private readonly o: SupervisorOptions) {
    this.agentId = o.agentId;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  /** Registers the agent and launches it. Rejects only if the interpreter cannot be started. */
  async start(): Promise<void> {
    this.o.state.registerAgent({
      id: this.agentId,
      name: this.o.name,
      kind: 'supervised',
      script: programPath(this.o.program),
      args: this.o.program.args,
      limitMicros: this.o.limitMicros,
      environment: this.o.environment,
    });
    this.unwatch = this.o.state.subscribe((ev) => {
      if (ev.agentId === this.agentId && WORK.test(ev.type)) this.worked = true;
    });
    await this.launch();
  }

  /** Where the next launch starts from, as the restart messages say it. */
  private resumeFrom(): string {
    const cp = this.o.state.latestCheckpoint(this.agentId);
    return cp ? `from its last checkpoint (saved ${clockTime(cp.createdAt)}; the agent reads it with iron_cage.restore())` : 'from the start (it saved no checkpoint)';
  }

  private async launch(): Promise<void> {
    const { state } = this.o;
    let proc: AgentProcess;
    try {
      const how = agentLaunch(this.o.program, this.o.python);
      proc = await this.o.runner.start({
        command: how.command,
        args: how.args,
        env: { ...(await this.o.env(this.restarts)), ...how.env },
        cwd: this.o.cwd,
        lifeline: how.lifeline,
        program: this.o.program,
        write: this.o.write ?? [],
      });
    } catch (err) {
      this.finish({ status: 'crashed', exitCode: null }, { code: null, signal: null }, `Agent could not start: ${(err as Error).message}`);
      throw err;
    }
    this.proc = proc;
    this.launchedAt = Date.now();
    this.lastError = '';
    this.worked = false;
    proc.onLine((stream, line) => {
      const text = this.o.filterLine ? this.o.filterLine(stream, line) : line;
      // stderr is where an interpreter puts its tracebacks and warnings: WARN, stdout stays INFO.
      if (stream === 'stderr' && text.trim() !== '') this.lastError = text.trim();
      state.record({ agentId: this.agentId, type: 'agent.output', severity: stream === 'stderr' ? 'warn' : 'info', message: text, data: { stream } });
    });
    const budget = this.o.limitMicros === null ? '' : ` budget ${formatUsd(this.o.limitMicros)}`;
    // The run starts when its first process was launched: the same instant its exit line counts from.
    const now = new Date(this.launchedAt).toISOString();
    const first = state.getAgent(this.agentId)?.startedAt ?? null;
    state.updateAgent(
      this.agentId,
      { status: 'running', pid: proc.pid, startedAt: first ?? now, endedAt: null, exitCode: null, exitSignal: null, sandbox: proc.sandbox ?? null },
      {
        type: 'agent.started',
        severity: 'info',
        message: this.restarts === 0 ? `Agent started (pid ${proc.pid})${budget}` : `Agent restarted (pid ${proc.pid}, restart ${this.restarts})`,
        data: { pid: proc.pid, attempt: this.restarts + 1 },
      },
    );
    // A stop that arrived while we were spawning applies now.
    if (this.stopRequested) void proc.stop(this.stopRequested.signal, this.o.gracePeriodMs);
    void proc.exited.then((exit) => this.onExit(exit));
  }

  private onExit(exit: ExitInfo): void {
    this.proc = null;
    this.o.onProcessExit?.();
    const endedAt = Date.now();
    const ranMs = endedAt - this.launchedAt;
    const secs = formatElapsed(ranMs);
    const how = `${exit.signal ? `signal ${exit.signal}` : `exit ${exit.code}`}${exit.limit ? `: the agent ${exit.limit}` : ''}`;
    if (this.stopRequested) {
      this.finish({ status: 'stopped', exitCode: exit.code }, exit, `Agent stopped (${how}) after ${secs}`, ranMs, endedAt);
      return;
    }
    if (this.restartRequested) {
      const why = this.restartRequested;
      this.restartRequested = null;
      this.restarts += 1;
      this.o.state.updateAgent(
        this.agentId,
        { status: 'starting', pid: null, restarts: this.restarts },
        { type: 'agent.restarting', severity: 'info', message: `Agent restarting (${why}) ${this.resumeFrom()}`, data: { attempt: this.restarts + 1, delayMs: 0 } },
      );
      this.launch().catch(() => {
        /* recorded by launch() */
      });
      return;
    }
    if (exit.code === 0) {
      this.finish({ status: 'completed', exitCode: 0 }, exit, `Agent completed (exit 0) in ${secs}`, ranMs, endedAt);
      return;
    }
    const { restart } = this.o;
    const crash: CrashSign = { lastError: this.lastError, worked: this.worked, ranMs };
    const repeated = this.repeats(crash);
    this.lastCrash = crash;
    if (repeated && restart.policy === 'on-failure') {
      this.finish(
        { status: 'crashed', exitCode: exit.code },
        exit,
        `Agent crashed (${how}) after ${secs} with the same error as its last run, before doing anything: ${crash.lastError} — not restarting it again (it would fail the same way; fix the error and start it again)`,
        ranMs,
        endedAt,
      );
      return;
    }
    const canRestart = restart.policy === 'on-failure' && this.restarts < restart.maxRestarts;
    if (!canRestart) {
      const why = restart.policy === 'never' ? '' : ` (gave up after ${this.restarts} restart${this.restarts === 1 ? '' : 's'})`;
      this.finish({ status: 'crashed', exitCode: exit.code }, exit, `Agent crashed (${how}) after ${secs}${why}`, ranMs, endedAt);
      return;
    }
    const delayMs = Math.min(restart.backoffMs * 2 ** this.restarts, restart.maxBackoffMs);
    // The exit itself was a crash (the event says so); the agent is not: it is coming back.
    this.o.state.updateAgent(
      this.agentId,
      { status: 'restarting', pid: null, exitCode: exit.code, exitSignal: exit.signal },
      {
        type: 'agent.exited',
        severity: 'error',
        message: `Agent crashed (${how}) after ${secs}`,
        data: { status: 'crashed', exitCode: exit.code, signal: exit.signal, durationMs: ranMs },
      },
    );
    this.o.state.record({
      agentId: this.agentId,
      type: 'agent.restarting',
      severity: 'warn',
      message: `Restarting in ${formatElapsed(delayMs)} ${this.resumeFrom()} (restart ${this.restarts + 1} of ${restart.maxRestarts})`,
      data: { attempt: this.restarts + 2, delayMs },
    });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = null;
      if (this.stopRequested) return;
      this.restarts += 1;
      this.o.state.updateAgent(
        this.agentId,
        { status: 'starting', restarts: this.restarts },
        { type: 'agent.restarting', severity: 'info', message: `Agent restarting ${this.resumeFrom()}`, data: { attempt: this.restarts + 1, delayMs: 0 } },
      );
      this.launch().catch(() => {
        /* recorded by launch() */
      });
    }, delayMs);
  }

  /** Whether this crash repeats the last one before the agent did anything (see IMMEDIATE_CRASH_MS). */
  private repeats(c: CrashSign): boolean {
    const p = this.lastCrash;
    const immediate = (x: CrashSign) => !x.worked && x.ranMs < IMMEDIATE_CRASH_MS && x.lastError !== '';
    return p !== null && immediate(p) && immediate(c) && p.lastError === c.lastError;
  }

  /** The agent's end: its row (ended at `endedAt`, the instant its process exit was seen) and the `agent.exited` event. */
  private finish(outcome: AgentOutcome, exit: ExitInfo, message: string, durationMs = 0, endedAt = Date.now()): void {
    if (this.finished) return;
    this.finished = true;
    this.unwatch?.();
    const severity = outcome.status === 'crashed' ? 'error' : 'info';
    this.o.state.updateAgent(
      this.agentId,
      { status: outcome.status, pid: null, endedAt: new Date(endedAt).toISOString(), exitCode: exit.code, exitSignal: exit.signal },
      { type: 'agent.exited', severity, message, data: { status: outcome.status, exitCode: exit.code, signal: exit.signal, durationMs } },
    );
    this.resolveDone(outcome);
  }

  /** Graceful stop: signal, wait the grace period, then kill. Resolves when the agent has ended. */
  async stop(requestedBy: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<AgentOutcome> {
    if (this.finished) return this.done;
    if (!this.stopRequested) {
      this.stopRequested = { by: requestedBy, signal };
      this.o.state.record({
        agentId: this.agentId,
        type: 'agent.stopping',
        severity: 'warn',
        message: `Stopping agent (${requestedBy}): ${signal}, then SIGKILL after ${formatElapsed(this.o.gracePeriodMs)}`,
        data: { requestedBy, signal },
      });
    }
    if (this.restartTimer) {
      clearTimeout(this.restartTimer);
      this.restartTimer = null;
      this.finish({ status: 'stopped', exitCode: null }, { code: null, signal: null }, 'Agent stopped before its restart');
    } else if (this.proc) {
      await this.proc.stop(signal, this.o.gracePeriodMs);
    }
    return this.done;
  }

  /**
   * Send `sig` to the agent's own process (not its children), only if it has a handler for it:
   * a signal like SIGUSR1 would otherwise kill it. Says what happened.
   */
  signal(sig: NodeJS.Signals): 'sent' | 'not-running' | 'not-handled' {
    if (!this.proc) return 'not-running';
    if (!catchesSignal(this.proc.pid, sig)) return 'not-handled';
    return this.proc.signal(sig, true) ? 'sent' : 'not-running';
  }

  /** Stop gracefully and launch again with a fresh environment (e.g. rotated secrets). */
  restart(why: string): boolean {
    if (!this.proc || this.stopRequested || this.restartRequested) return false;
    this.restartRequested = why;
    void this.proc.stop('SIGTERM', this.o.gracePeriodMs);
    return true;
  }

  /** Kill at once (a second Ctrl-C). */
  kill(): void {
    if (!this.stopRequested) this.stopRequested = { by: 'kill', signal: 'SIGKILL' };
    this.proc?.signal('SIGKILL');
  }

  get running(): boolean {
    return !this.finished;
  }

  isHealthy(): boolean {
    return this.proc?.isHealthy() ?? false;
  }
}
