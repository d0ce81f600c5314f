import { AlertDispatcher, type AlertResult } from '../alerts/index.js';
import type { Config } from '../config/index.js';
import type { Logger } from '../core/logger.js';
import { PanelAlertsStore, type PanelAlertKind, type PanelAlertRow, type PanelDb } from '../state/index.js';

// The panel's own alerts (issue 45): a central budget's warning and exhaustion, a silent
// runtime's lease reclaimed, by the config's `alerts:` channels (a Slack-compatible webhook,
// e-mail), as a runtime sends its own. Each is written to an outbox when it is said and sent
// by the one replica that runs the fleet's jobs at that moment: once per fleet, however many
// replicas there are, and still sent when the replica that saw the change stops before.

const TITLE: Record<PanelAlertKind, string> = {
  'budget.warning': 'Central budget at 90%',
  'budget.exhausted': 'Central budget exhausted',
  'budget.reclaimed': 'Central budget lease reclaimed',
};
const ICON: Record<PanelAlertKind, string> = { 'budget.warning': '⚠️', 'budget.exhausted': '🛑', 'budget.reclaimed': '↩️' };
/** Sent alerts kept this long (what was sent, and what failed). */
const KEEP_MS = 30 * 24 * 3_600_000;

export class PanelAlerts {
  readonly store: PanelAlertsStore;
  private readonly dispatcher: AlertDispatcher | null;
  private readonly ids = new Map<string, number>();

  constructor(
    db: PanelDb,
    private readonly d: { config: Config['alerts']; logger: Logger; now?: () => number },
  ) {
    this.store = new PanelAlertsStore(db);
    const { webhookUrl, email } = d.config;
    this.dispatcher = webhookUrl || email ? new AlertDispatcher({ webhookUrl, email, logger: d.logger, onResult: (r) => void this.delivered(r).catch(() => undefined) }) : null;
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
    const rows = await this.store.claim(now);
    for (const r of rows) this.send(r);
    await this.store.prune(now, KEEP_MS);
    return rows.length;
  }

  private send(r: PanelAlertRow): void {
    const kind = r.kind as PanelAlertKind;
    const id = `panel-alert-${r.id}`;
    this.ids.set(id, r.id);
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

  private async delivered(r: AlertResult): Promise<void> {
    const row = this.ids.get(r.alertId);
    if (row === undefined) return;
    if (!r.ok) await this.store.failed(row, `${r.channel}: ${r.error ?? 'failed'}`);
  }

  async close(): Promise<void> {
    await this.dispatcher?.close();
  }
}
