import { and, asc, desc, eq, getTableColumns, gte, isNotNull, lt, type SQL, sql } from 'drizzle-orm';
import { boundRun } from './bound.js';
import { onePerState, storeDb, type StateManager, type StoreDb } from './manager.js';
import { repairSpend } from './repair.js';
import { llmRequests, type LlmRequestRow } from '../schema.js';
import { llmChains, llmRunning, llmSteps, llmTotals, type LlmRunningRow, type LlmStepRow, type LlmTotalsRow } from './schema-runtime.js';
import type { Tx } from './writer.js';

/** A request row as the gateway describes it (the id and, unless given, the time are the store's). */
export type LlmRequestInput = Omit<LlmRequestRow, 'id' | 'ts' | 'step' | 'chain'> & { ts?: string; step?: number | null; chain?: string | null };

/**
 * What a call's row is written with: every column of llm_requests but the id, named as schema.ts
 * declares them (so `LlmRequestInput`, the row `requestRow` builds, is bound as it is, by position).
 */
const ROW_COLUMNS = Object.keys(getTableColumns(llmRequests)).filter((k) => k !== 'id');

/** What the store fills in where a row does not say: when it is written, no step, no chain. */
const ROW_DEFAULTS = { ts: () => new Date().toISOString(), step: () => null, chain: () => null };

/** The columns that close a `pending` row: how the call ended. */
const END_COLUMNS = [
  'status',
  'httpStatus',
  'promptTokens',
  'completionTokens',
  'costMicros',
  'usageSource',
  'latencyMs',
  'firstByteMs',
  'redactions',
  'error',
  'model',
  'attempts',
  'budgets',
] as const;

/** What closes a `pending` row: how the call ended. */
export type LlmRequestEnd = Pick<LlmRequestRow, (typeof END_COLUMNS)[number]>;

/** An agent's ledger summed per provider, model and status (over all its calls). */
export type LedgerGroup = Omit<LlmTotalsRow, 'agentId'>;

/** An agent's ledger summed per bucket of time: `start` epoch ms; `errors` its calls that failed (neither `ok` nor `blocked`: a refusal is no error); `lastChargedMs` its latest charged call, null when none was charged. */
export type LedgerBucket = Pick<LlmRunningRow, 'requests' | 'errors' | 'costMicros' | 'lastChargedMs'> & { start: number };

/** One step of an agent's work as its rollup sums it (`llm_steps`). */
export type StepSpend = Omit<LlmStepRow, 'agentId'>;

/** One chain of an agent's calls as its rollup sums it (`llm_chains`). */
export type ChainSpend = { chain: string; calls: number; costMicros: number };

/** An agent's most recent calls, newest first: how each ended and how long it took. */
export type RecentCall = Pick<LlmRequestRow, 'status' | 'latencyMs' | 'ts' | 'costMicros'>;

const p = (name: string) => sql.placeholder(name);
/** A placeholder where drizzle's `set()` wants an SQL value. */
const v = (name: string) => sql`${sql.placeholder(name)}`;

/** The rows left `pending`, as the partial index llm_requests_pending has them (its condition repeated, so SQLite takes it). */
const PENDING = sql`${sql.raw("status = 'pending'")}`;

/**
 * The `llm_requests` table: one row per LLM call, the record the budget is rebuilt from after a
 * restart. Rows are written only inside a write (`state.writeSoon`), with the charge and the
 * event of their call: the gateway's money path (gateway/meter.ts) opens that write. Its rollups
 * (`llm_totals`, `llm_running`, `llm_steps`, `llm_chains`) are kept by SQLite itself, by the
 * triggers `llm_requests_rolled` (a row inserted settled) and `llm_requests_settled` (a `pending`
 * row settled) of migration 0018, in the statement that writes the row.
 */
export class RequestsStore {
  /** The state file's one RequestsStore (its statements prepared once): what every reader of a runtime takes. */
  static readonly of = onePerState((state) => new RequestsStore(state));

