import { formatUsd, MICROS_PER_USD } from '../../core/money.js';
import { MAX_USD } from '../../core/validation.js';
import type * as schema from '../schema.js';

// A stored row that breaks today's rules (written by an older version, another tool, or a
// boundary that once let it through) must not refuse the whole database at start-up: it is
// repaired in memory, the way the row says below, and the operator is told which row and why.
// The file itself is left as it is until someone changes that agent.

const MAX_MICROS = MAX_USD * MICROS_PER_USD;

/**
 * The agent row as the rest of the program may trust it, and one warning per value repaired,
 * to `warn`, naming the table, the row's id, the column and the stored value. A budget limit outside
 * 0…$1,000,000 or not a whole number of micro-dollars is clamped into that range (an
 * unreadable one becomes $0: nothing is spent until an admin sets a budget, rather than an
 * unlimited one); unreadable `args` become [].
 *
 * @example
 *   agents.set(stored.id, repairAgentRow(stored, (m) => logger.warn(m)));
 */
export function repairAgentRow(stored: schema.AgentRow, warn: (message: string) => void): schema.AgentRow {
  const at = (column: string, value: unknown) => `agents row ${JSON.stringify(stored.id)}: ${column} ${String(value)}`;
  let row = stored;
  const limit: unknown = stored.limitMicros;
  if (limit !== null && !(Number.isSafeInteger(limit) && (limit as number) >= 0 && (limit as number) <= MAX_MICROS)) {
    const n = typeof limit === 'number' && !Number.isNaN(limit) ? limit : 0;
    const fixed = Math.round(Math.min(Math.max(n, 0), MAX_MICROS));
    row = { ...row, limitMicros: fixed };
    warn(`${at('limit_micros', limit)} is not a budget between $0 and ${formatUsd(MAX_MICROS)}; using ${formatUsd(fixed)} until an admin sets it again`);
  }
  if (!isStringArray(stored.args)) {
    row = { ...row, args: '[]' };
    warn(`${at('args', JSON.stringify(stored.args).slice(0, 80))} is not a JSON list of strings; using []`);
  }
  return row;
}

/**
 * An agent's recorded spend (the sum of its `cost_micros` in `table`) as a whole, safe number
 * of micro-dollars: a sum outside that (a provider that reported absurd usage, a row edited by
 * hand) is clamped into 0…Number.MAX_SAFE_INTEGER, which leaves the budget exhausted rather
 * than refusing the database.
 *
 * @example
 *   repairSpend('lg-1', 1e306, warn) // Number.MAX_SAFE_INTEGER, and a warning naming the agent
 */
export function repairSpend(agentId: string, total: number, warn: (message: string) => void, table: 'llm_requests' | 'llm_totals' = 'llm_requests'): number {
  if (Number.isSafeInteger(total) && total >= 0) return total;
  const fixed = Number.isNaN(total) ? 0 : Math.round(Math.min(Math.max(total, 0), Number.MAX_SAFE_INTEGER));
  warn(`${table} rows of agent ${JSON.stringify(agentId)}: cost_micros sum to ${String(total)}, not a whole number of micro-dollars in range; counting ${formatUsd(fixed)}`);
  return fixed;
}

function isStringArray(text: unknown): boolean {
  if (typeof text !== 'string') return false;
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) && v.every((a) => typeof a === 'string');
  } catch {
    return false;
  }
}
