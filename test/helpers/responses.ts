import { expect } from 'vitest';
import { DEFAULTS } from '../../src/config/index.js';
import { WEATHER } from './compat.js';
import { sqliteOf } from './db.js';
import type { TestRuntime } from './runtime.js';

// What the suites of the gateway's kept state (stored responses, conversations) share: an
// instant simulated provider, the weather tool in the Responses API's shape, the ledger.

/** A runtime whose simulated provider answers at once and never fails. */
export const INSTANT_SIMULATED = {
  gateway: { ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] } } },
};

/** The compatibility suites' weather tool, as a Responses API function tool. */
export const RESPONSES_WEATHER_TOOL = {
  type: 'function' as const,
  name: WEATHER.name,
  description: WEATHER.description,
  strict: false,
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] },
};

export interface LedgerRow {
  endpoint: string;
  status: string;
  prompt_tokens: number;
  completion_tokens: number;
  cost_micros: number;
}

/** An agent's `llm_requests` rows, oldest first. */
export const ledgerOf = (t: TestRuntime, agentId: string): LedgerRow[] => sqliteOf(t.rt.state).prepare('SELECT * FROM llm_requests WHERE agent_id = ? ORDER BY id').all(agentId) as LedgerRow[];

/** Every row answered and charged, each turn's prompt at least the last one's prompt and answer: the context so far was sent and counted. */
export function expectGrowingContext(rows: LedgerRow[]): void {
  for (const r of rows) expect(r).toMatchObject({ endpoint: 'responses', status: 'ok' });
  for (let i = 1; i < rows.length; i++) {
    expect(rows[i]!.prompt_tokens).toBeGreaterThan(rows[i - 1]!.prompt_tokens + rows[i - 1]!.completion_tokens - 1);
    expect(rows[i]!.cost_micros).toBeGreaterThan(0);
  }
}
