import { checkPanelConfig, loadConfig, type Config, type FlagValues } from '../config/index.js';
import { escapeControl } from '../core/logger.js';
import { chooseSandbox, confineCheck, confineLaunched, refuseLinkedCageFiles } from '../sandbox/index.js';
import { agentLanguage, type AgentProgram } from '../supervisor/index.js';
import { boot, checkCommand, checkPython, checkScript, checkSyntax, holdSignals, fetchRunSummary, onSignals, renderTable, summaryRows, type Runtime } from '../runtime/index.js';

export interface ServeArgs extends FlagValues {
  config?: string;
}

/** `start agent.py [args..]` names a script; `start [options] -- <command> [args...]` a command (its first word). */
export interface StartArgs extends ServeArgs {
  script?: string;
  command?: string;
  args: string[];
}

/** Fails with ConfigError (exit 2) for anything wrong with the request, before starting anything. */
function prepare(args: ServeArgs): Config {
  const config = loadConfig({ configPath: args.config, flags: args });
  // The panel's URL, token and CA too: a refusal that waited for the reporting service came after the state file was made.
  checkPanelConfig(config.panel);
  return config;
}

export async function runStart(args: StartArgs): Promise<void> {
  const config = prepare(args);
  const cwd = process.cwd();
  const agent = agentOf(args, config, cwd);
  const sandbox = chooseSandbox(config);
  // Its stdio MCP servers resolved and checked now, before anything starts (the runtime launches them from these).
  confineLaunched(sandbox, config, cwd);
  if (sandbox.on) refuseLinkedCageFiles(config, cwd);
  const language = 'script' in agent ? agentLanguage(agent.script) : null;
  if ('script' in agent && language) checkSyntax(language === 'python' ? config.python : process.execPath, language, agent.script, cwd, confineCheck(sandbox, config, cwd));
  const started = Date.now();
  const gate = holdSignals();
  const rt = await boot(config, agent, { sandbox });
  // Once, when the agent has ended: by itself, or stopped by Ctrl-C (before the server closes).
  let summarized: Promise<void> | null = null;
  const summary = (): Promise<void> => (summarized ??= printSummary(rt, Date.now() - started));
  onSignals(rt, undefined, summary, gate);
  const outcome = await rt.agentDone!;
  await summary();
  if (config.exitWithAgent) {
    await rt.shutdown(`agent ${outcome.status}`);
    process.exit(outcome.exitCode ?? (outcome.status === 'stopped' ? 0 : 1));
  }
  rt.logger.info(`Agent ${outcome.status}; the dashboard stays up at ${rt.url} — press Ctrl-C to exit`);
}

/**
 * What `start` runs, found before anything starts (each refusal one line and exit 2): a script,
 * runnable by its extension (its syntax is checked once the sandbox is chosen); or a command found
 * on PATH or by its path. A command whose first word names a script (`start -- agent.py`) runs as
 * `start agent.py` does.
 */
function agentOf(args: StartArgs, config: Config, cwd: string): AgentProgram {
  const script = args.script ?? (args.command !== undefined && agentLanguage(args.command) ? args.command : undefined);
  if (script === undefined) return { command: checkCommand(args.command ?? '', cwd, process.env), args: args.args };
  // A Node agent runs on this very Node; only a Python one needs its interpreter found.
  if (checkScript(script, cwd).language === 'python') checkPython(config.python, process.env);
  return { script, args: args.args };
}

/** The end-of-run summary: a table in the terminal, one record in a JSON log. */
async function printSummary(rt: Runtime, runTimeMs: number): Promise<void> {
  const s = await fetchRunSummary({ url: rt.url, adminToken: rt.adminToken, agentId: rt.agentId!, runTimeMs, named: rt.config.name !== null });
  if (rt.config.logFormat === 'json') return rt.logger.info({ summary: s }, 'Run summary');
  // Names and models may come from the agent: shown, never obeyed.
  process.stdout.write(escapeControl(renderTable('Run summary', summaryRows(s)), { lines: true }));
}

export async function runServe(args: ServeArgs): Promise<void> {
  const config = prepare(args);
  // Its stdio MCP servers' commands found now (no agent, no sandbox): a refusal after the state file was made left it behind.
  confineLaunched(undefined, config, process.cwd());
  const gate = holdSignals();
  const rt = await boot(config);
  onSignals(rt, undefined, undefined, gate);
  rt.logger.info(`Serving ${rt.state.listAgents().length} recorded agent run(s) from ${config.db} — press Ctrl-C to exit`);
}
