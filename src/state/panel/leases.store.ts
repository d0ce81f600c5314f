import { and, asc, eq, getTableColumns, gt, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import { ForbiddenError } from '../../core/errors.js';
import {
  addLeases,
  CONTENDED_WITHIN_MS,
  grantLease,
  LEASE_DEFAULTS,
  leaseFigures,
  NO_OTHER_LEASES,
  placeInOrder,
  renewInMs,
  settleOutside,
  takenBackTo,
  type LeaseAsk,
  type LeaseDecision,
  type LeaseOrder,
  type OtherLeases,
} from '../../domain/budget/index.js';
import { budgetState, coverage, windowStart, type BudgetPeriod, type BudgetScope, type BudgetState } from './budgets.store.js';
import type { PanelDb } from './pg.js';
import { budgetLeases, budgets, leaseOrder, runtimes, type BudgetLeaseRow, type BudgetRow } from './schema-panel.js';
import { cmp } from './pg-values.js';
import { told } from './coverage.store.js';
import { pgCode } from '../db-errors.js';

// The leases runtimes spend central budgets through (the budgets: budgets.store.ts; the policy,
// what is granted, shared, counted and taken back: src/domain/budget/lease.ts).
// A runtime spends only out of what the panel granted it; every grant is decided and written in
// one transaction with the budget rows locked (in id order), so per window Σ max(granted, spent)
// never passes the limit and two runtimes are never granted the same dollars. A silent runtime's
// lease is reclaimed down to what it reported spending. Each lease call also records what its
// answer told the runtime (budget_coverage): the only budget windows, and agents, its rows may
// charge (`chargeable`, at ingest: coverage.store.ts).
//
// Under replicas (several panel processes behind a load balancer) a runtime's calls may reach the panel out of order: each call names
// its process (incarnation) and its number in it, and the panel keeps the highest pair per runtime
// (lease_order), checked and advanced with that row locked: a call
// at or below it is stale and answered read-only. What a runtime spent is never counted lower
// than the panel knows (its landed rows, its last report): the answer's `floor`, with `held`, what
// its calls held then (a runtime whose rows of the window are gone counts those too). A lease of a budget that no longer covers the runtime, or of a
// window that is over, gives back at once what its runtime did not spend or hold.

const RETRYABLE = new Set(['40001', '40P01']);
const ATTEMPTS = 8;

/** What a runtime said of its lease in an ask, as its lease row keeps it (`used`: never below what the panel knew). */
const reported = (ask: LeaseAsk, used: number) => ({
  usedMicros: used,
  heldMicros: ask.held,
  waiting: ask.waiting,
  needMicros: ask.need,
  ratePerMinMicros: ask.rate,
  wantedMicros: ask.want,
});

/** One budget in the answer to a lease call: each one that covers the runtime now, in its current window. */
export interface LeaseGrant extends Omit<LeaseDecision, 'short' | 'recount'> {
  budget: string;
  scope: BudgetScope;
  period: BudgetPeriod;
  window: number;
  covers: 'all' | string[];
  limit: number;
  state: BudgetState;
}

export interface LeaseAnswer {
  now: number;
  renewInMs: number;
  /** The call was at or below the newest one applied for its runtime: nothing of it was applied, this is the state as it stands. */
  stale: boolean;
  /** With `stale`: the newest call the panel applied for this runtime. */
  applied?: LeaseOrder;
  budgets: LeaseGrant[];
}

/** A lease taken back from a silent runtime: its grant lowered to what it reported it had spent. */
export interface Reclaim {
  budget: string;
  window: number;
  runtime: string;
  fromMicros: number;
  toMicros: number;
  /** Epoch ms its lease expired. */
  expiredAt: number;
}

/**
 * The unused part of a lease given back at once: its budget no longer covers the runtime
 * (`uncovered`: an admin changed its names, or the runtime's user), or its window is over
 * (`over`). The grant becomes what the runtime spent and holds there.
 */
export interface TakeBack {
  budget: string;
  window: number;
  runtime: string;
  fromMicros: number;
  toMicros: number;
  why: 'uncovered' | 'over';
}

/**
 * A runtime's spend counted from what the panel knows rather than from what it said: the first
 * call of a new process of it (`restart`: whatever its state file holds, it counts from this, and
 * from `held` more should its rows be gone), or a report below what the panel knew (`lower`: a
 * state file lost, an older runtime restarted).
 */
export interface FloorNotice {
  kind: 'restart' | 'lower';
  budget: string;
  window: number;
  runtime: string;
  /** What it is counted as having spent in the window from now on. */
  floorMicros: number;
  /** What this call said it had used (null: it did not ask about this budget). */
  reportedMicros: number | null;
  /** What the panel knew: its landed rows, and its last report. */
  spentMicros: number;
  usedMicros: number;
  heldMicros: number;
  grantedMicros: number;
}

/** A lease call's answer, and what it changed on the way that is worth saying. */
export interface LeaseOutcome {
  answer: LeaseAnswer;
  reclaims: Reclaim[];
  takeBacks: TakeBack[];
  floors: FloorNotice[];
}

/** One runtime's lease call, as `leaseMany` takes it in a batch: its asks, and its place in its runtime's calls (null: an older runtime's). */
export interface LeaseCall {
  runtimeId: string;
  asks: readonly LeaseAsk[];
  order: LeaseOrder | null;
}

/** A call of a batch as it is decided: its runtime, its place, and what its outcome will say. */
interface Member {
  call: LeaseCall;
  index: number;
  userId: string | null;
  stale: boolean;
  fresh: boolean;
  applied: LeaseOrder;
  asked: readonly LeaseAsk[];
  reclaims: Reclaim[];
  takeBacks: TakeBack[];
  floors: FloorNotice[];
  out: LeaseGrant[];
  contended: boolean;
}

/** How long a lease lives after its runtime's last call, and how long after that it is reclaimed. */
export interface LeaseOptions {
  ttlMs: number;
  reclaimAfterMs: number;
}

/** What its runtime reported spending or holding on a lease, `takenBackTo` in SQL: its grant never goes below this when taken back. */
const reportedSpend = sql`greatest(${budgetLeases.spentMicros}, ${budgetLeases.usedMicros} + ${budgetLeases.heldMicros})`;

/** A lease that expired more than `reclaimAfterMs` ago and still holds more than its runtime reported spending. */
const reclaimable = (now: number, reclaimAfterMs: number): SQL => and(gt(budgetLeases.expiresAt, 0), lt(budgetLeases.expiresAt, now - reclaimAfterMs), gt(budgetLeases.grantedMicros, reportedSpend))!;

/** The window of a period holding `now`, and the one before it (a period `none` has only one). */
function windowsOf(period: BudgetPeriod, now: number): number[] {
  const w = windowStart(period, now);
  return period === 'none' ? [w] : [w, windowStart(period, w - 1)];
}

/**
 * A budget window's figures as a batch of lease calls reads them: the leases of the runtimes not in
 * the batch summed (`base`), and the rows of those in it, which the batch's grants change as it goes.
 */
interface WindowRead {
  base: OtherLeases;
  rows: Map<string, BudgetLeaseRow>;
}

/**
 * Each window's (`<budget>@<window>`) figures in one statement: the leases of every runtime but
 * `members` summed as OtherLeases defines each sum (leaseFigures, one row's share: the same rules),
 * and the members' own rows. A batch of lease calls reads a few figures a window, not every
 * runtime's row: with a thousand runtimes on one budget that read was most of a call's cost, and
 * held the budget's lock.
 */
async function windowsRead(tx: PanelDb, members: readonly string[], windows: ReadonlyArray<{ budget: string; win: number }>, now: number, reclaimAfterMs: number): Promise<Map<string, WindowRead>> {
  const inBatch = sql`(select value from json_array_elements_text(${JSON.stringify(members)}::json))`;
  const other = sql`l.runtime_id not in ${inBatch}`;
  const demanding = sql`${other} and l.expires_at >= ${now} and ${now} - l.updated_at <= ${CONTENDED_WITHIN_MS} and l.wanted_micros > l.granted_micros`;
  const r = await tx.execute<Record<string, string | boolean | Array<Record<string, string | number>> | null>>(
    sql`select w.budget, w.win,
          coalesce(sum(greatest(l.granted_micros, l.spent_micros)) filter (where ${other}), 0) as committed,
          count(*) filter (where ${demanding}) as demanding,
          coalesce(sum(l.wanted_micros - l.granted_micros) filter (where ${demanding}), 0) as unmet,
          coalesce(sum(greatest(l.rate_micros_per_min, 1)) filter (where ${demanding}), 0) as weight,
          coalesce(sum(greatest(0, l.granted_micros - greatest(l.spent_micros, l.used_micros + l.held_micros))) filter (where ${other}), 0) as surplus,
          coalesce(sum(l.spent_micros) filter (where ${other}), 0) as spent,
          coalesce(sum(greatest(l.spent_micros, l.used_micros)) filter (where ${other}), 0) as used,
          coalesce(sum(greatest(0, l.granted_micros - l.spent_micros)) filter (where ${other}), 0) as unspent,
          coalesce(bool_or(l.expires_at > 0 and l.expires_at < ${now - reclaimAfterMs} and l.granted_micros > greatest(l.spent_micros, l.used_micros + l.held_micros)) filter (where ${other}), false) as reclaimable,
          json_agg(l) filter (where l.runtime_id in ${inBatch}) as mine
        from json_to_recordset(${JSON.stringify(windows)}::json) as w(budget text, win bigint)
        left join ${budgetLeases} l on l.budget_id = w.budget and l.window_start = w.win
        group by w.budget, w.win`,
  );
  const out = new Map<string, WindowRead>();
  for (const x of r.rows) {
    const n = (k: string) => Number(x[k] ?? 0);
    const mine = (x.mine ?? []) as Array<Record<string, string | number>>;
    out.set(`${x.budget}@${Number(x.win)}`, {
      base: {
        committed: n('committed'),
        demanding: n('demanding'),
        unmet: n('unmet'),
        weight: n('weight'),
        surplus: n('surplus'),
        spent: n('spent'),
        used: n('used'),
        unspent: n('unspent'),
        reclaimable: x.reclaimable === true,
      },
      rows: new Map(mine.map((j) => [String(j.runtime_id), leaseRowOf(j)])),
    });
  }
  return out;
}

/** The lease table's columns by their names in PostgreSQL: a row read as JSON back into a row. */
const LEASE_COLUMNS = Object.entries(getTableColumns(budgetLeases)).map(([key, c]) => [key, c.name, c.getSQLType() === 'text'] as const);
function leaseRowOf(j: Record<string, string | number>): BudgetLeaseRow {
  const row: Record<string, string | number> = {};
  for (const [key, name, text] of LEASE_COLUMNS) row[key] = text ? String(j[name]) : Number(j[name]);
  return row as unknown as BudgetLeaseRow;
}

/** A lease row before its first write: every figure 0 (the table's defaults). */
const NEW_LEASE: Omit<BudgetLeaseRow, 'budgetId' | 'windowStart' | 'runtimeId'> = {
  grantedMicros: 0,
  spentMicros: 0,
  calls: 0,
  usedMicros: 0,
  heldMicros: 0,
  waiting: 0,
  needMicros: 0,
  ratePerMinMicros: 0,
  wantedMicros: 0,
  expiresAt: 0,
  updatedAt: 0,
};

/** One lease row by its key. */
const leaseKey = (budget: string, window: number, runtime: string): SQL => and(eq(budgetLeases.budgetId, budget), eq(budgetLeases.windowStart, window), eq(budgetLeases.runtimeId, runtime))!;

/**
 * The lease grant of central budgets to runtimes, in the panel's PostgreSQL.
 *
 * @example
 *   const leases = new LeasesStore(db);
 *   const { answer } = await leases.lease('laptop-a', [{ budget: 'sales', window, want: 2_000_000, used: 0, held: 0, waiting: 0, need: 0, rate: 0 }], Date.now(), undefined, { incarnation: startedAt, seq: 1 });
 */
export class LeasesStore {
  constructor(
    private readonly db: PanelDb,
    private readonly opts: LeaseOptions = LEASE_DEFAULTS,
  ) {}

  /**
   * A runtime's lease call: for each budget that covers it now, its ask applied in that budget's
   * current window (more granted out of the unleased headroom, or surplus returned), expired
   * leases of others reclaimed, its leases of budgets that no longer cover it (or of windows that
   * are over) brought down to what it spent and holds, and the answer. A batch of one
   * (`leaseMany`). A removed runtime → ForbiddenError.
   */
  async lease(runtimeId: string, asks: readonly LeaseAsk[], now = Date.now(), o: LeaseOptions = this.opts, order: LeaseOrder | null = null): Promise<LeaseOutcome> {
    const [r] = await this.leaseMany([{ runtimeId, asks, order }], now, o);
    if (r instanceof Error) throw r;
    return r!;
  }

  /**
   * Several runtimes' lease calls, each as `lease` takes it, in one transaction: the budgets' rows
   * are locked once for all of them (in id order, as every lease transaction locks them: no
   * deadlock between two), their figures read once, and each call's grants decided in turn, in the
   * order given, each counting those before it; their rows and what their answers tell the
   * runtimes are written in one statement, and committed once. Ordered calls take their runtimes'
   * turns first (their lease_order rows, locked in id order): a call at or below the newest one
   * applied for its runtime is stale, answered read-only (`stale: true`), nothing of it written; a
   * call without `order` (an older runtime) is taken as it comes. A serialization failure or a
   * deadlock tries the whole batch again. Each runtime at most once in a batch. One outcome per
   * call, in order: a removed runtime's is a ForbiddenError, the others' unharmed.
   *
   * @example
   *   const [a, b] = await leases.leaseMany([{ runtimeId: 'rt-1', asks, order }, { runtimeId: 'rt-2', asks: [], order: null }]);
   */
  async leaseMany(calls: readonly LeaseCall[], now = Date.now(), o: LeaseOptions = this.opts): Promise<Array<LeaseOutcome | ForbiddenError>> {
    if (new Set(calls.map((c) => c.runtimeId)).size !== calls.length) throw new Error('a batch of lease calls names a runtime twice: its second call waits for the next batch');
    return retried(this.db, (tx) => this.leaseBatch(tx, calls, now, o));
  }

  private async leaseBatch(tx: PanelDb, calls: readonly LeaseCall[], now: number, o: LeaseOptions): Promise<Array<LeaseOutcome | ForbiddenError>> {
    const R = runtimes;
    const L = budgetLeases;
    const found = new Map(
      (
        await tx
          .select({ id: R.id, userId: R.userId, removedAt: R.removedAt })
          .from(R)
          .where(
            inArray(
              R.id,
              calls.map((c) => c.runtimeId),
            ),
          )
      ).map((r) => [r.id, r]),
    );
    const results: Array<LeaseOutcome | ForbiddenError | null> = calls.map((c) => {
      const rt = found.get(c.runtimeId);
      return !rt || rt.removedAt !== null ? new ForbiddenError(`no runtime '${c.runtimeId}' on this panel (an admin adds it: POST /api/runtimes)`) : null;
    });
    const live = calls.filter((_, i) => results[i] === null);
    if (live.length === 0) return results as ForbiddenError[];
    // Ordered calls take their runtimes' turns first (their rows of lease_order, locked to the
    // commit, in id order): two calls of one runtime (two replicas, a retry and its original) take
    // turns, and the second reads the pair the first advanced. Not the runtimes' rows: a lease call
    // may wait for the budgets' locks behind the fleet's other calls, and the runtimes' batches
    // (which lock those rows) must not wait with it.
    const ordered = live
      .filter((c) => c.order !== null)
      .map((c) => c.runtimeId)
      .sort(cmp);
    const turns =
      ordered.length === 0
        ? new Map<string, LeaseOrder>()
        : new Map(
            (
              await tx
                .insert(leaseOrder)
                .values(ordered.map((runtimeId) => ({ runtimeId })))
                .onConflictDoUpdate({ target: leaseOrder.runtimeId, set: { runtimeId: sql`excluded.runtime_id` } })
                .returning({ runtimeId: leaseOrder.runtimeId, incarnation: leaseOrder.incarnation, seq: leaseOrder.seq })
            ).map((t) => [t.runtimeId, { incarnation: t.incarnation, seq: t.seq }]),
          );
    const members: Member[] = live.map((c) => {
      const applied = turns.get(c.runtimeId) ?? { incarnation: 0, seq: 0 };
      // Stale: at or below the newest call applied. Fresh: the first call of a new process of this runtime (said: it counts from what the panel knows).
      const { stale, fresh } = placeInOrder(c.order, applied);
      // A stale call is answered as things stand: its asks are not read, nothing of it is written.
      return {
        call: c,
        index: calls.indexOf(c),
        userId: found.get(c.runtimeId)!.userId,
        stale,
        fresh,
        applied,
        asked: stale ? [] : c.asks,
        reclaims: [],
        takeBacks: [],
        floors: [],
        out: [],
        contended: false,
      };
    });
    const writers = members.filter((m) => !m.stale);
    // Each call's place in its runtime's order (their rows are this transaction's already).
    const advanced = writers.filter((m) => m.call.order !== null).map((m) => ({ r: m.call.runtimeId, i: m.call.order!.incarnation, s: m.call.order!.seq }));
    if (advanced.length > 0) {
      const col = (c: { name: string }) => sql.identifier(c.name);
      await tx.execute(
        sql`update ${leaseOrder} set ${col(leaseOrder.incarnation)} = x.i, ${col(leaseOrder.seq)} = x.s
              from json_to_recordset(${JSON.stringify(advanced)}::json) as x(r text, i bigint, s bigint)
             where ${leaseOrder.runtimeId} = x.r`,
      );
    }
    const seen = await tx.select({ id: budgets.id, scope: budgets.scope, agents: budgets.agents, users: budgets.users, period: budgets.period }).from(budgets);
    const exists = new Set(seen.map((b) => b.id));
    const ids = new Set(seen.filter((b) => members.some((m) => coverage(b, m.userId) !== null)).map((b) => b.id));
    // The writers' leases, in each budget's current and previous window, that hold more than their
    // runtimes spent and hold: those of a budget that no longer covers the runtime, or of the window
    // just over, are brought down below, their budgets locked with the rest. (Older windows are left
    // to the reclaim sweep: nothing can be leased there any more.)
    const recent = seen.flatMap((b) => windowsOf(b.period as BudgetPeriod, now).map((w) => and(eq(L.budgetId, b.id), eq(L.windowStart, w))!));
    const surplus =
      writers.length > 0 && recent.length > 0
        ? await tx
            .select()
            .from(L)
            .where(
              and(
                inArray(
                  L.runtimeId,
                  writers.map((m) => m.call.runtimeId),
                ),
                or(...recent),
                gt(L.grantedMicros, reportedSpend),
              ),
            )
        : [];
    for (const m of writers) for (const a of m.asked) if (exists.has(a.budget)) ids.add(a.budget);
    for (const l of surplus) if (exists.has(l.budgetId)) ids.add(l.budgetId);
    // Locked in id order (every lease transaction takes them in the same order: no deadlock between
    // two). NO KEY UPDATE: lease calls and edits exclude one another, while ingest's key check on
    // budget_leases (KEY SHARE) goes on beside them. A batch of stale calls locks nothing.
    const byId = tx
      .select()
      .from(budgets)
      .where(inArray(budgets.id, [...ids]))
      .orderBy(asc(budgets.id));
    const locked = ids.size === 0 ? [] : writers.length > 0 ? await byId.for('no key update') : await byId;

    /** The window of a budget a runtime's calls are charged to now; null when it no longer covers the runtime. */
    const currentOf = (b: BudgetRow, m: Member) => (coverage(b, m.userId) === null ? null : windowStart(b.period as BudgetPeriod, now));
    for (const m of writers) {
      const id = m.call.runtimeId;
      const isCurrent = (b: BudgetRow, window: number) => currentOf(b, m) === window;
      // Asks for a window that is over, or for a budget that no longer covers this runtime.
      for (const ask of m.asked) {
        const b = locked.find((x) => x.id === ask.budget);
        if (b && !isCurrent(b, ask.window)) m.takeBacks.push(...(await this.settleElsewhere(tx, id, ask, currentOf(b, m) !== null, now)));
      }
      // Its other leases outside the current windows that it did not ask about: a runtime asks about
      // every lease it keeps an account for, so nothing more can be spent from these. Each comes down
      // to what it spent and holds, at once (not at reclaim, 10 minutes after its expiry).
      const idle = surplus.filter((l) => {
        const b = locked.find((x) => x.id === l.budgetId);
        return l.runtimeId === id && b !== undefined && !isCurrent(b, l.windowStart) && !m.asked.some((a) => a.budget === l.budgetId && a.window === l.windowStart);
      });
      if (idle.length === 0) continue;
      const mine = await tx
        .select()
        .from(L)
        .where(and(or(...idle.map((l) => leaseKey(l.budgetId, l.windowStart, id))), gt(L.grantedMicros, reportedSpend)))
        .orderBy(asc(L.budgetId), asc(L.windowStart))
        .for('update');
      for (const l of mine) {
        const to = takenBackTo(l);
        await tx
          .update(L)
          .set({ grantedMicros: to, wantedMicros: to })
          .where(leaseKey(l.budgetId, l.windowStart, id));
        const b = locked.find((x) => x.id === l.budgetId)!;
        m.takeBacks.push({ budget: l.budgetId, window: l.windowStart, runtime: id, fromMicros: l.grantedMicros, toMicros: to, why: currentOf(b, m) === null ? 'uncovered' : 'over' });
      }
    }
    // What the runtimes outside the batch hold in the covering budgets' current windows, summed by
    // PostgreSQL, and the batch's own rows there: one read under the locks, whatever the fleet's size.
    const inBatch = members.map((m) => m.call.runtimeId);
    const windows = locked.flatMap((b) => (members.some((m) => currentOf(b, m) !== null) ? [{ budget: b.id, win: windowStart(b.period as BudgetPeriod, now) }] : []));
    const reads = windows.length === 0 ? new Map<string, WindowRead>() : await windowsRead(tx, inBatch, windows, now, o.reclaimAfterMs);
    // Expired leases of others, silent past their grace, go back first (rare: the figures say when); said by the first writer they cover.
    for (const w of windows) {
      const k = `${w.budget}@${w.win}`;
      const b = locked.find((x) => x.id === w.budget)!;
      const by = writers.find((m) => currentOf(b, m) !== null);
      if (!by || !reads.get(k)?.base.reclaimable) continue;
      const notInBatch = sql`${L.runtimeId} not in (select value from json_array_elements_text(${JSON.stringify(inBatch)}::json))`;
      by.reclaims.push(...(await this.reclaimWhere(tx, and(eq(L.budgetId, w.budget), eq(L.windowStart, w.win), notInBatch)!, now, o.reclaimAfterMs)));
      reads.set(k, (await windowsRead(tx, inBatch, [w], now, o.reclaimAfterMs)).get(k)!);
    }
    /** Each window's batch rows summed: what they add to the others' figures of each one in it. */
    const figures = (l: BudgetLeaseRow) => leaseFigures(l, now, o.reclaimAfterMs);
    const batchSums = new Map([...reads].map(([k, r]) => [k, [...r.rows.values()].reduce((sum, l) => addLeases(sum, figures(l)), NO_OTHER_LEASES)]));
    const leaseRows: Array<typeof L.$inferInsert> = [];
    const toldRows: Array<Parameters<typeof told>[1][number]> = [];
    for (const m of members) {
      const id = m.call.runtimeId;
      for (const b of locked) {
        const covers = coverage(b, m.userId);
        if (covers === null) continue;
        const period = b.period as BudgetPeriod;
        const window = windowStart(period, now);
        const k = `${b.id}@${window}`;
        const read = reads.get(k)!;
        const held = read.rows.get(id) ?? null;
        // The others: those outside the batch, and those in it as the grants before this one left them.
        let others = addLeases(read.base, batchSums.get(k)!);
        if (held) others = addLeases(others, figures(held), -1);
        const ask = m.asked.find((a) => a.budget === b.id && a.window === window) ?? null;
        const d = grantLease({ limit: b.limitMicros, others, mine: held, ask, fresh: m.fresh, now, ttlMs: o.ttlMs });
        if (held && d.recount !== null)
          m.floors.push({
            kind: d.recount,
            budget: b.id,
            window,
            runtime: id,
            floorMicros: d.floor,
            reportedMicros: ask?.used ?? null,
            spentMicros: held.spentMicros,
            usedMicros: held.usedMicros,
            heldMicros: held.heldMicros,
            grantedMicros: held.grantedMicros,
          });
        if (ask) {
          const row = { budgetId: b.id, windowStart: window, runtimeId: id, grantedMicros: d.granted, ...reported(ask, d.floor), expiresAt: d.expiresAt, updatedAt: now };
          leaseRows.push(row);
          // The batch's later calls count it as it now stands.
          const after: BudgetLeaseRow = { ...NEW_LEASE, ...held, ...row };
          batchSums.set(k, addLeases(addLeases(batchSums.get(k)!, figures(after)), held ? figures(held) : NO_OTHER_LEASES, -1));
          read.rows.set(id, after);
        }
        m.contended ||= d.contended;
        const { short: _, recount: __, ...rest } = d;
        m.out.push({ budget: b.id, scope: b.scope as BudgetScope, period, window, covers, limit: b.limitMicros, ...rest, state: budgetState(d.spent, b.limitMicros) });
        if (!m.stale) toldRows.push({ runtimeId: id, budget: b, window, covers });
      }
    }
    // Every grant of the batch and what its answers tell the runtimes (budget_coverage), in one write.
    const writes: SQL[] = [];
    if (leaseRows.length > 0) {
      const set: Record<string, SQL> = {};
      for (const key of Object.keys(leaseRows[0]!) as Array<keyof typeof L.$inferInsert>) {
        if (key === 'budgetId' || key === 'windowStart' || key === 'runtimeId') continue;
        set[key] = sql.raw(`excluded."${L[key].name}"`);
      }
      // In key order: two batches writing the same rows take their locks in the same order.
      leaseRows.sort((x, y) => cmp(x.budgetId, y.budgetId) || x.windowStart - y.windowStart || cmp(x.runtimeId, y.runtimeId));
      writes.push(
        tx
          .insert(L)
          .values(leaseRows)
          .onConflictDoUpdate({ target: [L.budgetId, L.windowStart, L.runtimeId], set })
          .getSQL(),
      );
    }
    if (toldRows.length > 0) writes.push(told(tx, toldRows, now));
    if (writes.length === 1) await tx.execute(writes[0]!);
    else if (writes.length === 2) await tx.execute(sql`with granted as (${writes[0]}), told as (${writes[1]}) select 1`);
    for (const m of members) {
      const answer: LeaseAnswer = {
        now,
        // Renewed halfway through its life (a lease is sized to its runtime's next 20 s or more): half the calls a third would take.
        renewInMs: renewInMs(m.contended, o.ttlMs),
        stale: m.stale,
        ...(m.stale ? { applied: m.applied } : {}),
        budgets: m.out,
      };
      results[m.index] = { answer, reclaims: m.reclaims, takeBacks: m.takeBacks, floors: m.floors };
    }
    return results as Array<LeaseOutcome | ForbiddenError>;
  }

  /** An ask for a lease outside the budget's current window (settleOutside: a window that is over, or a budget that no longer covers the runtime). */
  private async settleElsewhere(tx: PanelDb, runtimeId: string, ask: LeaseAsk, covered: boolean, now: number): Promise<TakeBack[]> {
    const key = leaseKey(ask.budget, ask.window, runtimeId);
    const [l] = await tx.select().from(budgetLeases).where(key).for('update');
    if (!l) return [];
    const { granted, used, takenBack } = settleOutside(l, ask, covered);
    // Not wanting more than it has: a lease that no longer covers anything never counts as short.
    await tx
      .update(budgetLeases)
      .set({ grantedMicros: granted, ...reported(ask, used), ...(covered ? {} : { wantedMicros: granted }), updatedAt: now })
      .where(key);
    return takenBack ? [{ budget: ask.budget, window: ask.window, runtime: runtimeId, fromMicros: l.grantedMicros, toMicros: granted, why: 'uncovered' }] : [];
  }

  /**
   * An admin changed a budget's names: the leases of runtimes it no longer covers come down at once
   * to what each runtime last reported spending or holding (its rows, or used + held), as a removed
   * runtime's do. A runtime still spending it hears at its next lease call (the answer no longer
   * names the budget); what it reserved since its last report is reported then, and counted.
   */
  async takeBackUncovered(budgetId: string): Promise<TakeBack[]> {
    return retried(this.db, async (tx) => {
      const [b] = await tx.select().from(budgets).where(eq(budgets.id, budgetId)).for('no key update');
      if (!b) return [];
      const L = budgetLeases;
      const holders = await tx
        .select({ id: runtimes.id, userId: runtimes.userId })
        .from(runtimes)
        .where(
          inArray(
            runtimes.id,
            tx
              .selectDistinct({ id: L.runtimeId })
              .from(L)
              .where(and(eq(L.budgetId, budgetId), gt(L.grantedMicros, reportedSpend))),
          ),
        );
      const gone = holders.filter((r) => coverage(b, r.userId) === null).map((r) => r.id);
      if (gone.length === 0) return [];
      const cond = and(eq(L.budgetId, budgetId), inArray(L.runtimeId, gone), gt(L.grantedMicros, reportedSpend))!;
      const found = await tx.select().from(L).where(cond).orderBy(asc(L.windowStart), asc(L.runtimeId)).for('update');
      // Nor does it want more there: a lease of a budget that no longer covers its runtime is never short (contended).
      const back = await tx.update(L).set({ grantedMicros: reportedSpend, wantedMicros: reportedSpend }).where(cond).returning();
      return back.map((l) => {
        const was = found.find((f) => f.windowStart === l.windowStart && f.runtimeId === l.runtimeId)!;
        return { budget: budgetId, window: l.windowStart, runtime: l.runtimeId, fromMicros: was.grantedMicros, toMicros: l.grantedMicros, why: 'uncovered' as const };
      });
    });
  }

  /** Lower each expired lease matching `where` to what its runtime reported (its rows, or used + held); each one once. */
  private async reclaimWhere(tx: PanelDb, where: SQL, now: number, reclaimAfterMs: number): Promise<Reclaim[]> {
    const cond = and(where, reclaimable(now, reclaimAfterMs))!;
    // Locked first (skipping rows another transaction is changing: it decides them), so "from" is the grant it replaces.
    const found = await tx.select().from(budgetLeases).where(cond).orderBy(asc(budgetLeases.budgetId), asc(budgetLeases.windowStart), asc(budgetLeases.runtimeId)).for('update', { skipLocked: true });
    if (found.length === 0) return [];
    const back = await tx
      .update(budgetLeases)
      .set({ grantedMicros: reportedSpend })
      .where(and(cond, or(...found.map((l) => leaseKey(l.budgetId, l.windowStart, l.runtimeId)))))
      .returning();
    return back.map((l) => {
      const was = found.find((f) => f.budgetId === l.budgetId && f.windowStart === l.windowStart && f.runtimeId === l.runtimeId)!;
      return { budget: l.budgetId, window: l.windowStart, runtime: l.runtimeId, fromMicros: was.grantedMicros, toMicros: l.grantedMicros, expiredAt: l.expiresAt };
    });
  }

  /** The periodic sweep: every lease silent past its expiry + grace, reclaimed (each said once by whoever changed it). */
  async reclaim(now = Date.now(), reclaimAfterMs = this.opts.reclaimAfterMs): Promise<Reclaim[]> {
    return this.db.transaction((tx) => this.reclaimWhere(tx as unknown as PanelDb, sql`true`, now, reclaimAfterMs));
  }
}

/** One transaction, tried again on a serialization failure or a deadlock. */
async function retried<T>(db: PanelDb, work: (tx: PanelDb) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction((tx) => work(tx as unknown as PanelDb));
    } catch (e) {
      if (attempt >= ATTEMPTS || !RETRYABLE.has(pgCode(e) ?? '')) throw e;
    }
  }
}
