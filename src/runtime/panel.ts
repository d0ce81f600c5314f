import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RENEW_PANEL, renewCommand, TokenService } from '../auth/index.js';
import { isLoopbackHost, type Config } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { VERSION } from '../core/index.js';
import { fleetRoutes, Outage, panelLoginLink, panelService, type PanelService } from '../panel/index.js';
import { startServer, type AppEnv, type RunningServer } from '../server/index.js';
import { checkDatabaseUrl, describeDatabase, openPostgres, type Postgres } from '../state/index.js';

// `iron-cage panel`: the composition root of a control panel. The Hono server and the dashboard
// over PostgreSQL; no supervisor, no gateway, no SQLite. Start order: checks → database → server
// → login link. Shutdown is the reverse.

export interface PanelOptions {
  config: Config;
  logger: Logger;
  /** How long to keep trying a PostgreSQL that does not answer at start. */
  connectForMs?: number;
  /** Where IRON_CAGE_MASTER_KEY (the vault's) is read: the process's environment unless given. */
  env?: NodeJS.ProcessEnv;
}

/** What the panel's server and checks need of the config, checked before anything connects. */
export interface PanelPlan {
  database: string;
  tls: { cert: Buffer; key: Buffer } | null;
}

/**
 * The flags' verdict: a database URL, and TLS (both files, readable) or a loopback bind.
 * Throws ConfigError (exit 2) naming the flag.
 */
export function planPanel(config: Config): PanelPlan {
  if (!config.database) throw new ConfigError('--database: required: the PostgreSQL the panel keeps its state in (postgres://user[:password]@host[:port]/database, or IRON_CAGE_DATABASE)');
  const bad = checkDatabaseUrl(config.database);
  if (bad) throw new ConfigError(`--database: ${bad}`);
  const { cert, key } = config.tls;
  if ((cert === null) !== (key === null)) throw new ConfigError(cert === null ? '--tls-cert: required with --tls-key' : '--tls-key: required with --tls-cert');
  const read = (flag: string, path: string) => {
    try {
      return readFileSync(path);
    } catch (e) {
      throw new ConfigError(`${flag}: cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
  };
  const tls = cert !== null && key !== null ? { cert: read('--tls-cert', cert), key: read('--tls-key', key) } : null;
  if (!tls && !isLoopbackHost(config.host))
    throw new ConfigError(
      `--host: the panel would take tokens and passwords from ${config.host} over plain HTTP; give it --tls-cert and --tls-key (PEM files) to serve HTTPS, or bind a loopback address (127.0.0.1) behind a TLS proxy`,
    );
  return { database: config.database, tls };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * One control panel process.
 *
 * @example
 *   const panel = await Panel.start({ config, logger });
 *   logger.info(panel.startLink);
 */
export class Panel {
  /** The login link the start announced; empty with a JSON log, which is given none. */
  startLink = '';
  private closing: Promise<void> | null = null;

  private constructor(
    readonly config: Config,
    readonly logger: Logger,
    readonly pg: Postgres,
    readonly service: PanelService,
    readonly server: RunningServer,
    readonly tokens: TokenService,
  ) {}

  get url(): string {
    return this.server.url;
  }

  static async start(o: PanelOptions): Promise<Panel> {
    const { config, logger } = o;
    const startedAt = Date.now();
    const plan = planPanel(config);
    const where = describeDatabase(plan.database);
    const outage = new Outage(logger, where);
    const pg = await connect(plan.database, o.connectForMs ?? 5_000, (err) => outage.failed(err));
    let server: RunningServer | undefined;
    try {
      // No JWT outlives this process: sessions and runtime tokens are rows; the key only signs proofs.
      const tokens = new TokenService(randomBytes(32), RENEW_PANEL);
      const masterKey = (o.env ?? process.env).IRON_CAGE_MASTER_KEY;
      const panel = panelService({
        db: pg.db,
        tokens,
        logger,
        outage,
        loginTokenTtlMinutes: config.loginTokenTtlMinutes,
        lease: { ttlMs: config.leaseTtlMs, reclaimAfterMs: config.leaseReclaimAfterMs },
        masterKey,
        metrics: config.metrics,
      });
      await panel.ready;
      // The panel's REST routes: its own service's, then the fleet view's queries.
      const apiRoutes: Array<(app: import('hono').Hono<AppEnv>) => void> = [...(panel.apiRoutes ?? []), fleetRoutes(pg.db, { outage })];
      server = await startServer(
        {
          tokens,
          logger,
          version: VERSION,
          startedAt,
          mode: 'panel',
          feed: panel.feed,
          runtimePaths: panel.runtimePaths,
          bodyLimits: panel.bodyLimits,
          publicRoutes: panel.publicRoutes ?? [],
          apiRoutes,
          rawRoutes: panel.rawRoutes ?? [],
        },
        { host: config.host, port: config.port, allowedHosts: config.allowedHosts, corsOrigins: config.corsOrigins, ...(plan.tls ? { tls: plan.tls } : {}) },
      );
      tokens.renew = renewCommand('panel link', server.url, { '--database': withoutPassword(plan.database) });
      const p = new Panel(config, logger, pg, panel, server, tokens);
      // A link an earlier start printed and nobody used is void.
      await panel.tokenStore.endLinks(new Date());
      // The link opens an admin session: never into a JSON log (pipelines keep and share those), as `start` and `serve`.
      if (config.logFormat === 'json') {
        const renew = renewCommand('panel link', server.url, { '--database': withoutPassword(plan.database) }, true);
        logger.info(
          `Iron Cage ${VERSION} control panel at ${server.url}/ (database ${where}) · run \`${renew}\` for a one-time login link${hasPassword(plan.database) ? ' (the password in PGPASSWORD)' : ''}`,
        );
      } else {
        p.startLink = await p.loginLink();
        logger.info(`Iron Cage ${VERSION} control panel at ${server.url}/ (database ${where}) · dashboard ${p.startLink} (one-time login link, ${config.loginLinkTtlMinutes} min)`);
      }
      panel.announce?.();
      return p;
    } catch (err) {
      await server?.close();
      await pg.close().catch(() => undefined);
      throw err;
    }
  }

  /** A new one-time admin login link (`/#login=…`); each call makes another. */
  async loginLink(): Promise<string> {
    return `${this.server.url}/#login=${await panelLoginLink(this.service.tokenStore, { ttlMinutes: this.config.loginLinkTtlMinutes, by: 'panel' })}`;
  }

  shutdown(reason: string): Promise<void> {
    this.closing ??= (async () => {
      this.logger.info(`Iron Cage panel stopping: ${reason}`);
      await this.service.close?.();
      await this.server.close();
      await this.pg.close().catch(() => undefined);
    })();
    return this.closing;
  }
}

/** Connect and migrate, trying again for `forMs` while the server does not answer (it may be starting too). */
async function connect(url: string, forMs: number, onError: (err: Error) => void): Promise<Postgres> {
  const until = Date.now() + forMs;
  for (;;) {
    try {
      return await openPostgres(url, { onError });
    } catch (err) {
      if (Date.now() + 500 > until || !/cannot reach PostgreSQL/.test((err as Error).message)) throw err;
      await sleep(500);
    }
  }
}

/** A database URL without its password, as a printed command may show it (node-postgres then reads PGPASSWORD). */
function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '';
    return u.toString();
  } catch {
    return url;
  }
}

function hasPassword(url: string): boolean {
  try {
    return new URL(url).password !== '';
  } catch {
    return false;
  }
}
