import { and, asc, desc, eq, gt, isNotNull, sql } from 'drizzle-orm';
import type { Statement } from 'better-sqlite3';
import type { NewEvent } from '../core/events.js';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { repairSpend } from './repair.js';
import { llmRequests, type LlmRequestRow } from './schema.js';

export type LlmRequestInput = Omit<LlmRequestRow, 'id' | 'ts'> & { ts?: string };

/**
 * The gateway's ledger: one row per LLM request, written in the same transaction as the event
 * that announces it, before the response to the agent is finished (a crash loses no spend).
 */
export class LlmStore {
  private readonly insert: Statement;
  private readonly finish: Statement;
  private readonly db: StoreDb;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    // Hot path (one row per LLM call): a raw prepared statement rather than the query builder.
    this.insert = this.db.prepare(
      `INSERT INTO llm_requests (ts, agent_id, endpoint, provider, model, stream, status, http_status, prompt_tokens,
         completion_tokens, cost_micros, reserved_micros, usage_source, latency_ms, first_byte_ms, redactions, error)
       VALUES (@ts, @agentId, @endpoint, @provider, @model, @stream, @status, @httpStatus, @promptTokens,
         @completionTokens, @costMicros, @reservedMicros, @usageSource, @latencyMs, @firstByteMs, @redactions, @error)`,
    );
    this.finish = this.db.prepare(
      `UPDATE llm_requests SET status = @status, http_status = @httpStatus, prompt_tokens = @promptTokens,
         completion_tokens = @completionTokens, cost_micros = @costMicros, usage_source = @usageSource,
         latency_ms = @latencyMs, first_byte_ms = @firstByteMs, redactions = @redactions, error = @error, model = @model
       WHERE id = @id`,
    );
  }

  /**
   * Insert a finished request and its event, group-committed with the other requests of this
   * tick. Resolves with the row id once both are on disk; callers finish the response after.
   * `event` may be built from the id (it is only known inside the transaction).
   */
  async record<C = undefined>(row: LlmRequestInput, event: ((id: number, charged: C) => NewEvent) | null, charge?: () => C): Promise<number> {
    const values = { ...row, ts: row.ts ?? new Date().toISOString(), stream: row.stream ? 1 : 0 };
    // `charge` (the in-memory budget charge) runs inside the transaction, once the row is in:
    // a row that fails to go in is never charged.
    const { result } = await this.db.writer.soon(
      () => {
        const id = Number(this.insert.run(values).lastInsertRowid);
        return { id, charged: charge?.() as C };
      },
      event && ((r) => event(r.id, r.charged)),
    );
    return result.id;
  }

  /** A long stream is written as `pending` when it starts, so a crash mid-stream still leaves its reservation on record. */
  async open(row: LlmRequestInput): Promise<number> {
    return this.record({ ...row, status: 'pending' }, null);
  }

  /** Finish a `pending` row; `charge` runs inside its transaction, as for `record`. */
  async close<C = undefined>(
    id: number,
    row: Pick<LlmRequestRow, 'status' | 'httpStatus' | 'promptTokens' | 'completionTokens' | 'costMicros' | 'usageSource' | 'latencyMs' | 'firstByteMs' | 'redactions' | 'error' | 'model'>,
    event: NewEvent | ((charged: C) => NewEvent) | null,
    charge?: () => C,
  ): Promise<void> {
    await this.db.writer.soon(() => {
      // A pending row that is no longer there (deleted, or never committed) must not take a charge.
      if (this.finish.run({ ...row, id }).changes === 0) throw new Error(`request ${id} is not on record`);
      return charge?.() as C;
    }, event);
  }

  /**
   * Requests left `pending` by a process that died mid-stream: the provider may have charged
   * for all of it, so they count at their reservation (an upper bound), marked `interrupted`.
   */
  settleInterrupted(): number {
    return this.db.orm
      .update(llmRequests)
      .set({ status: 'interrupted', costMicros: sql`${llmRequests.reservedMicros}`, usageSource: 'estimate' })
      .where(eq(llmRequests.status, 'pending'))
      .run().changes;
  }

  /** Total recorded spend per agent, to restore budgets after a restart. `total()`, not `sum()`: a REAL that cannot overflow (sum() throws past 2^63), which repairSpend then clamps. */
  spendByAgent(): Map<string, number> {
    const rows = this.db.orm
      .select({ agentId: llmRequests.agentId, total: sql<number>`total(${llmRequests.costMicros})` })
      .from(llmRequests)
      .groupBy(llmRequests.agentId)
      .all();
    return new Map(rows.map((r) => [r.agentId, repairSpend(r.agentId, r.total, this.db.warn)]));
  }

  /** Latencies (ms, ascending) of the agent's requests that settled ok: the performance panel's sample. */
  okLatencies(agentId: string): number[] {
    return this.db.orm
      .select({ ms: llmRequests.latencyMs })
      .from(llmRequests)
      .where(and(eq(llmRequests.agentId, agentId), eq(llmRequests.status, 'ok'), isNotNull(llmRequests.latencyMs)))
      .orderBy(asc(llmRequests.latencyMs))
      .all()
      .map((r) => r.ms!);
  }

  /** Every charged request of the agent (cost above zero), oldest first: the spend-over-time series. */
  chargesFor(agentId: string): Array<{ ts: string; costMicros: number }> {
    return this.db.orm
      .select({ ts: llmRequests.ts, costMicros: llmRequests.costMicros })
      .from(llmRequests)
      .where(and(eq(llmRequests.agentId, agentId), gt(llmRequests.costMicros, 0)))
      .orderBy(asc(llmRequests.id))
      .all();
  }

  requestsFor(agentId: string, limit = 10_000): LlmRequestRow[] {
    return this.db.orm.select().from(llmRequests).where(eq(llmRequests.agentId, agentId)).orderBy(desc(llmRequests.id)).limit(limit).all().reverse();
  }
}
