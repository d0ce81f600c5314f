import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { yaml } from '../core/on-first-use.js';
import { loadConfig, type Config } from '../config/index.js';
import { chooseSandbox } from '../sandbox/index.js';
import { ConfigError } from '../core/errors.js';
import { printedCommand, selfCommand, shellWord } from '../core/invocation.js';
import { formatUsd, usdToMicros } from '../core/money.js';
import { createLogger } from '../core/logger.js';
import { claimDataDir, portFree, refuseForeign } from './datadir.js';
import { demoFiles, PACE_SECONDS } from './files.js';
import { fetchResults, resultsTable } from './results.js';
import { loadScenario, type Scenario } from './scenario.js';
import { startController, type Pace } from './controller.js';
import { MAIL_SERVICE, startDemoServices, type DemoServices } from './services.js';
import { startSmtpSink, type SmtpSink } from './smtp-sink.js';
import { createTerminal, type DemoTerminal } from './terminal.js';
import { onSqlite, SecretsStore, StateManager, writePrivateFile } from '../state/index.js';
import { VaultService } from '../secrets/index.js';
import { boot, checkPython, type Runtime } from '../runtime/index.js';

// `iron-cage demo` is `iron-cage start demo/lead_gen_agent.py --budget 50 --exit` with the
// demo's own config, its mock services and SMTP sink on loopback ports, a demo vault, a stage
// hand acting through the REST API, and a results table at the end. Same Runtime, same boot.

export interface DemoArgs {
  pace?: string;
  keep?: boolean;
  db?: string;
  port?: string;
  quiet?: boolean;
  /** `--sandbox`: off, auto (the default) or on, as for start. */
  sandbox?: string;
  /** Keep the dashboard up after the run until Ctrl-C; default: when the output is a terminal. */
  stay?: boolean;
}

/** Printed as what it is: anyone who reads the source knows it. */
export const DEMO_MASTER_KEY = 'iron-cage-demo-master-key (a demo: never use it for real secrets)';
/** Seeded into a fresh demo vault; the provider key and tool headers refer to them. */
export const DEMO_SECRETS: Readonly<Record<string, string>> = {
  OPENAI_API_KEY: 'sk-demo-original-0000000000000000',
  LINKEDIN_TOKEN: 'li-demo-token-0000000000000000',
  CLEARBIT_KEY: 'cb-demo-key-0000000000000000',
  MAILER_KEY: 'ml-demo-key-0000000000000000',
};

/**
 * The command that shows this run again, vault included: `serve` on the demo's database, with
 * the demo's master key set for that command (its breakers come from the database itself).
 *
 * @example
 * lookAgain('/tmp/iron_demo.db') // "IRON_CAGE_MASTER_KEY='iron-cage-demo-master-key (…)' npx iron-cage serve --db /tmp/iron_demo.db" (through npx)
 */
export function lookAgain(db: string, self = selfCommand()): string {
  return `IRON_CAGE_MASTER_KEY=${shellWord(DEMO_MASTER_KEY)} ${printedCommand('serve', { '--db': db }, self)}`;
}

/** How long the end of the run waits for the budget e-mail still on its way. */
const MAIL_WAIT_MS = 10_000;

const PACES: readonly Pace[] = ['fast', 'default', 'talk'];

/** A named pace, or seconds per lead (0-60) for a run timed by hand; those approve like `default`. */
function parsePace(p: string | undefined): { pace: Pace; seconds: number; label: string } {
  if (p === undefined) return { pace: 'default', seconds: PACE_SECONDS.default, label: 'default' };
  if ((PACES as readonly string[]).includes(p)) return { pace: p as Pace, seconds: PACE_SECONDS[p as Pace], label: p };
  const n = /^(\d+(\.\d*)?|\.\d+)$/.test(p) ? Number(p) : NaN;
  if (!(n >= 0 && n <= 60)) throw new ConfigError(`--pace: must be fast, default, talk or seconds per lead from 0 to 60 (got "${p}")`);
  return { pace: 'default', seconds: n, label: `${n} s/lead` };
}

/**
 * demo/iron-cage.yaml with this run's loopback URLs filled in and the scenario's budget and
 * approval amount (one source for each), written beside the database.
 */
function writeConfig(source: string, dataDir: string, scenario: Scenario, services: DemoServices, sink: SmtpSink): string {
  const doc = yaml().parseDocument(readFileSync(source, 'utf8'));
  doc.set('budget', scenario.budgetUsd);
  doc.setIn(['budget_policy', 'min_increase_usd'], scenario.triggers.budgetWarning.approveUsd);
  doc.setIn(['providers', 'openai', 'base_url'], services.llmUrl);
  doc.setIn(['tools', 'linkedin', 'url'], services.linkedinUrl);
  doc.setIn(['tools', 'clearbit', 'url'], services.clearbitUrl);
  doc.setIn(['tools', MAIL_SERVICE, 'url'], services.mailerUrl);
  doc.setIn(['alerts', 'email', 'smtp_url'], sink.url);
  if (!doc.hasIn(['alerts', 'email', 'to'])) doc.setIn(['alerts', 'email', 'to'], 'ops@company.com');
  const out = join(dataDir, 'iron-cage.yaml');
  writePrivateFile(out, `# Written by iron-cage demo from ${source}, with this run's ports.\n${doc.toString()}`);
  return out;
}

