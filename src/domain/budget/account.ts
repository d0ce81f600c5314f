import { ValidationError } from '../../core/errors.js';
import { formatUsd, type Micros } from '../../core/money.js';
import { percentOf } from './format.js';
import type { Threshold } from './thresholds.js';

// One agent's budget account (limit, settled spend, overshoot, reservations, thresholds) and
// the pure steps the tracker applies to it.

export type ReservationId = number;
export type BudgetState = 'ok' | 'warning' | 'exhausted' | 'unlimited';

export interface BudgetSnapshot {
  agentId: string;
  limitMicros: Micros | null;
  /** Actual spend counted against the limit; never more than the limit. */
  settledMicros: Micros;
  /** Actual spend the budget could not absorb (see the settle rule); normally 0. */
  overshootMicros: Micros;
  /** settled + overshoot: everything the provider charged. The "spent" users see. */
  spentMicros: Micros;
  reservedMicros: Micros;
  openReservations: number;
  /** Calls waiting for in-flight calls to settle before they can reserve (see `acquire`). */
  waitingCalls: number;
  /** What one more reservation may take; null when unlimited. */
  availableMicros: Micros | null;
  /** spent / limit in percent, for display; null when unlimited. */
  percentUsed: number | null;
  state: BudgetState;
  /** Thresholds that fired and stay suppressed until the limit is raised above them again. */
  firedThresholds: number[];
}

export interface ThresholdNotice {
  agentId: string;
  threshold: number;
  kind: 'warning' | 'exhausted';
  spentMicros: Micros;
  limitMicros: Micros;
  percentUsed: number;
}

export interface ReserveGranted {
  ok: true;
  reservationId: ReservationId;
  agentId: string;
  amountMicros: Micros;
}

/** What a refusal says of the central budget (a control panel's) that refused a call. */
export interface CentralRef {
  /** The central account's id, `central:<budget>@<window>`. */
  id: string;
  /** `<budget>@<window>`, the rows' tag; null for the account that stands in until the panel first answers. */
  key: string | null;
  /** How it is named to people: "team budget sales-team ($500.00/month)". */
  label: string;
}

export interface BudgetRefusal {
  ok: false;
  /**
   * `wait_timeout`: it waited for in-flight calls the whole bound; `queue_full`: too many calls
   * already wait; `aborted`: the caller went away while it waited (nobody to answer);
   * `no_lease`: it waited the whole bound on a central budget and no lease came to cover it (the
   * control panel did not answer, or leased nothing more): a budget answer (402), not congestion.
   */
  code: 'budget_exceeded' | 'unknown_agent' | 'wait_timeout' | 'queue_full' | 'aborted' | 'no_lease';
  /** Names the budget, e.g. "budget of $50.00 for agent lg-1 would be exceeded: $49.98 spent, $0.05 requested". */
  message: string;
  agentId: string;
  limitMicros: Micros | null;
  spentMicros: Micros;
  reservedMicros: Micros;
  requestedMicros: Micros;
  /** Nothing is left at all, as opposed to this request being too large for what is left. */
  exhausted: boolean;
  /** The central budget that refused it (its figures are then that account's); absent: the agent's own. */
  central?: CentralRef;
}

export type ReserveResult = ReserveGranted | BudgetRefusal;

/** What one central account of a call's chain was charged (for `uncharge`, and the row's tag). */
export interface CentralCharge {
  id: string;
  key: string | null;
  chargedMicros: Micros;
  overshootMicros: Micros;
}

export interface SettleResult {
  agentId: string;
  actualMicros: Micros;
  chargedMicros: Micros;
  overshootMicros: Micros;
  /** The same actual cost on each central account of the chain (empty when none). */
  central: CentralCharge[];
  /** Thresholds this settle crossed, each reported once. */
  notices: ThresholdNotice[];
  snapshot: BudgetSnapshot;
}

export type SetLimitResult = { ok: true; snapshot: BudgetSnapshot; notices: ThresholdNotice[] } | { ok: false; code: 'below_spent'; message: string; snapshot: BudgetSnapshot };

export interface RestoreInput {
  limitMicros: Micros | null;
  /** Sum of the recorded requests' actual costs. */
  spentMicros: Micros;
  /** Thresholds whose alerts were already delivered; when omitted, all crossed ones count as delivered. */
  firedThresholds?: readonly number[];
}

export interface TrackerOptions {
  /** Alert levels as fractions of the limit; default [0.9, 1]. 1 is always included. */
  thresholds?: readonly number[];
}

/** One open reservation: whose budget, and how much of it, taken as well from each central account linked when it was granted. */
export interface Reservation {
  readonly account: Account;
  readonly amount: Micros;
  readonly links: readonly Account[];
}

/** A central budget's account on this runtime: a lease from a control panel. */
export interface Central {
  readonly key: string | null;
  label: string;
  /**
   * What could ever be spent from it (the panel's `left`, as this runtime may use it): a call
   * waits for more lease while settled spend + its need stays within it, and is refused beyond.
   * Null: the limit is hard, as an agent's is.
   */
  ceiling: Micros | null;
  /** Since when (epoch ms) no lease is known to hold (the panel is not answering); null: it is. */
  unavailableSince: number | null;
}

/** A central account as the lease loop reads it. */
export interface CentralSnapshot {
  id: string;
  key: string | null;
  label: string;
  /** The lease's granted total: spend and holds stay within it. */
  leaseMicros: Micros;
  ceilingMicros: Micros | null;
  /** Actual spend charged to it (settled + overshoot). */
  spentMicros: Micros;
  reservedMicros: Micros;
  openReservations: number;
  /** Calls waiting whose chain holds it, the largest worst case among them and their sum. */
  waitingCalls: number;
  needMicros: Micros;
  needSumMicros: Micros;
  unavailableSince: number | null;
}

