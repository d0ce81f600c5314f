import { lstatSync, readdirSync, realpathSync, type Stats } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { stateFilesFor } from '../auth/index.js';
import { DEFAULTS, scratchBytes, type Config } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import { sqliteFiles } from '../state/index.js';
import { programPath, sdkPath, type AgentRunner, type RunSpec } from '../supervisor/index.js';

import { agentWritable, sandboxPolicy, type SandboxPolicy, under } from './policy.js';
import { SandboxRunner } from './runner.js';
import { sandboxSupport, type SandboxTool, type Support } from './support.js';
import { SeatbeltRunner } from './seatbelt.js';
import { clearLeftPlaceholders } from './placeholders.js';
import { EgressProxy } from './egress.js';
import type { TokenService } from '../auth/index.js';
import type { StateManager } from '../state/index.js';
import { seccompFilter } from './seccomp.js';
import type { Socket } from 'node:net';

// Whether this run's agent is sandboxed (`sandbox.mode`, `--sandbox`), decided once before the
// runtime starts: `on` refuses to start without it (exit 2, the reason and the fix), `auto` says
// once why not and runs the agent with the user's rights, `off` runs it so.

export type SandboxChoice = ({ on: true } & SandboxTool) | { on: false; why: string | null };

/** The config files iron-cage reads from a working folder (config/load.ts), masked whether used or not. */
const CONFIG_NAMES = ['iron-cage.yaml', 'iron-cage.yml', 'iron-cage.toml'];

/**
 * Decide, before anything starts. Throws ConfigError for `on` where the sandbox cannot start.
 *
 * @example
 *   const choice = chooseSandbox(config); // { on: true, kind: 'bwrap', bwrap: '/usr/bin/bwrap', perl: '/usr/bin/perl', prlimit: '/usr/bin/prlimit' }
 */
export function chooseSandbox(config: Pick<Config, 'sandbox' | 'port'>, support: () => Support = sandboxSupport): SandboxChoice {
  if (config.sandbox.mode === 'off') return { on: false, why: null };
  const s: Support =
    config.port > 0 && config.port < 1024
      ? { ok: false, reason: `the cage's port ${config.port} is below 1024, which the sandbox's own network may not listen on`, fix: 'use --port 1024 or above, or --sandbox off' }
      : support();
  if (s.ok) {
    const { ok: _, ...tool } = s;
    return { on: true, ...tool };
  }
  if (config.sandbox.mode === 'on') throw new ConfigError(`--sandbox on: the agent cannot be sandboxed here: ${s.reason}; ${s.fix}`);
  return { on: false, why: `${s.reason} (${s.fix})` };
}

/**
 * How long a start waits for a sandbox that covers its state to end before it refuses: a cage
 * killed with -9 (and restarted at once, by hand or by systemd) takes its sandbox down with it
 * (bwrap's --die-with-parent, then the kernel's kill of the sandbox's PID namespace), a few ms
 * later, more on a loaded machine; a sandbox of a cage that runs does not end, and is refused
 * this much later.
 */
export const SANDBOX_END_WAIT_MS = 2_000;

/**
 * Before a runtime opens its state at `db`: the placeholders a killed sandboxed run left over its
 * files removed (placeholders.ts), once any sandbox still covering them has ended (waiting at most
 * `waitMs`), or a ConfigError naming the run of another process that holds them still. `proc`: where
 * the processes are read (/proc; a test's folder).
 */
export async function clearStateNames(db: string, waitMs = SANDBOX_END_WAIT_MS, proc?: string): Promise<void> {
  const beside = stateFilesFor(db);
  const names = [...sqliteFiles(db), beside.tokenKey, beside.auditKey, `${db}.files`];
  const until = performance.now() + waitMs;
  let { held, unknown } = clearLeftPlaceholders(names, proc);
  while (held.length > 0 && !unknown && performance.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    ({ held, unknown } = clearLeftPlaceholders(names, proc));
  }
  if (held.length === 0) return;
  if (unknown)
    throw new ConfigError(
      `${held[0]} is an empty placeholder a sandboxed run left, and whether one still holds it cannot be known here (other processes' arguments cannot be read in /proc): remove it if no iron-cage runs an agent in this folder, or give this one a --db of its own`,
    );
  throw new ConfigError(
    `${held[0]} is an empty placeholder a sandboxed run of another iron-cage holds over this name (its agent must not write it): give this one a --db of its own, or start it once that run has ended`,
  );
}