  private readonly db: StoreDb;
  // Prepared once: one row per LLM call is the hot path.
  private readonly insertRow;
  private readonly finishRow;
  private readonly statusOf;
  private readonly groupsOf;
  private readonly runningBefore;
  private readonly firstMinute;
  private readonly lastMinute;
  private readonly minuteFrom;
  private readonly recentOf;
  private readonly topStepsOf;
  private readonly stepTotalsOf;
  private readonly stepOneOf;
  private readonly chainsOf;

  constructor(state: StateManager) {
    this.db = storeDb(state);
    const t = llmRequests;
    // Run by position (bound.ts): the one statement every LLM call runs.
    this.insertRow = boundRun(
      this.db.sqlite,
      this.db.orm
        .insert(t)
        .values(Object.fromEntries(ROW_COLUMNS.map((k) => [k, p(k)])) as unknown as typeof t.$inferInsert)
        .toSQL(),
      ROW_DEFAULTS,
    );
    this.finishRow = this.db.orm
      .update(t)
      .set(Object.fromEntries(END_COLUMNS.map((k) => [k, v(k)])) as Record<(typeof END_COLUMNS)[number], SQL>)
      // Only a row still pending: one statement closes it, or changes nothing (then `finish` says why).
      .where(and(eq(t.id, p('id')), PENDING))
      .prepare();
    this.statusOf = this.db.orm
      .select({ status: t.status })
      .from(t)
      .where(eq(t.id, p('id')))
      .prepare();
    const g = llmTotals;
    // The agent's few groups (providers × models × statuses), along the key: however long it has run.
    this.groupsOf = this.db.orm
      .select({
        provider: g.provider,
        model: g.model,
        status: g.status,
        requests: g.requests,
        promptTokens: g.promptTokens,
        completionTokens: g.completionTokens,
        costMicros: g.costMicros,
      })
      .from(g)
      .where(eq(g.agentId, p('agentId')))
      .prepare();
    const r = llmRunning;
    // The running totals at the end of the agent's last minute before `before`: one key seek.
    this.runningBefore = this.db.orm
      .select({ requests: r.requests, errors: r.errors, costMicros: r.costMicros, lastChargedMs: r.lastChargedMs })
      .from(r)
      .where(and(eq(r.agentId, p('agentId')), lt(r.minute, p('before'))))
      .orderBy(desc(r.minute))
      .limit(1)
      .prepare();
    const edge = (order: typeof asc) =>
      this.db.orm
        .select({ minute: r.minute })
        .from(r)
        .where(eq(r.agentId, p('agentId')))
        .orderBy(order(r.minute))
        .limit(1)
        .prepare();
    this.firstMinute = edge(asc);
    this.lastMinute = edge(desc);
    // The agent's first minute with a call at or after `from`: one key seek.
    this.minuteFrom = this.db.orm
      .select({ minute: r.minute })
      .from(r)
      .where(and(eq(r.agentId, p('agentId')), gte(r.minute, p('from'))))
      .orderBy(asc(r.minute))
      .limit(1)
      .prepare();
    // Along the (agent_id, ts) index (its rowid last: ties in id order) from the latest row, LIMIT rows and no more, whatever they hold.
    this.recentOf = this.db.orm
      .select({ status: t.status, latencyMs: t.latencyMs, ts: t.ts, costMicros: t.costMicros })
      .from(t)
      .where(eq(t.agentId, p('agentId')))
      .orderBy(desc(t.ts), desc(t.id))
      .limit(p('limit'))
      .prepare();
    const st = llmSteps;
    const ch = llmChains;
    // A step as StepSpend has it (the rollup row without its agent).
    const { agentId: _agent, ...stepColumns } = getTableColumns(st);
    // The agent's steps (one row per unit of work, from its key) sorted dearest first: no index to
    // keep on the money path for a read that sorts thousands of rows at most.
    this.topStepsOf = this.db.orm
      .select(stepColumns)
      .from(st)
      .where(eq(st.agentId, p('agentId')))
      .orderBy(desc(st.costMicros), desc(st.step))
      .limit(p('limit'))
      .prepare();
    this.stepTotalsOf = this.db.orm
      .select({
        steps: sql<number>`count(*)`,
        calls: sql<number>`coalesce(sum(${st.calls}), 0)`,
        promptTokens: sql<number>`coalesce(sum(${st.promptTokens}), 0)`,
        completionTokens: sql<number>`coalesce(sum(${st.completionTokens}), 0)`,
        costMicros: sql<number>`coalesce(sum(${st.costMicros}), 0)`,
      })
      .from(st)
      .where(eq(st.agentId, p('agentId')))
      .prepare();
    this.stepOneOf = this.db.orm
      .select(stepColumns)
      .from(st)
      .where(and(eq(st.agentId, p('agentId')), eq(st.step, p('step'))))
      .prepare();
    this.chainsOf = this.db.orm
      .select({ chain: ch.chain, calls: ch.calls, costMicros: ch.costMicros })
      .from(ch)
      .where(eq(ch.agentId, p('agentId')))
      .prepare();
  }

