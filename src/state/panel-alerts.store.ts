import { and, asc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { PanelDb } from './pg.js';
import { panelAlerts } from './schema-panel.js';

// The panel's own alerts as an outbox (issue 45): written when their cause is said, taken for
// delivery by one replica at a time (a row is claimed, and so marked sent, in the statement that
// takes it: an alert is never sent twice, whichever replicas run), its outcome kept.

export type PanelAlertRow = typeof panelAlerts.$inferSelect;
export type PanelAlertKind = 'budget.warning' | 'budget.exhausted' | 'budget.reclaimed';

export class PanelAlertsStore {
  constructor(private readonly db: PanelDb) {}

  async add(a: { kind: PanelAlertKind; budgetId: string; message: string; data: Record<string, unknown> }, now: number): Promise<void> {
    await this.db.insert(panelAlerts).values({ kind: a.kind, budgetId: a.budgetId, message: a.message, data: JSON.stringify(a.data), createdAt: now });
  }

  /** Up to `max` pending alerts, oldest first, claimed (marked sent) in the same statement: another replica cannot take them too. */
  async claim(now: number, max = 20): Promise<PanelAlertRow[]> {
    const pending = this.db.select({ id: panelAlerts.id }).from(panelAlerts).where(isNull(panelAlerts.sentAt)).orderBy(asc(panelAlerts.id)).limit(max).for('update', { skipLocked: true });
    return this.db
      .update(panelAlerts)
      .set({ sentAt: now, attempts: sql`${panelAlerts.attempts} + 1` })
      .where(inArray(panelAlerts.id, pending))
      .returning();
  }

  /** A claimed alert's delivery failed on a channel: why, kept. */
  async failed(id: number, error: string): Promise<void> {
    await this.db
      .update(panelAlerts)
      .set({ error: error.slice(0, 500) })
      .where(eq(panelAlerts.id, id));
  }

  /** Every alert, newest first (tests, and an admin reading what was sent). */
  async list(max = 100): Promise<PanelAlertRow[]> {
    return this.db.select().from(panelAlerts).orderBy(sql`${panelAlerts.id} desc`).limit(max);
  }

  /** Sent alerts older than `keepMs`: removed. */
  async prune(now: number, keepMs: number): Promise<number> {
    return (
      await this.db
        .delete(panelAlerts)
        .where(and(lt(panelAlerts.createdAt, now - keepMs), sql`${panelAlerts.sentAt} is not null`))
        .returning({ id: panelAlerts.id })
    ).length;
  }
}
