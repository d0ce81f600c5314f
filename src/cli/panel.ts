import { loadConfig, type Config, type FlagValues } from '../config/index.js';
import { ConfigError, ConflictError, NotFoundError, UnavailableError, ValidationError } from '../core/errors.js';
import { createLogger, escapeControl } from '../core/logger.js';
import { formatUsd } from '../core/money.js';
import { usdInput } from '../core/validation.js';
import { checkScope } from '../domain/secrets/index.js';
import { addRuntime, createMetricsToken, describeBudget as describe, panelLoginLink, tellReplicas } from '../panel/index.js';
import { holdSignals, Panel, planPanel, startError } from '../runtime/index.js';
import { onPostgres, BUDGET_ID, BUDGET_PERIODS, BudgetsStore, openPostgres, TokensStore, RuntimesStore, type BudgetPeriod, type BudgetScope } from '../state/index.js';

export interface PanelArgs extends FlagValues {
  config?: string;
  json?: boolean;
}

export interface PanelRuntimeArgs extends PanelArgs {
  action: 'add' | 'rm' | 'list' | 'secrets';
  name?: string;
  user?: string;
  /** Comma-separated names and PREFIX_* patterns. */
  secrets?: string;
}

function prepare(a: PanelArgs): Config {
  return loadConfig({ configPath: a.config, flags: a });
}

