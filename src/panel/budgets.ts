import type { Logger } from '../core/logger.js';
import { formatUsd } from '../core/money.js';
import type { LeaseAsk, LeaseOrder } from '../domain/budget/index.js';
import { BudgetsStore, LeasesStore, type BudgetCrossing, type FloorNotice, type LeaseAnswer, type LeaseOptions, type PanelDb, type Reclaim, type TakeBack } from '../state/index.js';
import type { PanelAlerts } from './alerts.js';
import type { PanelBudgetChange, PanelFeed } from './feed.js';
import { LeaseQueue } from './lease-queue.js';
import { isConnectionError, type Outage } from './outage.js';

// Central budgets as the panel runs them: the stores (budgets, and the leases runtimes spend them
// through), the periodic sweep (silent runtimes' leases reclaimed, thresholds crossed; run by the
// fleet's jobs, jobs.ts, on one replica at a time), leases taken back from runtimes a budget no
// longer covers, a runtime's spend counted from what the panel knows (a restarted runtime, a
// report below it), and each of those said once: in the log, as a `budget` frame on the panel's
// feed (what changed a budget), and as an alert where `alerts:` names a channel.

/** A window as the log names it: its UTC start day, or none for a budget without a period. */
const windowName = (w: number): string => (w === 0 ? 'its one window (no period)' : `the window from ${new Date(w).toISOString().slice(0, 10)}`);

const alertKind = (c: BudgetCrossing) => (c.state === 'exhausted' ? 'budget.exhausted' : 'budget.warning');
const crossingData = (c: BudgetCrossing) => ({ window: c.window, spentMicros: c.spentMicros, limitMicros: c.limitMicros });

/** How often the sweep runs: every few seconds, sooner when leases are short (tests). */
export const sweepEveryMs = (o: LeaseOptions): number => Math.max(50, Math.min(2_000, Math.floor(Math.min(o.ttlMs, o.reclaimAfterMs || o.ttlMs) / 2)));

/** At most one `leased` frame per budget this often. */
export const LEASED_FRAME_GAP_MS = 1_000;

/** Reports below what the panel knew, said once each per runtime, budget and window (this many kept in mind). */
const LOWER_SAID_MAX = 10_000;

export class CentralBudgets {
  readonly store: BudgetsStore;
  readonly leases: LeasesStore;
  /** Lease calls decided in batches (lease-queue.ts). */
  private readonly queue: LeaseQueue;
  private sweeping: Promise<void> | null = null;
  /** When each budget's last `leased` frame went out. */
  private readonly leasedSaid = new Map<string, number>();
  /** `runtime budget@window` of the reports below the panel's figure already said (an older runtime keeps reporting less). */
  private readonly lowerSaid = new Set<string>();

