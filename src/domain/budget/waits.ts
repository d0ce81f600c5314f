import type { Micros } from '../../core/money.js';
import { refusal, type Account, type BudgetRefusal, type ReserveGranted, type ReserveResult, type WaitWhy } from './account.js';

// The wait queue for budget headroom. Reservations hold a call's worst case, so 16 concurrent
// calls can hold most of a budget while almost none of it is spent. A call that cannot reserve
// only because of those holds waits for them to settle (first come, first served) instead of
// being refused; it is refused only when the settled spend plus its own need would pass the
// limit, when it has waited the whole bound, or when too many calls already wait.
//
// A call is taken from a chain of accounts: its agent's, then each central budget's account the
// agent is linked to (a lease from a control panel, see tracker.ts). It is granted only when
// every account of the chain can grant it, waits while any of them says wait, and is refused
// when one of them can never cover it. A central account is shared by the agents linked to it:
// a change to it drains every agent queue whose head needs it, oldest call first, and a call
// never passes an older one that waits on the same central account.

/** How long and how many calls may wait for an agent's headroom. */
export interface WaitBound {
  /** 0: never wait (refuse at once, the behaviour before the queue). */
  timeoutMs: number;
  /** Calls that may wait at once per agent; the next one is refused. */
  maxWaiting: number;
  /** The caller went away: it leaves the queue. */
  signal?: AbortSignal;
  /** Told once when the call starts to wait, with its place in the queue (1 = next). */
  onWait?: (position: number) => void;
}

/** What a call asks for: its worst case, and (near_limit: clamp) the least it can run with. */
export interface AcquireRequest {
  amountMicros: Micros;
  /** Defaults to `amountMicros`: the call runs whole or not at all. */
  minMicros?: Micros;
}

type Decision = { kind: 'grant'; amount: Micros } | { kind: 'wait' } | { kind: 'refuse' };

/** A chain's answer: what to grant, or the accounts it waits on, or the one that refuses it. */
export type ChainDecision = { kind: 'grant'; amount: Micros } | { kind: 'wait'; on: Account[] } | { kind: 'refuse'; on: Account };

/**
 * What one more reservation may take from an account now: its limit less spend and holds (no
 * bound without a limit); nothing from a central account whose lease is not known to hold (the
 * panel stopped answering: spend stays within what the last lease covered).
 */
export function freeOf(account: Account): Micros {
  if (account.limit === null) return Number.POSITIVE_INFINITY;
  if (account.central?.unavailableSince != null) return 0;
  return account.limit - account.settled - account.overshoot - account.reserved;
}

/**
 * What the head of the queue can have now from one account. Its whole worst case when that fits
 * what no open reservation holds; else wait, if settled spend alone leaves room for it (the holds
 * will settle for less than they hold, or at worst for all of it, and free the rest; on a central
 * account, up to its ceiling: the panel may lease more); else, when it may be clamped, whatever is
 * free down to its minimum once no call is in flight (waiting until then); else nothing: its need
 * passes the limit whatever the in-flight calls end up costing.
 *
 * @example
 *   decide(account, 20_000, 20_000) // { kind: 'wait' } while 16 holds fill a $0.10 budget
 */
export function decide(account: Account, full: Micros, min: Micros): Decision {
  if (account.limit === null) return { kind: 'grant', amount: full };
  const spent = account.settled + account.overshoot;
  const free = freeOf(account);
  if (free >= full) return { kind: 'grant', amount: full };
  // A central account's limit is its lease (soft); what could ever be spent is its ceiling.
  const hard = Math.max(account.limit, account.central?.ceiling ?? account.limit);
  if (spent + full <= hard) return { kind: 'wait' };
  // Clamp only what can never come back: while calls are in flight their holds may settle for
  // less and free enough for more output, so wait for them; with none in flight, what is free is all there is.
  if (min < full && spent + min <= hard) return account.reserved === 0 && free >= min ? { kind: 'grant', amount: free } : { kind: 'wait' };
  return { kind: 'refuse' };
}

/**
 * The chain's answer: refused if any account refuses, else waiting on every account that says
 * wait, else granted the least any account grants (a clamp takes the least free across it).
 *
 * @example
 *   decideChain([agent, team], 20_000, 20_000) // { kind: 'wait', on: [team] } while the team's lease is short
 */
export function decideChain(chain: readonly Account[], full: Micros, min: Micros): ChainDecision {
  let amount = full;
  const on: Account[] = [];
  for (const a of chain) {
    const d = decide(a, full, min);
    if (d.kind === 'refuse') return { kind: 'refuse', on: a };
    if (d.kind === 'wait') on.push(a);
    else amount = Math.min(amount, d.amount);
  }
  return on.length > 0 ? { kind: 'wait', on } : { kind: 'grant', amount };
}