export function checkMicros(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0) throw new ValidationError(`${name} must be a non-negative integer of micro-dollars, got ${v}`);
}

/** One agent's mutable totals; only the tracker holds these. */
export interface Account {
  readonly agentId: string;
  limit: Micros | null;
  settled: Micros;
  overshoot: Micros;
  reserved: Micros;
  open: number;
  /** Calls in this agent's wait queue. */
  waiting: number;
  readonly thresholds: Threshold[];
  /**
   * Declared used up by the policy although a little is left (a call it could not pay for at
   * 95%): shown as exhausted until the limit changes.
   */
  declaredExhausted: boolean;
  /** Set on a central budget's account (its `agentId` is then the central id); null on an agent's. */
  central: Central | null;
  /** An agent's account: the central accounts a new reservation also takes its amount from. */
  links: Account[];
}

/** Record an actual cost under the settle rule described in tracker.ts. */
export function apply(account: Account, actual: Micros): SettleResult {
  const headroom = account.limit === null ? actual : Math.max(0, account.limit - account.settled - account.reserved);
  const charged = Math.min(actual, headroom);
  const overshoot = actual - charged;
  account.settled += charged;
  account.overshoot += overshoot;
  return {
    agentId: account.agentId,
    actualMicros: actual,
    chargedMicros: charged,
    overshootMicros: overshoot,
    central: [],
    notices: crossings(account),
    snapshot: snapshotOf(account),
  };
}

/** Fire every armed threshold the spend has reached; each fires once until re-armed. */
export function crossings(account: Account): ThresholdNotice[] {
  const out: ThresholdNotice[] = [];
  if (account.limit === null) return out;
  const spent = account.settled + account.overshoot;
  for (const t of account.thresholds) {
    if (t.fired || spent < t.amount) continue;
    t.fired = true;
    out.push({
      agentId: account.agentId,
      threshold: t.ratio,
      kind: t.ratio >= 1 ? 'exhausted' : 'warning',
      spentMicros: spent,
      limitMicros: account.limit,
      percentUsed: percentOf(spent, account.limit),
    });
  }
  return out;
}

function stateOf(account: Account, spent: Micros): BudgetState {
  if (account.limit === null) return 'unlimited';
  if (spent >= account.limit || account.declaredExhausted) return 'exhausted';
  const first = account.thresholds[0];
  return first !== undefined && first.ratio < 1 && spent >= first.amount ? 'warning' : 'ok';
}

export function snapshotOf(account: Account): BudgetSnapshot {
  const spent = account.settled + account.overshoot;
  return {
    agentId: account.agentId,
    limitMicros: account.limit,
    settledMicros: account.settled,
    overshootMicros: account.overshoot,
    spentMicros: spent,
    reservedMicros: account.reserved,
    openReservations: account.open,
    waitingCalls: account.waiting,
    availableMicros: account.limit === null ? null : Math.max(0, account.limit - spent - account.reserved),
    percentUsed: account.limit === null ? null : percentOf(spent, account.limit),
    state: stateOf(account, spent),
    firedThresholds: account.thresholds.filter((t) => t.fired).map((t) => t.ratio),
  };
}

export type WaitWhy = { code: 'wait_timeout' | 'queue_full' | 'aborted' | 'no_lease'; detail: string };

/**
 * A refused call, worded after the account that refused it: the agent's own budget, or (`account`
 * a central one) the central budget by its name; `agentId` is the caller's either way.
 */
export function refusal(account: Account, spent: Micros, requested: Micros, why?: WaitWhy, agentId = account.agentId): BudgetRefusal {
  const c = account.central;
  const hard = c?.ceiling ?? account.limit ?? 0;
  const exhausted = spent >= hard;
  const inFlight = account.reserved > 0 ? `, ${formatUsd(account.reserved)} reserved by ${account.open} in-flight request${account.open === 1 ? '' : 's'}` : '';
  const head = c ? c.label : `budget of ${formatUsd(hard)} for agent ${account.agentId}`;
  const tail = c
    ? c.key === null
      ? `${formatUsd(requested)} requested`
      : `${formatUsd(spent)} spent by this runtime${inFlight}, ${formatUsd(Math.max(0, hard - spent))} of it left to this runtime, ${formatUsd(requested)} requested`
    : null;
  const message = why
    ? `${head}: ${why.detail}: ${tail ?? `${formatUsd(spent)} spent${inFlight}, ${formatUsd(requested)} requested`}`
    : exhausted
      ? `${head} is exhausted: ${tail ?? `${formatUsd(spent)} spent, ${formatUsd(requested)} requested`}`
      : `${head} would be exceeded: ${tail ?? `${formatUsd(spent)} spent${inFlight}, ${formatUsd(requested)} requested`}`;
  return {
    ok: false,
    code: why?.code ?? 'budget_exceeded',
    message,
    agentId,
    // The gate a runtime keeps until its panel first answers is no budget: it has no limit to say.
    limitMicros: c ? (c.key === null ? null : hard) : account.limit,
    spentMicros: spent,
    reservedMicros: account.reserved,
    requestedMicros: requested,
    exhausted: why ? false : exhausted,
    ...(c ? { central: { id: account.agentId, key: c.key, label: c.label } } : {}),
  };
}

/** The refusal for an agent the tracker has no budget for. */
export function unknownAgent(agentId: string, requested: Micros): BudgetRefusal {
  return {
    ok: false,
    code: 'unknown_agent',
    message: `no budget is registered for agent ${agentId}`,
    agentId,
    limitMicros: null,
    spentMicros: 0,
    reservedMicros: 0,
    requestedMicros: requested,
    exhausted: false,
  };
}
