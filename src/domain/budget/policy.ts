import type { Micros } from '../../core/money.js';
import type { BudgetRefusal, BudgetSnapshot } from './account.js';

/**
 * Reservations leave crumbs: once this share of a budget is spent, a call it cannot pay for
 * means the budget is exhausted for practical purposes. A single oversized call with plenty
 * left is not.
 */
const NEARLY_SPENT = 0.95;

/** What happens to an agent whose budget is exhausted: stopped, or kept running with its calls refused. */
export type ExhaustedAction = 'stop' | 'refuse';

/** The tenth of the budget spent, 0 to 10; 0 without a (positive) limit. */
function spentDecile(spentMicros: Micros, limitMicros: Micros | null): number {
  return limitMicros ? Math.min(10, Math.floor((spentMicros * 10) / limitMicros)) : 0;
}

/**
 * The budget decisions beyond the tracker's arithmetic: when a budget counts as exhausted, what
 * to do then (once per exhaustion), and which 10% steps of spend to announce (once each). The
 * caller persists, announces and acts on the answers.
 */
export class BudgetPolicy {
  private readonly exhausted = new Set<string>();
  /** The last tenth of each budget announced. */
  private readonly deciles = new Map<string, number>();

  constructor(readonly onExhausted: ExhaustedAction) {}

  /** Whether a refused reservation means the budget is used up, not just that this call is too big. */
  refusalExhausts(r: BudgetRefusal): boolean {
    // A call that waited too long, or found the queue full, says nothing about what is left; a
    // central budget's refusal says nothing about the agent's own (the panel says when it is exhausted).
    if (r.code !== 'budget_exceeded' || r.central) return false;
    return r.exhausted || (r.limitMicros !== null && r.spentMicros >= r.limitMicros * NEARLY_SPENT);
  }

  /** The action for an exhausted budget the first time; null while that exhaustion was already handled. */
  exhaust(agentId: string): ExhaustedAction | null {
    if (this.exhausted.has(agentId)) return null;
    this.exhausted.add(agentId);
    return this.onExhausted;
  }

  /**
   * A limit was set, changed or restored: progress counts from the spend as it is now (nothing
   * to announce for steps already behind), and a budget no longer exhausted may be exhausted again.
   */
  limitChanged(agentId: string, s: Pick<BudgetSnapshot, 'spentMicros' | 'limitMicros' | 'state'>): void {
    if (s.limitMicros === null || s.state !== 'exhausted') this.exhausted.delete(agentId);
    this.deciles.set(agentId, spentDecile(s.spentMicros, s.limitMicros));
  }

  /** The 10% step newly reached by this spend, once per step; null when nothing new to announce. */
  progressStep(agentId: string, spentMicros: Micros, limitMicros: Micros | null): number | null {
    if (limitMicros === null || limitMicros <= 0) return null;
    const decile = spentDecile(spentMicros, limitMicros);
    if (decile <= (this.deciles.get(agentId) ?? 0)) return null;
    this.deciles.set(agentId, decile);
    return decile;
  }
}