/**
 * Every file of iron-cage's the agent must never see or make: state, keys, config, TLS key,
 * wherever they are. Those that do not exist yet count too (the policy reserves them): a start
 * reads a config under any name it looks for, SQLite plays back a journal it finds beside its
 * database, and a later start without --db opens the default state file in the working folder.
 */
export function cageFiles(config: Pick<Config, 'db' | 'configFile' | 'tls' | 'panel'>, cwd: string): string[] {
  const db = resolve(cwd, config.db);
  const files: string[] = [];
  for (const d of new Set([db, resolve(cwd, DEFAULTS.db)])) {
    const beside = stateFilesFor(d);
    files.push(...sqliteFiles(d), beside.tokenKey, beside.auditKey);
  }
  // A state file that is a link: SQLite keeps its journals beside the file it leads to.
  const target = realOrNull(db);
  if (target !== null && target !== db) files.push(...sqliteFiles(target));
  files.push(`${db}.files`);
  if (config.configFile) files.push(config.configFile);
  for (const n of CONFIG_NAMES) files.push(join(cwd, n));
  // The dashboard's TLS key, and what the cage trusts at start: its certificate, the panel's CA.
  for (const f of [config.tls.key, config.tls.cert, config.panel.ca]) if (f) files.push(resolve(cwd, f));
  // Any other database of iron-cage's in the state folder (the demo's beside a run's).
  try {
    for (const f of readdirSync(dirname(db))) if (/\.db(-wal|-shm|-journal|\.key|\.audit\.key|\.files)?$/.test(f) && /^iron_/.test(f)) files.push(join(dirname(db), f));
  } catch {
    /* an unreadable folder: the names above stand */
  }
  return [...new Set(files)];
}

/**
 * The runner for a sandboxed agent of this runtime: the policy per start from the config, the
 * cage's server taking the connections of each sandbox's bridge.
 */
export function sandboxRunner(choice: SandboxTool, config: Config, port: number, accept: (s: Socket) => void): AgentRunner & { close(): Promise<void> } {
  const policy = (spec: RunSpec): SandboxPolicy =>
    sandboxPolicy({
      cwd: spec.cwd,
      script: spec.program ? programPath(spec.program) : spec.cwd,
      interpreter: spec.command,
      ...(spec.program && 'command' in spec.program ? { program: spec.program.command } : {}),
      sdk: sdkPath(),
      port,
      allow: config.sandbox.allow,
      // The agent's folders, and the cage's it keeps its own state in (a coding agent's configuration home).
      write: [...config.sandbox.write, ...(spec.write ?? [])],
      read: config.sandbox.read,
      limits: config.sandbox.limits,
      secretFiles: cageFiles(config, spec.cwd),
      path: spec.env.PATH,
    });
  if (choice.kind === 'seatbelt') return Object.assign(new SeatbeltRunner(choice.sandboxExec, policy), { close: async () => {} });
  let filter: Buffer | null;
  try {
    filter = seccompFilter();
  } catch {
    filter = null;
  }
  return new SandboxRunner({ bwrap: choice.bwrap, perl: choice.perl, prlimit: choice.prlimit, seccomp: filter, accept, policy });
}