  constructor(
    db: PanelDb,
    private readonly d: { logger: Logger; outage: Outage; feed: PanelFeed; lease: LeaseOptions; alerts?: PanelAlerts; now?: () => number },
  ) {
    this.store = new BudgetsStore(db);
    this.leases = new LeasesStore(db, d.lease);
    this.queue = new LeaseQueue((calls) => this.leases.leaseMany(calls, this.now()));
  }

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  /** One sweep (never two at once): reclaim what expired past its grace, say thresholds crossed. */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      try {
        const now = this.now();
        for (const r of await this.leases.reclaim(now, this.d.lease.reclaimAfterMs)) this.reclaimed(r);
        // Each crossing's alert is written with its mark (one transaction): owed once marked.
        for (const c of await this.store.crossings(now, this.d.alerts?.enabled ? (c) => ({ kind: alertKind(c), message: this.crossingMessage(c), data: crossingData(c) }) : undefined)) this.crossed(c);
      } catch (err) {
        if (isConnectionError(err)) this.d.outage.failed(err);
        else this.d.logger.error({ err }, 'the central budgets sweep failed');
      } finally {
        this.sweeping = null;
      }
    })();
    return this.sweeping;
  }

  /**
   * A runtime's lease call (`order`: its place in the runtime's calls; null from an older runtime),
   * decided with the calls that wait beside it. What it reclaimed from silent runtimes, took back
   * from this one and counted from the panel's figures on the way is said; a stale call changed
   * nothing and says nothing.
   */
  async lease(runtimeId: string, asks: readonly LeaseAsk[], order: LeaseOrder | null = null): Promise<LeaseAnswer> {
    const { answer, reclaims, takeBacks, floors } = await this.d.outage.run(() => this.queue.submit({ runtimeId, asks, order }));
    if (answer.stale) return answer;
    for (const r of reclaims) this.reclaimed(r);
    for (const t of takeBacks) if (t.why === 'uncovered') this.tookBack(t, 'at its lease call');
    for (const f of floors) this.floored(f);
    for (const b of answer.budgets) if (asks.some((a) => a.budget === b.budget)) this.leased(b.budget, runtimeId, b.granted);
    return answer;
  }

  /** An admin changed a budget's names: what the runtimes it no longer covers hold unused comes back now. */
  async edited(budget: string): Promise<void> {
    for (const t of await this.d.outage.run(() => this.leases.takeBackUncovered(budget))) this.tookBack(t, 'as its names changed');
  }

  /** Viewers hear that leases moved, at most once a second per budget (a lease call every 400 ms per runtime would flood them). */
  private leased(budget: string, runtime: string, granted: number): void {
    const now = this.now();
    if (now - (this.leasedSaid.get(budget) ?? Number.NEGATIVE_INFINITY) < LEASED_FRAME_GAP_MS) return;
    this.leasedSaid.set(budget, now);
    this.d.feed.push({ kind: 'budget', change: 'leased', budget, message: `runtime ${runtime} holds a lease of ${formatUsd(granted)}`, runtime });
  }

  /** An admin's change: one log line and a frame. */
  changed(change: Extract<PanelBudgetChange, 'created' | 'updated' | 'deleted'>, budget: string, message: string): void {
    this.d.logger.info(message);
    this.d.feed.push({ kind: 'budget', change, budget, message });
  }

  private reclaimed(r: Reclaim): void {
    const message = `budget ${r.budget}: runtime ${r.runtime} went silent (its lease expired ${new Date(r.expiredAt).toISOString()}); ${formatUsd(r.fromMicros - r.toMicros)} of its grant returned to the budget (granted ${formatUsd(r.fromMicros)} → ${formatUsd(r.toMicros)}, what it reported spending)`;
    this.d.logger.warn(message);
    this.d.feed.push({ kind: 'budget', change: 'reclaimed', budget: r.budget, message, window: r.window, runtime: r.runtime });
    void this.d.alerts?.raise('budget.reclaimed', r.budget, message, { window: r.window, runtime: r.runtime, fromMicros: r.fromMicros, toMicros: r.toMicros, expiredAt: r.expiredAt });
  }

  private crossingMessage(c: BudgetCrossing): string {
    const pct = c.limitMicros > 0 ? Math.floor((c.spentMicros / c.limitMicros) * 100) : 100;
    return c.state === 'exhausted'
      ? `budget ${c.budget} is exhausted for ${windowName(c.window)}: ${formatUsd(c.spentMicros)} spent of ${formatUsd(c.limitMicros)}; calls it covers are refused until it is raised or the window rolls over`
      : `budget ${c.budget} has used ${pct}% of its limit for ${windowName(c.window)}: ${formatUsd(c.spentMicros)} of ${formatUsd(c.limitMicros)}`;
  }

  private tookBack(t: TakeBack, when: string): void {
    const message = `budget ${t.budget} no longer covers runtime ${t.runtime}: ${formatUsd(t.fromMicros - t.toMicros)} of its grant in ${windowName(t.window)} returned to the budget ${when} (granted ${formatUsd(t.fromMicros)} → ${formatUsd(t.toMicros)}, what it spent and holds there)`;
    this.d.logger.info(message);
    this.d.feed.push({ kind: 'budget', change: 'reclaimed', budget: t.budget, message, window: t.window, runtime: t.runtime });
  }

  /** A runtime counted as having spent what the panel knows, not what it said: said once (a restart is once by itself). */
  private floored(f: FloorNotice): void {
    const known = `its rows here: ${formatUsd(f.spentMicros)}; its last report: ${formatUsd(f.usedMicros)} spent, ${formatUsd(f.heldMicros)} held, counted too should its rows be gone`;
    const may = `it may spend ${formatUsd(Math.max(0, f.grantedMicros - f.floorMicros))} more of its ${formatUsd(f.grantedMicros)} grant`;
    if (f.kind === 'restart') {
      this.d.logger.info(
        `budget ${f.budget}: runtime ${f.runtime} runs a new process; the panel counts ${formatUsd(f.floorMicros)} of ${windowName(f.window)} as already spent by it (${known}), whatever its state file holds: ${may}`,
      );
      return;
    }
    const key = `${f.runtime} ${f.budget}@${f.window}`;
    if (this.lowerSaid.has(key)) return;
    if (this.lowerSaid.size >= LOWER_SAID_MAX) this.lowerSaid.clear();
    this.lowerSaid.add(key);
    this.d.logger.warn(
      `budget ${f.budget}: runtime ${f.runtime} reported ${formatUsd(f.reportedMicros ?? 0)} spent in ${windowName(f.window)}, less than the panel knows of (${known}); counted as ${formatUsd(f.floorMicros)} (its state file lost or replaced?): ${may}`,
    );
  }

  private crossed(c: BudgetCrossing): void {
    const message = this.crossingMessage(c);
    this.d.logger.warn(message);
    this.d.feed.push({ kind: 'budget', change: c.state, budget: c.budget, message, window: c.window });
  }

  /** Wait for a sweep under way. */
  async close(): Promise<void> {
    await this.sweeping;
  }
}
