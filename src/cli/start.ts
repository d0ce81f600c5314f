import { loadConfig, type Config, type FlagValues } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import { createLogger, type Logger } from '../core/logger.js';
import { Runtime } from '../runtime/index.js';
import { checkPython, checkScript } from './checks.js';

export interface ServeArgs extends FlagValues {
  config?: string;
}

export interface StartArgs extends ServeArgs {
  script: string;
  args: string[];
}

/** Fails with ConfigError (exit 2) for anything wrong with the request, before starting anything. */
function prepare(args: ServeArgs): Config {
  return loadConfig({ configPath: args.config, flags: args });
}

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
 * SIGINT/SIGTERM: graceful stop (then `cleanup`, e.g. the demo's mock services), exit 0. A second one: kill the agent now.
 *
 * @example
 * onSignals(rt, () => services.close());
 */
export function onSignals(rt: Runtime, cleanup: () => Promise<void> = async () => {}): void {
  let count = 0;
  const handler = (sig: NodeJS.Signals) => {
    count += 1;
    if (count > 1) {
      rt.logger.warn(`${sig} again: killing the agent now`);
      rt.killAgents();
      return;
    }
    rt.shutdown(`received ${sig}`, sig)
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
}

export async function runStart(args: StartArgs): Promise<void> {
  const config = prepare(args);
  const cwd = process.cwd();
  checkScript(args.script, cwd);
  checkPython(config.python, process.env);
  const rt = await boot(config, { script: args.script, args: args.args });
  onSignals(rt);
  const outcome = await rt.agentDone!;
  if (config.exitWithAgent) {
    await rt.shutdown(`agent ${outcome.status}`);
    process.exit(outcome.exitCode ?? (outcome.status === 'stopped' ? 0 : 1));
  }
  rt.logger.info(`Agent ${outcome.status}; the dashboard stays up at ${rt.url} — press Ctrl-C to exit`);
}

export async function runServe(args: ServeArgs): Promise<void> {
  const config = prepare(args);
  const rt = await boot(config);
  onSignals(rt);
  rt.logger.info(`Serving ${rt.state.listAgents().length} recorded agent run(s) from ${config.db} — press Ctrl-C to exit`);
}