/** The one line the start says: what the agent is confined to, or why it is not. */
export function sandboxLine(choice: SandboxChoice, config: Pick<Config, 'sandbox'>): string {
  if (choice.on) {
    const l = config.sandbox.limits;
    const gb = (b: number) => (b % 1024 ** 3 === 0 ? `${b / 1024 ** 3} GB` : `${Math.round(b / 1024 ** 2)} MB`);
    return `sandbox: files, network, processes (the working folder writable, only the cage reachable; limits ${gb(l.memoryBytes)} memory, ${gb(scratchBytes(l))} per in-memory folder, ${l.processes} processes${l.cpuSeconds === null ? '' : `, ${l.cpuSeconds} s CPU`})`;
  }
  return choice.why === null ? `sandbox: off (${offBy(config)}): the agent runs with your rights` : `sandbox: NOT sandboxed: ${choice.why}; the agent runs with your rights`;
}

/** What turned the sandbox off, as the user would undo it: the flag, the variable, or the config file's key. */
export function offBy(config: Pick<Config, 'sandbox'>): string {
  return config.sandbox.modeFrom ?? '--sandbox off';
}

/**
 * The egress proxy of a runtime (`sandbox.network.allow`): the credential is an agent's run token
 * while that run is live (the gateway's rule: `EgressProxy.liveRuns`), a connection open when it
 * ends is cut; each connection a `sandbox.egress` event on that agent's timeline.
 */
export function egressProxy(allow: readonly string[], tokens: TokenService, state: StateManager): EgressProxy {
  return new EgressProxy({
    allow,
    agentOf: EgressProxy.liveRuns(tokens, state),
    // A run's token is revoked when its process exits; its agent's exit is the end of the run.
    onRunsChanged: (listener) => {
      tokens.onInvalidate(listener);
      state.subscribe((e) => {
        if (e.type === 'agent.exited') listener();
      });
    },
    record: (r) =>
      state.record({
        agentId: r.agentId,
        type: 'sandbox.egress',
        severity: r.allowed && r.cut === null ? 'info' : 'warn',
        message: r.allowed
          ? `Egress ${r.method} ${r.host}:${r.port} (${r.rule}): ${r.bytesUp} bytes up, ${r.bytesDown} down in ${(r.durationMs / 1000).toFixed(1)} s${r.cut === null ? '' : `; cut: ${r.cut}`}`
          : `Egress refused: ${r.method} ${r.host}:${r.port}: ${r.refused}`,
        data: { host: r.host, port: r.port, allowed: r.allowed, rule: r.rule, method: r.method, bytesUp: r.bytesUp, bytesDown: r.bytesDown, durationMs: r.durationMs, refused: r.refused },
      }),
  });
}

function realOrNull(path: string): string | null {
  try {
    return realpathSync(path);
  } catch {
    return null;
  }
}

/**
 * A sandboxed start refuses a file of iron-cage's (its state, keys, config) reached through a
 * symbolic link that lies in a folder the agent writes: the agent could point the link elsewhere,
 * and the next start would read its key or its config there, or open its database. The path it
 * leads to is given instead.
 *
 * @example refuseLinkedCageFiles(config, process.cwd()) // throws for --db link/iron_state.db where ./link is a link
 */
export function refuseLinkedCageFiles(config: Pick<Config, 'db' | 'configFile' | 'tls' | 'panel' | 'sandbox'>, cwd: string): void {
  const writable = agentWritable(cwd, config.sandbox.write);
  for (const f of cageFiles(config, cwd)) {
    const parts = f.split(sep);
    for (let k = 2; k <= parts.length; k++) {
      const p = parts.slice(0, k).join(sep);
      let st: Stats | undefined;
      try {
        st = lstatSync(p, { throwIfNoEntry: false });
      } catch {
        break; // not a folder, or not ours to read: the start's own checks say why
      }
      if (st === undefined) break;
      if (!st.isSymbolicLink()) continue;
      const folder = realOrNull(dirname(p));
      if (folder !== null && writable.some((w) => under(folder, w)))
        throw new ConfigError(
          `${f}: ${p} is a symbolic link in a folder the sandboxed agent writes: it could point it elsewhere before the next start; give the path it leads to (${realOrNull(p) ?? 'nothing yet'}), or run with --sandbox off`,
        );
    }
  }
}