/** The demo secrets, in the database before the runtime reads the config's references. */
async function seedVault(config: Config): Promise<void> {
  const state = StateManager.open(config.db);
  try {
    const vault = await VaultService.open({ store: new SecretsStore(onSqlite(state)), state }, DEMO_MASTER_KEY);
    if (vault.status !== 'unlocked') throw new ConfigError(`--db: the vault in ${config.db} has another master key (start without --keep)`);
    const admin = { role: 'admin', agentId: null, name: 'demo', jti: '' } as const;
    const have = new Set((await vault.list(admin, config.environment)).map((s) => s.name));
    for (const [name, value] of Object.entries(DEMO_SECRETS)) {
      if (!have.has(name)) await vault.create(admin, { name, environment: config.environment, value });
    }
  } finally {
    await state.close();
  }
}

/**
 * A kept database remembers its breakers (an OPEN circuit from the last run): an admin resets
 * them through the API before the agent starts, so every run begins CLOSED and counts the same.
 */
async function resetBreakers(config: Config, env: NodeJS.ProcessEnv, logger: ReturnType<typeof createLogger>): Promise<void> {
  const rt = await boot({ ...config, port: 0 }, undefined, { logger, env });
  try {
    const post = (service: string) => fetch(`${rt.url}/api/breakers/${encodeURIComponent(service)}/reset`, { method: 'POST', headers: { authorization: `Bearer ${rt.adminToken}` } });
    const view = (await (await fetch(`${rt.url}/api/breakers`, { headers: { authorization: `Bearer ${rt.adminToken}` } })).json()) as { services: Array<{ service: string; state: string }> };
    for (const b of view.services.filter((v) => v.state !== 'CLOSED')) {
      const res = await post(b.service);
      if (!res.ok) throw new Error(`POST /api/breakers/${b.service}/reset: ${res.status} ${await res.text()}`);
    }
  } finally {
    await rt.shutdown('demo --keep: breakers reset before the run');
  }
}

/** The warning's e-mail may still be on its way when the last lead is done. */
async function waitFor(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((done) => (timer = setTimeout(done, ms)))]);
  clearTimeout(timer);
}

/** Parts started before the runtime, closed after it (or on a failed start). */
async function closeAll(parts: Array<{ close(): Promise<void> } | null>): Promise<void> {
  for (const p of parts) await p?.close().catch(() => {});
}

/**
 * `iron-cage demo`: bad flags or a scenario that cannot land fail with ConfigError (exit 2)
 * before anything is deleted or started.
 *
 * @example
 * await runDemo({ pace: 'fast', db: './iron_demo.db', port: '0', quiet: true });
 */
