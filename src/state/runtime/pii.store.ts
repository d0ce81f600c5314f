import { and, asc, eq, gt, sql, type SQL } from 'drizzle-orm';
import type { NewEvent } from '../../core/events.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { piiAudit, type PiiAuditRow } from './schema-runtime.js';

export type { PiiAuditRow };
export type PiiAuditInput = Omit<PiiAuditRow, 'id' | 'ts'>;

/** The PII audit trail (append-only; the database refuses UPDATE and DELETE). */
export class PiiStore {
  private readonly insert;
  private readonly db: StoreDb;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    // Several rows per scanned text on the request path: prepared once.
    const p = sql.placeholder;
    this.insert = this.db.orm
      .insert(piiAudit)
      .values({
        ts: p('ts'),
        agentId: p('agentId'),
        location: p('location'),
        requestRef: p('requestRef'),
        type: p('type'),
        risk: p('risk'),
        severity: p('severity'),
        action: p('action'),
        confidence: p('confidence'),
        start: p('start'),
        end: p('end'),
        valueHmac: p('valueHmac'),
        valueSealed: p('valueSealed'),
      })
      .prepare();
  }

  /** All findings of one text and the one event that announces them, group-committed. */
  async record(rows: PiiAuditInput[], event: NewEvent): Promise<void> {
    const ts = new Date().toISOString();
    await this.db.writer.soon(() => {
      for (const r of rows) this.insert.run({ ...r, ts });
    }, event);
  }

  list(q: { agentId?: string; type?: string; after?: number; limit: number }): PiiAuditRow[] {
    const where: SQL[] = [gt(piiAudit.id, q.after ?? 0)];
    if (q.agentId) where.push(eq(piiAudit.agentId, q.agentId));
    if (q.type) where.push(eq(piiAudit.type, q.type));
    return this.db.orm
      .select()
      .from(piiAudit)
      .where(and(...where))
      .orderBy(asc(piiAudit.id))
      .limit(q.limit)
      .all();
  }

  /** One finding by its id, sealed value included; null when there is none. */
  get(id: number): PiiAuditRow | null {
    return this.db.orm.select().from(piiAudit).where(eq(piiAudit.id, id)).get() ?? null;
  }

  /** Findings per agent, type and action: the protection counters after a restart. */
  totals(): Array<{ agentId: string | null; type: string; action: string; n: number }> {
    return this.db.orm
      .select({ agentId: piiAudit.agentId, type: piiAudit.type, action: piiAudit.action, n: sql<number>`count(*)` })
      .from(piiAudit)
      .groupBy(piiAudit.agentId, piiAudit.type, piiAudit.action)
      .all();
  }
}
