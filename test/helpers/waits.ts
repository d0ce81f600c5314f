import { BudgetTracker, type ReserveResult } from '../../src/domain/budget/index.js';

/** Bounds long enough that no test call times out of the wait queue. */
export const LONG = { timeoutMs: 60_000, maxWaiting: 100 };

/** A tracker with agent `a` on a limit of `limit` micro-dollars. */
export function tracker(limit: number): BudgetTracker {
  const t = new BudgetTracker();
  t.setLimit('a', limit);
  return t;
}

/** The grant an `acquire` must give at once (no wait, no refusal). */
export const granted = (r: ReserveResult | Promise<ReserveResult>) => {
  if (r instanceof Promise || !r.ok) throw new Error(`expected an immediate grant, got ${r instanceof Promise ? 'a wait' : r.message}`);
  return r;
};