interface Waiter {
  readonly account: Account;
  /** The central accounts it is taken from: fixed (a fallback's extra, for its reservation's chain), or null: the agent's links when it is decided. */
  readonly links: readonly Account[] | null;
  readonly full: Micros;
  readonly min: Micros;
  /** Arrival order across every queue (first come, first served on a shared central account). */
  readonly seq: number;
  readonly finish: (r: ReserveResult) => void;
}

const chainOf = (w: Waiter): Account[] => [w.account, ...(w.links ?? w.account.links)];

/**
 * Per-agent FIFO queues of calls waiting for headroom. The tracker drains the accounts whose
 * headroom may have come back (a settle, a release, a new limit or lease); a call leaves its
 * queue granted, refused, timed out, or because its caller went away.
 */
export class WaitQueues {
  private readonly queues = new Map<Account, Waiter[]>();
  private seq = 0;

  constructor(private readonly grant: (account: Account, links: readonly Account[], amount: Micros) => ReserveGranted) {}

  /** Whether calls wait for this agent (a newcomer then queues behind them, however small). */
  busy(account: Account): boolean {
    return (this.queues.get(account)?.length ?? 0) > 0;
  }

  /** Whether an older call of another agent waits on one of these central accounts (a newcomer must not pass it). */
  heldUp(links: readonly Account[]): boolean {
    if (links.length === 0 || this.queues.size === 0) return false;
    for (const q of this.queues.values()) {
      const w = q[0];
      if (w === undefined) continue;
      const chain = chainOf(w);
      if (links.some((c) => chain.includes(c) && decide(c, w.full, w.min).kind !== 'grant')) return true;
    }
    return false;
  }

  /**
   * What the oldest waiting call of an agent waits for: the accounts of its chain that do not
   * grant it now (its agent's own, held by in-flight calls; a central budget's lease). Empty when
   * none waits.
   */
  blockers(account: Account): Account[] {
    const w = this.queues.get(account)?.[0];
    if (w === undefined) return [];
    return chainOf(w).filter((a) => decide(a, w.full, w.min).kind !== 'grant');
  }

  /** The calls waiting on a central account: how many, the largest worst case, and their sum. */
  waitingOn(central: Account): { waiting: number; need: Micros; needSum: Micros } {
    let waiting = 0;
    let need = 0;
    let needSum = 0;
    for (const q of this.queues.values())
      for (const w of q) {
        if (!(w.links ?? w.account.links).includes(central)) continue;
        waiting += 1;
        need = Math.max(need, w.full);
        needSum += w.full;
      }
    return { waiting, need, needSum };
  }

  /** Queue a call (or refuse it at once when the bound allows no wait or the queue is full). */
  enqueue(account: Account, links: readonly Account[] | null, full: Micros, min: Micros, bound: WaitBound): ReserveResult | Promise<ReserveResult> {
    const spent = account.settled + account.overshoot;
    if (bound.timeoutMs <= 0) return this.blocked(account, links, full, min, null);
    if (account.waiting >= bound.maxWaiting) {
      return refusal(account, spent, full, { code: 'queue_full', detail: `${account.waiting} calls already wait for in-flight requests to settle` });
    }
    if (bound.signal?.aborted) return refusal(account, spent, full, { code: 'aborted', detail: 'the caller went away before it could wait' });
    const q = this.queues.get(account) ?? [];
    this.queues.set(account, q);
    let position = 0;
    const waited = new Promise<ReserveResult>((resolve) => {
      const leave = (why: 'timeout' | 'aborted') => {
        const i = q.indexOf(w);
        if (i < 0) return;
        q.splice(i, 1);
        account.waiting -= 1;
        if (q.length === 0 && this.queues.get(account) === q) this.queues.delete(account);
        w.finish(
          why === 'aborted'
            ? refusal(account, account.settled + account.overshoot, full, { code: 'aborted', detail: 'the caller went away while it waited' })
            : this.blocked(account, links, full, min, bound.timeoutMs),
        );
        // The head leaving may let a smaller call behind it (or another agent's, on a shared account) through.
        if (i === 0) this.drain(chainOf(w));
      };
      const timer = setTimeout(() => leave('timeout'), bound.timeoutMs);
      timer.unref?.();
      const onAbort = () => leave('aborted');
      bound.signal?.addEventListener('abort', onAbort, { once: true });
      const w: Waiter = {
        account,
        links,
        full,
        min,
        seq: ++this.seq,
        finish: (r) => {
          clearTimeout(timer);
          bound.signal?.removeEventListener('abort', onAbort);
          resolve(r);
        },
      };
      q.push(w);
      account.waiting += 1;
      position = q.length;
    });
    // Told after the wait is fully set up: a hook that throws (an event write that failed) must
    // not leave a queued waiter nobody can resolve; the wait goes on without the notice.
    try {
      bound.onWait?.(position);
    } catch {
      /* the hook reports its own failures */
    }
    return waited;
  }