/** `iron-cage panel`: serve the control panel until SIGINT/SIGTERM. */
export async function runPanel(a: PanelArgs): Promise<void> {
  const config = prepare(a);
  planPanel(config);
  const logger = createLogger({ format: config.logFormat, level: config.verbose ? 'debug' : 'info' });
  const gate = holdSignals();
  let panel: Panel;
  try {
    panel = await Panel.start({ config, logger });
  } catch (err) {
    const e = startError(config, err);
    if (e instanceof ConfigError || !databaseAway(e)) throw e;
    // The database is the one thing the panel cannot do without: one line naming it (never its password), exit 1.
    process.stderr.write(`iron-cage: ${escapeControl((e as Error).message, { lines: true })}\n`);
    process.exit(1);
  }
  gate.open((sig) => {
    panel.shutdown(`received ${sig}`).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
}

/** Whether `e` says the panel's PostgreSQL cannot be reached or used (its message names it, never the password). */
const databaseAway = (e: unknown): boolean => /PostgreSQL|panel's tables/.test((e as Error)?.message ?? '');

/** Open the panel's database for a one-shot command (migrated, as the panel would); one that cannot be reached is one line, exit 1. */
async function withDb<T>(a: PanelArgs, fn: (pg: Awaited<ReturnType<typeof openPostgres>>, config: Config) => Promise<T>): Promise<T> {
  const config = prepare(a);
  const { database } = planPanel({ ...config, host: '127.0.0.1', tls: { cert: null, key: null } });
  let pg: Awaited<ReturnType<typeof openPostgres>>;
  try {
    pg = await openPostgres(database);
  } catch (e) {
    if (databaseAway(e)) throw new UnavailableError((e as Error).message, 1);
    throw e;
  }
  try {
    return await fn(pg, config);
  } finally {
    await pg.close();
  }
}

/** `--secrets A,B_*` as the scope's patterns, checked (exit 2 naming the bad one). */
function scopeOf(a: PanelRuntimeArgs): string[] {
  if (a.secrets === undefined) {
    if (a.action === 'secrets') throw new ConfigError(`panel runtime secrets: give --secrets NAME,PREFIX_* (or --secrets '' for none)`);
    return [];
  }
  if (a.action !== 'add' && a.action !== 'secrets') throw new ConfigError(`--secrets: only for panel runtime add and panel runtime secrets`);
  const patterns = a.secrets
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  try {
    return checkScope(patterns);
  } catch (e) {
    throw new ConfigError(`--${(e as Error).message}`);
  }
}

/** `iron-cage panel runtime add|rm|list|secrets`: runtimes, their tokens and secret scopes without the browser (ops scripts, tests). */
export async function runPanelRuntime(a: PanelRuntimeArgs): Promise<void> {
  if (a.action !== 'list' && !a.name) throw new ConfigError(`panel runtime ${a.action}: name the runtime (iron-cage panel runtime ${a.action} NAME)`);
  const secrets = scopeOf(a);
  await withDb(a, async (pg) => {
    const store = new RuntimesStore(pg.db);
    if (a.action === 'add') {
      // What the REST route answers 400 is a bad command line here (exit 2).
      const added = await addRuntime(store, { id: a.name!, userId: a.user ?? null, secrets }).catch((e: unknown) => {
        throw e instanceof ValidationError || e instanceof ConflictError ? new ConfigError(`panel runtime add: ${e.message}`) : e;
      });
      if (a.json) return void process.stdout.write(`${JSON.stringify({ id: added.runtime.id, token: added.token, tokenId: added.tokenId })}\n`);
      process.stdout.write(
        `${added.token}\n\nRuntime '${added.runtime.id}' added; the token above is shown once. On that machine:\n  iron-cage start agent.py --panel <this panel's URL> --panel-token <token>\n`,
      );
    } else if (a.action === 'secrets') {
      const row = await store.setSecrets(a.name!, secrets);
      if (!row) throw new ConfigError(`panel runtime secrets: no runtime '${a.name}'`);
      if (a.json) return void process.stdout.write(`${JSON.stringify(row)}\n`);
      process.stdout.write(`Runtime '${a.name}' may read ${secrets.length === 0 ? 'no panel secret' : secrets.join(', ')} (from its next poll, within seconds).\n`);
    } else if (a.action === 'rm') {
      const removed = await store.remove(a.name!);
      if (!removed) throw new ConfigError(`panel runtime rm: no runtime '${a.name}'`);
      await tellReplicas(pg.pool, 'tokens').catch(() => undefined);
      if (a.json) return void process.stdout.write(`${JSON.stringify(removed)}\n`);
      const back = removed.reclaimedMicros > 0 ? `; ${formatUsd(removed.reclaimedMicros)} of its central budget leases returned to the budgets` : '';
      process.stdout.write(`Runtime '${a.name}' removed; ${removed.revoked} token(s) revoked (every running replica of the panel refuses them at once)${back}.\n`);
    } else {
      const rows = await store.list();
      if (a.json) return void process.stdout.write(`${JSON.stringify(rows)}\n`);
      for (const r of rows)
        process.stdout.write(
          `${r.id}\tuser ${r.userId === null ? '-' : escapeControl(r.userId)}\tlast seq ${r.lastSeq}\tbehind ${r.behind}\t${r.lastSeenAt ? new Date(r.lastSeenAt).toISOString() : 'never seen'}\tsecrets ${r.secrets.length === 0 ? '-' : r.secrets.join(',')}\n`,
        );
    }
  });
}

export interface PanelTokenArgs extends PanelArgs {
  action: 'create' | 'list' | 'revoke';
  name?: string;
  role?: string;
}

/**
 * `iron-cage panel token create|list|revoke`: a scraper's `metrics` token (GET /metrics only),
 * the panel's live tokens, or one revoked, straight in its database (a running panel refuses a
 * revoked token at once, as after `panel runtime rm`: every replica is told).
 */
export async function runPanelToken(a: PanelTokenArgs): Promise<void> {
  if (a.action !== 'list' && !a.name) throw new ConfigError(`panel token ${a.action}: name the token (iron-cage panel token ${a.action} NAME)`);
  if (a.role !== undefined && a.role !== 'metrics') throw new ConfigError(`--role: a panel makes metrics tokens here (people sign in; runtimes get theirs with panel runtime add), got "${a.role}"`);
  await withDb(a, async (pg) => {
    const store = new TokensStore(onPostgres(pg.db));
    if (a.action === 'create') {
      const t = await createMetricsToken(store, a.name!).catch((e: unknown) => {
        throw e instanceof ValidationError ? new ConfigError(`panel token create: ${e.message}`) : e;
      });
      if (a.json) return void process.stdout.write(`${JSON.stringify(t)}\n`);
      process.stdout.write(`${t.token}\n\nMetrics token '${t.name}' (${t.id}) created; shown once. Prometheus sends it as a bearer token to GET /metrics (it may read nothing else).\n`);
    } else if (a.action === 'revoke') {
      const revoked = await store.revoke(a.name!, { only: { kind: 'api', role: 'metrics' } });
      if (revoked.length > 0) await tellReplicas(pg.pool, 'tokens').catch(() => undefined);
      if (revoked.length === 0)
        throw new ConfigError(`panel token revoke: no active metrics token '${a.name}' (sessions end with panel user rm or DELETE /api/tokens/:id; runtime tokens with panel runtime rm)`);
      if (a.json) return void process.stdout.write(`${JSON.stringify(revoked.map(({ hash: _h, ...t }) => t))}\n`);
      process.stdout.write(`Revoked ${revoked.map((t) => `${escapeControl(t.name)} (${t.id})`).join(', ')} (every running replica of the panel refuses it at once).\n`);
    } else {
      const rows = (await store.list()).map(({ hash: _h, ...t }) => t);
      if (a.json) return void process.stdout.write(`${JSON.stringify(rows)}\n`);
      for (const t of rows)
        process.stdout.write(
          `${t.id}\t${t.role}\t${t.kind}\t${escapeControl(t.name)}${t.runtimeId ? `\truntime ${t.runtimeId}` : ''}${t.expiresAt ? `\texpires ${t.expiresAt}` : ''}${t.revokedAt ? `\trevoked ${t.revokedAt}` : ''}\n`,
        );
    }
  });
}

/** `iron-cage panel link`: a new one-time admin login link, written to the panel's database (a running panel accepts it at once). */
export async function runPanelLink(a: PanelArgs): Promise<void> {
  await withDb(a, async (pg, config) => {
    const link = await panelLoginLink(new TokensStore(onPostgres(pg.db)), { ttlMinutes: config.loginLinkTtlMinutes, by: 'cli' });
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const scheme = config.tls.cert ? 'https' : 'http';
    const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${config.port}/#login=${link}`;
    process.stdout.write(a.json ? `${JSON.stringify({ url })}\n` : `${url}\n\nOpen it within ${config.loginLinkTtlMinutes} min; it works once and opens an admin session.\n`);
  });
}

export interface PanelBudgetArgs extends PanelArgs {
  action: 'set' | 'list' | 'rm';
  id?: string;
  limit?: string;
  period?: string;
  fleet?: boolean;
  agent?: string;
  user?: string;
  team?: boolean;
  agents?: string;
  users?: string;
}

/** `--agents a,b` as names: split on commas, trimmed, none empty. */
function nameList(flag: string, text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  const names = text.split(',').map((n) => n.trim());
  if (names.some((n) => n === '')) throw new ConfigError(`panel budget set: ${flag}: "${text}" holds an empty name (write --${flag.slice(2)} a,b)`);
  return names;
}

/** The scope and names the flags give (one of --fleet, --agent, --user, --team), or none. */
function scopeFlags(a: PanelBudgetArgs): { scope: BudgetScope; agents: string[]; users: string[] } | null {
  const given = (['fleet', 'agent', 'user', 'team'] as const).filter((k) => a[k] !== undefined && a[k] !== false);
  if (given.length > 1) throw new ConfigError(`panel budget set: give one of --fleet, --agent, --user, --team (got --${given.join(', --')})`);
  const agents = nameList('--agents', a.agents);
  const users = nameList('--users', a.users);
  if ((agents || users) && given[0] !== 'team') throw new ConfigError('panel budget set: --agents and --users go with --team (one agent: --agent NAME; one user: --user NAME)');
  for (const k of ['agent', 'user'] as const) if (a[k] !== undefined && (typeof a[k] !== 'string' || a[k] === '')) throw new ConfigError(`panel budget set: --${k} needs a name`);
  if (given[0] === undefined) return null;
  if (given[0] === 'fleet') return { scope: 'fleet', agents: [], users: [] };
  if (given[0] === 'agent') return { scope: 'agent', agents: [a.agent!], users: [] };
  if (given[0] === 'user') return { scope: 'user', agents: [], users: [a.user!] };
  if (!agents && !users) throw new ConfigError('panel budget set: --team needs --agents a,b and/or --users u1,u2');
  return { scope: 'team', agents: agents ?? [], users: users ?? [] };
}

/** `iron-cage panel budget set|list|rm`: central budgets straight in the panel's database (a running panel sees them at its next lease call). */
export async function runPanelBudget(a: PanelBudgetArgs): Promise<void> {
  if (a.action !== 'list' && !a.id) throw new ConfigError(`panel budget ${a.action}: name the budget (iron-cage panel budget ${a.action} ID)`);
  if (a.action === 'set' && a.id !== undefined && !BUDGET_ID.test(a.id))
    throw new ConfigError(`panel budget set: '${a.id}' is not a budget id: 1-63 of a-z, 0-9, ".", "_", "-", starting with a letter or digit`);
  let limitMicros: number | undefined;
  if (a.limit !== undefined) {
    const r = usdInput().safeParse(a.limit);
    if (!r.success) throw new ConfigError(`panel budget set: --limit: ${r.error.issues[0]!.message}`);
    limitMicros = r.data;
  }
  if (a.period !== undefined && !(BUDGET_PERIODS as readonly string[]).includes(a.period))
    throw new ConfigError(`panel budget set: --period: must be one of ${BUDGET_PERIODS.join(', ')} (got "${a.period}")`);
  const period = a.period as BudgetPeriod | undefined;
  const scope = a.action === 'set' ? scopeFlags(a) : null;
  await withDb(a, async (pg) => {
    const store = new BudgetsStore(pg.db);
    const bad = (e: unknown) => {
      // What the REST route answers 400, 404 or 409 is a bad command line here (exit 2).
      throw e instanceof ValidationError || e instanceof ConflictError || e instanceof NotFoundError ? new ConfigError(`panel budget ${a.action}: ${e.message}`) : e;
    };
    if (a.action === 'set') {
      const id = a.id!;
      const held = (await store.list()).find((b) => b.id === id);
      if (!held) {
        if (!scope) throw new ConfigError(`panel budget set: a new budget needs its scope: --fleet, --agent NAME, --user NAME or --team --agents a,b --users u1,u2`);
        if (limitMicros === undefined) throw new ConfigError('panel budget set: a new budget needs --limit (dollars: 500, $500)');
        await store.create({ id, ...scope, period: period ?? 'none', limitMicros }, 'cli').catch(bad);
      } else {
        if (scope && scope.scope !== held.scope)
          throw new ConfigError(`panel budget set: budget '${id}' has scope ${held.scope}; remove it first (panel budget rm ${id}) to give it scope ${scope.scope}`);
        const patch = { ...(limitMicros !== undefined ? { limitMicros } : {}), ...(period ? { period } : {}), ...(scope ? { agents: scope.agents, users: scope.users } : {}) };
        if (Object.keys(patch).length === 0) throw new ConfigError(`panel budget set: budget '${id}' exists: say what to change (--limit, --period, or its names)`);
        await store.update(id, patch).catch(bad);
      }
      const [v] = await store.view(Date.now(), id);
      if (a.json) return void process.stdout.write(`${JSON.stringify(v)}\n`);
      process.stdout.write(`Budget '${id}' ${held ? 'changed' : 'set'}: ${describe(v!)}; ${formatUsd(v!.spentMicros)} spent in this window.\n`);
    } else if (a.action === 'rm') {
      if (!(await store.remove(a.id!))) throw new ConfigError(`panel budget rm: no budget '${a.id}'`);
      if (a.json) return void process.stdout.write(`${JSON.stringify({ id: a.id, deleted: true })}\n`);
      process.stdout.write(`Budget '${a.id}' removed (its leases dropped; its calls keep their tags).\n`);
    } else {
      const views = await store.view();
      if (a.json) return void process.stdout.write(`${JSON.stringify({ budgets: views })}\n`);
      if (views.length === 0) return void process.stdout.write('No central budgets (iron-cage panel budget set ID --limit 500 --fleet).\n');
      for (const v of views)
        process.stdout.write(`${v.id}\t${describe(v)}\t${formatUsd(v.spentMicros)} spent (${v.percentUsed}%)\t${formatUsd(v.leasedMicros)} leased\t${v.state}\t${v.leases.length} lease(s)\n`);
    }
  });
}
