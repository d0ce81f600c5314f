import { and, asc, eq, gt, inArray, isNull, lt, ne, or, sql, type SQL } from 'drizzle-orm';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from '../core/errors.js';
import { formatUsd } from '../core/money.js';
import type { PanelDb } from './pg.js';
import { budgetLeases, budgets, runtimes, type BudgetLeaseRow, type BudgetRow } from './schema-panel.js';
import { BUDGET_ID, MAX_BUDGETS } from './telemetry.js';

// Central budgets on the control panel (issue 24) and the leases runtimes spend them through.
// A budget's spend is its rows: ingest adds each landed row's cost to the lease row of the
// (budget, window, runtime) its tag names, in the batch's transaction (ingest.store.ts). A runtime
// spends only out of what the panel granted it; every grant is computed and written in one
// transaction with the budget rows locked (in id order), so per window Σ max(granted, spent) never
// passes the limit and two runtimes are never granted the same dollars.

export const BUDGET_SCOPES = ['agent', 'user', 'team', 'fleet'] as const;
export const BUDGET_PERIODS = ['none', 'day', 'month'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export type BudgetState = 'ok' | 'warning' | 'exhausted';

/** A lease lives this long after a runtime's last lease call; reclaimed this long after it expired. */
export const LEASE_DEFAULTS = { ttlMs: 30_000, reclaimAfterMs: 600_000 } as const;
/** Another runtime that waited or was short within this long makes a budget contended. */
export const CONTENDED_WITHIN_MS = 5_000;
/** How soon a runtime asks again while a budget is contended (holders give surplus back quickly). */
export const CONTENDED_RENEW_MS = 400;
/** The most agent or user names one budget lists. */
export const MAX_BUDGET_NAMES = 100;
/** The warning threshold (the hard stop is 100%). */
export const WARNING_AT = 0.9;

const DAY_MS = 86_400_000;
const RETRYABLE = new Set(['40001', '40P01']);
const ATTEMPTS = 8;
const pgCode = (e: unknown): string | undefined => (e as { code?: string }).code ?? (e as { cause?: { code?: string } }).cause?.code;

/**
 * Epoch ms of the UTC start of the period's window holding `now`: midnight for `day`, the 1st
 * for `month`, 0 for `none` (one window for ever).
 *
 * @example
 *   windowStart('month', Date.parse('2026-12-01T13:00:00Z')) // Date.parse('2026-12-01T00:00:00Z')
 */
export function windowStart(period: BudgetPeriod, now: number): number {
  if (period === 'none') return 0;
  if (period === 'day') return now - (((now % DAY_MS) + DAY_MS) % DAY_MS);
  const d = new Date(now);
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
}

/** A budget as an admin defines it (POST /api/budgets, `iron-cage panel budget set`). */
export interface BudgetInput {
  id: string;
  scope: BudgetScope;
  agents: string[];
  users: string[];
  period: BudgetPeriod;
  limitMicros: number;
}

/** What PATCH /api/budgets/:id may change. */
export type BudgetPatch = Partial<Pick<BudgetInput, 'agents' | 'users' | 'period' | 'limitMicros'>>;

/** Which names a scope takes: agent one agent, user one user, team any (at least one), fleet none. Throws ValidationError. */
export function checkBudget(b: Pick<BudgetInput, 'id' | 'scope' | 'agents' | 'users'>): void {
  if (!BUDGET_ID.test(b.id)) throw new ValidationError(`id: '${b.id}' is not a budget id: 1-63 of a-z, 0-9, ".", "_", "-", starting with a letter or digit`);
  const dup = (names: string[]) => names.find((n, i) => names.indexOf(n) !== i);
  for (const [field, names] of [
    ['agents', b.agents],
    ['users', b.users],
  ] as const) {
    // The route checks these first with its schema; the CLI writes straight to the database, so they are checked here too.
    if (names.length > MAX_BUDGET_NAMES) throw new ValidationError(`${field}: must list at most ${MAX_BUDGET_NAMES} names, got ${names.length}`);
    const bad = names.find((n) => n.length === 0 || n.length > 100 || /[\u0000-\u001f\u007f]/.test(n));
    if (bad !== undefined) throw new ValidationError(`${field}: ${JSON.stringify(bad.slice(0, 40))} is not a name: 1-100 characters, no control characters`);
    const twice = dup(names);
    if (twice !== undefined) throw new ValidationError(`${field}: '${twice}' is named twice`);
  }
  const n = (what: string, names: string[], want: string) => new ValidationError(`a budget of scope ${b.scope} names ${want}; ${what} ${names.length === 0 ? 'names none' : `names ${names.length}`}`);
  switch (b.scope) {
    case 'agent':
      if (b.agents.length !== 1) throw n('agents', b.agents, 'exactly one agent (agents: ["name"])');
      if (b.users.length > 0) throw n('users', b.users, 'no users (a team names agents and users)');
      return;
    case 'user':
      if (b.users.length !== 1) throw n('users', b.users, 'exactly one user (users: ["name"])');
      if (b.agents.length > 0) throw n('agents', b.agents, 'no agents (a team names agents and users)');
      return;
    case 'team':
      if (b.agents.length + b.users.length === 0) throw new ValidationError('a budget of scope team names at least one agent or user (agents, users)');
      return;
    case 'fleet':
      if (b.agents.length + b.users.length > 0) throw new ValidationError('a budget of scope fleet covers every runtime: it names no agents or users');
      return;
  }
}

/**
 * Whose calls a budget covers on a runtime of this user: 'all' (the fleet, or its user is named),
 * the agent names it covers (agent and team-agent scopes: a runtime may start such an agent at any
 * time, so every runtime hears of them), or null (none of this runtime's calls).
 */
export function coverage(b: Pick<BudgetRow, 'scope' | 'agents' | 'users'>, userId: string | null): 'all' | string[] | null {
  if (b.scope === 'fleet') return 'all';
  if (userId !== null && b.users.includes(userId)) return 'all';
  return b.agents.length > 0 ? [...b.agents] : null;
}

/** 'exhausted' at 100% of the limit, 'warning' from 90%. */
export function budgetState(spent: number, limit: number): BudgetState {
  if (spent >= limit) return 'exhausted';
  return spent >= limit * WARNING_AT ? 'warning' : 'ok';
}

/** One budget's ask in a lease call (POST /api/leases), each figure in micro-dollars. */
export interface LeaseAsk {
  budget: string;
  window: number;
  /** The TOTAL grant it would like for the window (less than held now: the difference comes back). */
  want: number;
  /** What it charged locally in this window, and what its in-flight calls hold. */
  used: number;
  held: number;
  /** Its calls waiting for headroom, and the largest worst case one of them waits for. */
  waiting: number;
  need: number;
  /** Its recent spend per minute. */
  rate: number;
}

/** What a runtime said of its lease in an ask, as its lease row keeps it. */
const reported = (ask: LeaseAsk) => ({
  usedMicros: ask.used,
  heldMicros: ask.held,
  waiting: ask.waiting,
  needMicros: ask.need,
  ratePerMinMicros: ask.rate,
  wantedMicros: ask.want,
});

/** One budget in the answer to a lease call: each one that covers the runtime now, in its current window. */
export interface LeaseGrant {
  budget: string;
  scope: BudgetScope;
  period: BudgetPeriod;
  window: number;
  covers: 'all' | string[];
  limit: number;
  /** Its TOTAL grant in the window: it may spend up to this, never more. */
  granted: number;
  expiresAt: number;
  spent: number;
  leased: number;
  unleased: number;
  /** limit − Σ max(spent, used): what the fleet could still spend if every lease and hold came back. */
  left: number;
  contended: boolean;
  state: BudgetState;
}

export interface LeaseAnswer {
  now: number;
  renewInMs: number;
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

/** A threshold a budget window crossed, said once per window. */
export interface BudgetCrossing {
  budget: string;
  window: number;
  state: 'warning' | 'exhausted';
  spentMicros: number;
  limitMicros: number;
}

export interface LeaseView {
  runtime: string;
  grantedMicros: number;
  spentMicros: number;
  heldMicros: number;
  waiting: number;
  expiresAt: number;
  online: boolean;
}

/** One central budget as GET /api/budgets shows it, in its current window. */
export interface BudgetView {
  id: string;
  scope: BudgetScope;
  agents: string[];
  users: string[];
  period: BudgetPeriod;
  window: number;
  limitMicros: number;
  spentMicros: number;
  leasedMicros: number;
  unleasedMicros: number;
  /** Calls waiting for headroom on the runtimes holding a live lease. */
  waiting: number;
  percentUsed: number;
  state: BudgetState;
  /** Seconds until the unspent part is gone at the current rate; null while nothing spends. */
  runwaySeconds: number | null;
  ratePerMinMicros: number;
  leases: LeaseView[];
  createdAt: string;
  createdBy: string | null;
  updatedAt: string;
}

export interface LeaseOptions {
  ttlMs: number;
  reclaimAfterMs: number;
}

/** A lease row's committed amount: what it may still spend or has spent, whichever is more. */
const committed = (l: Pick<BudgetLeaseRow, 'grantedMicros' | 'spentMicros'>) => Math.max(l.grantedMicros, l.spentMicros);
const sum = <T>(rows: readonly T[], f: (r: T) => number) => rows.reduce((s, r) => s + f(r), 0);

/** A lease that expired more than `reclaimAfterMs` ago and still holds more than its runtime reported spending. */
const reclaimable = (now: number, reclaimAfterMs: number): SQL =>
  and(
    gt(budgetLeases.expiresAt, 0),
    lt(budgetLeases.expiresAt, now - reclaimAfterMs),
    gt(budgetLeases.grantedMicros, sql`greatest(${budgetLeases.spentMicros}, ${budgetLeases.usedMicros} + ${budgetLeases.heldMicros})`),
  )!;

/**
 * Central budgets and their leases in the panel's PostgreSQL.
 *
 * @example
 *   const store = new BudgetsStore(db);
 *   await store.create({ id: 'sales', scope: 'fleet', agents: [], users: [], period: 'month', limitMicros: 500_000_000 }, 'admin');
 *   const { answer } = await store.lease('laptop-a', [{ budget: 'sales', window, want: 2_000_000, used: 0, held: 0, waiting: 0, need: 0, rate: 0 }]);
 */
export class BudgetsStore {
  constructor(
    private readonly db: PanelDb,
    private readonly opts: LeaseOptions = LEASE_DEFAULTS,
  ) {}

  /** A new budget; one of that id already → ConflictError. */
  async create(input: BudgetInput, by: string | null, now = new Date()): Promise<BudgetRow> {
    checkBudget(input);
    const at = now.toISOString();
    const [held] = await this.db.select({ n: sql<number>`count(*)::int` }).from(budgets);
    if ((held?.n ?? 0) >= MAX_BUDGETS) {
      throw new ConflictError(`a panel holds at most ${MAX_BUDGETS} central budgets (it has ${held!.n}): remove one first (DELETE /api/budgets/:id)`);
    }
    const [row] = await this.db
      .insert(budgets)
      .values({ ...input, createdAt: at, createdBy: by, updatedAt: at })
      .onConflictDoNothing()
      .returning();
    if (!row) throw new ConflictError(`a budget '${input.id}' already exists (PATCH /api/budgets/${input.id} changes it)`);
    return row;
  }

  /**
   * Change a budget's limit, names or period. A limit below what its current window has spent →
   * ConflictError; below spent + leased is allowed (it takes effect as leases come back).
   */
  async update(id: string, patch: BudgetPatch, now = new Date()): Promise<BudgetRow> {
    return this.db.transaction(async (tx) => {
      const [b] = await tx.select().from(budgets).where(eq(budgets.id, id)).for('no key update');
      if (!b) throw new NotFoundError(`no budget '${id}'`);
      const next = { ...b, ...patch };
      checkBudget({ id, scope: b.scope as BudgetScope, agents: next.agents, users: next.users });
      if (patch.limitMicros !== undefined) {
        const w = windowStart(next.period as BudgetPeriod, now.getTime());
        const [s] = await tx
          .select({ spent: sql<number>`coalesce(sum(${budgetLeases.spentMicros}), 0)::bigint`.mapWith(Number) })
          .from(budgetLeases)
          .where(and(eq(budgetLeases.budgetId, id), eq(budgetLeases.windowStart, w)));
        if (patch.limitMicros < s!.spent)
          throw new ConflictError(`budget '${id}' has already spent ${formatUsd(s!.spent)} in this window: its limit cannot go below that (asked ${formatUsd(patch.limitMicros)})`);
      }
      const limitChanged = patch.limitMicros !== undefined && patch.limitMicros !== b.limitMicros;
      const [row] = await tx
        .update(budgets)
        .set({
          ...patch,
          updatedAt: now.toISOString(),
          // A new limit may cross the thresholds again: each is said again for it.
          ...(limitChanged || patch.period !== undefined ? { alertWindow: null, alertState: null } : {}),
        })
        .where(eq(budgets.id, id))
        .returning();
      return row!;
    });
  }

  /** Delete a budget and its leases (its rows keep their tags); false when there is none. */
  async remove(id: string): Promise<boolean> {
    const gone = await this.db.delete(budgets).where(eq(budgets.id, id)).returning({ id: budgets.id });
    return gone.length > 0;
  }

  async list(): Promise<BudgetRow[]> {
    return this.db.select().from(budgets).orderBy(asc(budgets.id));
  }

  /** Every budget (or one: null when it does not exist) in its current window, with its leases. */
  async view(now = Date.now(), id?: string): Promise<BudgetView[]> {
    const rows = await this.db
      .select()
      .from(budgets)
      .where(id === undefined ? undefined : eq(budgets.id, id))
      .orderBy(asc(budgets.id));
    if (rows.length === 0) return [];
    const windows = rows.map((b) => [b.id, windowStart(b.period as BudgetPeriod, now)] as const);
    const leases = await this.db
      .select()
      .from(budgetLeases)
      .where(or(...windows.map(([b, w]) => and(eq(budgetLeases.budgetId, b), eq(budgetLeases.windowStart, w)))))
      .orderBy(asc(budgetLeases.budgetId), asc(budgetLeases.runtimeId));
    return rows.map((b, i) => {
      const window = windows[i]![1];
      const mine = leases.filter((l) => l.budgetId === b.id && l.windowStart === window);
      const spent = sum(mine, (l) => l.spentMicros);
      const online = mine.filter((l) => l.expiresAt > now);
      const rate = sum(online, (l) => l.ratePerMinMicros);
      const unspent = Math.max(0, b.limitMicros - spent);
      return {
        id: b.id,
        scope: b.scope as BudgetScope,
        agents: b.agents,
        users: b.users,
        period: b.period as BudgetPeriod,
        window,
        limitMicros: b.limitMicros,
        spentMicros: spent,
        leasedMicros: sum(mine, (l) => Math.max(0, l.grantedMicros - l.spentMicros)),
        unleasedMicros: Math.max(0, b.limitMicros - sum(mine, committed)),
        waiting: sum(online, (l) => l.waiting),
        percentUsed: b.limitMicros > 0 ? Math.round((spent / b.limitMicros) * 1000) / 10 : 100,
        state: budgetState(spent, b.limitMicros),
        runwaySeconds: rate > 0 ? Math.round((unspent / rate) * 60) : null,
        ratePerMinMicros: rate,
        leases: mine.map((l) => ({
          runtime: l.runtimeId,
          grantedMicros: l.grantedMicros,
          spentMicros: l.spentMicros,
          heldMicros: l.heldMicros,
          waiting: l.waiting,
          expiresAt: l.expiresAt,
          online: l.expiresAt > now,
        })),
        createdAt: b.createdAt,
        createdBy: b.createdBy,
        updatedAt: b.updatedAt,
      };
    });
  }

  /**
   * A runtime's lease call: for each budget that covers it now, its ask applied in that budget's
   * current window (more granted out of the unleased headroom, or surplus returned), expired
   * leases of others reclaimed, and the answer. One transaction, the budget rows locked in id
   * order; a serialization failure or deadlock is tried again. A removed runtime → ForbiddenError.
   */
  async lease(runtimeId: string, asks: readonly LeaseAsk[], now = Date.now(), o: LeaseOptions = this.opts): Promise<{ answer: LeaseAnswer; reclaims: Reclaim[] }> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction((tx) => this.leaseOnce(tx as unknown as PanelDb, runtimeId, asks, now, o));
      } catch (e) {
        if (attempt >= ATTEMPTS || !RETRYABLE.has(pgCode(e) ?? '')) throw e;
      }
    }
  }

  private async leaseOnce(tx: PanelDb, runtimeId: string, asks: readonly LeaseAsk[], now: number, o: LeaseOptions): Promise<{ answer: LeaseAnswer; reclaims: Reclaim[] }> {
    const [rt] = await tx.select({ userId: runtimes.userId, removedAt: runtimes.removedAt }).from(runtimes).where(eq(runtimes.id, runtimeId));
    if (!rt || rt.removedAt !== null) throw new ForbiddenError(`no runtime '${runtimeId}' on this panel (an admin adds it: POST /api/runtimes)`);
    const seen = await tx.select({ id: budgets.id, scope: budgets.scope, agents: budgets.agents, users: budgets.users }).from(budgets);
    const ids = seen.filter((b) => coverage(b, rt.userId) !== null).map((b) => b.id);
    const reclaims: Reclaim[] = [];
    const out: LeaseGrant[] = [];
    let contendedAny = false;
    // Locked in id order (every lease call takes them in the same order: no deadlock between two).
    // NO KEY UPDATE: lease calls and edits exclude one another, while ingest's key check on
    // budget_leases (KEY SHARE) goes on beside them.
    const locked = ids.length === 0 ? [] : await tx.select().from(budgets).where(inArray(budgets.id, ids)).orderBy(asc(budgets.id)).for('no key update');
    for (const b of locked) {
      const covers = coverage(b, rt.userId);
      if (covers === null) continue;
      const period = b.period as BudgetPeriod;
      const window = windowStart(period, now);
      for (const ask of asks) if (ask.budget === b.id && ask.window !== window) await this.returnOld(tx, runtimeId, ask, now);
      reclaims.push(...(await this.reclaimWhere(tx, and(eq(budgetLeases.budgetId, b.id), eq(budgetLeases.windowStart, window), ne(budgetLeases.runtimeId, runtimeId))!, now, o.reclaimAfterMs)));
      const leases = await tx
        .select()
        .from(budgetLeases)
        .where(and(eq(budgetLeases.budgetId, b.id), eq(budgetLeases.windowStart, window)));
      const held = leases.find((l) => l.runtimeId === runtimeId);
      const others = leases.filter((l) => l.runtimeId !== runtimeId);
      const ask = asks.find((a) => a.budget === b.id && a.window === window);
      const cur = held?.grantedMicros ?? 0;
      const spentMine = held?.spentMicros ?? 0;
      const avail = Math.max(0, b.limitMicros - sum(others, committed) - Math.max(cur, spentMine));
      // Demanding: another live runtime asked, within the last few seconds, for more than it got
      // (its waiting calls' needs are in what it asks for). What they still lack is its unmet want.
      const live = (l: BudgetLeaseRow) => l.expiresAt >= now && now - l.updatedAt <= CONTENDED_WITHIN_MS;
      const demanding = others.filter((l) => live(l) && l.wantedMicros > l.grantedMicros);
      const unmetOthers = sum(demanding, (l) => l.wantedMicros - l.grantedMicros);
      let granted = cur;
      let short = false;
      if (ask) {
        const floor = ask.used + ask.held;
        if (ask.want <= cur) granted = Math.min(cur, Math.max(ask.want, floor));
        else {
          const extra = ask.want - cur;
          let give = Math.min(extra, avail);
          // Scarce: the unleased headroom cannot meet this ask and the others' together. Only then
          // is it shared; while it can, each runtime gets what it asks (a busy budget far from its
          // limit never slows anyone down).
          if (demanding.length > 0 && avail < extra + unmetOthers) {
            // Shares of the unleased headroom in proportion to each demanding runtime's rate
            // (this one included), never less than one waiting call's need when the headroom covers it.
            const weight = (rate: number) => Math.max(rate, 1);
            const share = Math.floor((avail * weight(ask.rate)) / (weight(ask.rate) + sum(demanding, (l) => weight(l.ratePerMinMicros))));
            // What its next waiting call needs beyond what its lease has free.
            const uncovered = Math.max(0, ask.need - Math.max(0, cur - floor));
            const need = uncovered > 0 && uncovered <= avail ? uncovered : 0;
            give = Math.min(extra, avail, Math.max(share, need));
          }
          // A runtime whose next waiting call this grant would still not cover gets nothing rather
          // than a fragment: fragments held by runtimes that each wait for more would strand the
          // end of a budget. It gives its own back (see the runtime's leases) and is served whole.
          if (ask.waiting > 0 && ask.need > 0 && give < extra && cur + give - floor < ask.need) give = 0;
          granted = cur + give;
          short = granted < ask.want;
        }
        const row = {
          grantedMicros: granted,
          ...reported(ask),
          expiresAt: now + o.ttlMs,
          updatedAt: now,
        };
        await tx
          .insert(budgetLeases)
          .values({ budgetId: b.id, windowStart: window, runtimeId, ...row })
          .onConflictDoUpdate({ target: [budgetLeases.budgetId, budgetLeases.windowStart, budgetLeases.runtimeId], set: row });
      }
      const after = [...others, { grantedMicros: granted, spentMicros: spentMine }];
      const spent = sum(leases, (l) => l.spentMicros);
      // Surplus others hold that a short runtime waits for: they hear "contended" and give it back.
      const othersLeased = sum(others, (l) => Math.max(0, l.grantedMicros - Math.max(l.spentMicros, l.usedMicros + l.heldMicros)));
      // Contended: what the runtimes still lack (this one after this grant, and the others) is more
      // than the unleased headroom holds, while some hold surplus: holders hear it and give back.
      const unleasedAfter = Math.max(0, b.limitMicros - sum(after, committed));
      const lacking = (ask !== undefined && short ? ask.want - granted : 0) + unmetOthers;
      const contended = lacking > unleasedAfter && (othersLeased > 0 || demanding.length > 0);
      contendedAny ||= contended;
      const usedMine = ask?.used ?? held?.usedMicros ?? 0;
      out.push({
        budget: b.id,
        scope: b.scope as BudgetScope,
        period,
        window,
        covers,
        limit: b.limitMicros,
        granted,
        expiresAt: ask ? now + o.ttlMs : (held?.expiresAt ?? now + o.ttlMs),
        spent,
        leased: sum(after, (l) => Math.max(0, l.grantedMicros - l.spentMicros)),
        unleased: Math.max(0, b.limitMicros - sum(after, committed)),
        left: Math.max(0, b.limitMicros - sum(others, (l) => Math.max(l.spentMicros, l.usedMicros)) - Math.max(spentMine, usedMine)),
        contended,
        state: budgetState(spent, b.limitMicros),
      });
    }
    return { answer: { now, renewInMs: contendedAny ? CONTENDED_RENEW_MS : Math.max(100, Math.round(o.ttlMs / 3)), budgets: out }, reclaims };
  }

  /** An ask for a window that has rolled over: only a return (its grant never grows there). */
  private async returnOld(tx: PanelDb, runtimeId: string, ask: LeaseAsk, now: number): Promise<void> {
    const key = and(eq(budgetLeases.budgetId, ask.budget), eq(budgetLeases.windowStart, ask.window), eq(budgetLeases.runtimeId, runtimeId));
    await tx
      .update(budgetLeases)
      .set({
        grantedMicros: sql`least(${budgetLeases.grantedMicros}, ${Math.max(ask.want, ask.used + ask.held)})`,
        ...reported(ask),
        updatedAt: now,
      })
      .where(key);
  }

  /** Lower each expired lease matching `where` to what its runtime reported (its rows, or used + held); each one once. */
  private async reclaimWhere(tx: PanelDb, where: SQL, now: number, reclaimAfterMs: number): Promise<Reclaim[]> {
    const cond = and(where, reclaimable(now, reclaimAfterMs))!;
    // Locked first (skipping rows another transaction is changing: it decides them), so "from" is the grant it replaces.
    const found = await tx.select().from(budgetLeases).where(cond).orderBy(asc(budgetLeases.budgetId), asc(budgetLeases.windowStart), asc(budgetLeases.runtimeId)).for('update', { skipLocked: true });
    if (found.length === 0) return [];
    const back = await tx
      .update(budgetLeases)
      .set({ grantedMicros: sql`greatest(${budgetLeases.spentMicros}, ${budgetLeases.usedMicros} + ${budgetLeases.heldMicros})` })
      .where(and(cond, or(...found.map((l) => and(eq(budgetLeases.budgetId, l.budgetId), eq(budgetLeases.windowStart, l.windowStart), eq(budgetLeases.runtimeId, l.runtimeId))))))
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

  /**
   * Budgets whose current window crossed 90% or 100% of its limit since it was last said: each
   * marked on its row in the same statement that finds it, so each is said once per window
   * (whichever panel's sweep marks it says it).
   */
  async crossings(now = Date.now()): Promise<BudgetCrossing[]> {
    const out: BudgetCrossing[] = [];
    for (const v of await this.view(now)) {
      if (v.state === 'ok') continue;
      const marked = await this.db
        .update(budgets)
        .set({ alertWindow: v.window, alertState: v.state })
        .where(
          and(
            eq(budgets.id, v.id),
            or(isNull(budgets.alertWindow), ne(budgets.alertWindow, v.window), isNull(budgets.alertState), v.state === 'exhausted' ? ne(budgets.alertState, 'exhausted') : sql`false`),
          ),
        )
        .returning({ id: budgets.id });
      if (marked.length > 0) out.push({ budget: v.id, window: v.window, state: v.state, spentMicros: v.spentMicros, limitMicros: v.limitMicros });
    }
    return out;
  }
}
