import { AlertDispatcher, type AlertResult } from '../alerts/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../core/logger.js';
import { PanelAlertsStore, type PanelAlertKind, type PanelAlertRow, type PanelDb } from '../state/index.js';

// The panel's own alerts: a central budget's warning and exhaustion, a silent
// runtime's lease reclaimed, by the config's `alerts:` channels (a Slack-compatible webhook,
// e-mail), as a runtime sends its own. Each is written to an outbox when it is said and sent
// by the one replica that runs the fleet's jobs at that moment: once per fleet, however many
// replicas there are, and still sent when the replica that saw the change stops before. The
// replica that took it says when its delivery ended on every channel; one that stops first
// (killed, or drained mid-delivery) leaves it to be taken again once its claim's lease is over.

const TITLE: Record<PanelAlertKind, string> = {
  'budget.warning': 'Central budget at 90%',
  'budget.exhausted': 'Central budget exhausted',
  'budget.reclaimed': 'Central budget lease reclaimed',
};
const ICON: Record<PanelAlertKind, string> = { 'budget.warning': '⚠️', 'budget.exhausted': '🛑', 'budget.reclaimed': '↩️' };
/** Sent alerts kept this long (what was sent, and what failed). */
const KEEP_MS = 30 * 24 * 3_600_000;
/**
 * How long a replica's claim of an alert holds: past every channel's retries and time limits
 * (DEFAULT_ALERT_RETRY gives up within 20 s, each attempt within its timeout), so an alert still
 * being sent is never taken again; one whose replica stopped waits this long to be sent.
 */
export const ALERT_CLAIM_LEASE_MS = 120_000;
/** Claims of one alert before it is given up on (its replicas kept stopping before it was sent). */
export const ALERT_MAX_CLAIMS = 5;

export class PanelAlerts {
  readonly store: PanelAlertsStore;
  private readonly dispatcher: AlertDispatcher | null;
  /** Alerts being sent by this replica: channels still to report, and what failed. */
  private readonly sending = new Map<string, { row: number; left: number; errors: string[] }>();
  /** The channels each alert goes by. */
  private readonly channels: number;
  /** Closing: a delivery cut short now is left to another replica, not marked sent. */
  private closing = false;

  constructor(
    db: PanelDb,
    private readonly d: { config: Config['alerts']; logger: Logger; now?: () => number },
  ) {
    this.store = new PanelAlertsStore(db);
    const { webhookUrl, email } = d.config;
    this.channels = (webhookUrl ? 1 : 0) + (email ? 1 : 0);
    this.dispatcher =
      webhookUrl || email
        ? new AlertDispatcher({
            webhookUrl,
            email,
            logger: d.logger,
            onResult: (r) =>
              void this.delivered(r).catch((err: Error) => d.logger.warn(`an alert's delivery could not be recorded (another replica sends it again once its claim's lease is over): ${err.message}`)),
          })
        : null;
  }

  private now(): number {
    return this.d.now?.() ?? Date.now();
  }

  /** Whether any channel is configured (without one, nothing is written). */
  get enabled(): boolean {
    return this.dispatcher !== null;
  }

  /** An alert to send: written to the outbox (a failure to write is said, never thrown at the caller). */
  async raise(kind: PanelAlertKind, budgetId: string, message: string, data: Record<string, unknown>): Promise<void> {
    if (!this.dispatcher) return;
    await this.store.add({ kind, budgetId, message, data }, this.now()).catch((err: Error) => this.d.logger.error(`the panel's alert for budget ${budgetId} was not written: ${err.message}`));
  }

  /** Send what waits (the fleet's jobs, on one replica at a time). */
  async deliver(): Promise<number> {
    if (!this.dispatcher) return 0;
    const now = this.now();
    const rows = await this.store.claim(now, { leaseMs: ALERT_CLAIM_LEASE_MS, maxClaims: ALERT_MAX_CLAIMS });
    for (const r of rows) this.send(r);
    await this.store.prune(now, KEEP_MS);
    return rows.length;
  }

  private send(r: PanelAlertRow): void {
    const kind = r.kind as PanelAlertKind;
    // One id per claim: a report of an earlier claim's delivery (this replica's, cut short) is not this one's.
    const id = `panel-alert-${r.id}-${r.attempts}`;
    this.sending.set(id, { row: r.id, left: this.channels, errors: [] });
    const title = `${ICON[kind] ?? ''} ${TITLE[kind] ?? kind}: ${r.budgetId}`.trim();
    const when = new Date(r.createdAt).toISOString();
    this.dispatcher!.send({
      id,
      kind: 'budget',
      agentId: null,
      slack: {
        text: `${title}. ${r.message}`,
        blocks: [
          { type: 'header', text: { type: 'plain_text', text: title.slice(0, 150), emoji: true } },
          { type: 'section', text: { type: 'mrkdwn', text: r.message } },
          { type: 'context', elements: [{ type: 'mrkdwn', text: `Iron Cage control panel · ${when}` }] },
        ],
      },
      email: { subject: `[Iron Cage] ${TITLE[kind] ?? kind}: ${r.budgetId}`.replace(/[\r\n]+/g, ' '), text: `${r.message}\n\n${when}\nIron Cage control panel` },
    });
  }

  /** A channel's report: once every channel of the alert reported, it is marked sent (with what failed). */
  private async delivered(r: AlertResult): Promise<void> {
    const s = this.sending.get(r.alertId);
    if (s === undefined) return;
    // Cut short by this replica's shutdown: another one takes it when the claim's lease is over.
    if (!r.ok && this.closing) {
      this.sending.delete(r.alertId);
      return;
    }
    if (!r.ok) s.errors.push(`${r.channel}: ${r.error ?? 'failed'}`);
    if (--s.left > 0) return;
    this.sending.delete(r.alertId);
    await this.store.sent(s.row, this.now(), s.errors.length > 0 ? s.errors.join('; ') : null);
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.dispatcher?.close();
  }
}
