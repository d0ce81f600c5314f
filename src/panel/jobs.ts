import type { Pool, PoolClient } from 'pg';
import type { Logger } from '../core/logger.js';
import type { LoginFailuresStore } from '../state/index.js';
import type { PanelAlerts } from './alerts.js';
import type { CentralBudgets } from './budgets.js';
import type { PanelBus } from './bus.js';
import { isConnectionError, type Outage } from './outage.js';
import { GONE_MS, type Replica } from './replica.js';

// The panel's periodic work, run once per fleet however many replicas serve it: whichever replica holds a
// PostgreSQL advisory lock does it, the others skip that round. A replica that dies holding the
// lock loses it with its connection, and the next round runs on another. The work itself is
// safe if two ever ran at once (each reclaim, crossing and alert is claimed in its own
// statement), the lock only saves doing it N times.

/** Any number fits the advisory lock's bigint; this one says "iron-cage panel jobs". */
export const JOBS_LOCK = 0x1c0ca9f;

export interface JobsDeps {
  pool: Pool;
  logger: Logger;
  outage: Outage;
  budgets: CentralBudgets;
  bus: PanelBus;
  replica: Replica;
  alerts: PanelAlerts;
  loginFailures: LoginFailuresStore;
  /** The login failures' window: a closed one is removed. */
  loginWindowMs: number;
  everyMs: number;
  now?: () => number;
}

export class FleetJobs {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<boolean> | null = null;
  /** Rounds this replica ran (it held the lock), for tests and the health answer. */
  ran = 0;

  constructor(private readonly d: JobsDeps) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.round(), this.d.everyMs);
    this.timer.unref();
  }

  /** One round, if this replica gets the lock (never two rounds at once here); whether it ran. */
  round(): Promise<boolean> {
    // Counted as the round's answer is given (after its unlock), in the same step that lets the
    // next round start: whoever reads `ran` and then joins a round in flight sees the two agree.
    this.running ??= this.once().then(
      (ran) => {
        this.running = null;
        if (ran) this.ran++;
        return ran;
      },
      (err: unknown) => {
        this.running = null;
        throw err;
      },
    );
    return this.running;
  }

  private async once(): Promise<boolean> {
    let client: PoolClient;
    try {
      client = await this.d.pool.connect();
    } catch (err) {
      if (isConnectionError(err)) this.d.outage.failed(err);
      return false;
    }
    let held = false;
    try {
      held = (await client.query<{ ok: boolean }>('select pg_try_advisory_lock($1) as ok', [JOBS_LOCK])).rows[0]?.ok === true;
      if (!held) return false;
      const now = this.d.now?.() ?? Date.now();
      await this.d.budgets.sweep();
      await this.step('alerts', () => this.d.alerts.deliver());
      await this.step('the feed', () => this.d.bus.prune(now));
      await this.step('replicas', () => this.d.replica.store.prune(now, GONE_MS));
      await this.step('login failures', () => this.d.loginFailures.prune(now, this.d.loginWindowMs));
      return true;
    } catch (err) {
      if (isConnectionError(err)) this.d.outage.failed(err);
      else this.d.logger.error({ err }, "the panel's periodic jobs failed");
      return false;
    } finally {
      // A session-level lock: a connection that could not unlock it goes, and the lock with it (back
      // in the pool it would hold the fleet's jobs on this replica's idle connection for good).
      let unlockFailed: Error | undefined;
      if (held) await client.query('select pg_advisory_unlock($1)', [JOBS_LOCK]).catch((err: Error) => (unlockFailed = err));
      client.release(unlockFailed);
    }
  }

  /** One job: its failure said, the round goes on to the next. */
  private async step(what: string, fn: () => Promise<unknown>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      if (isConnectionError(err)) throw err;
      this.d.logger.error({ err }, `the panel's periodic jobs: ${what} failed`);
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }
}
