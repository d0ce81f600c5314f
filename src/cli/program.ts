import yargs from 'yargs';
import { ConfigError, UnavailableError } from '../core/errors.js';
import { COMMIT, VERSION } from '../core/index.js';
import { escapeControl } from '../core/logger.js';
import { startedUp } from '../core/startup.js';
import type { StartArgs } from './start.js';
import type { TokenArgs } from './token.js';
import type { DashboardArgs } from './dashboard.js';
import type { loadConfig } from '../config/index.js';
import type { SecretsArgs } from './secrets.js';
import type { UserArgs } from './user.js';
import type { DemoArgs } from '../demo/index.js';
import type { AuditArgs } from './audit.js';
import type { PanelArgs, PanelBudgetArgs, PanelRuntimeArgs, PanelTokenArgs } from './panel.js';
import { numberMissing, optionOfAnotherAction, repeatedOption, switchValue } from './argv.js';
import { environmentHelp, optionsFor, PRECEDENCE } from './options.js';

// The shared options (--db, --config, --json, every flag that sets config) come from their one
// declaration (config/options.ts) through optionsFor; a command declares here only what it
// alone takes. Each command's code is imported when it runs (a chunk of its own in the bundle,
// scripts/build.mjs): `--help`, a refused flag or `secrets get` compiles and runs none of the
// runtime's.

function piiOptions(c: ReturnType<typeof loadConfig>) {
  return {
    risk: c.safety.risk,
    allowDomains: c.safety.allowDomains,
    allowValues: c.safety.allowValues,
    ...(c.safety.phoneRegions ? { phoneRegions: c.safety.phoneRegions } : {}),
  };
}

/** Commands that serve: their start-up is over when their server listens (server/http.ts); any other's when it begins. */
function serves(a: { _: Array<string | number> }): boolean {
  const [command, sub] = a._.map(String);
  return command === 'start' || command === 'serve' || command === 'demo' || (command === 'panel' && sub === undefined);
}

const START = 'Run an agent (Python .py, or Node .js/.mjs/.cjs) under supervision, with the dashboard; or any program after --: a binary, a script, Claude Code, Codex CLI';

const EPILOG = `${PRECEDENCE}
Docs: README.md, and the reference in docs/ (flags and config keys: docs/configuration.md; API routes: docs/api.md)`;

/**
 * What the command line reads and writes, and how it ends: the process's own for a user
 * (PROCESS_IO, src/cli/main.ts); a test runs the same program in-process with its own
 * (test/helpers/cli.ts). The commands' own output (a list, a token) goes to process.stdout as
 * before; stdin reaches the commands that read it (secrets, user, redact, scan) from here.
 */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
  readonly stdin: NodeJS.ReadableStream;
  /** Ends the program with this code (process.exit); called last, after what it writes. */
  exit(code: number): void;
}

/** The process's own streams, each made when first used, as before (a class: an object literal's accessors would keep their closures alive). */
class ProcessIo implements CliIo {
  get stdout(): NodeJS.WritableStream {
    return process.stdout;
  }
  get stderr(): NodeJS.WritableStream {
    return process.stderr;
  }
  get stdin(): NodeJS.ReadableStream {
    return process.stdin;
  }
  exit(code: number): void {
    process.exit(code);
  }
}

export const PROCESS_IO: CliIo = new ProcessIo();

/** A malformed command line (an unknown flag, a missing argument): yargs's message, and the pointer to help. */
class UsageError extends Error {}

/**
 * Runs `iron-cage …argv` to its end: exit 2 with one line for bad input (a bad value, a config
 * error, a malformed command line), 1 with one line when something it needs is unreachable,
 * 1 with the stack for anything else. A command that serves (start, serve, demo, panel) goes
 * on after this resolves, until it exits itself.
 */
export async function run(argv: string[], io: CliIo = PROCESS_IO): Promise<void> {
  try {
    await main(argv, io);
  } catch (err: unknown) {
    // A message may quote what a server or a database row said: shown, never obeyed.
    const line = (message: string) => `iron-cage: ${escapeControl(message, { lines: true })}\n`;
    // A bad value is named precisely on one line; a malformed command line also gets the pointer to help.
    if (err instanceof UsageError) {
      io.stderr.write(`${line(err.message)}Run 'iron-cage --help' for usage.\n`);
      return io.exit(2);
    }
    if (err instanceof ConfigError) {
      io.stderr.write(line(err.message));
      return io.exit(2);
    }
    // Something it needs is unreachable (a control panel at start): one line naming it, exit 1.
    if (err instanceof UnavailableError) {
      io.stderr.write(line(err.message));
      return io.exit(1);
    }
    io.stderr.write(line((err as Error)?.stack ?? String(err)));
    io.exit(1);
  }
}

