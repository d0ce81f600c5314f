import { and, asc, eq, isNull, ne, or, sql } from 'drizzle-orm';
import { DAY_MS } from '../../core/duration.js';
import { ConflictError, NotFoundError, ValidationError } from '../../core/errors.js';
import { formatUsd } from '../../core/money.js';
import { committed } from '../../domain/budget/index.js';
import type { PanelDb } from './pg.js';
import { total } from './pg-values.js';
import { budgetLeases, budgetRefusals, budgets, panelAlerts, type BudgetRow } from './schema-panel.js';
import { BUDGET_ID, MAX_BUDGETS } from '../telemetry.js';

// Central budgets on the control panel (one budget shared by many runtimes): an admin's budgets (create, change, remove),
// what each has spent and committed in its current window, and the thresholds it crosses. A
// budget's spend is its rows: ingest adds each landed row's cost to the lease row of the
// (budget, window, runtime) its tag names, in the batch's transaction (ingest.store.ts). The
// grants runtimes spend it through are leases.store.ts.

export const BUDGET_SCOPES = ['agent', 'user', 'team', 'fleet'] as const;
export const BUDGET_PERIODS = ['none', 'day', 'month'] as const;
export type BudgetScope = (typeof BUDGET_SCOPES)[number];
export type BudgetPeriod = (typeof BUDGET_PERIODS)[number];
export type BudgetState = 'ok' | 'warning' | 'exhausted';

/** The most agent or user names one budget lists. */
export const MAX_BUDGET_NAMES = 100;
/** The warning threshold (the hard stop is 100%). */
export const WARNING_AT = 0.9;

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

/** A threshold a budget window crossed, said once per window. */
export interface BudgetCrossing {
  budget: string;
  window: number;
  state: 'warning' | 'exhausted';
  spentMicros: number;
  limitMicros: number;
}

/** One runtime's lease on a budget, as a BudgetView lists it (the grant itself: leases.store.ts). */
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
  /** LLM calls this budget refused in this window (the runtimes' `budget.refused` events naming it; counted apart from errors). */
  refused: number;
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

/** Σ f(row) over the rows. */
export const sum = <T>(rows: readonly T[], f: (r: T) => number) => rows.reduce((s, r) => s + f(r), 0);

/**
 * Central budgets in the panel's PostgreSQL (their leases: LeasesStore).
 *
 * @example
 *   const store = new BudgetsStore(db);
 *   await store.create({ id: 'sales', scope: 'fleet', agents: [], users: [], period: 'month', limitMicros: 500_000_000 }, 'admin');
 *   const [sales] = await store.view(Date.now(), 'sales');
 */
export class BudgetsStore {
  constructor(private readonly db: PanelDb) {}

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
          .select({ spent: total(budgetLeases.spentMicros) })
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
    const [leases, refusals] = await Promise.all([
      this.db
        .select()
        .from(budgetLeases)
        .where(or(...windows.map(([b, w]) => and(eq(budgetLeases.budgetId, b), eq(budgetLeases.windowStart, w)))))
        .orderBy(asc(budgetLeases.budgetId), asc(budgetLeases.runtimeId)),
      this.db
        .select({ budgetId: budgetRefusals.budgetId, windowStart: budgetRefusals.windowStart, refused: budgetRefusals.refused })
        .from(budgetRefusals)
        .where(or(...windows.map(([b, w]) => and(eq(budgetRefusals.budgetId, b), eq(budgetRefusals.windowStart, w))))),
    ]);
    return rows.map((b, i) => {
      const window = windows[i]![1];
      // A runtime's row that holds, spent and waits for nothing here is no lease (the panel answers
      // every runtime a budget's names could cover, and one whose agents it does not cover asks for
      // nothing): it is not listed, and adds nothing to any figure.
      const mine = leases.filter((l) => l.budgetId === b.id && l.windowStart === window && (l.grantedMicros > 0 || l.spentMicros > 0 || l.heldMicros > 0 || l.waiting > 0));
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
        refused: sum(
          refusals.filter((r) => r.budgetId === b.id && r.windowStart === window),
          (r) => r.refused,
        ),
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
   * Budgets whose current window crossed 90% or 100% of its limit since it was last said: each
   * marked on its row in the same statement that finds it, so each is said once per window
   * (whichever panel's sweep marks it says it). `alert`, when given, makes each crossing's alert,
   * written to the alerts' outbox in the mark's own transaction: a crossing marked is an alert
   * owed, whatever becomes of the replica that marked it.
   */
  async crossings(now = Date.now(), alert?: (c: BudgetCrossing) => { kind: string; message: string; data: Record<string, unknown> } | null): Promise<BudgetCrossing[]> {
    const out: BudgetCrossing[] = [];
    for (const v of await this.view(now)) {
      if (v.state === 'ok') continue;
      const c: BudgetCrossing = { budget: v.id, window: v.window, state: v.state, spentMicros: v.spentMicros, limitMicros: v.limitMicros };
      const marked = await this.db.transaction(async (tx) => {
        const m = await tx
          .update(budgets)
          .set({ alertWindow: v.window, alertState: v.state })
          .where(
            and(
              eq(budgets.id, v.id),
              or(isNull(budgets.alertWindow), ne(budgets.alertWindow, v.window), isNull(budgets.alertState), v.state === 'exhausted' ? ne(budgets.alertState, 'exhausted') : sql`false`),
            ),
          )
          .returning({ id: budgets.id });
        const a = m.length > 0 ? alert?.(c) : null;
        if (a) await tx.insert(panelAlerts).values({ kind: a.kind, budgetId: v.id, message: a.message, data: JSON.stringify(a.data), createdAt: now });
        return m.length > 0;
      });
      if (marked) out.push(c);
    }
    return out;
  }
}
