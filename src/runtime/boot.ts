import { ConfigError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import type { Config } from '../config/index.js';
import { Runtime } from './runtime.js';

// How a command starts a Runtime and stops it on a signal: shared by `start`, `serve` and `demo`.

/** `demo` passes its own logger (lines above its progress bar) and the agent's environment. */
export interface BootOptions {
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
}

/**
 * Start the Runtime, turning a port, host or database problem into a ConfigError (exit 2).
 *
 * @example
 * const rt = await boot(config, { script: 'agent.py', args: [] });
 */
export async function boot(config: Config, agent?: { script: string; args: string[] }, o: BootOptions = {}): Promise<Runtime> {
  const logger = o.logger ?? createLogger({ format: config.logFormat, level: config.verbose ? 'debug' : 'info' });
  try {
    return await Runtime.start({ config, logger, agent, env: o.env });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'EADDRINUSE') throw new ConfigError(`--port: ${config.host}:${config.port} is already in use (choose another port with --port)`);
    if (e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND') throw new ConfigError(`--host: cannot listen on ${config.host} (${e.code})`);
    if (e.code === 'EACCES') throw new ConfigError(`--port: not allowed to listen on port ${config.port}`);
    if (e.code === 'SQLITE_CANTOPEN' || e.code === 'SQLITE_NOTADB') throw new ConfigError(`--db: cannot open ${config.db} as a database (${e.code})`);
    throw err;
  }
}

/**
 * Keeps a SIGINT/SIGTERM that arrives while the Runtime starts (the agent may already be
 * running) instead of letting Node's default kill the process half-started; after `release`,
 * `signal()` says which came, for `onSignals` to act on. Ctrl-C at any moment stops cleanly.
 *
 * @example
 * const held = holdSignals();
 * const rt = await boot(config).finally(held.release);
 * onSignals(rt, undefined, undefined, held.signal());
 */
export function holdSignals(): { release: () => void; signal: () => NodeJS.Signals | null } {
  let first: NodeJS.Signals | null = null;
  const hold = (sig: NodeJS.Signals) => {
    first ??= sig;
  };
  process.on('SIGINT', hold);
  process.on('SIGTERM', hold);
  return {
    release: () => {
      process.off('SIGINT', hold);
      process.off('SIGTERM', hold);
    },
    signal: () => first,
  };
}

/**
 * SIGINT/SIGTERM: graceful stop (`afterAgents` once the agents ended, then `cleanup`, e.g. the
 * demo's mock services), exit 0. A second one: kill the agent now. `early` is a signal that
 * came while the Runtime was starting (`holdSignals`): acted on at once.
 *
 * @example
 * onSignals(rt, () => services.close());
 */
export function onSignals(rt: Runtime, cleanup: () => Promise<void> = async () => {}, afterAgents?: () => Promise<void>, early: NodeJS.Signals | null = null): void {
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
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  if (early) handler(early);
}
