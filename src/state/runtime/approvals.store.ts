import { and, desc, eq, gt, isNull, lt, sql, type SQL } from 'drizzle-orm';
import type { ApprovalStatus, NewEvent } from '../../core/events.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { approvals, type ApprovalRow } from './schema-runtime.js';

export type ApprovalInput = Omit<ApprovalRow, 'decidedBy' | 'decidedAt' | 'reason' | 'usedAt' | 'status'>;

export interface ApprovalQuery {
  status?: 'pending' | 'decided';
  agentId?: string;
  /** Only approvals requested before this one's time (paging backwards). */
  before?: string;
  limit: number;
}

/**
 * The approvals table (src/approvals): a request written with its event, decided once with its
 * event. The decision is a conditional UPDATE (`WHERE status = 'pending'`): of two deciders the
 * first wins and the second is told, whichever process or request it came from.
 */
export class ApprovalsStore {
  private readonly db: StoreDb;

  constructor(state: StateManager) {
    this.db = storeDb(state);
  }

  insert(row: ApprovalInput, event: NewEvent): ApprovalRow {
    const full: ApprovalRow = { ...row, status: 'pending', decidedBy: null, decidedAt: null, reason: null, usedAt: null };
    this.db.writer.now(() => this.db.orm.insert(approvals).values(full).run(), event);
    return full;
  }

  /**
   * The one decision: applied only while the approval is pending. Null when it was already
   * decided (nothing is written); else the decided row, its event written in the same transaction.
   */
  decide(id: string, d: { status: Exclude<ApprovalStatus, 'pending'>; by: string | null; reason: string | null; at: string }, event: (row: ApprovalRow) => NewEvent): ApprovalRow | null {
    const { result } = this.db.writer.now(
      () => {
        const changed = this.db.orm
          .update(approvals)
          .set({ status: d.status, decidedBy: d.by, decidedAt: d.at, reason: d.reason })
          .where(and(eq(approvals.id, id), eq(approvals.status, 'pending')))
          .run().changes;
        return changed === 1 ? (this.get(id) ?? null) : null;
      },
      (row) => (row === null ? null : event(row)),
    );
    return result;
  }

  /** An approved ask-ahead grant taken by the call it was for: at most once. */
  use(id: string, at: string): boolean {
    return (
      this.db.writer.now(
        () =>
          this.db.orm
            .update(approvals)
            .set({ usedAt: at })
            .where(and(eq(approvals.id, id), eq(approvals.status, 'approved'), isNull(approvals.usedAt)))
            .run().changes === 1,
        null,
      ).result === true
    );
  }

  get(id: string): ApprovalRow | undefined {
    return this.db.orm.select().from(approvals).where(eq(approvals.id, id)).get();
  }

  pending(): ApprovalRow[] {
    return this.db.orm.select().from(approvals).where(eq(approvals.status, 'pending')).orderBy(approvals.requestedAt).all();
  }

  /** An approved, unused ask-ahead grant for this call (its fingerprint), approved after `since`. */
  grant(fingerprint: string, since: string): ApprovalRow | undefined {
    return this.db.orm
      .select()
      .from(approvals)
      .where(and(eq(approvals.fingerprint, fingerprint), eq(approvals.ahead, true), eq(approvals.status, 'approved'), isNull(approvals.usedAt), gt(approvals.decidedAt, since)))
      .orderBy(approvals.requestedAt)
      .get();
  }

  list(q: ApprovalQuery): ApprovalRow[] {
    const where: SQL[] = [];
    if (q.status === 'pending') where.push(eq(approvals.status, 'pending'));
    if (q.status === 'decided') where.push(sql`${approvals.status} != 'pending'`);
    if (q.agentId !== undefined) where.push(eq(approvals.agentId, q.agentId));
    if (q.before !== undefined) where.push(lt(approvals.requestedAt, q.before));
    return this.db.orm
      .select()
      .from(approvals)
      .where(where.length > 0 ? and(...where) : undefined)
      .orderBy(desc(approvals.requestedAt))
      .limit(q.limit)
      .all();
  }

  /** An agent's approvals by outcome, and the time its calls waited in all (the run summary). */
  totals(agentId: string): { approved: number; denied: number; expired: number; withdrawn: number; pending: number; waitedMs: number } {
    const rows = this.db.orm
      .select({
        status: approvals.status,
        n: sql<number>`count(*)`,
        waited: sql<number>`coalesce(sum(CASE WHEN ${approvals.decidedAt} IS NULL THEN 0 ELSE (julianday(${approvals.decidedAt}) - julianday(${approvals.requestedAt})) * 86400000 END), 0)`,
      })
      .from(approvals)
      .where(and(eq(approvals.agentId, agentId), eq(approvals.ahead, false)))
      .groupBy(approvals.status)
      .all();
    const out = { approved: 0, denied: 0, expired: 0, withdrawn: 0, pending: 0, waitedMs: 0 };
    for (const r of rows) {
      if (r.status in out) out[r.status as ApprovalStatus] = r.n;
      out.waitedMs += Math.round(r.waited);
    }
    return out;
  }
}