async function main(argv: string[], io: CliIo): Promise<void> {
  const twice = repeatedOption(argv);
  if (twice !== null) throw new UsageError(`--${twice}: given more than once (give it once)`);
  const cli = yargs(argv);
  // yargs renders a command's whole help text as it runs the command, to show it should the
  // command fail later; .fail() below never shows it, and rendering it cost every run ~50 ms of
  // CPU (`token list`: 0.41 → 0.35 s in all). `--help` renders its own, as before. An internal of
  // yargs 17 (command.js calls usage.cacheHelpMessage()): where a version has it no more, nothing
  // changes.
  const usage = (cli as unknown as { getInternalMethods?: () => { getUsageInstance?: () => { cacheHelpMessage?: () => void } } }).getInternalMethods?.().getUsageInstance?.();
  if (typeof usage?.cacheHelpMessage === 'function') usage.cacheHelpMessage = () => {};
  await cli
    .scriptName('iron-cage')
    .usage('$0 <command> [options]\n\nPut a cage around an AI agent: supervise it, meter and guard its LLM calls, show it live.')
    .command(
      'start [script] [args..]',
      START,
      (y) =>
        y
          // Its two forms, which the command string alone cannot say.
          .usage(`$0 start <script> [args..]\n$0 start [options] -- <command> [args...]\n\n${START}`)
          .positional('script', { type: 'string', description: 'The agent script, e.g. agent.py or agent.mjs (or none: the program after --)' })
          .positional('args', { type: 'string', array: true, description: 'Arguments for the agent (put -- before ones that start with -)' })
          .options(optionsFor('start'))
          .epilog(environmentHelp('start'))
          .example('$0 start agent.py --budget 50', 'Run agent.py with a $50 budget')
          .example('$0 start agent.py --exit -- --leads 10', 'Pass --leads 10 to the agent; exit when it ends')
          .example('$0 start --budget 5 --exit -- claude -p "Fix the failing test"', 'Run Claude Code through the cage (and Codex CLI: -- codex exec "…")')
          .example('$0 start --name crawler -- ./run.sh --fast', 'Any program: a binary, a shell script, npx …, uvx …'),
      async (a) => {
        const rest = ((a['--'] as Array<string | number> | undefined) ?? []).map(String);
        const script = a.script as string | undefined;
        // A script takes what follows -- as its own arguments; without one, the first word after -- is the program.
        if (script === undefined && rest.length === 0)
          throw new UsageError('start: name the agent: iron-cage start agent.py, or any program after --: iron-cage start [options] -- <command> [args...]');
        const { runStart } = await import('./start.js');
        await runStart({
          ...(a as unknown as StartArgs),
          ...(script === undefined ? { command: rest[0]!, args: rest.slice(1) } : { script, args: [...((a.args as string[] | undefined) ?? []).map(String), ...rest] }),
        });
      },
    )
    .command(
      'demo',
      'The scripted 100-lead demo: offline and deterministic, with the dashboard (about 3 minutes)',
      (y) =>
        y
          .option('pace', { type: 'string', description: 'fast (seconds: rehearsal, CI), default (about 3 minutes), talk (about 28 minutes), or seconds per lead (e.g. 0.5)' })
          .option('keep', { type: 'boolean', description: 'Keep the previous demo database instead of starting fresh' })
          .options(optionsFor('demo'))
          .option('quiet', { type: 'boolean', description: "Plain lines, only the demo's own (no progress bar, no per-call lines)" })
          .option('stay', { type: 'boolean', description: 'Keep the dashboard up after the run until Ctrl-C (--no-stay: exit) [default: when the output is a terminal]' })
          .example('$0 demo', 'Run it; open the dashboard URL it prints')
          .example('$0 demo --pace talk', 'For a live talk; waits for your click on "Approve"'),
      async (a) => (await import('../demo/index.js')).runDemo(a as unknown as DemoArgs),
    )
    .command(
      'serve',
      'Serve the dashboard and API with no agent (inspect earlier runs; agents that connect with a key)',
      (y) => y.options(optionsFor('serve')).epilog(environmentHelp('serve')).example('$0 serve --db ./iron_state.db', 'Look at earlier runs'),
      async (a) => (await import('./start.js')).runServe(a as never),
    )
    .command('panel', 'The control panel: dashboard, users and runtimes over PostgreSQL; agent runtimes report to it (no agent, no gateway here)', (y) =>
      y
        .command(
          '$0',
          'Serve the control panel',
          (s) => s.options(optionsFor('panel')).epilog(environmentHelp('panel')),
          async (a) => (await import('./panel.js')).runPanel(a as unknown as PanelArgs),
        )
        .command(
          'runtime <action> [name]',
          'Add a runtime (prints its token once), remove one (revokes its tokens), list them, or set the panel secrets one may read',
          (s) =>
            s
              .positional('action', { type: 'string', choices: ['add', 'rm', 'list', 'secrets'], demandOption: true })
              .positional('name', { type: 'string', description: 'The runtime id: 1-63 letters, digits, ".", "_" or "-"' })
              .option('user', { type: 'string', description: 'For add: the id of the user whose machine it is' })
              .option('secrets', {
                type: 'string',
                description: 'For add and secrets: the panel secrets its token may read, comma-separated names or PREFIX_* patterns (none by default; "" for none)',
              })
              .options(optionsFor('panel')),
          async (a) => (await import('./panel.js')).runPanelRuntime(a as unknown as PanelRuntimeArgs),
        )
        .command(
          'budget <action> [id]',
          'Set (create or change), list or remove a central budget: one budget for many runtimes, leased to them by the panel',
          (s) =>
            s
              .positional('action', { type: 'string', choices: ['set', 'list', 'rm'], demandOption: true })
              .positional('id', { type: 'string', description: 'The budget id: 1-63 of a-z, 0-9, ".", "_" or "-"' })
              .option('limit', { type: 'string', description: 'For set: the limit in dollars per window (500, $500)' })
              .option('period', { type: 'string', description: 'For set: none, day or month (UTC windows) [default: none]' })
              .option('fleet', { type: 'boolean', description: 'For set: on every runtime of the fleet' })
              .option('agent', { type: 'string', description: "For set: on one agent name (the agents' --name), on every runtime" })
              .option('user', { type: 'string', description: 'For set: on one user (the runtimes added with --user)' })
              .option('team', { type: 'boolean', description: 'For set: on a team: --agents a,b and/or --users u1,u2' })
              .option('agents', { type: 'string', description: 'For set --team: agent names, comma-separated' })
              .option('users', { type: 'string', description: 'For set --team: user names, comma-separated' })
              .options(optionsFor('panel')),
          async (a) => (await import('./panel.js')).runPanelBudget(a as unknown as PanelBudgetArgs),
        )
        .command(
          'token <action> [name]',
          "Make a metrics token for Prometheus (GET /metrics only; printed once), list the panel's tokens, or revoke one by id or name",
          (s) =>
            s
              .positional('action', { type: 'string', choices: ['create', 'list', 'revoke'], demandOption: true })
              .positional('name', { type: 'string', description: 'For create: the token\'s name (1-64 letters, digits, spaces, ".", "_", "-"); for revoke: its id or name' })
              .option('role', { type: 'string', choices: ['metrics'], default: 'metrics', description: 'For create: the role (people sign in; runtimes get theirs with panel runtime add)' })
              .options(optionsFor('panel')),
          async (a) => (await import('./panel.js')).runPanelToken(a as unknown as PanelTokenArgs),
        )
        .command(
          'link',
          'Print a one-time login link to the panel serving this database',
          (s) => s.options(optionsFor('panel')),
          async (a) => (await import('./panel.js')).runPanelLink(a as unknown as PanelArgs),
        )
        .example('$0 panel --database postgres://iron@db/iron --host 0.0.0.0 --port 8443 --tls-cert cert.pem --tls-key key.pem', 'The shared control panel')
        .example('$0 panel runtime add laptop-ann --database postgres://iron@db/iron', "A runtime's token, printed once")
        .example('$0 panel budget set sales --limit 500 --period month --team --users ann,bob --database postgres://iron@db/iron', 'One budget the team shares across machines')

        .example('$0 panel token create prometheus --database postgres://iron@db/iron', "A scraper's token for the panel's GET /metrics, printed once")
        .example("$0 panel runtime secrets laptop-ann --secrets 'OPENAI_API_KEY,CRM_*' --database postgres://iron@db/iron", 'What its panel: references may read'),
    )
    .command(
      'dashboard',
      'Print a one-time login link to the dashboard of the iron-cage serving this database',
      (y) => y.options(optionsFor('dashboard')).example('$0 dashboard --db ./iron_state.db', 'A link to open in the browser (once, within 15 minutes)'),
      async (a) => (await import('./dashboard.js')).runDashboard(a as unknown as DashboardArgs),
    )
    .command(
      'token <action> [id]',
      'Manage API tokens for agents iron-cage does not spawn (create, list, revoke)',
      (y) =>
        y
          .positional('action', { type: 'string', choices: ['create', 'list', 'revoke'], demandOption: true })
          .positional('id', { type: 'string', description: 'For revoke: the token id or name' })
          .option('role', { type: 'string', choices: ['agent', 'viewer', 'admin', 'metrics'], description: 'For create [default: agent]; metrics: a scraper that reads GET /metrics only' })
          .options(optionsFor('token'))
          .example('$0 token create --role agent --name notebook --budget 5', 'A metered key for a notebook')
          .example('$0 token create --role metrics --name prometheus', 'A token Prometheus scrapes /metrics with')
          .example('$0 token revoke notebook', 'Revoke it'),
      async (a) => (await import('./token.js')).runToken(a as unknown as TokenArgs),
    )
    .command(
      'secrets <action> [name]',
      'Manage the secrets vault (needs IRON_CAGE_MASTER_KEY; values are read from stdin)',
      (y) =>
        y
          .positional('action', { type: 'string', choices: ['list', 'set', 'rotate', 'get', 'rm', 'audit', 'rekey'], demandOption: true })
          .positional('name', { type: 'string', description: 'The secret, e.g. OPENAI_API_KEY (audit: filter by it)' })
          .option('operation', { type: 'string', description: 'For audit: only this operation (CREATE, READ, REVEAL, ...)' })
          .option('limit', { type: 'number', description: 'For audit: at most this many rows [default: 100]' })
          .option('url', {
            type: 'string',
            description: 'The running iron-cage to go through (every action but rekey, which runs on the file alone) [default: the configured host and port, if it answers]',
          })
          .options(optionsFor('secrets'))
          .example('printf %s "$KEY" | $0 secrets set OPENAI_API_KEY --env production', 'Store a key')
          .example('$0 secrets get OPENAI_API_KEY --env production', 'Print it (audited)')
          .example('printf %s "$NEW" | $0 secrets rekey', 'Re-encrypt everything under a new master key'),
      async (a) => (await import('./secrets.js')).runSecrets(a as unknown as SecretsArgs, io.stdin),
    )
    .command(
      'user <action> [name]',
      'Manage named dashboard users (add, rm, list); the password is read from stdin',
      (y) =>
        y
          .positional('action', { type: 'string', choices: ['add', 'rm', 'list'], demandOption: true })
          .positional('name', { type: 'string', description: 'For add and rm: the user name' })
          .option('role', { type: 'string', choices: ['viewer', 'admin'], description: 'For add: what the user may do' })
          .options(optionsFor('user'))
          .example('printf %s "$PASSWORD" | $0 user add ann --role viewer', 'A read-only dashboard user')
          .example('$0 user rm ann', 'Remove her; her tokens stop working'),
      async (a) => (await import('./user.js')).runUser(a as unknown as UserArgs, io.stdin),
    )
    .command(
      'audit <what>',
      'Read the PII audit trail (findings, never values); --reveal ID opens one finding (audited)',
      (y) =>
        y
          .positional('what', { type: 'string', choices: ['pii'], demandOption: true })
          .option('reveal', { type: 'number', description: 'Print the original value of this finding (needs the audit key beside the database; recorded as a pii.revealed event)' })
          .option('reason', { type: 'string', description: 'For --reveal: why, for the record' })
          .option('agent', { type: 'string', description: 'Only this agent' })
          .option('type', { type: 'string', description: 'Only this PII type (EMAIL, PHONE, ...)' })
          .option('after', { type: 'number', description: 'Only findings after this id' })
          .option('limit', { type: 'number', description: 'At most this many [default: 100]' })
          .options(optionsFor('audit'))
          .example('$0 audit pii --type EMAIL', 'What was found, where and what was done')
          .example('$0 audit pii --reveal 12 --reason "ticket 481"', 'The value behind finding #12'),
      async (a) => (await import('./audit.js')).runAudit(a as unknown as AuditArgs),
    )
    .command(
      'redact',
      'Redact PII from stdin to stdout (the same engine the gateway uses)',
      (y) => y.options(optionsFor('redact')).example('$0 redact < notes.txt > notes.clean.txt', 'Clean a file'),
      async (a) => {
        const [{ loadConfig }, { runRedact }] = await Promise.all([import('../config/index.js'), import('./safety.js')]);
        const c = loadConfig({ configPath: a.config as string | undefined, flags: { safetyMode: a.safetyMode as string | undefined } });
        process.exitCode = await runRedact(io.stdin, io.stdout, { ...piiOptions(c), stderr: io.stderr, policy: { mode: c.safetyMode, perType: c.safety.perType, severity: c.safety.severity } });
      },
    )
    .command(
      'scan',
      'Report PII found in stdin, one line of output per input line (--injection: prompt injection instead)',
      (y) =>
        y
          .option('injection', {
            type: 'boolean',
            description: 'Read each line for prompt injection instead of PII: {"id","injection":{"score","flagged","signals"}} with --json, flagged lines otherwise',
          })
          .options(optionsFor('scan'))
          .example('$0 scan --json < notes.txt', 'Offsets of every finding')
          .example('$0 scan --injection --json < tool-output.jsonl', 'A prompt-injection verdict per record'),
      async (a) => {
        const [{ loadConfig }, { runScan }] = await Promise.all([import('../config/index.js'), import('./safety.js')]);
        const c = loadConfig({ configPath: a.config as string | undefined });
        process.exitCode = await runScan(io.stdin, io.stdout, { ...piiOptions(c), stderr: io.stderr, json: a.json === true, injection: a.injection === true });
      },
    )
    .demandCommand(1, 'Name a command: start, demo, serve, panel, dashboard, token, secrets, user, audit, redact or scan.')
    .strict()
    // Words are passed on as typed: never `010` → 10, `1e3` → 1000 (an option typed as a number is still read as one).
    .parserConfiguration({ 'populate--': true, 'camel-case-expansion': true, 'parse-numbers': false, 'parse-positional-numbers': false })
    .middleware((a) => {
      // What yargs misreads (src/cli/argv.ts), refused; the options are the command's by now (its builder has run on this one instance).
      const options = (cli as unknown as { getOptions(): { boolean: string[]; number: string[] } }).getOptions();
      const bad = switchValue(argv, new Set(options.boolean));
      if (bad !== null) throw new UsageError(`--${bad.name}: a switch takes no value, or =true or =false (got "${bad.value.slice(0, 40)}")`);
      const empty = numberMissing(argv, options.number, a);
      if (empty !== null) throw new UsageError(`--${empty}: needs a number`);
      if (typeof a.action === 'string') {
        const descriptions = (cli as unknown as { getInternalMethods(): { getUsageInstance(): { getDescriptions(): Record<string, string | undefined> } } })
          .getInternalMethods()
          .getUsageInstance()
          .getDescriptions();
        const other = optionOfAnotherAction(argv, a.action, descriptions);
        const command = a._.map(String).join(' ');
        if (other !== null) throw new UsageError(`--${other.name}: for ${command} ${other.actions.join(', ')} only, not ${command} ${a.action}`);
      }
      if (!serves(a)) startedUp();
    })
    .recommendCommands()
    .epilog(EPILOG)
    .wrap(Math.min(100, (io.stdout as { columns?: number }).columns ?? 100))
    .version(`${VERSION} (commit ${COMMIT})`)
    .alias('h', 'help')
    // Thrown to run() above, which says it on one line and exits 2; the command does not run.
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    })
    // Help and --version are printed here rather than by yargs, which would exit the process
    // after them: the program ends by itself, with nothing else to do.
    .parseAsync(argv, {}, (_err, _argv, output) => {
      if (output) io.stdout.write(`${output}\n`);
    });
}
