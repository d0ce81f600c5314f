import { ConfigError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import type { Config } from '../config/index.js';
import type { SandboxChoice } from '../sandbox/index.js';
import type { AgentProgram } from '../supervisor/index.js';
import { Runtime } from './runtime.js';

// How a command starts a Runtime and stops it on a signal: shared by `start`, `serve` and `demo`.

/** `demo` passes its own logger (lines above its progress bar) and the agent's environment. */
export interface BootOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  /** The agent sandboxed or not (`chooseSandbox`); none: not. */
  sandbox?: SandboxChoice;
}

/**
 * Start the Runtime, turning a port, host or database problem into a ConfigError (exit 2).
 *
 * @example
 * const rt = await boot(config, { script: 'agent.py', args: [] });
 * const rt = await boot(config, { command: '/usr/local/bin/claude', args: ['-p', 'Fix the tests'] });
 */
export async function boot(config: Config, agent?: AgentProgram, o: BootOptions = {}): Promise<Runtime> {
  const logger = o.logger ?? createLogger({ format: config.logFormat, level: config.verbose ? 'debug' : 'info' });
  try {
    return await Runtime.start({ config, logger, agent, env: o.env, sandbox: o.sandbox });
  } catch (err) {
    throw startError(config, err);
  }
}

/**
 * A port or host problem at start as a ConfigError (exit 2) naming the flag; anything else as it
 * is (a state file that cannot be opened is one already: src/state, openStateFile). Shared by the
 * runtime's start and the panel's.
 */
export function startError(config: Config, err: unknown): unknown {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'EADDRINUSE') return new ConfigError(`--port: ${config.host}:${config.port} is already in use (choose another port with --port)`);
  if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') return new ConfigError(`--host: cannot listen on ${config.host} (${e.code})`);
  if (e.code === 'EACCES' && e.syscall === 'listen') return new ConfigError(`--port: not allowed to listen on port ${config.port}`);
  return err;
}

/** Where SIGINT/SIGTERM go once the Runtime has started; see `holdSignals`. */
export interface SignalGate {
  open(handler: (sig: NodeJS.Signals) => void): void;
}

/**
 * Catches SIGINT/SIGTERM from now on, so that one arriving while the Runtime starts (the agent
 * may already be running) is kept instead of Node's default killing the process half-started.
 * `open` hands every signal, the kept one first, to the real handler. The listeners stay the
 * same from here on: removing one drops a signal libuv has caught but not yet delivered.
 *
 * @example
 * const gate = holdSignals();
 * const rt = await boot(config);
 * onSignals(rt, undefined, undefined, gate);
 */
export function holdSignals(): SignalGate {
  let kept: NodeJS.Signals | null = null;
  let target: ((sig: NodeJS.Signals) => void) | null = null;
  const listener = (sig: NodeJS.Signals) => {
    if (target) target(sig);
    else kept ??= sig;
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return {
    open: (handler) => {
      target = handler;
      if (kept) handler(kept);
    },
  };
}

/**
 * SIGINT/SIGTERM: graceful stop (`afterAgents` once the agents ended, then `cleanup`, e.g. the
 * demo's mock services), exit 0. A second one: kill the agent now. With a `gate`
 * (`holdSignals`), the signals it caught while the Runtime was starting are acted on at once.
 *
 * @example
 * onSignals(rt, () => services.close());
 */
export function onSignals(rt: Runtime, cleanup: () => Promise<void> = async () => {}, afterAgents?: () => Promise<void>, gate?: SignalGate): void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count += 1;
    if (count > 1) {
      rt.logger.warn(`${sig} again: killing the agent now`);
      rt.killAgents();
      return;
    }
    rt.shutdown(`received ${sig}`, sig, afterAgents)
      .then(cleanup)
      .then(
        () => process.exit(0),
        (err) => {
          rt.logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  if (gate) return gate.open(handler);
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}
