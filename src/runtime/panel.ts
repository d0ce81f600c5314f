import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { RENEW_PANEL, renewCommand, TokenService } from '../auth/index.js';
import { isLoopbackHost, type Config } from '../config/index.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { VERSION } from '../core/index.js';
import { fleetRoutes, Outage, panelLoginLink, panelService, Replica, type PanelService } from '../panel/index.js';
import { startServer, type AppEnv, type RunningServer } from '../server/index.js';
import { checkDatabaseUrl, describeDatabase, openPostgres, type Postgres } from '../state/index.js';

// `iron-cage panel`: the composition root of a control panel. The Hono server and the dashboard
// over PostgreSQL; no supervisor, no gateway, no SQLite. Start order: checks → database → the
// feed between replicas → server → heartbeat → login link. Any number of these processes may
// serve one database behind a load balancer (docs/panel.md, "Replicas"). Shutdown (SIGTERM) drains:
// not ready first, then nothing new taken, what is in flight finished, then the rest in reverse.

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
    readonly replica: Replica,
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
    let service: PanelService | undefined;
    const replica = new Replica(pg.db, { version: VERSION, logger });
    try {
      // No JWT outlives this process: sessions and runtime tokens are rows; the key only signs proofs.
      const tokens = new TokenService(randomBytes(32), RENEW_PANEL);
      const masterKey = (o.env ?? process.env).IRON_CAGE_MASTER_KEY;
      const panel = panelService({
        db: pg.db,
        pool: pg.pool,
        databaseUrl: plan.database,
        replica,
        version: VERSION,
        alerts: config.alerts,
        tokens,
        logger,
        outage,
        loginTokenTtlMinutes: config.loginTokenTtlMinutes,
        lease: { ttlMs: config.leaseTtlMs, reclaimAfterMs: config.leaseReclaimAfterMs },
        masterKey,
        metrics: config.metrics,
      });
      service = panel;
      await Promise.all([panel.ready, panel.listening]);
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
          probes: panel.probes,
        },
        { host: config.host, port: config.port, allowedHosts: config.allowedHosts, corsOrigins: config.corsOrigins, ...(plan.tls ? { tls: plan.tls } : {}) },
      );
      tokens.renew = renewCommand('panel link', server.url, { '--database': withoutPassword(plan.database) });
      const p = new Panel(config, logger, pg, panel, server, tokens, replica);
      // A link an earlier start printed and nobody used is void, when this is the only replica:
      // beside others (a rolling restart), theirs and the links they printed stay good.
      const others = await replica.others();
      if (others.length === 0) await panel.tokenStore.endLinks(new Date());
      await replica.start(server.url);
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
      if (others.length > 0) logger.info(`Replica ${replica.id} of this panel, beside ${others.map((o) => `${o.id} (${o.url})`).join(', ')}: one database, any replica answers any request`);
      panel.announce?.();
      return p;
    } catch (err) {
      await server?.close();
      await service?.close?.();
      await replica.close();
      await pg.close().catch(() => undefined);
      throw err;
    }
  }

  /** A new one-time admin login link (`/#login=…`); each call makes another. */
  async loginLink(): Promise<string> {
    return `${this.server.url}/#login=${await panelLoginLink(this.service.tokenStore, { ttlMinutes: this.config.loginLinkTtlMinutes, by: 'panel' })}`;
  }

  /**
   * Stop, draining: /readyz says 503 at once; while another replica is alive, serve on for
   * `drainGraceMs` (the load balancer moves the traffic to it), then take no new connection,
   * finish the requests in flight (each the last of its connection; WebSocket viewers are told
   * to go, and their page reconnects to another replica), then stop the jobs, write what the feed
   * holds, leave the replicas table and close the database.
   */
  shutdown(reason: string): Promise<void> {
    this.closing ??= (async () => {
      this.logger.info(`Iron Cage panel stopping: ${reason}`);
      const others = await this.replica.others().catch(() => []);
      await this.replica.drain();
      if (others.length > 0 && this.config.drainGraceMs > 0) {
        this.logger.info(`draining: /readyz says 503; serving ${this.config.drainGraceMs / 1000} s more while the load balancer moves to ${others.map((o) => o.id).join(', ')}`);
        await sleep(this.config.drainGraceMs);
      }
      await this.server.drain(this.config.drainTimeoutMs);
      await this.service.close?.();
      await this.replica.close();
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
