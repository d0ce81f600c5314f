import type { EventType } from '../../core/events.js';

// A call the cage refused is an outcome of its own, neither a success nor an error of
// the agent's or of a service: counted as "refused" wherever calls are counted (the dashboard,
// the run summary, the panel's agents and runtimes, /metrics). What counts as one is said here;
// the panel's trigger (migration pg/0019_agent_refusals.sql) says the same in SQL.

/** Events that each stand for one refused call. */
export const REFUSAL_EVENTS = ['budget.refused', 'tool.refused'] as const satisfies readonly EventType[];

/** `policy.decision` actions that refused the call (a deny, or over the rule's rate). */
export const REFUSING_POLICY_ACTIONS = ['deny', 'rate_limited'] as const;

/** The ledger status of an LLM call the cage refused after it was priced (PII blocked it). */
export const REFUSED_LEDGER_STATUS = 'blocked';

/** Whether an event stands for a refused call. */
export function isRefusal(type: string, data: unknown): boolean {
  if ((REFUSAL_EVENTS as readonly string[]).includes(type)) return true;
  if (type !== 'policy.decision' || data === null || typeof data !== 'object') return false;
  return (REFUSING_POLICY_ACTIONS as readonly string[]).includes(String((data as { action?: unknown }).action));
}

/** An agent's LLM calls by outcome: on the ledger (sent, or priced and blocked), refused, failed. */
export interface LlmOutcomes {
  /** Rows on the ledger (a PII-blocked call included: it was priced). */
  calls: number;
  /** Refused by the budget (no row) or blocked for PII (a `blocked` row). */
  refused: number;
  /** Rows that failed: neither ok, blocked nor pending. */
  errors: number;
}

/**
 * The outcomes of an agent's LLM calls from its ledger's counts by status and the calls its budget
 * refused (events, no rows): what the dashboard's Cost panel and the run summary both say.
 *
 * @example llmOutcomes({ ok: 20, blocked: 1, error: 2 }, 19) // { calls: 23, refused: 20, errors: 2 }
 */
export function llmOutcomes(byStatus: Readonly<Record<string, number>>, budgetRefused: number): LlmOutcomes {
  let calls = 0;
  let errors = 0;
  for (const [status, n] of Object.entries(byStatus)) {
    if (status === 'pending') continue;
    calls += n;
    if (status !== 'ok' && status !== REFUSED_LEDGER_STATUS) errors += n;
  }
  return { calls, refused: budgetRefused + (byStatus[REFUSED_LEDGER_STATUS] ?? 0), errors };
}
