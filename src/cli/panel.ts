import { loadConfig, type Config, type FlagValues } from '../config/index.js';
import { ConfigError, ConflictError, ValidationError } from '../core/errors.js';
import { createLogger, escapeControl } from '../core/logger.js';
import { checkScope } from '../domain/secrets/index.js';
import { addRuntime, panelLoginLink } from '../panel/index.js';
import { holdSignals, Panel, planPanel, startError } from '../runtime/index.js';
import { openPostgres, PgTokensStore, RuntimesStore } from '../state/index.js';

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
    if (e instanceof ConfigError || !/PostgreSQL|panel's tables/.test((e as Error).message)) throw e;
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

/** Open the panel's database for a one-shot command (migrated, as the panel would). */
async function withDb<T>(a: PanelArgs, fn: (pg: Awaited<ReturnType<typeof openPostgres>>, config: Config) => Promise<T>): Promise<T> {
  const config = prepare(a);
  const { database } = planPanel({ ...config, host: '127.0.0.1', tls: { cert: null, key: null } });
  const pg = await openPostgres(database);
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
      if (a.json) return void process.stdout.write(`${JSON.stringify(removed)}\n`);
      process.stdout.write(`Runtime '${a.name}' removed; ${removed.revoked} token(s) revoked (a running panel refuses them within 5 s).\n`);
    } else {
      const rows = await store.list();
      if (a.json) return void process.stdout.write(`${JSON.stringify(rows)}\n`);
      for (const r of rows)
        process.stdout.write(
          `${r.id}\tlast seq ${r.lastSeq}\tbehind ${r.behind}\t${r.lastSeenAt ? new Date(r.lastSeenAt).toISOString() : 'never seen'}\tsecrets ${r.secrets.length === 0 ? '-' : r.secrets.join(',')}\n`,
        );
    }
  });
}

/** `iron-cage panel link`: a new one-time admin login link, written to the panel's database (a running panel accepts it at once). */
export async function runPanelLink(a: PanelArgs): Promise<void> {
  await withDb(a, async (pg, config) => {
    const link = await panelLoginLink(new PgTokensStore(pg.db), { ttlMinutes: config.loginLinkTtlMinutes, by: 'cli' });
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const scheme = config.tls.cert ? 'https' : 'http';
    const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${config.port}/#login=${link}`;
    process.stdout.write(a.json ? `${JSON.stringify({ url })}\n` : `${url}\n\nOpen it within ${config.loginLinkTtlMinutes} min; it works once and opens an admin session.\n`);
  });
}
