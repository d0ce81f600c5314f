import { rmSync } from 'node:fs';
import { basename, extname, resolve } from 'node:path';
import { authService, keyPathFor, loadOrCreateKey, mintLoginLink, renewCommand, TokenService, type RunToken } from '../auth/index.js';
import { BudgetTracker } from '../domain/budget/index.js';
import { injectionWatched, type Config } from '../config/index.js';
import { formatElapsed } from '../core/duration.js';
import { cacheRoots } from '../core/executable.js';
import { newAgentId } from '../core/ids.js';
import type { Logger } from '../core/logger.js';
import { VERSION } from '../core/index.js';
import { agentRoutes } from '../agents/index.js';
import { StateFeed, startServer, tryListen, type RunningServer } from '../server/index.js';
import { onSqlite, RequestsStore, StateManager, TokensStore } from '../state/index.js';
import { agentEnv, AgentSupervisor, cageCredentials, codingAgent, LocalProcessRunner, prepareHome, type AgentOutcome, type AgentProgram, type AgentRunner } from '../supervisor/index.js';
import { PiiProtection, piiService } from '../pii/index.js';
import { AlertDispatcher, deliveryEvent } from '../alerts/index.js';
import { budgetService } from '../budget/index.js';
import { gatewayService } from '../gateway/index.js';
import type { Platform, Service } from '../server/index.js';
import { terminalSink } from './terminal.js';
import { toolsService } from '../tools/index.js';
import { mcpService } from '../mcp/index.js';
import { approvalsService } from '../approvals/index.js';
import { BreakerRegistry, reliabilityService } from '../reliability/index.js';
import { SecretRefs, secretsService } from '../secrets/index.js';
import { reportService } from '../report/index.js';
import { NO_OBSERVER, observabilityService, observers, type Observer } from '../observability/index.js';
import { PauseGate, watchService } from '../watch/index.js';
import { clearStateNames, confineLaunched, egressProxy, offBy, sandboxLine, sandboxRunner, sandboxWeakened, type SandboxChoice } from '../sandbox/index.js';
import { InjectionGuard } from '../injection/index.js';

export interface RuntimeOptions {
  config: Config;
  logger: Logger;
  /** `start` mode: the agent to supervise (a script, or a program found before start). `serve` mode: none. */
  agent?: AgentProgram;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  runner?: AgentRunner;
  /** Whether the agent runs sandboxed (`chooseSandbox`, decided before start); none: not. */
  sandbox?: SandboxChoice;
}

/**
 * One iron-cage process: state, server, and (in `start` mode) the supervised agent.
 * Start order: state → tokens → server → agent. Shutdown is the reverse, and idempotent.
 */
