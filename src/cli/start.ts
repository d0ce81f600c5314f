import { loadConfig, type Config, type FlagValues } from '../config/index.js';
import { boot, checkPython, checkScript, onSignals } from '../runtime/index.js';

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

export async function runStart(args: StartArgs): Promise<void> {
  const config = prepare(args);
  const cwd = process.cwd();
  // A Node agent runs on this very Node; only a Python one needs its interpreter found.
  if (checkScript(args.script, cwd).language === 'python') checkPython(config.python, process.env);
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
