import type { Statement } from 'better-sqlite3';
import type { NewEvent } from '../core/events.js';
import type { StateManager } from './manager.js';

export interface PiiAuditRow {
  id: number;
  ts: string;
  agentId: string | null;
  location: string;
  requestRef: string | null;
  type: string;
  risk: string;
  severity: string;
  action: string;
  confidence: number;
  start: number;
  end: number;
  valueHmac: string;
  valueSealed: string;
}

export type PiiAuditInput = Omit<PiiAuditRow, 'id' | 'ts'>;

const COLUMNS = `id, ts, agent_id AS agentId, location, request_ref AS requestRef, type, risk, severity, action,
  confidence, start, "end", value_hmac AS valueHmac, value_sealed AS valueSealed`;

/** The PII audit trail (append-only; the database refuses UPDATE and DELETE). */
export class PiiStore {
  private readonly insert: Statement;

  constructor(private readonly state: StateManager) {
    this.insert = state.database.prepare(
      `INSERT INTO pii_audit (ts, agent_id, location, request_ref, type, risk, severity, action, confidence, start, "end", value_hmac, value_sealed)
       VALUES (@ts, @agentId, @location, @requestRef, @type, @risk, @severity, @action, @confidence, @start, @end, @valueHmac, @valueSealed)`,
    );
  }

  /** All findings of one text and the one event that announces them, group-committed. */
  async record(rows: PiiAuditInput[], event: NewEvent): Promise<void> {
    const ts = new Date().toISOString();
    await this.state.commitSoon(() => {
      for (const r of rows) this.insert.run({ ...r, ts });
    }, event);
  }

  list(q: { agentId?: string; type?: string; after?: number; limit: number }): PiiAuditRow[] {
    const where: string[] = ['id > @after'];
    if (q.agentId) where.push('agent_id = @agentId');
    if (q.type) where.push('type = @type');
    return this.state.database
      .prepare(`SELECT ${COLUMNS} FROM pii_audit WHERE ${where.join(' AND ')} ORDER BY id LIMIT @limit`)
      .all({ after: q.after ?? 0, limit: q.limit, agentId: q.agentId ?? null, type: q.type ?? null }) as PiiAuditRow[];
  }

  /** Findings per agent, type and action: the protection counters after a restart. */
  totals(): Array<{ agentId: string | null; type: string; action: string; n: number }> {
    return this.state.database.prepare('SELECT agent_id AS agentId, type, action, count(*) AS n FROM pii_audit GROUP BY agent_id, type, action').all() as Array<{
      agentId: string | null;
      type: string;
      action: string;
      n: number;
    }>;
  }
}
