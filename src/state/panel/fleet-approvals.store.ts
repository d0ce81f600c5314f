import { and, asc, desc, eq, gt, isNull, sql } from 'drizzle-orm';
import type { ApprovalShown } from '../../core/events.js';
import { approversText, type Approvers } from '../../domain/policy/index.js';
import type { PanelDb } from './pg.js';
import { approvalDecisions, fleetApprovals, runtimes, type ApprovalDecisionRow, type FleetApprovalRow } from './schema-panel.js';
import { agents } from './schema-pg.js';

// The fleet's approvals on the control panel: what the runtimes' `approval.requested`
// and `approval.decided` events say (fleet_approvals, kept by the ingest in the batch's
// transaction), and the decisions panel users take for the runtimes to apply (approval_decisions:
// one per approval, append-only). Reads go by key or by the partial indexes, never the event log.

/** The most pending approvals, and decided ones, the queue lists. */
export const FLEET_APPROVALS_MAX = 200;
/** The most decisions one runtime reads per poll. */
export const RUNTIME_DECISIONS_MAX = 100;

/** A panel user's decision on a runtime's approval. */
export interface PanelDecision {
  decision: 'approve' | 'deny';
  /** `panel admin bob`. */
  by: string;
  reason: string | null;
  at: string;
}

/**
 * A runtime's approval as the fleet's queue shows it (GET /api/approvals on the panel): its agent
 * named as its runtime reported it (its id while the panel holds no agent row), its times on the
 * runtime's clock, its status as the runtime's events said it (pending until its
 * `approval.decided` lands), and whose runtime it is.
 */
export interface FleetApproval extends ApprovalShown {
  runtime: string;
  /** The decision a panel user took (applied by the runtime at its next poll, unless it had decided otherwise by then). */
  panel: PanelDecision | null;
}

/** A panel decision as the runtime reads it (GET /api/runtime/approvals). */
export interface RuntimeDecision {
  /** Its place in the panel's order: the runtime asks for those after the last it saw. */
  seq: number;
  id: string;
  decision: 'approve' | 'deny';
  reason: string | null;
  role: string;
  name: string;
  /** The panel user's name when the session is a named user's login, else null. */
  user: string | null;
  by: string;
  at: string;
}

const text = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const texts = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** An event as it landed: the fields read here. */
type Landed = { ts: string; agentId: string | null; type: string; data: string };

