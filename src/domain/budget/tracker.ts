import { ConflictError, NotFoundError } from '../../core/errors.js';
import { formatUsd, type Micros } from '../../core/money.js';
import {
  apply,
  checkMicros,
  crossings,
  refusal,
  snapshotOf,
  unknownAgent,
  type BudgetRefusal,
  type BudgetSnapshot,
  type Account,
  type Reservation,
  type ReserveGranted,
  type ReservationId,
  type ReserveResult,
  type RestoreInput,
  type SetLimitResult,
  type SettleResult,
  type ThresholdNotice,
  type TrackerOptions,
} from './account.js';
import { makeThresholds, normalizeThresholds, thresholdAmount } from './thresholds.js';
import { decide, WaitQueues, type AcquireRequest, type WaitBound } from './waits.js';

// Per-agent budget account: limit, settled spend, outstanding reservations (the agent id is the
// run). The gateway reserves a request's worst-case cost before forwarding it, then settles the
// actual cost or releases the reservation. Operations are synchronous, so each one is atomic
// with respect to every concurrent request in the process.
//
// The settle rule. Every grant keeps   settled + reserved ≤ limit   (reserve refuses otherwise),
// so each reservation owns its amount of headroom. A settle charges the actual cost against the
// budget only up to what is not promised to other open reservations:
//
//   charged   = min(actual, limit − settled − reserved by other open requests)
//   overshoot = actual − charged
//
// Hence settled spend never exceeds the limit, and a request whose actual cost is within its
// reservation is always charged in full; overshoot only appears when a reservation was too small
// (a prompt estimate for a non-OpenAI model, or no max_tokens in the request and more output than
// the assumed default) or the limit was lowered while it was in flight. Overshoot is not hidden:
// it is real provider spend, reported separately and included in `spentMicros`, the figure
// users see, so spent always equals the sum of actual request costs. Overshoot can only occur
// when no unpromised headroom is left, i.e. at the very end of the budget.

export class BudgetTracker {
  private readonly ratios: number[];
  private readonly accounts = new Map<string, Account>();
  private readonly reservations = new Map<ReservationId, Reservation>();
  private nextId = 1;
  private readonly waits = new WaitQueues((account, amount) => this.grant(account, amount));

  constructor(options: TrackerOptions = {}) {
    this.ratios = normalizeThresholds(options.thresholds);
  }

  get thresholds(): readonly number[] {
    return this.ratios;
  }

  has(agentId: string): boolean {
    return this.accounts.has(agentId);
  }

  agents(): string[] {
    return [...this.accounts.keys()];
  }

  snapshot(agentId: string): BudgetSnapshot | null {
    const l = this.accounts.get(agentId);
    return l ? snapshotOf(l) : null;
  }

  /**
   * Register an agent or change its limit live (null: unlimited, still metered). Raising the
   * limit re-arms every threshold the spend is now below, so the next 90% warns again; lowering
   * it may cross thresholds at once, reported in `notices`. A limit below what is already spent
   * is refused: the invariant settled ≤ limit could not hold; stop the agent instead. Open
   * reservations stay valid; if the new limit cannot cover them, their settles overshoot.
   */
  setLimit(agentId: string, limitMicros: Micros | null): SetLimitResult {
    if (limitMicros !== null) checkMicros('limit', limitMicros);
    const account = this.accounts.get(agentId) ?? this.create(agentId);
    const spent = account.settled + account.overshoot;
    if (limitMicros !== null && limitMicros < spent) {
      return {
        ok: false,
        code: 'below_spent',
        message: `cannot lower the budget for agent ${agentId} to ${formatUsd(limitMicros)}: ${formatUsd(spent)} is already spent`,
        snapshot: snapshotOf(account),
      };
    }
    account.limit = limitMicros;
    account.declaredExhausted = false;
    for (const t of account.thresholds) {
      t.amount = limitMicros === null ? 0 : thresholdAmount(t, limitMicros);
      if (limitMicros === null || spent < t.amount) t.fired = false;
    }
    const out = { ok: true as const, notices: crossings(account), snapshot: snapshotOf(account) };
    // A raised limit lets waiting calls through; a lowered one may refuse them.
    this.waits.drain(account);
    return out;
  }

  /**
   * Rebuild an agent's totals after a restart from its recorded requests. Spend above the limit
   * (overshoot recorded before the restart) is restored as overshoot.
   */
  restore(agentId: string, input: RestoreInput): { snapshot: BudgetSnapshot; notices: ThresholdNotice[] } {
    checkMicros('spent', input.spentMicros);
    if (input.limitMicros !== null) checkMicros('limit', input.limitMicros);
    const existing = this.accounts.get(agentId);
    if (existing && existing.open > 0) {
      throw new ConflictError(`cannot restore the budget of agent ${agentId} while ${existing.open} requests are in flight`);
    }
    const account = existing ?? this.create(agentId);
    const limit = input.limitMicros;
    account.limit = limit;
    account.declaredExhausted = false;
    account.settled = limit === null ? input.spentMicros : Math.min(input.spentMicros, limit);
    account.overshoot = input.spentMicros - account.settled;
    const delivered = input.firedThresholds === undefined ? null : new Set(input.firedThresholds);
    for (const t of account.thresholds) {
      t.amount = limit === null ? 0 : thresholdAmount(t, limit);
      t.fired = limit !== null && input.spentMicros >= t.amount && (delivered === null || delivered.has(t.ratio));
    }
    const out = { notices: crossings(account), snapshot: snapshotOf(account) };
    this.waits.drain(account);
    return out;
  }

