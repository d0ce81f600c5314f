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
  type CentralCharge,
  type CentralSnapshot,
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
import { decideChain, freeOf, WaitQueues, type AcquireRequest, type WaitBound } from './waits.js';

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
//
// Central budgets (a control panel's, leased to this runtime: report/leases.ts). Each central
// budget's window is an account here too (id `central:<budget>@<window>`), whose limit is the
// lease's granted total (soft: it grows when the panel grants more) and whose `ceiling` is what
// could ever be spent from it. An agent's account is linked to the central accounts that cover
// it; a reservation takes its amount from the agent's account AND each linked one (its chain),
// all or nothing, and the settle rule above holds on every account of the chain, so spend on a
// central account never passes its lease. Settle, charge, release, shrink, replace and uncharge
// apply to the chain the reservation was granted with: linking again later changes new
// reservations only. A waiting call is decided on its agent's links as they are when it is
// decided (a call waiting for the first lease goes on under the budgets the lease names).

/** A central account's lease as the lease loop sets it. */
export interface CentralInput {
  /** `<budget>@<window>`, the rows' tag (fixed when the account is made); null: no central budget, only a gate (no call passes it). */
  key: string | null;
  /** How refusals name it: "team budget sales-team ($500.00/month)". */
  label: string;
  /** The lease's granted total. May be below what is spent (a lease reclaimed): nothing more is then granted. */
  limitMicros: Micros;
  /** What could ever be spent from it; calls wait for more lease up to it. Null: the lease is all there is. */
  ceilingMicros: Micros | null;
  /** Since when no lease is known to hold (epoch ms), for the words of a refusal; null: it holds. */
  unavailableSince?: number | null;
  /** Spend already charged to it (rebuilt from the rows' tags after a restart); read only when the account is made. */
  spentMicros?: Micros;
}

/** What a waiting call waits for (`BudgetTracker.waitsFor`). */
export interface WaitReason {
  kind: 'own' | 'lease' | 'panel';
  /** The central budget's name in words; null for the agent's own. */
  label: string | null;
  /** `panel`: since when (epoch ms) no lease is known to hold. */
  since: number | null;
}

