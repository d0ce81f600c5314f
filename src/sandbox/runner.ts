import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalProcess, stopWithGrace, type AgentProcess, type AgentRunner, type ExitInfo, type OutputStream, type RunSpec } from '../supervisor/index.js';
import { BRIDGE_FAILED, BRIDGE_FAILED_LINE, bridgeListener } from './bridge.js';
import { bwrapArgs, CHANNEL_FD, INFO_FD, privateDevices, SECCOMP_FD } from './bwrap.js';
import { limitWords } from './limits.js';
import { releaseNames, takeNames } from './placeholders.js';
import type { SandboxView } from '../state/index.js';
import { policyView, type SandboxPolicy } from './policy.js';

// Runs the agent inside bubblewrap (bwrap.ts) and serves the cage to it: every connection the agent
// opens to the listener its sandbox's bridge handed out (bridge.ts) is handed to the cage's own HTTP
// server (`accept`), so the agent's calls meet the same routes, tokens and limits as any other.

export interface SandboxRunnerOptions {
  bwrap: string;
  perl: string;
  prlimit: string;
  /** The policy for a run (computed per start: a file may have appeared since). */
  policy: (spec: RunSpec) => SandboxPolicy;
  /** Hand one connection to the cage's HTTP server. */
  accept: (socket: Socket) => void;
  /** The seccomp program (null: none on this architecture). */
  seccomp: Buffer | null;
}

/** How often a root agent's processes are counted. */
const PROCESS_WATCH_MS = 100;
/** How long to wait for the sandbox's first process to show its agent child. */
const FIND_AGENT_MS = 5_000;
/** The most lines kept from before the agent is found (its first 5 s at most). */
const EARLY_LINES = 1_000;

export class SandboxRunner implements AgentRunner {
  /** Each live sandbox's listener, and every connection taken from one. */
  private readonly listeners = new Set<Server>();
  private readonly sockets = new Set<Socket>();

  constructor(private readonly o: SandboxRunnerOptions) {}

