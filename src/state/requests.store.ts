import { and, asc, desc, eq, gt, isNotNull, sql } from 'drizzle-orm';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { repairSpend } from './repair.js';
import { llmRequests, type LlmRequestRow } from './schema.js';
import type { Tx } from './writer.js';

/** A request row as the gateway describes it (the id and, unless given, the time are the store's). */
export type LlmRequestInput = Omit<LlmRequestRow, 'id' | 'ts'> & { ts?: string };

/** What closes a `pending` row: how the call ended. */
export type LlmRequestEnd = Pick<
  LlmRequestRow,
  'status' | 'httpStatus' | 'promptTokens' | 'completionTokens' | 'costMicros' | 'usageSource' | 'latencyMs' | 'firstByteMs' | 'redactions' | 'error' | 'model' | 'attempts' | 'budgets'
>;

const p = (name: string) => sql.placeholder(name);
/** A placeholder where drizzle's `set()` wants an SQL value. */
const v = (name: string) => sql`${sql.placeholder(name)}`;

/**
 * The `llm_requests` table: one row per LLM call, the record the budget is rebuilt from after a
 * restart. Rows are written only inside a write (`state.writeSoon`), with the charge and the
 * event of their call: the gateway's money path (gateway/meter.ts) opens that write.
 */
export class RequestsStore {
  private readonly db: StoreDb;
  // Prepared once: one row per LLM call is the hot path.
  private readonly insertRow;
  private readonly finishRow;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    const t = llmRequests;
    this.insertRow = this.db.orm
      .insert(t)
      .values({
        ts: p('ts'),
        agentId: p('agentId'),
        endpoint: p('endpoint'),
        provider: p('provider'),
        model: p('model'),
        stream: p('stream'),
        status: p('status'),
        httpStatus: p('httpStatus'),
        promptTokens: p('promptTokens'),
        completionTokens: p('completionTokens'),
        costMicros: p('costMicros'),
        reservedMicros: p('reservedMicros'),
        usageSource: p('usageSource'),
        latencyMs: p('latencyMs'),
        firstByteMs: p('firstByteMs'),
        redactions: p('redactions'),
        error: p('error'),
        attempts: p('attempts'),
        budgets: p('budgets'),
      })
      .prepare();
    this.finishRow = this.db.orm
      .update(t)
      .set({
        status: v('status'),
        httpStatus: v('httpStatus'),
        promptTokens: v('promptTokens'),
        completionTokens: v('completionTokens'),
        costMicros: v('costMicros'),
        usageSource: v('usageSource'),
        latencyMs: v('latencyMs'),
        firstByteMs: v('firstByteMs'),
        redactions: v('redactions'),
        error: v('error'),
        model: v('model'),
        attempts: v('attempts'),
        budgets: v('budgets'),
      })
      .where(eq(t.id, p('id')))
      .prepare();
  }

  /** Insert a row (finished, or `pending` for a stream that has only begun); its id. */
  insert(_tx: Tx, row: LlmRequestInput): number {
    const r = this.insertRow.run({ ...row, ts: row.ts ?? new Date().toISOString(), stream: row.stream ? 1 : 0 });
    return Number(r.lastInsertRowid);
  }

  /** Close a `pending` row with how its call ended; throws when the row is not there (deleted, or never committed). */
  finish(_tx: Tx, id: number, end: LlmRequestEnd): void {
    if (this.finishRow.run({ ...end, id }).changes === 0) throw new Error(`request ${id} is not on record`);
  }

  /**
   * Requests left `pending` by a process that died mid-stream: the provider may have charged
   * for all of it, so they count at their reservation (an upper bound), marked `interrupted`.
   */
  settleInterrupted(): number {
    return this.db.writer.now(
      () =>
        this.db.orm
          .update(llmRequests)
          .set({ status: 'interrupted', costMicros: sql`${llmRequests.reservedMicros}`, usageSource: 'estimate' })
          .where(eq(llmRequests.status, 'pending'))
          .run().changes,
      null,
    ).result;
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

  /**
   * Total recorded spend per central budget key (`<budget>@<window>`), from the rows' `budgets`
   * tags: a runtime's spend on each central budget rebuilt after a restart. Read per distinct tag
   * (a handful), each split into its keys here.
   */
  spendByBudget(): Map<string, number> {
    const rows = this.db.orm
      .select({ budgets: llmRequests.budgets, total: sql<number>`total(${llmRequests.costMicros})` })
      .from(llmRequests)
      .where(isNotNull(llmRequests.budgets))
      .groupBy(llmRequests.budgets)
      .all();
    const out = new Map<string, number>();
    for (const r of rows) {
      let keys: unknown;
      try {
        keys = JSON.parse(r.budgets!);
      } catch {
        keys = null;
      }
      if (!Array.isArray(keys)) {
        this.db.warn(`llm_requests.budgets ${JSON.stringify(r.budgets).slice(0, 80)} is not a list of budget keys: its rows' spend is not counted to any central budget`);
        continue;
      }
      for (const k of new Set(keys)) if (typeof k === 'string') out.set(k, (out.get(k) ?? 0) + repairSpend(`budget ${k}`, r.total, this.db.warn));
    }
    return out;
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
