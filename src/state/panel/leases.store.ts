import { and, asc, eq, getTableColumns, gt, inArray, lt, ne, or, sql, type SQL } from 'drizzle-orm';
import { ForbiddenError } from '../../core/errors.js';
import {
  CONTENDED_WITHIN_MS,
  grantLease,
  LEASE_DEFAULTS,
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
import { budgetLeases, budgets, leaseOrder, runtimes, type BudgetLeaseRow } from './schema-panel.js';
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

/** A budget window's figures as a lease call reads them: the others' leases summed, and this runtime's own row. */
type WindowRead = OtherLeases & { mine: BudgetLeaseRow | null };

/** The other runtimes' figures in each window (`<budget>@<window>`), summed in one statement (each sum as OtherLeases defines it). */
async function othersIn(tx: PanelDb, me: string, windows: ReadonlyArray<{ budget: string; win: number }>, now: number, reclaimAfterMs: number): Promise<Map<string, WindowRead>> {
  const other = sql`l.runtime_id <> ${me}`;
  const demanding = sql`${other} and l.expires_at >= ${now} and ${now} - l.updated_at <= ${CONTENDED_WITHIN_MS} and l.wanted_micros > l.granted_micros`;
  const r = await tx.execute<Record<string, string | boolean | Record<string, string | number> | null>>(
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
          (array_agg(row_to_json(l)) filter (where l.runtime_id = ${me}))[1] as mine
        from json_to_recordset(${JSON.stringify(windows)}::json) as w(budget text, win bigint)
        left join ${budgetLeases} l on l.budget_id = w.budget and l.window_start = w.win
        group by w.budget, w.win`,
  );
  const out = new Map<string, WindowRead>();
  for (const x of r.rows) {
    const n = (k: string) => Number(x[k] ?? 0);
    const mine = x.mine as Record<string, string | number> | null;
    out.set(`${x.budget}@${Number(x.win)}`, {
      committed: n('committed'),
      demanding: n('demanding'),
      unmet: n('unmet'),
      weight: n('weight'),
      surplus: n('surplus'),
      spent: n('spent'),
      used: n('used'),
      unspent: n('unspent'),
      reclaimable: x.reclaimable === true,
      mine: mine === null ? null : leaseRowOf(mine),
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
   * are over) brought down to what it spent and holds, and the answer. One transaction, the
   * runtime's row locked first when the call is ordered (`order`), then the budget rows in id
   * order; a serialization failure or deadlock is tried again. A call at or below the newest one
   * applied for the runtime is stale: answered read-only (`stale: true`), nothing written. A call
   * without `order` (an older runtime) is taken unordered, as it comes. A removed runtime → ForbiddenError.
   */
  async lease(runtimeId: string, asks: readonly LeaseAsk[], now = Date.now(), o: LeaseOptions = this.opts, order: LeaseOrder | null = null): Promise<LeaseOutcome> {
    return retried(this.db, (tx) => this.leaseOnce(tx, runtimeId, asks, now, o, order));
  }

  private async leaseOnce(tx: PanelDb, runtimeId: string, asks: readonly LeaseAsk[], now: number, o: LeaseOptions, order: LeaseOrder | null): Promise<LeaseOutcome> {
    const R = runtimes;
    const L = budgetLeases;
    const who = tx.select({ userId: R.userId, removedAt: R.removedAt }).from(R).where(eq(R.id, runtimeId));
    // An ordered call takes its runtime's turn first (its row of lease_order, locked to the commit):
    // two calls of one runtime (two replicas, a retry and its original) take turns, and the second
    // reads the pair the first advanced. Not the runtime's row: a lease call may wait for the
    // budgets' locks behind the fleet's other calls, and the runtime's batches (which lock that
    // row) must not wait with it.
    const [turn] =
      order === null
        ? [{ incarnation: 0, seq: 0 }]
        : await tx
            .insert(leaseOrder)
            .values({ runtimeId })
            .onConflictDoUpdate({ target: leaseOrder.runtimeId, set: { runtimeId: sql`excluded.runtime_id` } })
            .returning({ incarnation: leaseOrder.incarnation, seq: leaseOrder.seq });
    const [found] = await who;
    const rt = found ? { ...found, incarnation: turn!.incarnation, seq: turn!.seq } : undefined;
    if (!rt || rt.removedAt !== null) throw new ForbiddenError(`no runtime '${runtimeId}' on this panel (an admin adds it: POST /api/runtimes)`);
    // Stale: at or below the newest call applied. Fresh: the first call of a new process of this runtime (said: it counts from what the panel knows).
    const { stale, fresh } = placeInOrder(order, rt);
    // The call's place in its runtime's order (its row is this transaction's already).
    if (order !== null && !stale) await tx.update(leaseOrder).set({ incarnation: order.incarnation, seq: order.seq }).where(eq(leaseOrder.runtimeId, runtimeId));
    // A stale call is answered as things stand: its asks are not read, nothing is written or locked.
    const write = !stale;
    const asked = write ? asks : [];
    const seen = await tx.select({ id: budgets.id, scope: budgets.scope, agents: budgets.agents, users: budgets.users, period: budgets.period }).from(budgets);
    const exists = new Set(seen.map((b) => b.id));
    const ids = new Set(seen.filter((b) => coverage(b, rt.userId) !== null).map((b) => b.id));
    // Its leases, in each budget's current and previous window, that hold more than it spent and
    // holds: those of a budget that no longer covers it, or of the window just over, are brought
    // down below, their budgets locked with the rest. (Point reads by the key; older windows are
    // left to the reclaim sweep: nothing can be leased there any more.)
    const recent = seen.flatMap((b) => windowsOf(b.period as BudgetPeriod, now).map((w) => leaseKey(b.id, w, runtimeId)));
    const surplus =
      write && recent.length > 0
        ? await tx
            .select()
            .from(L)
            .where(and(or(...recent), gt(L.grantedMicros, reportedSpend)))
        : [];
    if (write) for (const id of [...asked.map((a) => a.budget), ...surplus.map((s) => s.budgetId)]) if (exists.has(id)) ids.add(id);
    const reclaims: Reclaim[] = [];
    const takeBacks: TakeBack[] = [];
    const floors: FloorNotice[] = [];
    const out: LeaseGrant[] = [];
    let contendedAny = false;
    // Locked in id order (every lease call takes them in the same order: no deadlock between two).
    // NO KEY UPDATE: lease calls and edits exclude one another, while ingest's key check on
    // budget_leases (KEY SHARE) goes on beside them. A stale call locks nothing.
    const byId = tx
      .select()
      .from(budgets)
      .where(inArray(budgets.id, [...ids]))
      .orderBy(asc(budgets.id));
    const locked = ids.size === 0 ? [] : write ? await byId.for('no key update') : await byId;

    /** The window of a budget this runtime's calls are charged to now; null when it no longer covers the runtime. */
    const currentOf = new Map(locked.map((b) => [b.id, coverage(b, rt.userId) === null ? null : windowStart(b.period as BudgetPeriod, now)]));
    const isCurrent = (budget: string, window: number) => currentOf.get(budget) === window;
    // Asks for a window that is over, or for a budget that no longer covers this runtime.
    for (const ask of asked)
      if (currentOf.has(ask.budget) && !isCurrent(ask.budget, ask.window)) takeBacks.push(...(await this.settleElsewhere(tx, runtimeId, ask, currentOf.get(ask.budget) !== null, now)));
    // Its other leases outside the current windows that it did not ask about: a runtime asks about
    // every lease it keeps an account for, so nothing more can be spent from these. Each comes down
    // to what it spent and holds, at once (not at reclaim, 10 minutes after its expiry).
    const idle = surplus.filter((l) => currentOf.has(l.budgetId) && !isCurrent(l.budgetId, l.windowStart) && !asked.some((a) => a.budget === l.budgetId && a.window === l.windowStart));
    if (idle.length > 0) {
      const mine = await tx
        .select()
        .from(L)
        .where(and(or(...idle.map((l) => leaseKey(l.budgetId, l.windowStart, runtimeId))), gt(L.grantedMicros, reportedSpend)))
        .orderBy(asc(L.budgetId), asc(L.windowStart))
        .for('update');
      for (const l of mine) {
        const to = takenBackTo(l);
        await tx
          .update(L)
          .set({ grantedMicros: to, wantedMicros: to })
          .where(leaseKey(l.budgetId, l.windowStart, runtimeId));
        takeBacks.push({ budget: l.budgetId, window: l.windowStart, runtime: runtimeId, fromMicros: l.grantedMicros, toMicros: to, why: currentOf.get(l.budgetId) === null ? 'uncovered' : 'over' });
      }
    }
    // What the other runtimes hold in the covering budgets' current windows, summed by PostgreSQL
    // (a lease call reads a few figures a window, not every runtime's row: with a thousand
    // runtimes on one budget that read was most of a call's cost, and held the budget's lock),
    // with this runtime's own row of each: one read under the lock, whatever the fleet's size.
    const covering = locked.filter((b) => coverage(b, rt.userId) !== null);
    const windows = covering.map((b) => ({ budget: b.id, win: windowStart(b.period as BudgetPeriod, now) }));
    const read = (which: typeof windows) => othersIn(tx, runtimeId, which, now, o.reclaimAfterMs);
    const current = windows.length === 0 ? new Map<string, WindowRead>() : await read(windows);
    const leaseRows: Array<typeof L.$inferInsert> = [];
    for (const b of covering) {
      const covers = coverage(b, rt.userId)!;
      const period = b.period as BudgetPeriod;
      const window = windowStart(period, now);
      let others = current.get(`${b.id}@${window}`) ?? { ...NO_OTHER_LEASES, mine: null };
      // Expired leases of others, silent past their grace, go back first (rare: the figures say when).
      if (write && others.reclaimable) {
        reclaims.push(...(await this.reclaimWhere(tx, and(eq(L.budgetId, b.id), eq(L.windowStart, window), ne(L.runtimeId, runtimeId))!, now, o.reclaimAfterMs)));
        others = (await read([{ budget: b.id, win: window }])).get(`${b.id}@${window}`) ?? { ...NO_OTHER_LEASES, mine: null };
      }
      const held = others.mine;
      const ask = asked.find((a) => a.budget === b.id && a.window === window) ?? null;
      const d = grantLease({ limit: b.limitMicros, others, mine: held, ask, fresh, now, ttlMs: o.ttlMs });
      if (held && d.recount !== null)
        floors.push({
          kind: d.recount,
          budget: b.id,
          window,
          runtime: runtimeId,
          floorMicros: d.floor,
          reportedMicros: ask?.used ?? null,
          spentMicros: held.spentMicros,
          usedMicros: held.usedMicros,
          heldMicros: held.heldMicros,
          grantedMicros: held.grantedMicros,
        });
      if (ask) leaseRows.push({ budgetId: b.id, windowStart: window, runtimeId, grantedMicros: d.granted, ...reported(ask, d.floor), expiresAt: d.expiresAt, updatedAt: now });
      contendedAny ||= d.contended;
      const { short: _, recount: __, ...figures } = d;
      out.push({ budget: b.id, scope: b.scope as BudgetScope, period, window, covers, limit: b.limitMicros, ...figures, state: budgetState(d.spent, b.limitMicros) });
    }
    // Every grant of this call and what its answer tells the runtime (budget_coverage), in one write.
    const writes: SQL[] = [];
    if (leaseRows.length > 0) {
      const set: Record<string, SQL> = {};
      for (const key of Object.keys(leaseRows[0]!) as Array<keyof typeof L.$inferInsert>) {
        if (key === 'budgetId' || key === 'windowStart' || key === 'runtimeId') continue;
        set[key] = sql.raw(`excluded."${L[key].name}"`);
      }
      writes.push(
        tx
          .insert(L)
          .values(leaseRows)
          .onConflictDoUpdate({ target: [L.budgetId, L.windowStart, L.runtimeId], set })
          .getSQL(),
      );
    }
    if (write && out.length > 0)
      writes.push(
        told(
          tx,
          runtimeId,
          out.map((g) => ({ budget: locked.find((b) => b.id === g.budget)!, window: g.window, covers: g.covers })),
          now,
        ),
      );
    if (writes.length === 1) await tx.execute(writes[0]!);
    else if (writes.length === 2) await tx.execute(sql`with granted as (${writes[0]}), told as (${writes[1]}) select 1`);
    const answer: LeaseAnswer = {
      now,
      // Renewed halfway through its life (a lease is sized to its runtime's next 20 s or more): half the calls a third would take.
      renewInMs: renewInMs(contendedAny, o.ttlMs),
      stale,
      ...(stale ? { applied: { incarnation: rt.incarnation, seq: rt.seq } } : {}),
      budgets: out,
    };
    return { answer, reclaims, takeBacks, floors };
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
