import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { stateFilesFor } from '../auth/index.js';
import type { Config } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import { sqliteFiles } from '../state/index.js';
import { sdkPath, type AgentRunner, type RunSpec } from '../supervisor/index.js';

import { sandboxPolicy, type SandboxPolicy } from './policy.js';
import { SandboxRunner } from './runner.js';
import { bwrapCommand } from './bwrap.js';
import { sandboxSupport, type SandboxTool, type Support } from './support.js';
import { SeatbeltRunner } from './seatbelt.js';
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
 *   const choice = chooseSandbox(config); // { on: true, bwrap: '/usr/bin/bwrap', socat: '/usr/bin/socat' }
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

/** Every file of iron-cage's the agent must never see: state, keys, config, TLS key, wherever they are. */
export function cageFiles(config: Pick<Config, 'db' | 'configFile' | 'tls' | 'panel'>, cwd: string): string[] {
  const db = resolve(cwd, config.db);
  const beside = stateFilesFor(db);
  const files = [...sqliteFiles(db), beside.tokenKey, beside.auditKey, `${db}.files`];
  if (config.configFile) files.push(config.configFile);
  for (const n of CONFIG_NAMES) files.push(join(cwd, n));
  if (config.tls.key) files.push(resolve(cwd, config.tls.key));
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
 * cage's server taking the bridge's connections.
 */
export function sandboxRunner(choice: SandboxTool, config: Config, port: number, accept: (s: Socket) => void): AgentRunner & { close(): Promise<void> } {
  const policy = (spec: RunSpec): SandboxPolicy =>
    sandboxPolicy({
      cwd: spec.cwd,
      script: spec.args.find((a) => /\.(py|m?js|cjs)$/.test(a)) ?? spec.cwd,
      interpreter: spec.command,
      sdk: sdkPath(),
      port,
      allow: config.sandbox.allow,
      write: config.sandbox.write,
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
  return new SandboxRunner({ bwrap: choice.bwrap, socat: choice.socat, prlimit: choice.prlimit, seccomp: filter, accept, policy });
}

/** How a process the cage launches for itself is started: its command and arguments, confined or as they are. */
export type Confine = (c: { command: string; args: readonly string[]; cwd: string; network: boolean }) => { command: string; args: string[] };

/**
 * Confinement for the processes the cage itself launches (stdio MCP servers) when the agent is
 * sandboxed with bubblewrap: the agent's file rules (the system read-only, homes and /tmp hidden,
 * iron-cage's files masked, its working folder and `sandbox.write` writable) and limits. Null
 * where there is nothing to confine with (the sandbox is off, or macOS's Seatbelt, which these
 * processes do not use yet).
 */
export function confineLaunched(choice: SandboxChoice | undefined, config: Config): Confine | null {
  if (!choice?.on || choice.kind === 'seatbelt') return null;
  const { bwrap, prlimit } = choice;
  return (c) => {
    const policy = sandboxPolicy({
      cwd: c.cwd,
      script: c.cwd,
      interpreter: c.command,
      sdk: c.cwd,
      port: 0,
      write: config.sandbox.write,
      read: config.sandbox.read,
      limits: config.sandbox.limits,
      secretFiles: cageFiles(config, c.cwd),
      path: process.env.PATH,
    });
    return { command: bwrap, args: bwrapCommand({ policy, prlimit, cwd: c.cwd, command: c.command, args: c.args, network: c.network }) };
  };
}

/** The one line the start says: what the agent is confined to, or why it is not. */
export function sandboxLine(choice: SandboxChoice, config: Pick<Config, 'sandbox'>): string {
  if (choice.on) {
    const l = config.sandbox.limits;
    const gb = (b: number) => (b % 1024 ** 3 === 0 ? `${b / 1024 ** 3} GB` : `${Math.round(b / 1024 ** 2)} MB`);
    return `sandbox: files, network, processes (the working folder writable, only the cage reachable; limits ${gb(l.memoryBytes)} memory, ${l.processes} processes${l.cpuSeconds === null ? '' : `, ${l.cpuSeconds} s CPU`})`;
  }
  return choice.why === null ? 'sandbox: off (--sandbox off): the agent runs with your rights' : `sandbox: NOT sandboxed: ${choice.why}; the agent runs with your rights`;
}

/**
 * The egress proxy of a runtime (`sandbox.network.allow`): the credential is an agent's run token;
 * each connection a `sandbox.egress` event on that agent's timeline.
 */
export function egressProxy(allow: readonly string[], tokens: TokenService, state: StateManager): EgressProxy {
  return new EgressProxy({
    allow,
    agentOf: async (token) => {
      const p = await tokens.verify(token);
      return p.role === 'agent' ? p.agentId : null;
    },
    record: (r) =>
      state.record({
        agentId: r.agentId,
        type: 'sandbox.egress',
        severity: r.allowed ? 'info' : 'warn',
        message: r.allowed
          ? `Egress ${r.method} ${r.host}:${r.port} (${r.rule}): ${r.bytesUp} bytes up, ${r.bytesDown} down in ${(r.durationMs / 1000).toFixed(1)} s`
          : `Egress refused: ${r.method} ${r.host}:${r.port}: ${r.refused}`,
        data: { host: r.host, port: r.port, allowed: r.allowed, rule: r.rule, method: r.method, bytesUp: r.bytesUp, bytesDown: r.bytesDown, durationMs: r.durationMs, refused: r.refused },
      }),
  });
}