  /**
   * Insert a row (finished, or `pending` for a stream that has only begun); its id. A settled row
   * joins its rollups in the same statement (trigger `llm_requests_rolled`); a `pending` one (a
   * stream under way, charged nothing yet) only when it settles (`finish`). A step and a chain are
   * summed only when the row has one: a call before any progress report, or led by no tool, is in
   * llm_totals and llm_running alone (the chain-less part is its total less the chains).
   */
  insert(_tx: Tx, row: LlmRequestInput): number {
    return Number(this.insertRow(row).lastInsertRowid);
  }

  /**
   * Close a `pending` row with how its call ended (it joins its rollups in that statement: trigger
   * `llm_requests_settled`); throws when the row is not there (deleted, or never committed) or is
   * settled already (closing it again would count it twice).
   */
  finish(_tx: Tx, id: number, end: LlmRequestEnd): void {
    if (this.finishRow.run({ ...end, id }).changes === 1) return;
    const before = this.statusOf.get({ id });
    throw new Error(before ? `request ${id} is already settled (${before.status})` : `request ${id} is not on record`);
  }

  /**
   * Requests left `pending` by a process that died mid-stream: the provider may have charged
   * for all of it, so they count at their reservation (an upper bound), marked `interrupted`.
   */
  settleInterrupted(): number {
    // Through the partial index of pending rows: start-up never reads the whole ledger. Each row
    // joins its rollups as it is updated (trigger `llm_requests_settled`).
    return this.db.writer.now(() => {
      const t = llmRequests;
      return this.db.orm
        .update(t)
        .set({ status: 'interrupted', costMicros: sql`${t.reservedMicros}`, usageSource: 'estimate' })
        .where(PENDING)
        .run().changes;
    }, null).result;
  }