  /**
   * The budget policy found the budget used up for practical purposes (see BudgetPolicy): its
   * snapshots say `exhausted` until the limit is changed.
   *
   * @example
   *   if (policy.refusalExhausts(refusal)) tracker.declareExhausted(refusal.agentId);
   */
  declareExhausted(agentId: string): void {
    const account = this.accounts.get(agentId);
    if (account && account.limit !== null) account.declaredExhausted = true;
  }

  /** Hold `amountMicros` of the agent's budget for one request, or refuse with a reason naming the budget. */
  reserve(agentId: string, amountMicros: Micros): ReserveResult {
    checkMicros('reservation', amountMicros);
    const account = this.accounts.get(agentId);
    if (account === undefined) return unknownAgent(agentId, amountMicros);
    const spent = account.settled + account.overshoot;
    if (account.limit !== null && spent + account.reserved + amountMicros > account.limit) {
      return refusal(account, spent, amountMicros);
    }
    return this.grant(account, amountMicros);
  }

  /**
   * Reserve, or wait for in-flight calls to free the headroom they hold (see waits.ts): the
   * answer is synchronous when the call need not wait. A granted amount below `amountMicros`
   * is a clamp (only when `minMicros` allows one): the caller must shrink the call to fit it.
   *
   * @example
   *   const r = await tracker.acquire('lg-1', { amountMicros: 20_000 }, { timeoutMs: 120_000, maxWaiting: 100, signal });
   */
  acquire(agentId: string, req: AcquireRequest, bound: WaitBound): ReserveResult | Promise<ReserveResult> {
    const full = req.amountMicros;
    const min = Math.min(req.minMicros ?? full, full);
    checkMicros('reservation', full);
    checkMicros('minimum reservation', min);
    const account = this.accounts.get(agentId);
    if (account === undefined) return this.reserve(agentId, full);
    const d = decide(account, full, min);
    if (d.kind === 'refuse') return refusal(account, account.settled + account.overshoot, full);
    // First come, first served: a newcomer that would fit still queues behind waiting calls.
    if (d.kind === 'grant' && !this.waits.busy(agentId)) return this.grant(account, d.amount);
    return this.waits.enqueue(account, full, min, bound);
  }

  /** Give back part of a reservation (a clamped call needs less than it was granted). */
  shrink(reservationId: ReservationId, amountMicros: Micros): void {
    checkMicros('reservation', amountMicros);
    const r = this.reservations.get(reservationId);
    if (r === undefined || amountMicros >= r.amount) return;
    this.resize(reservationId, r, amountMicros);
    this.waits.drain(r.account);
  }

  /**
   * Take back a charge whose record could not be written, so the account says what the records
   * say (the settle and its row are one step: both or neither).
   */
  uncharge(agentId: string, r: Pick<SettleResult, 'chargedMicros' | 'overshootMicros'>): void {
    const account = this.accounts.get(agentId);
    if (account === undefined) return;
    account.settled = Math.max(0, account.settled - r.chargedMicros);
    account.overshoot = Math.max(0, account.overshoot - r.overshootMicros);
    // A threshold the taken-back charge crossed was never announced: it may fire again.
    const spent = account.settled + account.overshoot;
    for (const t of account.thresholds) if (spent < t.amount) t.fired = false;
    this.waits.drain(account);
  }

  /**
   * Settle a reservation on the call's actual cost (the provider's usage, priced). Charges per
   * the settle rule above. Settling a reservation twice, or after releasing it, is a bug in the
   * caller and throws; late usage for a released reservation goes through `charge`.
   */
  settle(reservationId: ReservationId, actualMicros: Micros): SettleResult {
    checkMicros('actual cost', actualMicros);
    const r = this.reservations.get(reservationId);
    if (r === undefined) {
      throw new ConflictError(`reservation ${reservationId} is not open: it was already settled or released`);
    }
    this.reservations.delete(reservationId);
    r.account.reserved -= r.amount;
    r.account.open -= 1;
    const result = apply(r.account, actualMicros);
    this.waits.drain(r.account);
    return result;
  }

  /** Give a reservation back (the call failed before any usage). False if it was not open. */
  release(reservationId: ReservationId): boolean {
    const r = this.drop(reservationId);
    if (r !== undefined) this.waits.drain(r.account);
    return r !== undefined;
  }

