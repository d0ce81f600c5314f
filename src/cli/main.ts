import yargs, { type Argv } from 'yargs';
import { hideBin } from 'yargs/helpers';
import { ConfigError } from '../core/errors.js';
import { VERSION } from '../core/index.js';
import { runServe, runStart, type StartArgs } from './start.js';

// Flags are read as strings and validated by the config layer, so `--port abc` gets the
// same precise message as `port: abc` in a config file.
function serverOptions<T>(y: Argv<T>) {
  return y
    .option('port', { type: 'string', description: 'Port for the dashboard, REST API and gateway [default: 8080]' })
    .option('host', { type: 'string', description: 'Address to bind [default: 127.0.0.1]' })
    .option('db', { type: 'string', description: 'SQLite state file [default: ./iron_state.db]' })
    .option('config', { type: 'string', description: 'Config file (.yaml, .yml or .toml) [default: ./iron-cage.yaml if present]' })
    .option('verbose', { type: 'boolean', description: 'Debug logging' })
    .option('log-format', { type: 'string', choices: ['pretty', 'json'], description: 'Terminal log format [default: pretty]' });
}

const EPILOG = `Precedence: flags > IRON_CAGE_* environment > config file > defaults.
Docs and API routes: README.md`;

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName('iron-cage')
    .usage('$0 <command> [options]\n\nPut a cage around an AI agent: supervise it, meter and guard its LLM calls, show it live.')
    .command(
      'start <script> [args..]',
      'Run a Python agent under supervision, with the dashboard',
      (y) =>
        serverOptions(y)
          .positional('script', { type: 'string', description: 'The agent, e.g. agent.py', demandOption: true })
          .positional('args', { type: 'string', array: true, description: 'Arguments for the agent (put -- before ones that start with -)' })
          .option('budget', { type: 'string', description: 'Spend limit in dollars: 50, 50.00 or $50 (quote the $)' })
          .option('safety-mode', { type: 'string', choices: ['redact', 'block', 'warn'], description: 'What to do with PII in LLM output [default: redact]' })
          .option('python', { type: 'string', description: 'Python interpreter [default: python3]' })
          .option('restart', { type: 'string', choices: ['on-failure', 'never'], description: 'Restart the agent when it crashes [default: on-failure]' })
          .option('name', { type: 'string', description: 'Display name [default: the script name]' })
          .option('exit', { type: 'boolean', description: "Exit with the agent's exit code when it ends (for scripts and CI)" })
          .example('$0 start agent.py --budget 50', 'Run agent.py with a $50 budget')
          .example('$0 start agent.py --exit -- --leads 10', 'Pass --leads 10 to the agent; exit when it ends'),
      async (a) => {
        const rest = (a['--'] as string[] | undefined) ?? [];
        await runStart({
          ...(a as unknown as StartArgs),
          script: a.script as string,
          args: [...((a.args as string[] | undefined) ?? []).map(String), ...rest.map(String)],
        });
      },
    )
    .command(
      'serve',
      'Serve the dashboard and API with no agent (inspect earlier runs; agents that connect with a key)',
      (y) => serverOptions(y).example('$0 serve --db ./iron_state.db', 'Look at earlier runs'),
      async (a) => runServe(a as never),
    )
    .demandCommand(1, 'Name a command: start or serve.')
    .strict()
    .parserConfiguration({ 'populate--': true, 'camel-case-expansion': true })
    .recommendCommands()
    .epilog(EPILOG)
    .wrap(Math.min(100, process.stdout.columns ?? 100))
    .version(VERSION)
    .alias('h', 'help')
    .fail((msg, err) => {
      if (err && !(err instanceof ConfigError)) throw err;
      // A bad value is named precisely on one line; a malformed command line also gets the pointer to help.
      process.stderr.write(err ? `iron-cage: ${err.message}\n` : `iron-cage: ${msg}\nRun 'iron-cage --help' for usage.\n`);
      process.exit(2);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`iron-cage: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`iron-cage: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