  /** Total recorded spend per agent, to restore budgets after a restart. `total()`, not `sum()`: a REAL that cannot overflow (sum() throws past 2^63), which repairSpend then clamps. */
  spendByAgent(): Map<string, number> {
    // From the totals (kept with the rows in their transactions): a few rows an agent, however long it has run.
    const rows = this.db.orm
      .select({ agentId: llmTotals.agentId, total: sql<number>`total(${llmTotals.costMicros})` })
      .from(llmTotals)
      .groupBy(llmTotals.agentId)
      .all();
    return new Map(rows.map((r) => [r.agentId, repairSpend(r.agentId, r.total, this.db.warn, 'llm_totals')]));
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

  /** The first and last minute (epoch ms) with a settled call of the agent, or null before its first: two reads at the ends of its key range. */
  spanOf(agentId: string): { first: number; last: number } | null {
    const first = this.firstMinute.get({ agentId });
    const last = this.lastMinute.get({ agentId });
    return first && last ? { first: first.minute, last: last.minute } : null;
  }

  /** The agent's ledger per provider, model and status (its `llm_totals` rows, never its calls): the cost report's totals. */
  groupsFor(agentId: string): LedgerGroup[] {
    return this.groupsOf.all({ agentId });
  }

  /**
   * The agent's ledger per bucket of `bucketMs` (a whole number of minutes, aligned to the epoch),
   * ascending, only buckets with calls: the cost report's overTime and spend series, the
   * timeline overview's LLM calls. Each bucket is the difference of the running totals
   * (`llm_running`) at its two edges, and the next bucket with calls is found by the next minute
   * that has any: two key seeks per bucket with calls, however wide the agent's span (`spanOf`,
   * passed by a caller that has read it already) or however many minutes or calls a bucket holds.
   */
  bucketsFor(agentId: string, bucketMs: number, span = this.spanOf(agentId)): LedgerBucket[] {
    if (!Number.isSafeInteger(bucketMs) || bucketMs < 60_000 || bucketMs % 60_000 !== 0) throw new RangeError(`bucketMs must be a whole number of minutes, got ${bucketMs}`);
    if (!span) return [];
    const out: LedgerBucket[] = [];
    const none = { requests: 0, errors: 0, costMicros: 0, lastChargedMs: null };
    // Nothing before the agent's first minute's bucket.
    let before: Omit<LedgerBucket, 'start'> = none;
    // The bucket a minute is in: rounded down, before 1970 too (`%` keeps the sign of a negative time).
    const bucketOf = (minute: number) => minute - (((minute % bucketMs) + bucketMs) % bucketMs);
    let start = bucketOf(span.first);
    while (start <= span.last) {
      const end = this.runningBefore.get({ agentId, before: start + bucketMs }) ?? none;
      if (end.requests !== before.requests) {
        // The latest charge up to the bucket's end is in the bucket when it is not before its start.
        const last = end.lastChargedMs !== null && end.lastChargedMs >= start ? end.lastChargedMs : null;
        out.push({ start, requests: end.requests - before.requests, errors: end.errors - before.errors, costMicros: end.costMicros - before.costMicros, lastChargedMs: last });
      }
      before = end;
      // The buckets between hold no call (a minute has a row of running totals only when a call settled in it).
      const next = this.minuteFrom.get({ agentId, from: start + bucketMs });
      if (!next) break;
      start = bucketOf(next.minute);
    }
    return out;
  }

  /** The agent's last `limit` calls by their time (`ts`), newest first, whatever their status (the performance panel's sample; a short run's spend series): `limit` rows read at most. */
  recentCalls(agentId: string, limit: number): RecentCall[] {
    return this.recentOf.all({ agentId, limit });
  }

  /** The agent's `limit` dearest steps (ties: the later step first), read along their index: `limit` rows at most. */
  topSteps(agentId: string, limit: number): StepSpend[] {
    return this.topStepsOf.all({ agentId, limit });
  }

  /** How many steps the agent's rollup holds, and their calls, tokens and cost together. */
  stepTotals(agentId: string): { steps: number; calls: number; promptTokens: number; completionTokens: number; costMicros: number } {
    return this.stepTotalsOf.get({ agentId }) ?? { steps: 0, calls: 0, promptTokens: 0, completionTokens: 0, costMicros: 0 };
  }

  /** One step of the agent's rollup; null when it has no call. */
  step(agentId: string, step: number): StepSpend | null {
    return this.stepOneOf.get({ agentId, step }) ?? null;
  }

  /** The agent's spend per chain (tool), from its rollup: one row per tool that led to a call. */
  chainsFor(agentId: string): ChainSpend[] {
    return this.chainsOf.all({ agentId });
  }
}