  /** Release every open reservation of an agent (it exited); how many. One drain after all: one in between would grant a waiter an id this sweep then releases. */
  releaseAll(agentId: string): number {
    const ids = [...this.reservations].filter(([, r]) => r.account.agentId === agentId).map(([id]) => id);
    for (const id of ids) this.drop(id);
    const account = this.accounts.get(agentId);
    if (account) this.waits.drain(account);
    return ids.length;
  }

  /** Record spend that had no reservation (usage that arrived after a release), under the same rule. */
  charge(agentId: string, actualMicros: Micros): SettleResult {
    checkMicros('actual cost', actualMicros);
    const account = this.accounts.get(agentId);
    if (account === undefined) throw new NotFoundError(`no budget is registered for agent ${agentId}`);
    const result = apply(account, actualMicros);
    this.waits.drain(account); // a head this spend leaves no room ever is refused now, not at its timeout
    return result;
  }

  /** Drop an agent: its waiting calls are refused first, then its open reservations go, granting nothing. */
  forget(agentId: string): void {
    const account = this.accounts.get(agentId);
    this.accounts.delete(agentId);
    if (account) this.waits.cancel(account, (requested) => this.reserve(agentId, requested) as BudgetRefusal);
    for (const [id, r] of [...this.reservations]) if (r.account.agentId === agentId) this.drop(id);
  }

  /**
   * Swap a call's reservation for `amountMicros` (a fallback takes over) without letting go of it:
   * a release first would hand its headroom to a waiter. More that does not fit waits for the
   * difference by the queue's rules, still holding the rest; a refusal releases it all. With
   * `minMicros` below it (near_limit: clamp) and nothing else in flight or waiting, what is left
   * is granted as acquire would: the caller shrinks the call to fit.
   *
   * @example
   *   const r = await tracker.replace(7, 30_000, { timeoutMs: 120_000, maxWaiting: 100 });
   */
  replace(reservationId: ReservationId, amountMicros: Micros, bound: WaitBound, minMicros = amountMicros): ReserveResult | Promise<ReserveResult> {
    checkMicros('reservation', amountMicros);
    checkMicros('minimum reservation', minMicros);
    const r = this.reservations.get(reservationId);
    if (r === undefined) throw new ConflictError(`reservation ${reservationId} is not open: it was already settled or released`);
    const account = r.account;
    const spent = account.settled + account.overshoot;
    const extra = amountMicros - r.amount;
    if (extra <= 0 || account.limit === null || account.limit - spent - account.reserved >= extra) {
      this.resize(reservationId, r, amountMicros);
      if (extra < 0) this.waits.drain(account);
      return { ok: true, reservationId, agentId: account.agentId, amountMicros };
    }
    const left = account.limit - spent;
    if (minMicros < amountMicros && account.reserved === r.amount && !this.waits.busy(account.agentId) && left >= minMicros) {
      this.resize(reservationId, r, left);
      if (left < r.amount) this.waits.drain(account);
      return { ok: true, reservationId, agentId: account.agentId, amountMicros: left };
    }
    if (spent + amountMicros > account.limit) {
      this.release(reservationId);
      return refusal(account, spent, amountMicros);
    }
    const merge = (g: ReserveResult): ReserveResult => {
      const held = this.reservations.get(reservationId);
      if (!g.ok || held === undefined) {
        if (g.ok) this.release(g.reservationId);
        this.release(reservationId);
        return g.ok ? refusal(account, account.settled + account.overshoot, amountMicros) : { ...g, requestedMicros: amountMicros };
      }
      this.drop(g.reservationId);
      this.resize(reservationId, held, held.amount + g.amountMicros);
      return { ok: true, reservationId, agentId: account.agentId, amountMicros: held.amount + g.amountMicros };
    };
    const more = this.acquire(account.agentId, { amountMicros: extra }, bound);
    return more instanceof Promise ? more.then(merge) : merge(more);
  }

  /** Out of the account without a drain (the caller drains, once). */
  private drop(reservationId: ReservationId): Reservation | undefined {
    const r = this.reservations.get(reservationId);
    if (r === undefined) return undefined;
    this.reservations.delete(reservationId);
    r.account.reserved -= r.amount;
    r.account.open -= 1;
    return r;
  }

  private resize(reservationId: ReservationId, r: Reservation, amountMicros: Micros): void {
    r.account.reserved += amountMicros - r.amount;
    this.reservations.set(reservationId, { account: r.account, amount: amountMicros });
  }

  private grant(account: Account, amountMicros: Micros): ReserveGranted {
    const id = this.nextId++;
    this.reservations.set(id, { account, amount: amountMicros });
    account.reserved += amountMicros;
    account.open += 1;
    return { ok: true, reservationId: id, agentId: account.agentId, amountMicros };
  }

  private create(agentId: string): Account {
    const account: Account = {
      agentId,
      limit: null,
      settled: 0,
      overshoot: 0,
      reserved: 0,
      open: 0,
      waiting: 0,
      thresholds: makeThresholds(this.ratios),
      declaredExhausted: false,
    };
    this.accounts.set(agentId, account);
    return account;
  }
}
