import { ConflictError } from '../core/errors.js';
import { formatUsd, type Micros } from '../core/money.js';
import type { BudgetTracker } from '../domain/budget/index.js';
import type { RequestsStore, StateManager } from '../state/index.js';
import type { BudgetNotices } from './notices.js';

/**
 * Every agent's budget as the process keeps it: rebuilt from the recorded requests at start,
 * registered for an agent seen for the first time, and changed live by an admin. The tracker
 * (domain/budget) does the arithmetic, the agents table keeps the limit, BudgetNotices says so.
 */
export class Budgets {
  constructor(private readonly d: { state: StateManager; tracker: BudgetTracker; requests: RequestsStore; notices: BudgetNotices }) {}

  get tracker(): BudgetTracker {
    return this.d.tracker;
  }

  /**
   * Rebuild every account from the recorded requests, the truth after a restart or a kill -9:
   * a stream left `pending` by a process that died counts at its reservation.
   */
  restore(): void {
    this.d.requests.settleInterrupted();
    const spent = this.d.requests.spendByAgent();
    for (const a of this.d.state.listAgents()) {
      const limitMicros = this.d.state.agentBrief(a.id)?.limitMicros ?? null;
      this.d.notices.limitChanged(a.id, this.d.tracker.restore(a.id, { limitMicros, spentMicros: spent.get(a.id) ?? 0 }).snapshot);
    }
  }

  /** An agent the tracker has not seen (just started, or created by another process) gets its account. */
  ensure(agentId: string, limitMicros: Micros | null): void {
    if (!this.d.tracker.has(agentId)) this.d.tracker.setLimit(agentId, limitMicros);
  }

  /**
   * Raise or lower an agent's limit live: the account first (it refuses a limit below what is
   * spent), then the agent's row with its `budget.changed` event, then any threshold a lowered
   * limit crossed. `expectedMicros` (undefined: not checked) is the limit the caller decided
   * from: when the limit is no longer that one, the change was decided on a stale view (an
   * approval someone else already gave) and nothing is written. Throws ConflictError.
   *
   * @example
   *   budgets.setLimit('lg-1', 75_000_000, 'admin ops', 50_000_000); // ConflictError 'stale' once it is $75
   */
  setLimit(agentId: string, limitMicros: Micros | null, by: string, expectedMicros?: Micros | null): void {
    const before = this.d.tracker.snapshot(agentId)?.limitMicros ?? null;
    // Checked and set with no await between them: no other change can come in between.
    if (expectedMicros !== undefined && expectedMicros !== before) throw new ConflictError(staleLimit(before, expectedMicros, limitMicros), 'stale');
    const r = this.d.tracker.setLimit(agentId, limitMicros);
    if (!r.ok) throw new ConflictError(r.message);
    this.d.notices.limitChanged(agentId, r.snapshot);
    this.d.state.updateAgent(agentId, { limitMicros }, this.d.notices.limitEvent(before, limitMicros, by));
    this.d.notices.crossed(r.notices);
  }
}

const limitText = (m: Micros | null) => (m === null ? 'no limit' : formatUsd(m));

/** Why a change decided from `expected` is refused now that the limit is `current`. */
function staleLimit(current: Micros | null, expected: Micros | null, wanted: Micros | null): string {
  const now = current === wanted ? `is already ${limitText(current)}` : `is ${limitText(current)}`;
  return `budget not changed: the limit ${now}, not the expected ${limitText(expected)} (it changed since this change was decided); decide again from the current limit`;
}
