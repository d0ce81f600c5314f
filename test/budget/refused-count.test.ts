import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { llmOutcomes } from '../../src/domain/outcomes/index.js';
import { fetchRunSummary, refusedRows, summaryRows } from '../../src/runtime/index.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';

// Calls the budget refused count somewhere, as refusals, never errors. They are no ledger row (never
// sent), so the costs say them beside the requests, and `start`'s run summary has a row.

let t: TestRuntime;
let a: AgentToken;
beforeAll(async () => {
  t = await startTestRuntime();
  a = await agentToken(t, { budgetUsd: 0.00001 });
});
afterAll(async () => {
  await t?.stop();
});

describe('refused calls', () => {
  it('are counted in the costs and said in the run summary', async () => {
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'write me a long essay' }], max_tokens: 4000 }),
      });
      expect(r.status).toBe(402);
    }
    const costs = await until(async () => {
      const c = (await (await t.api(`/api/agents/${a.agentId}/costs`)).json()) as any;
      return c.refused === 3 ? c : null;
    });
    expect(costs).toMatchObject({ requests: 0, refused: 3 });
    const s = await fetchRunSummary({ url: t.rt.url, adminToken: t.rt.adminToken, agentId: a.agentId, runTimeMs: 1000 });
    expect(summaryRows(s)).toContainEqual(['Refused', '3 LLM calls: 3 the budget did not cover (never sent)']);
  });
});

describe('llmOutcomes and the Refused row: one count of refused calls for the dashboard and the summary', () => {
  it('counts budget refusals and PII blocks as refused, never as errors; pending rows not at all', () => {
    expect(llmOutcomes({ ok: 20, blocked: 1, error: 2, aborted: 1, pending: 3 }, 19)).toEqual({ calls: 24, refused: 20, errors: 3 });
    expect(llmOutcomes({}, 0)).toEqual({ calls: 0, refused: 0, errors: 0 });
    expect(refusedRows({ refused: 0, blocked: 0 })).toEqual([]);
    expect(refusedRows({ refused: 18, blocked: 1 })).toEqual([['Refused', '19 LLM calls: 18 the budget did not cover (never sent), 1 blocked for PII']]);
    expect(refusedRows({ refused: 0, blocked: 1 })).toEqual([['Refused', '1 LLM call: 1 blocked for PII']]);
  });
});