function dataOf(e: Landed): Record<string, unknown> | null {
  try {
    const d = JSON.parse(e.data) as unknown;
    return d !== null && typeof d === 'object' && !Array.isArray(d) ? (d as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/**
 * The approvals a batch's new events open and close, on `runtimeId`: each `approval.requested` a
 * row, each `approval.decided` its outcome (a row already decided keeps its first). Events in
 * seq order, so a request and its decision in one batch land as both. Inside the ingest's
 * transaction; an event whose data is not what the runtime writes is left out.
 */
export async function landApprovals(tx: PanelDb, runtimeId: string, events: readonly Landed[]): Promise<void> {
  const requested: Array<typeof fleetApprovals.$inferInsert> = [];
  const decided: Array<{ id: string; status: string; by: string | null; at: string; reason: string | null; waited: number | null }> = [];
  for (const e of events) {
    if (e.type !== 'approval.requested' && e.type !== 'approval.decided') continue;
    const d = dataOf(e);
    const id = text(d?.id);
    if (!d || !id) continue;
    if (e.type === 'approval.decided') {
      const status = text(d.status);
      if (status) decided.push({ id, status, by: text(d.by), at: e.ts, reason: text(d.reason), waited: typeof d.waitedMs === 'number' ? Math.round(d.waitedMs) : null });
      continue;
    }
    const approvers = (d.approvers ?? {}) as Record<string, unknown>;
    const [kind, service, tool, rule, expiresAt] = [text(d.kind), text(d.service), text(d.tool), text(d.rule), text(d.expiresAt)];
    if (!e.agentId || !kind || !service || !tool || !rule || !expiresAt) continue;
    requested.push({
      runtimeId,
      approvalId: id,
      agentId: e.agentId,
      kind,
      service,
      tool,
      method: text(d.method),
      args: text(d.args) ?? '',
      rule,
      approverRoles: texts(approvers.roles),
      approverUsers: texts(approvers.users),
      ahead: d.ahead === true,
      note: text(d.note),
      requestedAt: e.ts,
      expiresAt,
    });
  }
  if (requested.length > 0) await tx.insert(fleetApprovals).values(requested).onConflictDoNothing();
  if (decided.length === 0) return;
  const f = fleetApprovals;
  await tx.execute(
    sql`update ${f} set status = x.status, decided_by = x.by, decided_at = x.at, reason = x.reason, waited_ms = x.waited
          from json_to_recordset(${JSON.stringify(decided)}::json) as x(id text, status text, by text, at text, reason text, waited bigint)
         where ${f.runtimeId} = ${runtimeId} and ${f.approvalId} = x.id and ${f.status} = 'pending'`,
  );
}

const columns = {
  row: fleetApprovals,
  agentName: agents.name,
  panel: approvalDecisions,
};

function view(r: { row: FleetApprovalRow; agentName: string | null; panel: ApprovalDecisionRow | null }): FleetApproval {
  const a = r.row;
  const d = r.panel;
  const approvers: Approvers = { roles: a.approverRoles.filter((x): x is 'admin' => x === 'admin'), users: a.approverUsers };
  return {
    runtime: a.runtimeId,
    id: a.approvalId,
    agentId: a.agentId,
    agentName: r.agentName ?? a.agentId,
    kind: a.kind === 'mcp' || a.kind === 'llm' ? a.kind : 'http',
    service: a.service,
    tool: a.tool,
    method: a.method,
    args: a.args,
    rule: a.rule,
    approvers,
    approversText: approversText(approvers),
    ahead: a.ahead,
    note: a.note,
    requestedAt: a.requestedAt,
    expiresAt: a.expiresAt,
    status: a.status as ApprovalShown['status'],
    decidedBy: a.decidedBy,
    decidedAt: a.decidedAt,
    reason: a.reason,
    waitedMs: a.waitedMs,
    panel: d ? { decision: d.decision === 'deny' ? 'deny' : 'approve', by: d.decidedBy, reason: d.reason, at: d.decidedAt } : null,
  };
}

export class FleetApprovalsStore {
  constructor(private readonly db: PanelDb) {}

  private select() {
    const f = fleetApprovals;
    return this.db
      .select(columns)
      .from(f)
      .leftJoin(agents, and(eq(agents.runtimeId, f.runtimeId), eq(agents.id, f.agentId)))
      .leftJoin(approvalDecisions, and(eq(approvalDecisions.runtimeId, f.runtimeId), eq(approvalDecisions.approvalId, f.approvalId)));
  }

  /**
   * The queue: approvals still pending on live runtimes, newest first, and the latest decided
   * (by their runtimes), newest first; at most `limit` of each.
   */
  async list(limit = FLEET_APPROVALS_MAX): Promise<{ pending: FleetApproval[]; decided: FleetApproval[] }> {
    const f = fleetApprovals;
    const [pending, decided] = await Promise.all([
      this.select()
        .innerJoin(runtimes, and(eq(runtimes.id, f.runtimeId), isNull(runtimes.removedAt)))
        .where(sql`${f.status} = 'pending'`)
        .orderBy(desc(f.requestedAt))
        .limit(limit),
      this.select().where(sql`${f.decidedAt} is not null`).orderBy(desc(f.decidedAt)).limit(limit),
    ]);
    return { pending: pending.map(view), decided: decided.map(view) };
  }

  async get(runtimeId: string, id: string): Promise<FleetApproval | null> {
    const [r] = await this.select()
      .where(and(eq(fleetApprovals.runtimeId, runtimeId), eq(fleetApprovals.approvalId, id)))
      .limit(1);
    return r ? view(r) : null;
  }

  /** The one panel decision: false (nothing written) when one was taken already. */
  async decide(d: Omit<typeof approvalDecisions.$inferInsert, 'seq'>): Promise<boolean> {
    const rows = await this.db.insert(approvalDecisions).values(d).onConflictDoNothing().returning({ seq: approvalDecisions.seq });
    return rows.length === 1;
  }

  /**
   * The panel's decisions for one runtime after its cursor, in order, of approvals it has not
   * reported decided yet (one it has is answered by its own outcome), and the cursor past every
   * decision looked at.
   */
  async forRuntime(runtimeId: string, after: number, limit = RUNTIME_DECISIONS_MAX): Promise<{ decisions: RuntimeDecision[]; cursor: number }> {
    const d = approvalDecisions;
    const rows = await this.db
      .select({ d, status: fleetApprovals.status })
      .from(d)
      .leftJoin(fleetApprovals, and(eq(fleetApprovals.runtimeId, d.runtimeId), eq(fleetApprovals.approvalId, d.approvalId)))
      .where(and(eq(d.runtimeId, runtimeId), gt(d.seq, after)))
      .orderBy(asc(d.seq))
      .limit(limit);
    const decisions = rows
      .filter((r) => r.status === 'pending')
      .map(({ d: x }) => ({
        seq: x.seq,
        id: x.approvalId,
        decision: x.decision === 'deny' ? ('deny' as const) : ('approve' as const),
        reason: x.reason,
        role: x.role,
        name: x.name,
        user: x.userName,
        by: x.decidedBy,
        at: x.decidedAt,
      }));
    return { decisions, cursor: rows.reduce((m, r) => Math.max(m, r.d.seq), after) };
  }
}
