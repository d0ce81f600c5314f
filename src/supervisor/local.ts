import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { SandboxView } from '../state/index.js';
import { LineSplitter } from './lines.js';
import { stopWithGrace, type AgentProcess, type AgentRunner, type ExitInfo, type OutputStream, type RunSpec } from './runner.js';

const OUTPUT_DRAIN_MS = 2000;

/** Runs the agent as a local child process in its own process group. */
export class LocalProcessRunner implements AgentRunner {
  /** `view`: what its agents may touch (or why they are not sandboxed), said on each agent (none: not said). */
  constructor(private readonly view?: SandboxView) {}

  start(spec: RunSpec): Promise<AgentProcess> {
    return new Promise((resolve, reject) => {
      // detached: its own process group, so a terminal's Ctrl-C reaches iron-cage only and we
      // decide how the agent is stopped; and so we can signal the agent's children too.
      const child = spawn(spec.command, spec.args, {
        cwd: spec.cwd,
        env: spec.env,
        // The lifeline (bootstrap.ts) is one more pipe, at the agent's descriptor 3.
        stdio: spec.lifeline ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      const onError = (err: NodeJS.ErrnoException) => {
        child.removeListener('spawn', onSpawn);
        reject(new Error(err.code === 'ENOENT' ? `cannot start '${spec.command}': not found` : `cannot start '${spec.command}': ${err.message}`));
      };
      const onSpawn = () => {
        child.removeListener('error', onError);
        resolve(new LocalProcess(child, this.view));
      };
      child.once('error', onError);
      child.once('spawn', onSpawn);
    });
  }
}

/** A started child process as an AgentProcess: its output by lines, its exit, its signals (the sandbox wraps one). */
export class LocalProcess implements AgentProcess {
  readonly pid: number;
  readonly exited: Promise<ExitInfo>;
  private readonly listeners: Array<(stream: OutputStream, line: string) => void> = [];
  private exitInfo: ExitInfo | null = null;

  constructor(
    private readonly child: ChildProcess,
    readonly sandbox?: SandboxView,
  ) {
    this.pid = child.pid!;
    // Held open, never written, for as long as the agent runs: it closes when iron-cage dies. It
    // must not keep iron-cage alive, and is let go once the agent has exited.
    const lifeline = child.stdio[3] as Socket | null | undefined;
    lifeline?.on('error', () => {});
    lifeline?.unref();
    child.once('exit', () => lifeline?.destroy());
    const pipe = (stream: OutputStream, src: NodeJS.ReadableStream | null) => {
      const splitter = new LineSplitter((line) => {
        for (const l of this.listeners) l(stream, line);
      });
      return new Promise<void>((done) => {
        if (!src) return done();
        src.on('data', (c: Buffer) => splitter.push(c));
        src.on('end', () => {
          splitter.end();
          done();
        });
        src.on('error', () => done());
      });
    };
    const outputs = Promise.all([pipe('stdout', child.stdout), pipe('stderr', child.stderr)]);
    // Wait for the output to drain so the last lines come before the exit event; but a
    // grandchild that inherited stdout may hold it open forever, so only for a moment.
    this.exited = new Promise<ExitInfo>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        const info = this.exitInfo;
        const timer = setTimeout(() => resolve(info), OUTPUT_DRAIN_MS);
        void outputs.then(() => {
          clearTimeout(timer);
          resolve(info);
        });
      });
    });
    child.on('error', () => {
      /* errors after spawn surface as exit */
    });
  }

  onLine(listener: (stream: OutputStream, line: string) => void): void {
    this.listeners.push(listener);
  }

  signal(sig: NodeJS.Signals, only = false): boolean {
    if (this.exitInfo) return false;
    if (only) return this.child.kill(sig);
    try {
      process.kill(-this.pid, sig); // the whole group: the agent and anything it spawned
      return true;
    } catch {
      try {
        return this.child.kill(sig);
      } catch {
        return false;
      }
    }
  }

  stop(sig: NodeJS.Signals, graceMs: number): Promise<ExitInfo> {
    if (this.exitInfo) return this.exited;
    return stopWithGrace(
      this.exited,
      () => this.signal(sig),
      () => this.signal('SIGKILL'),
      graceMs,
    );
  }

  isHealthy(): boolean {
    return this.exitInfo === null && this.child.exitCode === null;
  }
}
