import { asc, desc, eq, isNotNull, sql } from 'drizzle-orm';
import { storeDb, type StateManager, type StoreDb } from './manager.js';
import { repairSpend } from './repair.js';
import { llmChains, llmRequests, llmSpend, llmSteps, type LlmRequestRow, type LlmSpendRow, type LlmStepRow } from './schema.js';
import type { Tx } from './writer.js';

/** A request row as the gateway describes it (the id and, unless given, the time are the store's). */
export type LlmRequestInput = Omit<LlmRequestRow, 'id' | 'ts' | 'step' | 'chain'> & { ts?: string; step?: number | null; chain?: string | null };

/** What closes a `pending` row: how the call ended. */
export type LlmRequestEnd = Pick<
  LlmRequestRow,
  'status' | 'httpStatus' | 'promptTokens' | 'completionTokens' | 'costMicros' | 'usageSource' | 'latencyMs' | 'firstByteMs' | 'redactions' | 'error' | 'model' | 'attempts' | 'budgets'
>;

/** The columns of a row its rollup group sums (`llm_spend`). */
const CONTRIBUTION = {
  agentId: llmRequests.agentId,
  ts: llmRequests.ts,
  provider: llmRequests.provider,
  model: llmRequests.model,
  status: llmRequests.status,
  promptTokens: llmRequests.promptTokens,
  completionTokens: llmRequests.completionTokens,
  costMicros: llmRequests.costMicros,
  step: llmRequests.step,
  chain: llmRequests.chain,
};

/** What a row adds to its groups of the rollups (`llm_spend`, `llm_steps`, `llm_chains`). */
type Contribution = Pick<LlmRequestRow, 'agentId' | 'ts' | 'provider' | 'model' | 'status' | 'promptTokens' | 'completionTokens' | 'costMicros' | 'step' | 'chain'>;

/** An agent's ledger summed per provider, model and status (over all its calls). */
export type LedgerGroup = Pick<LlmSpendRow, 'provider' | 'model' | 'status' | 'requests' | 'promptTokens' | 'completionTokens' | 'costMicros'>;

/** An agent's ledger summed per bucket of time: `start` epoch ms; `lastChargedMs` its latest charged call, null when none was charged. */
export type LedgerBucket = Pick<LlmSpendRow, 'requests' | 'costMicros' | 'lastChargedMs'> & { start: number };

/** One step of an agent's work as its rollup sums it (`llm_steps`). */
export type StepSpend = Omit<LlmStepRow, 'agentId'>;

/** One chain of an agent's calls as its rollup sums it (`llm_chains`). */
export type ChainSpend = { chain: string; calls: number; costMicros: number };

/** An agent's most recent calls, newest first: how each ended and how long it took. */
export type RecentCall = Pick<LlmRequestRow, 'status' | 'latencyMs' | 'ts' | 'costMicros'>;

const epochMsOf = (ts: string) => {
  const ms = Date.parse(ts);
  return Number.isFinite(ms) ? ms : 0;
};

const p = (name: string) => sql.placeholder(name);
/** A placeholder where drizzle's `set()` wants an SQL value. */
const v = (name: string) => sql`${sql.placeholder(name)}`;

/**
 * The `llm_requests` table: one row per LLM call, the record the budget is rebuilt from after a
 * restart. Rows are written only inside a write (`state.writeSoon`), with the charge and the
 * event of their call: the gateway's money path (gateway/meter.ts) opens that write.
 */
/** The rows left `pending`, as the partial index llm_requests_pending has them (its condition repeated, so SQLite takes it). */
const PENDING = sql`${sql.raw("status = 'pending'")}`;