export class Runtime {
  readonly supervisors = new Map<string, AgentSupervisor>();
  services: Service[] = [];
  pii!: PiiProtection;
  agentId: string | null = null;
  agentDone: Promise<AgentOutcome> | null = null;
  /** The login link the start announced (none in a JSON log). */
  startLink: string | null = null;
  private shuttingDown: Promise<void> | null = null;
  /** The sandbox the agent runs in, closed once the agents have ended. */
  private sandbox: { close(): Promise<void> } | null = null;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly state: StateManager,
    readonly tokens: TokenService,
    readonly server: RunningServer,
    /** This process's own admin token (the demo's controls, tests): bound to this process, never printed. */
    readonly adminToken: string,
    readonly alerts: AlertDispatcher,
  ) {}

  get url(): string {
    return this.server.url;
  }

  /**
   * A new one-time admin login link to the dashboard (`/#login=…`), good for
   * `login_link_ttl_minutes`: the page exchanges it for a session. Each call makes another.
   */
  loginLink(): string {
    return `${this.server.url}/#login=${mintLoginLink(new TokensStore(onSqlite(this.state)), { ttlMinutes: this.config.loginLinkTtlMinutes, by: 'runtime' }).link}`;
  }

  /** What the log says about the dashboard at start: the login link, but never into a JSON log (pipelines keep and share those). */
  private announceDashboard(): void {
    const ttl = `${this.config.loginLinkTtlMinutes} min`;
    if (this.config.logFormat === 'json') {
      const renew = renewCommand('dashboard', this.server.url, { '--db': this.config.db }, true);
      return this.logger.info(`Iron Cage ${VERSION} · dashboard ${this.server.url}/ (run \`${renew}\` on this machine for a one-time login link)`);
    }
    this.startLink = this.loginLink();
    this.logger.info(`Iron Cage ${VERSION} · dashboard ${this.startLink} (one-time login link, ${ttl})`);
  }

  static async start(o: RuntimeOptions): Promise<Runtime> {
    const { config, logger } = o;
    const startedAt = Date.now();
    for (const notice of config.notices) logger.warn(notice);
    // One budget tracker: the gateway settles into it, status objects read it.
    const budgets = new BudgetTracker({ thresholds: config.gateway.budgetPolicy.thresholds });
    // The pause gate (src/watch): a paused agent's calls wait at it, bounded by watch.gate; status objects count them.
    const gate = new PauseGate(config.watch.gate);
    // A port in use or a host that cannot be listened on refuses the start before its state file and keys are made.
    const unlistenable = await tryListen(config.host, config.port);
    if (unlistenable) throw unlistenable;
    // A sandboxed run killed before its end may have left empty placeholders over these very names.
    await clearStateNames(resolve(config.db));
    const state = StateManager.open(config.db, { budgets, warn: (m) => logger.warn(m), held: (id) => gate.held(id) });
    state.onListenerError = (err) => logger.error({ err }, 'event subscriber failed');
    let server: RunningServer | undefined;
    let services: Service[] = [];
    let breakers: BreakerRegistry | undefined;
    let alerts: AlertDispatcher | undefined;
    try {
      const { key } = loadOrCreateKey(keyPathFor(config.db));
      const tokens = new TokenService(key);
      const requests = RequestsStore.of(state);
      state.subscribe(terminalSink(logger));
      // The runtime is created before the server knows it; the control closure reads it later.
      let rt: Runtime | undefined;
      const agents = {
        stop: (id: string, by: string) => rt?.stopAgent(id, by) ?? false,
        signal: (id: string, sig: NodeJS.Signals) => rt?.supervisors.get(id)?.signal(sig) ?? 'not-running',
        restart: (id: string, why: string) => rt?.supervisors.get(id)?.restart(why) ?? false,
      };
      // One dispatcher for every alert: budget thresholds and runway, PII findings and the watch share its channels and its record.
      // Each result is recorded as an event, which the terminal prints: the one line per delivered alert.
      alerts = new AlertDispatcher({ webhookUrl: config.alerts.webhookUrl, email: config.alerts.email, logger, logResults: false, onResult: (r) => state.record(deliveryEvent(r)) });
      const pii = new PiiProtection({ config, state, logger, notify: alerts, stopAgent: agents.stop });
      // One judge of prompt injection for every door (tool answers, MCP results, tool results in LLM requests): a text is counted once per agent.
      const injection = injectionWatched(config.safety.injection)
        ? new InjectionGuard(
            config.safety.injection,
            (e) => state.record(e),
            (id) => state.agentBrief(id)?.name ?? null,
          )
        : undefined;
      // One owner of every circuit breaker: the gateway and the tool proxy take theirs from it.
      breakers = new BreakerRegistry({ state, logger });
      const platform: Platform = { config, state, tokens, logger, agents, secrets: new SecretRefs(), env: o.env ?? process.env, url: () => server?.url ?? '' };
      // Every service the runtime starts, in order: each takes the platform and, named, what it needs of another feature.
      const budget = budgetService({ ...platform, tracker: budgets, requests, alerts });
      const vault = secretsService(platform);
      // Tool policies and human approval: the gate the tool proxy and MCP put each call to.
      const approvals = approvalsService({ ...platform, alerts, scrub: (text, domains) => pii.scrubbed(text, domains) });
      // Decisions taken on the control panel's fleet page reach the desk through the report service.
      const report = reportService(platform, { after: vault.ready, budgets: { tracker: budgets, requests }, desk: approvals.desk });
      // Metrics and traces: the gateway and the tool proxy report each call to its observer.
      const redact = (_agentId: string, text: string): string => pii.scrubbed(text);
      const observability = observabilityService({ ...platform, tracker: budgets, breakers, redact, typesIn: (text) => pii.typesIn(text) });
      // Loops, stalls and spend spikes: the watch sees every call beside metrics and traces.
      const watch = watchService({ ...platform, alerts, redact, gate });
      const onError = (err: unknown) => logger.error({ err }, 'an observer failed');
      const observer = observers([observability.observer, watch.observer], onError);
      // The tool proxy's calls also mark which tool leads to the agent's next LLM call (cost per
      // chain), as their rows commit (one turn of the loop, before the answer goes out). An MCP
      // call's row may wait 50 ms for others' (Writer.later), after its answer: its mark is set
      // as the call ends (the MCP feature's `marks`), or the agent's next LLM call could start first.
      const chains: Observer = { ...NO_OBSERVER, toolCall: (c) => budget.marks.toolCall(c) };
      const toolsObserver = observers([observer, chains], onError);
      // A priced MCP call's ledger row is spend like an LLM call's: metrics and the watch hear of it too.
      budget.charges.observer = observer;
      services = [
        authService({ ...platform, tokens }),
        piiService({ ...platform, pii }),
        reliabilityService({ breakers }),
        gatewayService({ ...platform, budget, requests, pii, breakers, observer, gate, injection, policy: approvals.gate }),
        budget,
        toolsService({ ...platform, pii, breakers, observer: toolsObserver, gate, policy: approvals.gate, ...(injection ? { injection } : {}) }),
        mcpService({
          ...platform,
          breakers,
          observer,
          marks: budget.marks,
          gate,
          policy: approvals.gate,
          charges: budget.charges,
          confine: confineLaunched(o.sandbox, config, o.cwd ?? process.cwd()),
          scan: (agentId, location, text, ref) => pii.inspect(agentId, location, text, ref),
          ...(injection ? { injection } : {}),
          redact: (text) => pii.scrubbed(text),
        }),
        vault,
        observability.service,
        watch.service,
        approvals.service,
        // Telemetry to a control panel, only with --panel: in the background, never on the request path.
        ...(report ? [report] : []),
      ];
      // Some are ready only after a network answer (panel secrets): one that fails while the server
      // starts is awaited below, so its error is reported as it is, never as an unhandled rejection.
      const ready = Promise.all(services.map((s) => s.ready));
      ready.catch(() => undefined);
      server = await startServer(
        {
          tokens,
          logger,
          version: VERSION,
          startedAt,
          feed: new StateFeed(state),
          health: () => ({ agents: state.listAgents().length }),
          rawRoutes: services.flatMap((s) => s.rawRoutes ?? []),
          upgradeRoutes: services.flatMap((s) => s.upgradeRoutes ?? []),
          apiRoutes: [
            (app) =>
              app.route(
                '/api',
                agentRoutes({
                  state,
                  control: agents,
                  // A fixed ref: a path into the data could name a key that holds PII.
                  scanEventText: (agentId, text, field) => (field === 'data' ? pii.copyJson(agentId, 'agent.output', text, 'sdk-event') : pii.copy(agentId, 'agent.output', text, 'sdk-event').stored),
                }),
              ),
            ...services.flatMap((s) => s.apiRoutes ?? []),
          ],
          publicRoutes: services.flatMap((s) => s.publicRoutes ?? []),
        },
        { host: config.host, port: config.port, allowedHosts: config.allowedHosts, corsOrigins: config.corsOrigins },
      );
      tokens.renew = renewCommand('dashboard', server.url, { '--db': config.db });
      const own = await tokens.issueOwn({ role: 'admin', name: 'runtime' });
      rt = new Runtime(config, logger, state, tokens, server, own.token, alerts);
      rt.services = services;
      rt.pii = pii;
      // A link an earlier start printed and nobody used is void: a link copied from old logs opens nothing.
      new TokensStore(onSqlite(state)).endLinks(new Date());
      rt.announceDashboard();
      if (alerts.channels.length > 0)
        logger.info(`Alerts go to: ${alerts.channels.map((c) => (c === 'email' ? 'e-mail (budget, watch, approvals)' : 'webhook (budget, PII, watch, approvals)')).join(', ')}`);
      await ready;
      for (const s of services) s.announce?.();
      state.record({ agentId: null, type: 'server.started', severity: 'info', message: `Iron Cage ${VERSION} listening on ${server.url}`, data: { version: VERSION, url: server.url } });
      const cwd = o.cwd ?? process.cwd();
      if (o.agent) await rt.launch(o.agent, o.env ?? process.env, cwd, o.runner ?? rt.runnerFor(o.sandbox, cwd), o.sandbox?.on === true);
      return rt;
    } catch (err) {
      for (const s of services) await s.close?.();
      // Its service closed it above, unless building the services is what failed.
      breakers?.close();
      await alerts?.close();
      await server?.close();
      await state.close();
      throw err;
    }
  }

  /** The sandbox's runner when the choice is on (said in one line either way), else a plain child process. */
  private runnerFor(choice: SandboxChoice | undefined, cwd: string): AgentRunner {
    if (!choice) return new LocalProcessRunner();
    this.warnIfWeakened(choice, cwd);
    const line = sandboxLine(choice, this.config);
    if (choice.on || choice.why === null) this.logger.info(line);
    else this.logger.warn(line);
    if (!choice.on) return new LocalProcessRunner({ sandboxed: false, why: choice.why ?? `turned off (${offBy(this.config)})` });
    const runner = sandboxRunner(choice, this.config, this.server.port, (s) => this.server.accept(s));
    if (this.config.sandbox.allow.length > 0) this.server.proxy(egressProxy(this.config.sandbox.allow, this.tokens, this.state));
    this.sandbox = runner;
    return runner;
  }

  /** A config changed while the last sandboxed agent could write it, and this start's sandbox is wider for it: said loudly, and kept. */
  private warnIfWeakened(choice: SandboxChoice, cwd: string): void {
    const w = sandboxWeakened([this.config.configFile], this.state.listAgents(), choice, this.config, cwd);
    if (!w) return;
    const rule = '!'.repeat(78);
    this.logger.warn(rule);
    this.logger.warn(`THE SANDBOX IS WEAKER THAN IN THE LAST SANDBOXED RUN: ${w.wider.join('; ')}.`);
    this.logger.warn(`It comes from ${w.file}, changed at ${w.changedAt} while the sandboxed agent ${w.agentName} (${w.agentId}) was running: that agent may have written it.`);
    this.logger.warn(`If you did not make this change, stop now (Ctrl-C), read ${w.file} and restore it.`);
    this.logger.warn(rule);
    this.state.record({
      agentId: null,
      type: 'sandbox.weakened',
      severity: 'critical',
      message: `Sandbox weaker than in ${w.agentId}'s run (${w.wider.join('; ')}): ${w.file} changed at ${w.changedAt}, while that sandboxed agent was running`,
      data: { file: w.file, changedAt: w.changedAt, agentId: w.agentId, wider: w.wider },
    });
  }

  private async launch(agent: AgentProgram, env: NodeJS.ProcessEnv, cwd: string, runner: AgentRunner, sandboxed: boolean): Promise<void> {
    const { config } = this;
    const program: AgentProgram = 'command' in agent ? agent : { script: resolve(cwd, agent.script), args: agent.args };
    const path = 'command' in program ? program.command : program.script;
    const id = newAgentId(path);
    // One token per agent process: a restart gets a fresh one and the last one's holder (the
    // exited process, anything it leaked to) is refused from then on, as it is once the run ends.
    let run: RunToken | null = null;
    const freshToken = async (): Promise<string> => {
      run?.end();
      run = await this.tokens.issueRun({ name: id, agentId: id, ttlSeconds: config.agentTokenTtlHours * 3600 });
      return run.token;
    };
    // A coding agent iron-cage knows (claude, codex): pointed at the cage the way it is configured, its configuration home the run's own.
    const known = 'command' in program ? codingAgent(program.command) : null;
    const home = known ? prepareHome(known, cacheRoots(env), id, { url: this.url, sandboxed }) : null;
    if (known && home) this.logger.info(`${known.name}: its model calls go through the cage; its configuration for this run is in ${home} (removed when the run ends)`);
    const sup = new AgentSupervisor({
      agentId: id,
      name: config.name ?? ('command' in program ? basename(path) : basename(path, extname(path))),
      python: config.python,
      program,
      cwd,
      ...(home ? { write: [home] } : {}),
      limitMicros: config.budgetMicros,
      restart: config.restart,
      gracePeriodMs: config.gracePeriodMs,
      state: this.state,
      runner,
      filterLine: (_stream, line) => this.pii.filterLine(id, line),
      // The exited process's token dies with it, through the restart backoff too.
      onProcessExit: () => run?.end(),
      environment: config.environment,
      env: async (restarts) => {
        const token = await freshToken();
        const extra = Object.assign({}, ...(await Promise.all(this.services.map((s) => s.agentEnv?.(id, token) ?? {}))));
        if (known && home) Object.assign(extra, known.env({ home, token, sandboxed }));
        return agentEnv({ base: env, withhold: cageCredentials(config, env), url: this.url, agentId: id, token, restarts, extra, ...(known ? { drop: known.unset } : {}) });
      },
    });
    void sup.done.then(() => {
      run?.end();
      if (home) rmSync(home, { recursive: true, force: true });
    });
    this.supervisors.set(id, sup);
    this.agentId = id;
    this.agentDone = sup.done;
    await sup.start();
  }

  stopAgent(id: string, requestedBy: string): boolean {
    const sup = this.supervisors.get(id);
    if (!sup?.running) return false;
    void sup.stop(requestedBy);
    return true;
  }

  /**
   * Stop agents (forwarding `signal`), close the server, flush and close the database.
   * `afterAgents` runs once the agents have ended, while the server still answers (`start`'s summary).
   */
  shutdown(reason: string, signal: NodeJS.Signals = 'SIGTERM', afterAgents?: () => Promise<void>): Promise<void> {
    this.shuttingDown ??= (async () => {
      const running = [...this.supervisors.values()].filter((s) => s.running);
      if (running.length > 0) {
        this.logger.info(`${reason}: stopping ${running.length === 1 ? 'the agent' : `${running.length} agents`} (grace ${formatElapsed(this.config.gracePeriodMs)})`);
      }
      await Promise.all(running.map((s) => s.stop(reason, signal)));
      await afterAgents?.().catch((err: unknown) => this.logger.error({ err }, 'after the agents stopped'));
      await this.sandbox?.close();
      this.state.record({ agentId: null, type: 'server.stopping', severity: 'info', message: `Iron Cage stopping: ${reason}`, data: { reason } });
      for (const s of this.services) await s.stopping?.();
      await this.server.close();
      for (const s of this.services) await s.close?.();
      // After every service that sends alerts; before the database its delivery records go to.
      await this.alerts.close();
      await this.state.close();
    })();
    return this.shuttingDown;
  }

  /** A second interrupt: no more grace. */
  killAgents(): void {
    for (const s of this.supervisors.values()) s.kill();
  }
}
