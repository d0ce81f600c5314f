import type { Pool } from 'pg';
import { API_TOKEN_CACHE_MS, LOGIN_WINDOW_MS, type TokenService } from '../auth/index.js';
import type { Logger } from '../core/logger.js';
import type { Config } from '../config/index.js';
import { metricsRoute } from '../observability/index.js';
import { announceVault, VaultService, vaultRoutes } from '../secrets/index.js';
import type { Service } from '../server/index.js';
import type { RawRoute } from '../server/index.js';
import { onPostgres, LoginFailuresStore, SecretsStore, TokensStore, UsersStore, RuntimesStore, TELEMETRY_MAX_BYTES, type Ingested, type LeaseOptions, type PanelDb } from '../state/index.js';
import { PanelAlerts } from './alerts.js';
import { approvalsRoutes, RUNTIME_APPROVALS_PATH } from './approvals.routes.js';
import { CentralBudgets, sweepEveryMs } from './budgets.js';
import { PanelBus } from './bus.js';
import { budgetRoutes, LEASE_MAX_BYTES, LEASE_PATHS } from './budgets.routes.js';
import { PanelFeed } from './feed.js';
import { panelProbes } from './health.js';
import { FleetJobs } from './jobs.js';
import { PanelMetrics } from './metrics.js';
import type { Outage } from './outage.js';
import { panelAuth } from './panel-auth.js';
import type { Replica } from './replica.js';
import { RUNTIME_SECRETS_PATH, runtimeSecretsRoutes } from './runtime-secrets.routes.js';
import { runtimeRoutes } from './runtimes.routes.js';
import { TELEMETRY_PATHS, telemetryRoutes } from './telemetry.routes.js';
import { panelTokenRoutes } from './tokens.routes.js';

/** How long a replica trusts a token it looked up while it hears every revocation (the feed's NOTIFYs). */
export const TOKENS_TRUSTED_WHILE_LISTENING_MS = 60_000;

export interface PanelServiceDeps {
  db: PanelDb;
  /** The pool under `db` (the feed, the jobs' lock) and the URL it was opened with (the feed's listening connection, the probes' own). */
  pool: Pool;
  databaseUrl: string;
  /** This process as one of the panel's replicas. */
  replica: Replica;
  version: string;
  /** Where the panel's own alerts go (the config's `alerts:`). */
  alerts: Config['alerts'];
  tokens: TokenService;
  logger: Logger;
  outage: Outage;
  loginTokenTtlMinutes: number;
  /** Central budget leases: how long one lives unrenewed, and the grace before a silent runtime's is reclaimed. */
  lease: LeaseOptions;
  /** The panel's master key (IRON_CAGE_MASTER_KEY, as a runtime's): unlocks its vault; none leaves it locked (secrets routes 423). */
  masterKey?: string;
  /** GET /metrics (the config's `metrics:` section): the fleet's figures. */
  metrics: Config['metrics'];
}

/** The panel as a Service, plus what the server needs of it beyond one: its feed, its telemetry paths and body limit. */
export interface PanelService extends Service {
  feed: PanelFeed;
  runtimePaths: readonly string[];
  bodyLimits: Record<string, number>;
  tokenStore: TokensStore<'async'>;
  runtimes: RuntimesStore;
  /** Central budgets and their leases (the sweep runs from `start`). */
  budgets: CentralBudgets;
  /** The panel's vault, once its master key has been tried. */
  ready: Promise<VaultService>;
  /** Hear each batch after it committed (the feed and the metrics are listeners). */
  onIngested(fn: (i: Ingested) => void): () => void;
  /** The fleet's Prometheus registry (served at GET /metrics unless `metrics.enabled` is off). */
  metrics: PanelMetrics;
  /** The feed between replicas, listening (resolves once it is). */
  listening: Promise<void>;
  /** GET /healthz and /readyz, for the server to answer before its Host check. */
  probes: RawRoute[];
  /** The fleet's periodic work (one replica at a time). */
  jobs: FleetJobs;
  alerts: PanelAlerts;
}

/**
 * The control panel's routes over PostgreSQL: login and users, runtimes and their tokens,
 * telemetry in, central budgets and their leases, the feed of what landed and changed, and the
 * panel's vault: admins keep secrets there (`/api/secrets`, the runtime's own routes over
 * SecretsStore) and each runtime reads those in its scope (`GET /api/runtime/secrets`); the
 * fleet's approvals, decided here and read back by their runtimes (`GET /api/runtime/approvals`).
 */