export class BudgetTracker {
  private readonly ratios: number[];
  private readonly accounts = new Map<string, Account>();
  private readonly centrals = new Map<string, Account>();
  private readonly reservations = new Map<ReservationId, Reservation>();
  private nextId = 1;
  private readonly waits = new WaitQueues((account, links, amount) => this.grant(account, links, amount));
  /** The central accounts a newly registered agent is linked to (set by the lease loop). */
  private linker: ((agentId: string) => readonly string[]) | null = null;

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
   * What an agent's oldest waiting call waits for: `own` (its budget, held by its in-flight
   * calls), or a central budget (`label`), whose lease is short (`lease`) or not known to hold
   * (`panel`: the control panel has not answered since start, or stopped answering). Empty when
   * none waits.
   *
   * @example
   *   tracker.waitsFor('lg-1') // [{ kind: 'panel', label: "this runtime's central budgets", since: 1764547200000 }]
   */
  waitsFor(agentId: string): WaitReason[] {
    const account = this.accounts.get(agentId);
    if (account === undefined) return [];
    return this.waits.blockers(account).map((a): WaitReason => {
      const c = a.central;
      if (c === null) return { kind: 'own', label: null, since: null };
      return c.unavailableSince != null ? { kind: 'panel', label: c.label, since: c.unavailableSince } : { kind: 'lease', label: c.label, since: null };
    });
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
    this.waits.drain([account]);
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
    this.waits.drain([account]);
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
    for (const a of [account, ...account.links]) if (freeOf(a) < amountMicros) return refusal(a, a.settled + a.overshoot, amountMicros, undefined, agentId);
    return this.grant(account, account.links, amountMicros);
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
    return this.acquireOn(account, null, full, min, bound);
  }

  /** `links` null: the agent's as they are; else the chain of a reservation being replaced. */
  private acquireOn(account: Account, links: readonly Account[] | null, full: Micros, min: Micros, bound: WaitBound): ReserveResult | Promise<ReserveResult> {
    const chain = links ?? account.links;
    const d = decideChain([account, ...chain], full, min);
    if (d.kind === 'refuse') return refusal(d.on, d.on.settled + d.on.overshoot, full, undefined, account.agentId);
    // First come, first served: a newcomer that would fit still queues behind waiting calls,
    // its agent's, and another agent's that waits on a central account it shares.
    if (d.kind === 'grant' && !this.waits.busy(account) && !this.waits.heldUp(chain)) return this.grant(account, chain, d.amount);
    return this.waits.enqueue(account, links, full, min, bound);
  }

  /** Give back part of a reservation (a clamped call needs less than it was granted). */
  shrink(reservationId: ReservationId, amountMicros: Micros): void {
    checkMicros('reservation', amountMicros);
    const r = this.reservations.get(reservationId);
    if (r === undefined || amountMicros >= r.amount) return;
    this.resize(reservationId, r, amountMicros);
    this.waits.drain([r.account, ...r.links]);
  }

  /**
   * Take back a charge whose record could not be written, so the account says what the records
   * say (the settle and its row are one step: both or neither).
   */
  uncharge(agentId: string, r: Pick<SettleResult, 'chargedMicros' | 'overshootMicros'> & { central?: readonly CentralCharge[] }): void {
    const account = this.accounts.get(agentId);
    const touched: Account[] = [];
    if (account !== undefined) {
      touched.push(account);
      account.settled = Math.max(0, account.settled - r.chargedMicros);
      account.overshoot = Math.max(0, account.overshoot - r.overshootMicros);
      // A threshold the taken-back charge crossed was never announced: it may fire again.
      const spent = account.settled + account.overshoot;
      for (const t of account.thresholds) if (spent < t.amount) t.fired = false;
    }
    for (const c of r.central ?? []) {
      const a = this.centrals.get(c.id);
      if (a === undefined) continue;
      touched.push(a);
      a.settled = Math.max(0, a.settled - c.chargedMicros);
      a.overshoot = Math.max(0, a.overshoot - c.overshootMicros);
    }
    this.waits.drain(touched);
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
    this.drop(reservationId);
    const result = this.applyChain(r.account, r.links, actualMicros);
    this.waits.drain([r.account, ...r.links]);
    return result;
  }

  /** Give a reservation back (the call failed before any usage). False if it was not open. */
  release(reservationId: ReservationId): boolean {
    const r = this.drop(reservationId);
    if (r !== undefined) this.waits.drain([r.account, ...r.links]);
    return r !== undefined;
  }

  /** Release every open reservation of an agent (it exited); how many. One drain after all: one in between would grant a waiter an id this sweep then releases. */
  releaseAll(agentId: string): number {
    const ids = [...this.reservations].filter(([, r]) => r.account.agentId === agentId && r.account.central === null).map(([id]) => id);
    const touched = new Set<Account>();
    for (const id of ids) {
      const r = this.drop(id);
      for (const a of r ? [r.account, ...r.links] : []) touched.add(a);
    }
    const account = this.accounts.get(agentId);
    if (account) touched.add(account);
    this.waits.drain([...touched]);
    return ids.length;
  }

  /** Record spend that had no reservation (usage that arrived after a release), under the same rule. */
  charge(agentId: string, actualMicros: Micros): SettleResult {
    checkMicros('actual cost', actualMicros);
    const account = this.accounts.get(agentId);
    if (account === undefined) throw new NotFoundError(`no budget is registered for agent ${agentId}`);
    // No reservation: its chain is the agent's links as they are now (the row's tag says the same).
    const result = this.applyChain(account, account.links, actualMicros);
    this.waits.drain([account, ...account.links]); // a head this spend leaves no room ever is refused now, not at its timeout
    return result;
  }

  /** Drop an agent: its waiting calls are refused first, then its open reservations go, granting nothing. */
  forget(agentId: string): void {
    const account = this.accounts.get(agentId);
    this.accounts.delete(agentId);
    if (account === undefined) return;
    this.waits.cancel(account, (requested) => this.reserve(agentId, requested) as BudgetRefusal);
    const touched = new Set<Account>();
    for (const [id, r] of [...this.reservations])
      if (r.account === account) {
        this.drop(id);
        for (const c of r.links) touched.add(c);
      }
    this.waits.drain([...touched]);
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
    const chain = [account, ...r.links];
    const extra = amountMicros - r.amount;
    if (extra <= 0 || chain.every((a) => freeOf(a) >= extra)) {
      this.resize(reservationId, r, amountMicros);
      if (extra < 0) this.waits.drain(chain);
      return { ok: true, reservationId, agentId: account.agentId, amountMicros };
    }
    // What is left on the chain with nothing else in flight or waiting: the clamp's whole room.
    const alone = chain.every((a) => a.reserved === r.amount) && !this.waits.busy(account) && !this.waits.heldUp(r.links);
    const left = Math.min(amountMicros, ...chain.map((a) => freeOf(a) + a.reserved));
    if (minMicros < amountMicros && alone && left >= minMicros) {
      this.resize(reservationId, r, left);
      if (left < r.amount) this.waits.drain(chain);
      return { ok: true, reservationId, agentId: account.agentId, amountMicros: left };
    }
    const never = chain.find((a) => a.limit !== null && a.settled + a.overshoot + amountMicros > Math.max(a.limit, a.central?.ceiling ?? a.limit));
    if (never !== undefined) {
      this.release(reservationId);
      return refusal(never, never.settled + never.overshoot, amountMicros, undefined, account.agentId);
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
    // The extra is taken from the reservation's own chain, however the agent is linked now.
    const more = this.acquireOn(account, r.links, extra, extra, bound);
    return more instanceof Promise ? more.then(merge) : merge(more);
  }

  /** Out of the account without a drain (the caller drains, once). */
  private drop(reservationId: ReservationId): Reservation | undefined {
    const r = this.reservations.get(reservationId);
    if (r === undefined) return undefined;
    this.reservations.delete(reservationId);
    for (const a of [r.account, ...r.links]) {
      a.reserved -= r.amount;
      a.open -= 1;
    }
    return r;
  }

  private resize(reservationId: ReservationId, r: Reservation, amountMicros: Micros): void {
    for (const a of [r.account, ...r.links]) a.reserved += amountMicros - r.amount;
    this.reservations.set(reservationId, { account: r.account, amount: amountMicros, links: r.links });
  }

  private grant(account: Account, links: readonly Account[], amountMicros: Micros): ReserveGranted {
    const id = this.nextId++;
    this.reservations.set(id, { account, amount: amountMicros, links });
    for (const a of [account, ...links]) {
      a.reserved += amountMicros;
      a.open += 1;
    }
    return { ok: true, reservationId: id, agentId: account.agentId, amountMicros };
  }

  /** The settle rule on the agent's account and on each central account of the chain. */
  private applyChain(account: Account, links: readonly Account[], actualMicros: Micros): SettleResult {
    const result = apply(account, actualMicros);
    for (const c of links) {
      const x = apply(c, actualMicros);
      result.central.push({ id: c.agentId, key: c.central?.key ?? null, chargedMicros: x.chargedMicros, overshootMicros: x.overshootMicros });
    }
    return result;
  }

  private create(agentId: string): Account {
    const account = this.blank(agentId, makeThresholds(this.ratios), null);
    this.accounts.set(agentId, account);
    // Linked from its first reservation on: no call of a covered agent passes a central budget.
    if (this.linker) account.links = this.resolve(this.linker(agentId));
    return account;
  }

  private blank(id: string, thresholds: Account['thresholds'], central: Account['central']): Account {
    return { agentId: id, limit: null, settled: 0, overshoot: 0, reserved: 0, open: 0, waiting: 0, thresholds, declaredExhausted: false, central, links: [] };
  }

  private resolve(ids: readonly string[]): Account[] {
    return [...new Set(ids)].map((id) => {
      const c = this.centrals.get(id);
      if (c === undefined) throw new NotFoundError(`no central budget account ${id}`);
      return c;
    });
  }

  // ── central budgets ──────────────────────────────────────────────────────────────────────

  /**
   * Open or change a central budget's account (its lease, its ceiling, its name). A larger lease
   * or ceiling lets waiting calls through; a lower ceiling may refuse them. The lease may be set
   * below what is spent and held (a lease that expired: nothing new is reserved from it).
   *
   * @example
   *   tracker.setCentral('central:sales-team@1764547200000', { key: 'sales-team@1764547200000', label: 'team budget sales-team ($500.00/month)', limitMicros: 2_500_000, ceilingMicros: 89_000_000 });
   */
  setCentral(id: string, input: CentralInput): CentralSnapshot {
    checkMicros('lease', input.limitMicros);
    if (input.ceilingMicros !== null) checkMicros('ceiling', input.ceilingMicros);
    let account = this.centrals.get(id);
    if (account === undefined) {
      account = this.blank(id, [], { key: input.key, label: input.label, ceiling: null, unavailableSince: null });
      const spent = input.spentMicros ?? 0;
      checkMicros('spent', spent);
      account.settled = spent;
      this.centrals.set(id, account);
    }
    const c = account.central!;
    account.limit = input.limitMicros;
    c.label = input.label;
    c.ceiling = input.ceilingMicros;
    c.unavailableSince = input.unavailableSince ?? null;
    this.waits.drain([account]);
    return this.centralSnapshot(account);
  }

  /** A central account, as the lease loop reports it to the panel; null when there is none. */
  central(id: string): CentralSnapshot | null {
    const a = this.centrals.get(id);
    return a ? this.centralSnapshot(a) : null;
  }

  /** Every central account's id. */
  centralIds(): string[] {
    return [...this.centrals.keys()];
  }

  /**
   * Close a central account (its budget is gone, or its window is over): agents are unlinked
   * from it; reservations granted on it keep it until they settle, but nothing new is taken
   * from it. Calls that waited on it are decided again without it.
   */
  dropCentral(id: string): void {
    const c = this.centrals.get(id);
    if (c === undefined) return;
    this.centrals.delete(id);
    const touched: Account[] = [];
    for (const a of this.accounts.values())
      if (a.links.includes(c)) {
        a.links = a.links.filter((x) => x !== c);
        touched.push(a);
      }
    this.waits.drain(touched);
  }

  /**
   * Link an agent's account to the central accounts that cover it (replacing its links): its new
   * reservations, and its waiting calls, are taken from each of them too. Open reservations keep
   * the chain they were granted with. Throws NotFoundError for a central account not opened.
   */
  link(agentId: string, centralIds: readonly string[]): void {
    const account = this.accounts.get(agentId);
    if (account === undefined) throw new NotFoundError(`no budget is registered for agent ${agentId}`);
    const before = account.links;
    account.links = this.resolve(centralIds);
    this.waits.drain([account, ...before, ...account.links]);
  }

  /** Who covers an agent registered from now on (null: none): asked once, when its account is made. */
  linkWith(linker: ((agentId: string) => readonly string[]) | null): void {
    this.linker = linker;
  }

  /** The central accounts an agent's new reservations are taken from. */
  linksOf(agentId: string): string[] {
    return (this.accounts.get(agentId)?.links ?? []).map((a) => a.agentId);
  }

  /**
   * The central budget keys a call's charge goes to (its row's `budgets` tag): its reservation's
   * chain, or (no reservation: a `charge`) the agent's links as they are now.
   */
  centralKeys(agentId: string, reservationId: ReservationId | null): string[] {
    const r = reservationId === null ? undefined : this.reservations.get(reservationId);
    const links = r ? r.links : (this.accounts.get(agentId)?.links ?? []);
    return links.flatMap((a) => (a.central?.key ? [a.central.key] : []));
  }

  private centralSnapshot(a: Account): CentralSnapshot {
    const c = a.central!;
    const w = this.waits.waitingOn(a);
    return {
      id: a.agentId,
      key: c.key,
      label: c.label,
      leaseMicros: a.limit ?? 0,
      ceilingMicros: c.ceiling,
      spentMicros: a.settled + a.overshoot,
      reservedMicros: a.reserved,
      openReservations: a.open,
      waitingCalls: w.waiting,
      needMicros: w.need,
      needSumMicros: w.needSum,
      unavailableSince: c.unavailableSince,
    };
  }
}