  /**
   * Let through, oldest first, every head that can now be granted or must be refused, in the
   * queues of the accounts given (an agent's account: its own queue; a central one: every queue
   * whose head needs it). A head that waits on a central account holds every younger call that
   * needs that account too: first come, first served on the shared budget.
   */
  drain(accounts: readonly Account[]): void {
    if (this.queues.size === 0) return;
    const qs = new Map<Waiter[], Account>();
    const central = accounts.filter((a) => a.central !== null);
    for (const a of accounts) {
      const q = a.central === null ? this.queues.get(a) : undefined;
      if (q) qs.set(q, a);
    }
    if (central.length > 0) for (const [a, q] of this.queues) if (q.some((w) => central.some((c) => chainOf(w).includes(c)))) qs.set(q, a);
    const stuck = new Set<Waiter[]>();
    const closed = new Set<Account>();
    for (;;) {
      let q: Waiter[] | undefined;
      for (const c of qs.keys()) if (c.length > 0 && !stuck.has(c) && (q === undefined || c[0]!.seq < q[0]!.seq)) q = c;
      if (q === undefined) break;
      const w = q[0]!;
      const chain = chainOf(w);
      if (chain.some((c) => closed.has(c))) {
        stuck.add(q);
        continue;
      }
      const d = decideChain(chain, w.full, w.min);
      if (d.kind === 'wait') {
        stuck.add(q);
        for (const c of d.on) if (c.central !== null) closed.add(c);
        continue;
      }
      q.shift();
      w.account.waiting -= 1;
      w.finish(d.kind === 'grant' ? this.grant(w.account, chain.slice(1), d.amount) : refusal(d.on, d.on.settled + d.on.overshoot, w.full, undefined, w.account.agentId));
    }
    for (const [q, a] of qs) if (q.length === 0 && this.queues.get(a) === q) this.queues.delete(a);
  }

  /** The agent is gone: every waiting call is refused with `make(waiter's amount)`. */
  cancel(account: Account, make: (requested: Micros) => BudgetRefusal): void {
    const q = this.queues.get(account) ?? [];
    this.queues.delete(account);
    account.waiting = 0;
    for (const w of q) w.finish(make(w.full));
    // Calls of other agents held behind these on a shared account may go now.
    if (q.length > 0) this.drain(account.links);
  }

  /**
   * The refusal of a call that cannot be granted now and may not (or no longer) wait: named after
   * the account it waits on. A central account it waited on the whole bound: no lease came
   * (`no_lease`, a budget answer); its own agent's holds: congestion (`wait_timeout`).
   */
  private blocked(account: Account, links: readonly Account[] | null, full: Micros, min: Micros, waitedMs: number | null): BudgetRefusal {
    const d = decideChain([account, ...(links ?? account.links)], full, min);
    const central = d.kind === 'wait' ? d.on.find((a) => a.central !== null) : d.kind === 'refuse' && d.on.central !== null ? d.on : undefined;
    if (central !== undefined) {
      const spent = central.settled + central.overshoot;
      const why: WaitWhy | undefined = d.kind === 'wait' ? { code: 'no_lease', detail: noLease(central, waitedMs) } : undefined;
      return refusal(central, spent, full, why, account.agentId);
    }
    const spent = account.settled + account.overshoot;
    if (waitedMs === null) return refusal(account, spent, full);
    return refusal(account, spent, full, { code: 'wait_timeout', detail: `waited ${formatWait(waitedMs)} for in-flight requests to settle` });
  }
}

/** Why a call waiting on a central account got no lease: the panel is not answering, or leased nothing more in time. */
function noLease(central: Account, waitedMs: number | null): string {
  const since = central.central?.unavailableSince ?? null;
  const waited = waitedMs === null ? '' : ` (waited ${formatWait(waitedMs)})`;
  if (since !== null) {
    const s = Math.max(0, Math.round((Date.now() - since) / 1000));
    return `the control panel has not answered for ${s} s, so no lease covers this call${waited}`;
  }
  return `no lease from the control panel covers this call${waited}`;
}

function formatWait(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