  /** Serve the connections of one sandbox's listener until `ended`. */
  private serve(listener: Server, ended: Promise<unknown>): void {
    this.listeners.add(listener);
    listener.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
      this.o.accept(s);
    });
    // An accept that fails (out of descriptors) is the kernel's to retry; never a crash of the cage.
    listener.on('error', () => {});
    void ended.then(() => {
      this.listeners.delete(listener);
      listener.close();
    });
  }

  async start(spec: RunSpec): Promise<AgentProcess> {
    const policy = this.o.policy(spec);
    let filterFd: number | null = null;
    if (this.o.seccomp) filterFd = nameless(this.o.seccomp);
    const devices = privateDevices();
    const dropDevices = () => devices !== null && rmSync(devices, { recursive: true, force: true });
    const args = bwrapArgs({ policy, perl: this.o.perl, prlimit: this.o.prlimit, cwd: spec.cwd, command: spec.command, args: spec.args, seccomp: filterFd !== null, devices });
    // iron-cage's names the agent could plant a file under (a config, a journal): taken for the run.
    const taken = takeNames(policy.reserved);
    // The Python bootstrap compares its parent with iron-cage's pid; inside, its parent is the sandbox's first process.
    const { IRON_CAGE_SUPERVISOR_PID: _, ...env } = spec.env;
    // The allow-list's way out: the cage's own port as an HTTP(S) proxy, the agent's run token its credential.
    if (policy.allow.length > 0 && env.IRON_CAGE_TOKEN) {
      const proxy = `http://agent:${env.IRON_CAGE_TOKEN}@127.0.0.1:${policy.port}`;
      Object.assign(env, { HTTPS_PROXY: proxy, HTTP_PROXY: proxy, https_proxy: proxy, http_proxy: proxy, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' });
    }
    // The lifeline at 3 (bootstrap.ts), bwrap's info, the seccomp program and the bridge's channel at theirs.
    const stdio: Array<'ignore' | 'pipe' | 'ipc' | number> = ['ignore', 'pipe', 'pipe', spec.lifeline ? 'pipe' : 'ignore'];
    stdio[INFO_FD] = 'pipe';
    stdio[SECCOMP_FD] = filterFd ?? 'ignore';
    stdio[CHANNEL_FD] = 'ipc';
    try {
      const child = await new Promise<ReturnType<typeof spawn>>((resolve, reject) => {
        const c = spawn(this.o.bwrap, args, {
          cwd: spec.cwd,
          env,
          stdio,
          detached: true,
        });
        c.once('error', (err: NodeJS.ErrnoException) => reject(new Error(`cannot start the sandbox (${this.o.bwrap}): ${err.message}`)));
        c.once('spawn', () => resolve(c));
      });
      const listener = bridgeListener(child, policy.port);
      // Its output read from the start (Node drops what a child that exits leaves unread), and kept
      // until the agent is found and its listeners come: a quick agent (or bridge) says its last
      // words before that.
      const inner = new LocalProcess(child);
      let early: Array<[OutputStream, string]> | null = [];
      inner.onLine((stream, line) => {
        if (early && early.length < EARLY_LINES) early.push([stream, line]);
      });
      const info = await readInfo(child.stdio[INFO_FD] as NodeJS.ReadableStream | null);
      const agentPid = info === null ? null : await findAgent(info);
      const sandboxed = new SandboxProcess(inner, early, info, agentPid ?? inner.pid, policy);
      early = null;
      void sandboxed.exited.then(() => {
        releaseNames(taken);
        dropDevices();
      });
      void listener.then((l) => l && this.serve(l, sandboxed.exited));
      return sandboxed;
    } catch (e) {
      releaseNames(taken);
      dropDevices();
      throw e;
    } finally {
      if (filterFd !== null) closeSync(filterFd);
    }
  }

  /** Stop serving the sandboxes (after their agents have ended). */
  async close(): Promise<void> {
    for (const l of this.listeners) l.close();
    this.listeners.clear();
    for (const s of this.sockets) s.destroy();
  }
}

/**
 * A read descriptor of a file that no name reaches (bwrap reads the seccomp program from it): written
 * in a folder of its own, opened, and the folder removed at once, so nothing is left in the
 * temporary folder however the cage ends.
 */
function nameless(bytes: Buffer): number {
  const dir = mkdtempSync(join(tmpdir(), 'iron-cage-sandbox-'));
  try {
    const file = join(dir, 'seccomp.bpf');
    writeFileSync(file, bytes, { mode: 0o600 });
    return openSync(file, 'r');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** bwrap's --info-fd JSON: the host pid of the sandbox's first process (null if bwrap failed first). */
async function readInfo(stream: NodeJS.ReadableStream | null): Promise<number | null> {
  if (!stream) return null;
  let text = '';
  await new Promise<void>((resolve) => {
    stream.on('data', (c: Buffer) => {
      text += c.toString('utf8');
    });
    stream.once('end', () => resolve());
    stream.once('error', () => resolve());
    stream.once('close', () => resolve());
  });
  try {
    const pid = (JSON.parse(text) as { 'child-pid'?: unknown })['child-pid'];
    return typeof pid === 'number' ? pid : null;
  } catch {
    return null;
  }
}

/** The agent: the one child of the sandbox's first process, once it has one. */
async function findAgent(init: number): Promise<number | null> {
  const until = Date.now() + FIND_AGENT_MS;
  while (Date.now() < until) {
    try {
      const kids = readFileSync(`/proc/${init}/task/${init}/children`, 'utf8').trim();
      if (kids) return Number(kids.split(/\s+/)[0]);
    } catch {
      return null;
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  return null;
}

const SIGNAL_OF = new Map<number, NodeJS.Signals>(Object.entries(constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/**
 * One sandboxed agent. Its pid is the agent's own (as the host sees it), so the supervisor's
 * signal checks read the agent, not bwrap. A signal to the group reaches every process in the
 * sandbox (its first process ignores it: a namespace's init only hears what it handles); bwrap
 * reports a death by signal as exit 128+N, turned back into the signal here.
 */
class SandboxProcess implements AgentProcess {
  readonly exited: Promise<ExitInfo>;
  readonly sandbox: SandboxView;
  private readonly lastErrors: string[] = [];
  private overLimit: string | null = null;

  constructor(
    private readonly inner: LocalProcess,
    /** What it said before it was found: heard first by each listener. */
    private readonly early: ReadonlyArray<[OutputStream, string]>,
    private readonly init: number | null,
    readonly pid: number,
    private readonly policy: SandboxPolicy,
  ) {
    this.sandbox = policyView(policy);
    this.onLine((stream, line) => {
      if (stream !== 'stderr') return;
      this.lastErrors.push(line);
      if (this.lastErrors.length > 20) this.lastErrors.shift();
    });
    // The kernel does not count a real root's processes against RLIMIT_NPROC: as root, count them here.
    const watch = init !== null && process.geteuid?.() === 0 ? setInterval(() => this.countProcesses(init), PROCESS_WATCH_MS) : null;
    watch?.unref();
    this.exited = inner.exited.then((e) => {
      if (watch) clearInterval(watch);
      let exit: ExitInfo = e;
      if (e.code !== null && e.code > 128 && SIGNAL_OF.has(e.code - 128)) exit = { code: null, signal: SIGNAL_OF.get(e.code - 128)! };
      if (this.overLimit) exit = { ...exit, limit: this.overLimit };
      if (e.code === BRIDGE_FAILED && this.lastErrors.some((l) => l.includes(BRIDGE_FAILED_LINE))) exit = { ...exit, limit: 'could not reach the cage: its bridge did not start' };
      const limit = limitWords(exit, this.lastErrors, this.policy.limits);
      return limit ? { ...exit, limit } : exit;
    });
  }

  /**
   * Every process of the sandbox, its first one included: the entries of its PID namespace's own
   * /proc, seen through that process's root. One directory read a tick, whatever the agent's
   * threads (walking each thread's children took 140-200 µs of CPU a tick for a 17-thread agent
   * here, this 30). Past the limit, the sandbox is killed.
   */
  private countProcesses(init: number): void {
    if (this.overLimit) return;
    let n = 0;
    try {
      for (const e of readdirSync(`/proc/${init}/root/proc`)) if (e.charCodeAt(0) >= 48 && e.charCodeAt(0) <= 57) n++;
    } catch {
      return; // ended meanwhile
    }
    if (n > this.policy.limits.processes) {
      this.overLimit = `used its limit of ${this.policy.limits.processes} processes`;
      this.signal('SIGKILL');
    }
  }

  onLine(listener: (stream: OutputStream, line: string) => void): void {
    for (const [stream, line] of this.early) listener(stream, line);
    this.inner.onLine(listener);
  }

  signal(sig: NodeJS.Signals, only = false): boolean {
    if (only) {
      try {
        process.kill(this.pid, sig);
        return true;
      } catch {
        return false;
      }
    }
    if (this.init === null) return this.inner.signal(sig);
    try {
      // The sandbox's session: its first process leads it (bwrap --new-session).
      process.kill(-this.init, sig);
      return true;
    } catch {
      return this.inner.signal(sig, true);
    }
  }

  stop(sig: NodeJS.Signals, graceMs: number): Promise<ExitInfo> {
    return stopWithGrace(
      this.exited,
      () => this.signal(sig),
      () => {
        // bwrap itself: --die-with-parent takes the whole sandbox down with it.
        this.inner.signal('SIGKILL', true);
        this.signal('SIGKILL');
      },
      graceMs,
    );
  }

  isHealthy(): boolean {
    return this.inner.isHealthy();
  }
}
