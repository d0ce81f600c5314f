import { and, asc, eq, gte, inArray, isNull, lt, lte, or, sql } from 'drizzle-orm';
import type { PanelDb } from './pg.js';
import { panelAlerts } from './schema-panel.js';

// The panel's own alerts as an outbox, sent once however many replicas serve the panel: written when their cause is said, taken for
// delivery by one replica at a time (claimed in the statement that takes it: another replica
// cannot take it too), and marked sent once its delivery ended on every channel. A claim is a
// lease: an alert whose replica stopped between taking and sending it is taken again when the
// lease is over, so each is sent at least once (twice only if a replica stops after sending it
// and before saying so), up to a number of claims.

export type PanelAlertRow = typeof panelAlerts.$inferSelect;
export type PanelAlertKind = 'budget.warning' | 'budget.exhausted' | 'budget.reclaimed';

export class PanelAlertsStore {
  constructor(private readonly db: PanelDb) {}

  async add(a: { kind: PanelAlertKind; budgetId: string; message: string; data: Record<string, unknown> }, now: number): Promise<void> {
    await this.db.insert(panelAlerts).values({ kind: a.kind, budgetId: a.budgetId, message: a.message, data: JSON.stringify(a.data), createdAt: now });
  }

  /**
   * Up to `max` alerts waiting to be sent, oldest first, claimed in the same statement: not yet
   * sent, and never claimed or claimed `leaseMs` ago or more (its replica never said it was sent).
   * One claimed `maxClaims` times already is given up on instead, said so in its `error`.
   */
  async claim(now: number, o: { leaseMs: number; maxClaims: number; max?: number }): Promise<PanelAlertRow[]> {
    const open = and(isNull(panelAlerts.sentAt), or(isNull(panelAlerts.claimedAt), lte(panelAlerts.claimedAt, now - o.leaseMs)));
    await this.db
      .update(panelAlerts)
      .set({ sentAt: now, error: sql`coalesce(${panelAlerts.error} || '; ', '') || ${`not confirmed sent after ${o.maxClaims} claims`}` })
      .where(and(open, gte(panelAlerts.attempts, o.maxClaims)));
    const waiting = this.db
      .select({ id: panelAlerts.id })
      .from(panelAlerts)
      .where(open)
      .orderBy(asc(panelAlerts.id))
      .limit(o.max ?? 20)
      .for('update', { skipLocked: true });
    return this.db
      .update(panelAlerts)
      .set({ claimedAt: now, attempts: sql`${panelAlerts.attempts} + 1` })
      .where(inArray(panelAlerts.id, waiting))
      .returning();
  }

  /** A claimed alert's delivery ended on every channel: sent, and why a channel failed (null: none did). */
  async sent(id: number, now: number, error: string | null): Promise<void> {
    await this.db
      .update(panelAlerts)
      .set({ sentAt: now, error: error === null ? null : error.slice(0, 500) })
      .where(and(eq(panelAlerts.id, id), isNull(panelAlerts.sentAt)));
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
