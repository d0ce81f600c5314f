import type { ApprovalDesk } from '../approvals/index.js';
import { IronCageError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { ApprovalDecisions, PanelClient } from './client.js';

/** How often the panel is asked for decisions while a call of this runtime waits for one. */
export const APPROVALS_POLL_MS = 1_000;
/** … and while none waits (an approval just asked for is not missed for longer than this). */
export const APPROVALS_IDLE_MS = 5_000;
/** After the panel refused the read (a panel without the route, a revoked token): asked again this often. */
const REFUSED_MS = 60_000;

export interface ApprovalRelayOptions {
  client: Pick<PanelClient, 'approvals' | 'url'>;
  desk: Pick<ApprovalDesk, 'decide' | 'list'>;
  logger: Logger;
  pollMs?: number;
  idleMs?: number;
}

/**
 * Decisions taken on the control panel's fleet page, applied here: the panel keeps one
 * decision per approval, and this runtime asks for those after the last it saw (every second
 * while one of its calls waits, every few seconds otherwise) and puts each to its own approval
 * desk as the panel user (`panel admin bob`), which checks them against the rule's approvers
 * again and has the last word. A decision the desk refuses (decided here first: 409; not among the
 * approvers: 403; no such approval) is said once and passed over, never tried again. The cursor
 * lives in memory: after a restart the panel answers only the decisions of approvals it still
 * sees pending, which the desk has closed at start (the refusal is said once more).
 */
export class ApprovalRelay {
  private cursor = 0;
  private lastAsked = Number.NEGATIVE_INFINITY;
  private refusedAt: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private inFlight: Promise<void> | null = null;
  private readonly abort = new AbortController();

  constructor(private readonly o: ApprovalRelayOptions) {}

  start(): void {
    const tick = () => {
      this.inFlight = this.round().finally(() => {
        this.inFlight = null;
        if (!this.abort.signal.aborted) this.timer = setTimeout(tick, this.o.pollMs ?? APPROVALS_POLL_MS);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  async close(): Promise<void> {
    this.abort.abort();
    if (this.timer) clearTimeout(this.timer);
    await this.inFlight;
  }

  /** Ask the panel if a call waits here, or if it has not been asked for a while. */
  private async round(): Promise<void> {
    const now = Date.now();
    const waiting = this.o.desk.list({ status: 'pending', limit: 1 }).length > 0;
    const gap = this.refusedAt !== null ? REFUSED_MS : waiting ? 0 : (this.o.idleMs ?? APPROVALS_IDLE_MS);
    if (now - this.lastAsked < gap) return;
    this.lastAsked = now;
    const a = await this.o.client.approvals(this.cursor, this.abort.signal);
    if (this.abort.signal.aborted) return;
    // Unreachable or failing: the reporter says so; the next round asks again.
    if (a.kind === 'retry') return;
    if (a.kind !== 'ok') {
      if (this.refusedAt === null) {
        const why = a.kind === 'refused' || a.kind === 'rejected' ? `HTTP ${a.status}: ${a.reason}` : a.kind;
        this.o.logger.warn(
          `The control panel ${this.o.client.url} refused to give its decisions on this runtime's approvals (${why}): approvals are decided here only; asked again every ${REFUSED_MS / 1000} s`,
        );
      }
      this.refusedAt = now;
      return;
    }
    if (this.refusedAt !== null) this.o.logger.info(`The control panel ${this.o.client.url} gives its decisions on this runtime's approvals again`);
    this.refusedAt = null;
    for (const d of a.value.decisions) this.apply(d);
    this.cursor = Math.max(this.cursor, a.value.cursor);
  }

  private apply(d: ApprovalDecisions['decisions'][number]): void {
    try {
      this.o.desk.decide(d.id, d.decision, { role: d.role, name: d.name, user: d.user, by: `panel ${d.role} ${d.name}` }, d.reason);
    } catch (err) {
      const why = err instanceof IronCageError ? err.message : String(err);
      this.o.logger.warn(`The control panel's decision on approval ${d.id} (${d.decision} by ${d.by}) was not applied: ${why}`);
    }
  }
}
