import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../core/logger.js';
import { ReplicasStore, type PanelDb, type ReplicaRow } from '../state/index.js';

// This panel process as one replica of the panel: its id, its heartbeat in
// `panel_replicas`, whether it is draining, and who else is alive. Any number of replicas serve
// one PostgreSQL behind a load balancer; none holds anything another needs to answer alike.

/** How often a replica says it is alive, and how long after its last word it counts as gone. */
export const BEAT_MS = 2_000;
export const ALIVE_MS = 10_000;
/** A replica silent this long is removed from the table by the others' jobs. */
export const GONE_MS = 10 * 60_000;

/** A replica's id: the host (a Kubernetes pod's name), the process and a few random bytes, unique per start. */
export function replicaId(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export class Replica {
  readonly id: string;
  readonly startedAt: number;
  readonly store: ReplicasStore;
  private url = '';
  private timer: NodeJS.Timeout | null = null;
  private drainingSince: number | null = null;
  /** The beats, one after another (a slow one never lands after a later one), and none once closed. */
  private beating: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    db: PanelDb,
    private readonly d: { version: string; logger: Logger; id?: string; now?: () => number },
  ) {
    this.id = d.id ?? replicaId();
    this.startedAt = this.now();
    this.store = new ReplicasStore(db);
  }

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  get draining(): boolean {
    return this.drainingSince !== null;
  }

  /** Say it is alive now and every BEAT_MS (a failed beat is the outage's business: the next one tries again). */
  async start(url: string): Promise<void> {
    this.url = url;
    await this.beat();
    this.timer = setInterval(() => void this.beat().catch(() => undefined), BEAT_MS);
    this.timer.unref();
  }

  /**
   * Each beat waits for the one before and says what holds when it is sent: an interval's beat
   * still in flight when the replica starts draining cannot land after the draining one (the row
   * would say "serving" again), nor after close() removed the row (a replica gone, listed alive).
   */
  private beat(): Promise<void> {
    const next = this.beating.then(() =>
      this.closed ? undefined : this.store.beat({ id: this.id, startedAt: this.startedAt, version: this.d.version, url: this.url, draining: this.draining }, this.now()),
    );
    this.beating = next.catch(() => undefined);
    return next;
  }

  /** The replicas alive now, this one included. */
  live(): Promise<ReplicaRow[]> {
    return this.store.live(this.now(), ALIVE_MS);
  }

  /** Whether another replica is alive (and not draining) beside this one. */
  async others(): Promise<ReplicaRow[]> {
    return (await this.live()).filter((r) => r.id !== this.id && !r.draining);
  }

  /** Stopping: it takes nothing new (readiness says 503 from now on), said in the table at once. */
  async drain(): Promise<void> {
    if (this.drainingSince !== null) return;
    this.drainingSince = this.now();
    await this.beat().catch(() => undefined);
  }

  /** Stopped: its row goes. */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.closed = true;
    await this.beating;
    await this.store.remove(this.id).catch(() => undefined);
  }
}
