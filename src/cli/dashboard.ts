import { noStateAt } from './state.js';
import { mintLoginLink } from '../auth/index.js';
import { loadConfig } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import { onSqlite, StateManager, TokensStore } from '../state/index.js';

export interface DashboardArgs {
  db?: string;
  config?: string;
  port?: string;
  host?: string;
  json?: boolean;
}

/**
 * `iron-cage dashboard`: a new one-time admin login link to the dashboard of the iron-cage
 * serving this database, written to the database file (a running iron-cage accepts it at once).
 * Whoever can read the database and its key can do as much; the link adds nothing they lack.
 */
export async function runDashboard(a: DashboardArgs): Promise<void> {
  const config = loadConfig({ configPath: a.config, flags: { db: a.db, port: a.port, host: a.host } });
  // A link is only good for the iron-cage that serves this file: made for a new, empty one it
  // would open nothing, and the page would say it no longer works though it never did.
  if (noStateAt(config.db))
    throw new ConfigError(`dashboard: there is no iron-cage state at ${config.db}: give the --db of the running iron-cage (its start line and a refused link's page name the whole command)`);
  const state = StateManager.open(config.db);
  try {
    const l = mintLoginLink(new TokensStore(onSqlite(state)), { ttlMinutes: config.loginLinkTtlMinutes, by: 'cli' });
    // A server bound to every address answers on loopback too; the link is for this machine.
    const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${config.port}/#login=${l.link}`;
    if (a.json) return void process.stdout.write(`${JSON.stringify({ url, id: l.id, expiresAt: l.expiresAt })}\n`);
    process.stdout.write(`${url}\n\nOpen it within ${config.loginLinkTtlMinutes} min; it works once and opens an admin session (listed by \`iron-cage token list\`).\n`);
  } finally {
    await state.close();
  }
}
