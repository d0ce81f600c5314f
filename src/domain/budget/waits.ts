import type { Micros } from '../../core/money.js';
import { refusal, type BudgetRefusal, type Account, type ReserveGranted, type ReserveResult } from './account.js';

// The wait queue for budget headroom. Reservations hold a call's worst case, so 16 concurrent
// calls can hold most of a budget while almost none of it is spent. A call that cannot reserve
// only because of those holds waits for them to settle (first come, first served) instead of
// being refused; it is refused only when the settled spend plus its own need would pass the
// limit, when it has waited the whole bound, or when too many calls already wait.

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

/**
 * What the head of the queue can have now. Its whole worst case when that fits what no open
 * reservation holds; else wait, if settled spend alone leaves room for it (the holds will settle
 * for less than they hold, or at worst for all of it, and free the rest); else, when it may be
 * clamped, whatever is free down to its minimum once no call is in flight (waiting until then); else
 * nothing: its need passes the limit whatever the in-flight calls end up costing.
 *
 * @example
 *   decide(account, 20_000, 20_000) // { kind: 'wait' } while 16 holds fill a $0.10 budget
 */
export function decide(account: Account, full: Micros, min: Micros): Decision {
  if (account.limit === null) return { kind: 'grant', amount: full };
  const spent = account.settled + account.overshoot;
  const free = account.limit - spent - account.reserved;
  if (free >= full) return { kind: 'grant', amount: full };
  if (spent + full <= account.limit) return { kind: 'wait' };
  // Clamp only what can never come back: while calls are in flight their holds may settle for
  // less and free enough for more output, so wait for them; with none in flight, what is free is all there is.
  if (min < full && spent + min <= account.limit) return account.reserved === 0 && free >= min ? { kind: 'grant', amount: free } : { kind: 'wait' };
  return { kind: 'refuse' };
}

interface Waiter {
  readonly account: Account;
  readonly full: Micros;
  readonly min: Micros;
  readonly finish: (r: ReserveResult) => void;
}

/**
 * Per-agent FIFO queues of calls waiting for headroom. The tracker drains an agent's queue
 * whenever headroom may have come back (a settle, a release, a new limit); a call leaves it
 * granted, refused, timed out, or because its caller went away.
 */
export class WaitQueues {
  private readonly queues = new Map<string, Waiter[]>();

  constructor(private readonly grant: (account: Account, amount: Micros) => ReserveGranted) {}

  /** Whether calls wait for this agent (a newcomer then queues behind them, however small). */
  busy(agentId: string): boolean {
    return (this.queues.get(agentId)?.length ?? 0) > 0;
  }

  /** Queue a call (or refuse it at once when the bound allows no wait or the queue is full). */
  enqueue(account: Account, full: Micros, min: Micros, bound: WaitBound): ReserveResult | Promise<ReserveResult> {
    const spent = account.settled + account.overshoot;
    if (bound.timeoutMs <= 0) return refusal(account, spent, full);
    if (account.waiting >= bound.maxWaiting) {
      return refusal(account, spent, full, { code: 'queue_full', detail: `${account.waiting} calls already wait for in-flight requests to settle` });
    }
    if (bound.signal?.aborted) return refusal(account, spent, full, { code: 'aborted', detail: 'the caller went away before it could wait' });
    const q = this.queues.get(account.agentId) ?? [];
    this.queues.set(account.agentId, q);
    let position = 0;
    const waited = new Promise<ReserveResult>((resolve) => {
      const leave = (why: { code: 'wait_timeout' | 'aborted'; detail: string }) => {
        const i = q.indexOf(w);
        if (i < 0) return;
        q.splice(i, 1);
        account.waiting -= 1;
        w.finish(refusal(account, account.settled + account.overshoot, full, why));
        // The head leaving may let a smaller call behind it through.
        if (i === 0) this.drain(account);
      };
      const timer = setTimeout(() => leave({ code: 'wait_timeout', detail: `waited ${formatWait(bound.timeoutMs)} for in-flight requests to settle` }), bound.timeoutMs);
      timer.unref?.();
      const onAbort = () => leave({ code: 'aborted', detail: 'the caller went away while it waited' });
      bound.signal?.addEventListener('abort', onAbort, { once: true });
      const w: Waiter = {
        account,
        full,
        min,
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

  /** Let through, in order, every call at the head that can now be granted or must be refused. */
  drain(account: Account): void {
    const q = this.queues.get(account.agentId);
    if (!q) return;
    while (q.length > 0) {
      const w = q[0]!;
      const d = decide(account, w.full, w.min);
      if (d.kind === 'wait') break;
      q.shift();
      account.waiting -= 1;
      w.finish(d.kind === 'grant' ? this.grant(account, d.amount) : refusal(account, account.settled + account.overshoot, w.full));
    }
    if (q.length === 0) this.queues.delete(account.agentId);
  }

  /** The agent is gone: every waiting call is refused with `make(waiter's amount)`. */
  cancel(account: Account, make: (requested: Micros) => BudgetRefusal): void {
    const q = this.queues.get(account.agentId) ?? [];
    this.queues.delete(account.agentId);
    account.waiting = 0;
    for (const w of q) w.finish(make(w.full));
  }
}

function formatWait(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