export function panelService(d: PanelServiceDeps): PanelService {
  const shared = onPostgres(d.db);
  const tokenStore = new TokensStore(shared);
  const users = new UsersStore(shared);
  const runtimes = new RuntimesStore(d.db);
  // What the viewers of every replica hear (a batch that landed on another replica included).
  const probes = panelProbes({ url: d.databaseUrl, outage: d.outage, replica: d.replica, version: d.version });
  const bus = new PanelBus({ pool: d.pool, url: d.databaseUrl, replica: d.replica.id, logger: d.logger });
  const feed = new PanelFeed(bus);
  const alerts = new PanelAlerts(d.db, { config: d.alerts, logger: d.logger });
  const budgets = new CentralBudgets(d.db, { logger: d.logger, outage: d.outage, feed, lease: d.lease, alerts });
  const loginFailures = new LoginFailuresStore(d.db);
  const jobs = new FleetJobs({
    pool: d.pool,
    logger: d.logger,
    outage: d.outage,
    budgets,
    bus,
    replica: d.replica,
    alerts,
    loginFailures,
    loginWindowMs: LOGIN_WINDOW_MS,
    everyMs: sweepEveryMs(d.lease),
  });
  // A token revoked on one replica is refused by every other at once (their caches would keep it up to 5 s).
  // While this replica hears every such word, what it looked up is trusted for a minute: a
  // fleet's runtimes call every replica, and a lookup of each token every 5 s on each replica was
  // a round trip to PostgreSQL for every few batches (counted in the fleet bench: ~1,400 lookups a
  // step for one replica at 400 runtimes, 404 with this, one a runtime). From the moment it may
  // miss one, back to 5 s: forgetting everything when its connection was lost or deaf, or (its
  // pings quiet: the pool too busy to send one) looking up again what it verified over 5 s ago.
  bus.onListening((on, why) => d.tokens.trustFor(on ? TOKENS_TRUSTED_WHILE_LISTENING_MS : API_TOKEN_CACHE_MS, { forget: why === 'lost' }));
  let heard = false;
  d.tokens.onInvalidate(() => {
    if (!heard) bus.forget('tokens');
  });
  bus.onForget((what) => {
    if (what !== 'tokens') return;
    heard = true;
    try {
      d.tokens.invalidate();
    } finally {
      heard = false;
    }
  });
  const ready = VaultService.open({ store: new SecretsStore(shared), keyHint: 'start the panel again with it set, e.g. IRON_CAGE_MASTER_KEY=… iron-cage panel --database …' }, d.masterKey);
  const around = <T>(fn: () => Promise<T>) => d.outage.run(fn);
  const metrics = new PanelMetrics(
    { budgets: (now) => d.outage.run(() => budgets.store.view(now)), runtimes: () => d.outage.run(() => runtimes.list()) },
    { maxAgents: d.metrics.maxAgents, maxSeriesPerRuntime: d.metrics.maxSeriesPerRuntime, maxSeries: d.metrics.maxSeries, logger: d.logger },
  );
  const listeners = new Set<(i: Ingested) => void>([(i) => feed.push(i), (i) => metrics.landed(i)]);
  const auth = panelAuth({ tokens: d.tokens, tokenStore, users, loginFailures, outage: d.outage, logger: d.logger, loginTokenTtlMinutes: d.loginTokenTtlMinutes });
  const onIngested = (i: Ingested) => {
    for (const fn of listeners) {
      try {
        fn(i);
      } catch (err) {
        d.logger.error({ err }, 'a telemetry listener failed');
      }
    }
  };
  return {
    name: 'panel',
    feed,
    runtimePaths: [...TELEMETRY_PATHS, ...LEASE_PATHS, RUNTIME_SECRETS_PATH, RUNTIME_APPROVALS_PATH],
    bodyLimits: Object.fromEntries([...TELEMETRY_PATHS.map((p) => [p, TELEMETRY_MAX_BYTES]), ...LEASE_PATHS.map((p) => [p, LEASE_MAX_BYTES])]),
    tokenStore,
    runtimes,
    budgets,
    ready,
    metrics,
    listening: bus.start(),
    probes: probes.routes,
    jobs,
    alerts,
    onIngested: (fn) => {
      listeners.add(fn);
      return () => listeners.delete(fn);
    },
    rawRoutes: [metricsRoute({ metrics, tokens: d.tokens, auth: d.metrics.auth, enabled: d.metrics.enabled, logger: d.logger })],
    publicRoutes: auth.publicRoutes,
    apiRoutes: [
      ...auth.apiRoutes,
      panelTokenRoutes({ store: tokenStore, tokens: d.tokens, outage: d.outage }),
      runtimeRoutes({ store: runtimes, outage: d.outage, tokens: d.tokens }),
      telemetryRoutes({ db: d.db, store: runtimes, outage: d.outage, onIngested, onBatch: (runtime, outcome, err) => metrics.batch(runtime, outcome, err) }),
      budgetRoutes({ budgets, outage: d.outage }),
      vaultRoutes(() => ready, { around, agentRoute: false }),
      runtimeSecretsRoutes({ vault: () => ready, runtimes, outage: d.outage }),
      approvalsRoutes({ db: d.db, runtimes, users, feed, outage: d.outage, logger: d.logger }),
    ],
    announce: () => {
      jobs.start();
      announceVault(d.logger, d.masterKey, ready);
    },
    close: async () => {
      await jobs.close();
      await budgets.close();
      await bus.close();
      await alerts.close();
      await probes.close();
    },
  };
}