export class RequestsStore {
  private readonly db: StoreDb;
  // Prepared once: one row per LLM call is the hot path.
  private readonly insertRow;
  private readonly finishRow;
  private readonly rowById;
  private readonly addToGroup;
  private readonly groupsOf;
  private readonly bucketsOf;
  private readonly firstMinute;
  private readonly lastMinute;
  private readonly recentOf;
  private readonly addToStep;
  private readonly addToChain;
  private readonly topStepsOf;
  private readonly stepTotalsOf;
  private readonly chainsOf;

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
        step: p('step'),
        chain: p('chain'),
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
    this.rowById = this.db.orm
      .select(CONTRIBUTION)
      .from(t)
      .where(eq(t.id, p('id')))
      .prepare();
    const g = llmSpend;
    const key = { agentId: p('agentId'), minute: p('minute'), provider: p('provider'), model: p('model'), status: p('status') };
    this.addToGroup = this.db.orm
      .insert(g)
      .values({ ...key, requests: p('requests'), promptTokens: p('promptTokens'), completionTokens: p('completionTokens'), costMicros: p('costMicros'), lastChargedMs: p('lastChargedMs') })
      .onConflictDoUpdate({
        target: [g.agentId, g.minute, g.provider, g.model, g.status],
        set: {
          requests: sql`${g.requests} + excluded.requests`,
          promptTokens: sql`${g.promptTokens} + excluded.prompt_tokens`,
          completionTokens: sql`${g.completionTokens} + excluded.completion_tokens`,
          costMicros: sql`${g.costMicros} + excluded.cost_micros`,
          lastChargedMs: sql`coalesce(max(${g.lastChargedMs}, excluded.last_charged_ms), ${g.lastChargedMs}, excluded.last_charged_ms)`,
        },
      })
      .prepare();
    // Summed in SQL: JavaScript builds a row per group or bucket, not one per rollup row (a day of
    // an agent is up to 1,440 minutes × its models and statuses).
    this.groupsOf = this.db.orm
      .select({
        provider: g.provider,
        model: g.model,
        status: g.status,
        requests: sql<number>`sum(${g.requests})`,
        promptTokens: sql<number>`sum(${g.promptTokens})`,
        completionTokens: sql<number>`sum(${g.completionTokens})`,
        costMicros: sql<number>`sum(${g.costMicros})`,
      })
      .from(g)
      .where(eq(g.agentId, p('agentId')))
      .groupBy(g.provider, g.model, g.status)
      .prepare();
    // `minute - minute % bucket`, not `/ bucket * bucket`: a bound number may be a REAL, and % is integer arithmetic whatever its operands.
    const bucket = sql<number>`${g.minute} - ${g.minute} % ${p('bucket')}`;
    this.bucketsOf = this.db.orm
      .select({ start: bucket, requests: sql<number>`sum(${g.requests})`, costMicros: sql<number>`sum(${g.costMicros})`, lastChargedMs: sql<number | null>`max(${g.lastChargedMs})` })
      .from(g)
      .where(eq(g.agentId, p('agentId')))
      .groupBy(bucket)
      .orderBy(bucket)
      .prepare();
    const edge = (order: typeof asc) =>
      this.db.orm
        .select({ minute: g.minute })
        .from(g)
        .where(eq(g.agentId, p('agentId')))
        .orderBy(order(g.minute))
        .limit(1)
        .prepare();
    this.firstMinute = edge(asc);
    this.lastMinute = edge(desc);
    // Along the (agent_id, id) index from the newest row, LIMIT rows and no more, whatever they hold.
    this.recentOf = this.db.orm
      .select({ status: t.status, latencyMs: t.latencyMs, ts: t.ts, costMicros: t.costMicros })
      .from(t)
      .where(eq(t.agentId, p('agentId')))
      .orderBy(desc(t.id))
      .limit(p('limit'))
      .prepare();
    const st = llmSteps;
    this.addToStep = this.db.orm
      .insert(st)
      .values({
        agentId: p('agentId'),
        step: p('step'),
        calls: 1,
        promptTokens: p('promptTokens'),
        completionTokens: p('completionTokens'),
        costMicros: p('costMicros'),
        firstMs: p('ms'),
        lastMs: p('ms'),
      })
      .onConflictDoUpdate({
        target: [st.agentId, st.step],
        set: {
          calls: sql`${st.calls} + 1`,
          promptTokens: sql`${st.promptTokens} + excluded.prompt_tokens`,
          completionTokens: sql`${st.completionTokens} + excluded.completion_tokens`,
          costMicros: sql`${st.costMicros} + excluded.cost_micros`,
          firstMs: sql`min(${st.firstMs}, excluded.first_ms)`,
          lastMs: sql`max(${st.lastMs}, excluded.last_ms)`,
        },
      })
      .prepare();
    const ch = llmChains;
    this.addToChain = this.db.orm
      .insert(ch)
      .values({ agentId: p('agentId'), chain: p('chain'), calls: 1, costMicros: p('costMicros') })
      .onConflictDoUpdate({ target: [ch.agentId, ch.chain], set: { calls: sql`${ch.calls} + 1`, costMicros: sql`${ch.costMicros} + excluded.cost_micros` } })
      .prepare();
    // The agent's steps (one row per unit of work, from its key) sorted dearest first: no index to
    // keep on the money path for a read that sorts thousands of rows at most.
    this.topStepsOf = this.db.orm
      .select({
        step: st.step,
        calls: st.calls,
        promptTokens: st.promptTokens,
        completionTokens: st.completionTokens,
        costMicros: st.costMicros,
        firstMs: st.firstMs,
        lastMs: st.lastMs,
      })
      .from(st)
      .where(eq(st.agentId, p('agentId')))
      .orderBy(desc(st.costMicros), desc(st.step))
      .limit(p('limit'))
      .prepare();
    this.stepTotalsOf = this.db.orm
      .select({ steps: sql<number>`count(*)`, costMicros: sql<number>`coalesce(sum(${st.costMicros}), 0)` })
      .from(st)
      .where(eq(st.agentId, p('agentId')))
      .prepare();
    this.chainsOf = this.db.orm
      .select({ chain: ch.chain, calls: ch.calls, costMicros: ch.costMicros })
      .from(ch)
      .where(eq(ch.agentId, p('agentId')))
      .prepare();
  }

  /**
   * Add a settled row to its rollup group. A `pending` row (a stream under way, charged nothing
   * yet) joins it only when it settles: one statement more per call on the money path, not three.
   */
  private roll(c: Contribution): void {
    if (c.status === 'pending') return;
    const ms = epochMsOf(c.ts);
    this.addToGroup.run({
      agentId: c.agentId,
      minute: Math.floor(ms / 60_000) * 60_000,
      provider: c.provider,
      model: c.model,
      status: c.status,
      requests: 1,
      promptTokens: c.promptTokens,
      completionTokens: c.completionTokens,
      costMicros: c.costMicros,
      lastChargedMs: c.costMicros > 0 ? ms : null,
    });
    // A step and a chain are summed only when the row has one: a call before any progress report,
    // or led by no tool, is in llm_spend alone (the chain-less part is its total less the chains).
    if (c.step !== null) this.addToStep.run({ agentId: c.agentId, step: c.step, promptTokens: c.promptTokens, completionTokens: c.completionTokens, costMicros: c.costMicros, ms });
    if (c.chain !== null) this.addToChain.run({ agentId: c.agentId, chain: c.chain, costMicros: c.costMicros });
  }

  /** Insert a row (finished, or `pending` for a stream that has only begun); its id. */
  insert(_tx: Tx, row: LlmRequestInput): number {
    const ts = row.ts ?? new Date().toISOString();
    const r = this.insertRow.run({ ...row, ts, stream: row.stream ? 1 : 0, step: row.step ?? null, chain: row.chain ?? null });
    this.roll({ ...row, ts, step: row.step ?? null, chain: row.chain ?? null });
    return Number(r.lastInsertRowid);
  }

  /** Close a `pending` row with how its call ended; throws when the row is not there (deleted, or never committed). */
  finish(_tx: Tx, id: number, end: LlmRequestEnd): void {
    const before = this.rowById.get({ id });
    if (!before) throw new Error(`request ${id} is not on record`);
    // A settled row is in the rollup already: closing it again would count it twice.
    if (before.status !== 'pending') throw new Error(`request ${id} is already settled (${before.status})`);
    this.finishRow.run({ ...end, id });
    this.roll({ ...before, ...end });
  }

  /**
   * Requests left `pending` by a process that died mid-stream: the provider may have charged
   * for all of it, so they count at their reservation (an upper bound), marked `interrupted`.
   */
  settleInterrupted(): number {
    return this.db.writer.now(() => {
      const t = llmRequests;
      // Through the partial index of pending rows: start-up never reads the whole ledger.
      const pending = this.db.orm
        .select({ ...CONTRIBUTION, reservedMicros: t.reservedMicros })
        .from(t)
        .where(PENDING)
        .all();
      if (pending.length === 0) return 0;
      const changes = this.db.orm
        .update(t)
        .set({ status: 'interrupted', costMicros: sql`${t.reservedMicros}`, usageSource: 'estimate' })
        .where(PENDING)
        .run().changes;
      for (const row of pending) this.roll({ ...row, status: 'interrupted', costMicros: row.reservedMicros });
      return changes;
    }, null).result;
  }

  /** Total recorded spend per agent, to restore budgets after a restart. `total()`, not `sum()`: a REAL that cannot overflow (sum() throws past 2^63), which repairSpend then clamps. */
  spendByAgent(): Map<string, number> {
    // From the rollup (kept with the rows in their transactions): a day is at most 1,440 minutes an agent, not its every call.
    const rows = this.db.orm
      .select({ agentId: llmSpend.agentId, total: sql<number>`total(${llmSpend.costMicros})` })
      .from(llmSpend)
      .groupBy(llmSpend.agentId)
      .all();
    return new Map(rows.map((r) => [r.agentId, repairSpend(r.agentId, r.total, this.db.warn, 'llm_spend')]));
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

  /** The first and last minute (epoch ms) of the agent's rollup, or null before its first settled call: two reads at the ends of its key range. */
  spanOf(agentId: string): { first: number; last: number } | null {
    const first = this.firstMinute.get({ agentId });
    const last = this.lastMinute.get({ agentId });
    return first && last ? { first: first.minute, last: last.minute } : null;
  }

  /** The agent's ledger per provider, model and status, summed from its rollup rows (never its calls): the cost report's totals. */
  groupsFor(agentId: string): LedgerGroup[] {
    return this.groupsOf.all({ agentId });
  }

  /**
   * The agent's ledger per bucket of `bucketMs` (a whole number of minutes, aligned to the epoch),
   * ascending, only buckets with calls: the cost report's overTime and spend series.
   */
  bucketsFor(agentId: string, bucketMs: number): LedgerBucket[] {
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 60_000 || bucketMs % 60_000 !== 0) throw new RangeError(`bucketMs must be a whole number of minutes, got ${bucketMs}`);
    return this.bucketsOf.all({ agentId, bucket: bucketMs });
  }

  /** The agent's last `limit` calls, newest first, whatever their status (the performance panel's sample; a short run's spend series): `limit` rows read at most. */
  recentCalls(agentId: string, limit: number): RecentCall[] {
    return this.recentOf.all({ agentId, limit });
  }

  /** The agent's `limit` dearest steps (ties: the later step first), read along their index: `limit` rows at most. */
  topSteps(agentId: string, limit: number): StepSpend[] {
    return this.topStepsOf.all({ agentId, limit });
  }

  /** How many steps the agent's rollup holds, and what they cost together. */
  stepTotals(agentId: string): { steps: number; costMicros: number } {
    return this.stepTotalsOf.get({ agentId }) ?? { steps: 0, costMicros: 0 };
  }

  /** The agent's spend per chain (tool), from its rollup: one row per tool that led to a call. */
  chainsFor(agentId: string): ChainSpend[] {
    return this.chainsOf.all({ agentId });
  }
}