export async function runDemo(a: DemoArgs): Promise<void> {
  const { pace, seconds, label } = parsePace(a.pace);
  if (a.db === '') throw new ConfigError('--db: must not be empty');
  const files = demoFiles();
  const db = resolve(a.db ?? './iron_demo.db');
  // Flags are checked before anything is deleted or started.
  const checked = loadConfig({ configPath: files.config, flags: { port: a.port, db, sandbox: a.sandbox } });
  checkPython(checked.python, process.env);
  const sandbox = chooseSandbox(checked);
  let port = a.port;
  let portNote: string | null = null;
  if (!(await portFree(checked.host, checked.port))) {
    if (a.port !== undefined) throw new ConfigError(`--port: ${checked.port} on ${checked.host} is in use (choose another, or 0 for any free port)`);
    port = '0';
    portNote = `Port ${checked.port} is in use: the dashboard is on a free port instead`;
  }
  // A --db that is not the demo's, refused before the scenario's check: that check (its moments'
  // spend predicted lead by lead with the tokenizer, its injection flagged and no other record)
  // costs ~1 s of CPU a refused flag need not wait for. claimDataDir asks again as it claims.
  refuseForeign(db, a.keep === true);
  const scenario = loadScenario(files.scenario);

  // Ctrl-C at any point stops what was started and exits 0: setup looks between its steps; once
  // the runtime is up the handler shuts it down (a second Ctrl-C kills the agent at once). Installed
  // before the data folder is claimed: a Ctrl-C right after the lock is taken must not kill the
  // process with the lock left behind.
  const parts: Array<{ close(): Promise<void> } | null> = [];
  let runtime: Runtime | null = null;
  let interrupted = false;
  const terminal: DemoTerminal = createTerminal({ quiet: a.quiet, planMsPerLead: seconds * 1000 });
  const stopAll = async (why: string, sig?: NodeJS.Signals): Promise<void> => {
    await runtime?.shutdown(why, sig);
    terminal.close();
    await closeAll(parts);
  };
  const onSignal = (sig: NodeJS.Signals): void => {
    if (interrupted) return runtime?.killAgents();
    interrupted = true;
    if (runtime)
      stopAll(`received ${sig}`, sig).then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  const dataDir = claimDataDir(db, a.keep === true);
  const setupStep = async <T>(step: () => Promise<T>): Promise<T> => {
    let out: T;
    try {
      out = await step();
    } catch (err) {
      await stopAll('demo setup failed');
      throw err;
    }
    if (interrupted) {
      await stopAll('interrupted during setup');
      process.exit(0);
    }
    return out;
  };

  const svc = await setupStep(() => startDemoServices(scenario));
  parts.push(svc);
  const mail = await setupStep(() => startSmtpSink(join(dataDir, 'mail')));
  parts.push(mail);
  const config = await setupStep(async () => {
    const c = loadConfig({ configPath: writeConfig(files.config, dataDir, scenario, svc, mail), flags: { port, db, sandbox: a.sandbox } });
    await seedVault(c);
    return c;
  });
  const logger = createLogger({ format: 'pretty', level: a.quiet ? 'warn' : 'info', stream: terminal.stream, color: terminal.live });
  const env = { ...process.env, IRON_CAGE_MASTER_KEY: DEMO_MASTER_KEY, DEMO_PACE_S: String(seconds) };
  if (a.keep) await setupStep(() => resetBreakers(config, env, logger));
  const started = Date.now();
  const rt = await setupStep(async () => (runtime = await boot(config, { script: files.agent, args: [] }, { logger, env, sandbox })));
  const agentId = rt.agentId!;
  // The login link is printed once: by the start line above, or here when that line was not shown (--quiet, a JSON log).
  const linkShown = rt.startLink !== null && logger.isLevelEnabled('info');
  terminal.say(
    `Iron Cage demo at ${label} pace: ${scenario.leads} leads, budget ${formatUsd(usdToMicros(scenario.budgetUsd))}. ${linkShown ? 'Open the dashboard link above' : `Dashboard: ${rt.loginLink()}`}`,
  );
  if (portNote) terminal.say(portNote);
  terminal.say(`Demo vault master key: "${DEMO_MASTER_KEY}". The budget e-mail goes to a local SMTP sink: ${mail.dir}`);
  const controller = startController({
    subscribe: (l) => rt.state.subscribe(l),
    url: rt.url,
    adminToken: rt.adminToken,
    agentId,
    environment: config.environment,
    scenario,
    pace,
    say: terminal.say,
  });
  // The upstream holds its answer to the last call of the lead before the rotation until the
  // admin's PUT has returned: the next lead's first call carries the new key, every run.
  svc.atLeadEnd(scenario.triggers.rotation.lead - 1, () => controller.rotate());
  const offProgress = rt.state.subscribe((ev) => {
    if (ev.agentId !== agentId || (ev.type !== 'agent.progress' && ev.type !== 'llm.request')) return;
    const agent = rt.state.getAgent(agentId);
    if (agent) terminal.progress({ done: agent.progress.done, total: agent.progress.total ?? scenario.leads, spentUsd: agent.budget?.spentUsd ?? 0, limitUsd: agent.budget?.limitUsd ?? null });
  });

  const outcome = await rt.agentDone!;
  offProgress();
  if (interrupted) return controller.stop();
  if (controller.triggers.budgetWarning !== null) await waitFor(controller.warningMailed, MAIL_WAIT_MS);
  controller.stop();
  await controller.settled();
  const results = await fetchResults({
    url: rt.url,
    adminToken: rt.adminToken,
    agentId,
    breakerService: scenario.triggers.breaker.service,
    runTimeMs: Date.now() - started,
    triggers: controller.triggers,
    mails: mail.received().map((m) => m.file),
    keysSeen: svc.keysSeen(),
    injection: controller.injection,
    mailService: MAIL_SERVICE,
  });
  terminal.close();
  terminal.print(resultsTable(results));
  writePrivateFile(join(dataDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  // Every scripted moment is part of the demo: one that did not fire is a failed run.
  const missed = Object.entries(controller.triggers)
    .filter(([, lead]) => lead === null)
    .map(([name]) => `${name} did not fire`);
  const ok = outcome.status === 'completed' && controller.failures.length === 0 && missed.length === 0;
  terminal.say(
    ok
      ? `Done. Results in ${join(dataDir, 'results.json')}; the database is ${db}; to look again: ${lookAgain(db)}`
      : `The demo did not finish cleanly: agent ${outcome.status}${[...controller.failures, ...missed].map((f) => `; ${f}`).join('')}`,
  );
  // A presenter shows the final results on the dashboard: it stays up for a person, not for CI.
  if (a.stay ?? (process.stdout as { isTTY?: boolean }).isTTY === true) {
    terminal.say(`The dashboard stays up with the final results at ${rt.url} (an open tab stays logged in; to open another: ${rt.loginLink()}) — press Ctrl-C to exit`);
    return;
  }
  await stopAll(`demo ${outcome.status}`);
  process.exit(ok ? 0 : 1);
}
