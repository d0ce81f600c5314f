import Database from 'better-sqlite3';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GATEWAY_DEFAULTS } from '../../src/config/gateway.js';
import { agentToken, startTestRuntime, type TestRuntime } from '../helpers/runtime.js';

// Stored state per agent is bounded: a probe's $0.01 agent wrote 12 conversation item
// batches in 2 s and the state file grew 167 MB, charged nothing. Each agent's stored responses,
// conversations and their items are counted as stored (triggers in the state file) and a write
// past responses.max_stored_mb_per_agent or responses.max_stored_items_per_agent is a 400
// naming the key before anything is written or sent; other agents are not touched,
// deleting frees room, and the agent's status (the dashboard's Agent panel) says what it keeps.

let t: TestRuntime;
const MB = 1024 * 1024;

beforeAll(async () => {
  t = await startTestRuntime({
    config: {
      gateway: {
        ...GATEWAY_DEFAULTS,
        responses: { ...GATEWAY_DEFAULTS.responses, maxStoredBytes: 1 * MB, maxStoredItems: 40 },
      },
    },
  });
}, 30_000);
afterAll(async () => {
  await t?.stop();
});

const agent = async (name: string) => {
  const a = await agentToken(t, { name, budgetUsd: 0.01 });
  const call = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${t.rt.url}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: r.status, body: (await r.json()) as any };
  };
  const stored = async () => ((await (await t.api(`/api/agents/${a.agentId}/status`)).json()) as { stored: { bytes: number; items: number } }).stored;
  return { ...a, call, stored, client: new OpenAI({ apiKey: a.token, baseURL: `${t.rt.url}/v1`, maxRetries: 0 }) };
};
const batch = (n: number, size: number) => Array.from({ length: n }, (_, i) => ({ type: 'message', role: 'user', content: `${i} ${'x'.repeat(size)}` }));

/** The state file's own count of what each agent keeps, from the rows themselves. */
function recount(): Record<string, { bytes: number; items: number }> {
  const db = new Database(`${t.dir}/iron_state.db`, { readonly: true });
  try {
    const rows = db
      .prepare(
        `select agent_id, sum(b) as bytes, count(*) as items from (
           select agent_id, length(cast(body as blob)) as b from responses union all
           select agent_id, length(cast(body as blob)) from response_items union all
           select agent_id, length(cast(metadata as blob)) from conversations union all
           select agent_id, length(cast(body as blob)) from conversation_items) group by agent_id`,
      )
      .all() as Array<{ agent_id: string; bytes: number; items: number }>;
    const kept = db.prepare('select agent_id, bytes, items from stored_usage where items > 0 or bytes <> 0').all() as Array<{ agent_id: string; bytes: number; items: number }>;
    expect(Object.fromEntries(kept.map((r) => [r.agent_id, { bytes: r.bytes, items: r.items }]))).toEqual(Object.fromEntries(rows.map((r) => [r.agent_id, { bytes: r.bytes, items: r.items }])));
    return Object.fromEntries(rows.map((r) => [r.agent_id, { bytes: r.bytes, items: r.items }]));
  } finally {
    db.close();
  }
}

describe("an agent's stored state", () => {
  it('is refused past its bytes, whole and before any write; another agent is untouched; deleting frees room', async () => {
    const a = await agent('filler');
    const b = await agent('neighbour');
    const made = await a.call('POST', '/conversations', { items: batch(2, 100) });
    expect(made.status).toBe(200);
    const conv = made.body.id as string;
    // ~200 KB a batch as sent, ~270 KB as stored: the fourth no longer fits 1 MB.
    const answers: number[] = [];
    for (let i = 0; i < 6; i++) answers.push((await a.call('POST', `/conversations/${conv}/items`, { items: batch(4, 50_000) })).status);
    expect(answers.slice(0, 3)).toEqual([200, 200, 200]);
    expect(answers.slice(3)).toEqual([400, 400, 400]);
    const before = await a.stored();
    expect(before.bytes).toBeLessThanOrEqual(1 * MB);
    const refused = await a.call('POST', `/conversations/${conv}/items`, { items: batch(4, 50_000) });
    expect(refused.body.error.type).toBe('invalid_request_error');
    expect(refused.body.error.message).toMatch(
      /this agent keeps [\d.]+ MB and 15 items of stored responses and conversations; keeping this would pass its 1\.0 MB \(responses\.max_stored_mb_per_agent\)/,
    );
    // Nothing of the refused batches was written.
    expect(await a.stored()).toEqual(before);
    expect((await a.call('GET', `/conversations/${conv}/items?limit=100`)).body.data).toHaveLength(14);
    // A new conversation does not get around it; a Responses turn that would be kept neither, and is never sent (no charge).
    expect((await a.call('POST', '/conversations', { items: batch(2, 200_000) })).status).toBe(400);
    const calls = async () => ((await (await t.api(`/api/agents/${a.agentId}/costs`)).json()) as { requests: number }).requests;
    const callsBefore = await calls();
    await expect(a.client.responses.create({ model: 'gpt-4o-mini', input: 'y'.repeat(300_000) })).rejects.toMatchObject({
      status: 400,
      message: expect.stringContaining('responses.max_stored_mb_per_agent'),
    });
    expect(await calls()).toBe(callsBefore);
    // store: false keeps nothing, so it is answered.
    expect((await a.client.responses.create({ model: 'gpt-4o-mini', input: 'hello', store: false })).status).toBe('completed');
    // The neighbour keeps its own share.
    expect((await b.call('POST', '/conversations', { items: batch(4, 50_000) })).status).toBe(200);
    recount();
    // Deleting the conversation frees the room (its items go with it).
    expect((await a.call('DELETE', `/conversations/${conv}`)).status).toBe(200);
    expect(await a.stored()).toEqual({ bytes: 0, items: 0 });
    expect((await a.call('POST', '/conversations', { items: batch(4, 50_000) })).status).toBe(200);
    recount();
  }, 60_000);

  it('is refused past its items, and counts stored responses (a turn, its items, one replaced by a reused id) exactly', async () => {
    const a = await agent('many-items');
    const r1 = await a.client.responses.create({ model: 'gpt-4o-mini', input: 'first' });
    await a.client.responses.create({ model: 'gpt-4o-mini', input: 'second', previous_response_id: r1.id });
    const after2 = await a.stored();
    expect(after2.items).toBeGreaterThanOrEqual(6);
    const conv = (await a.call('POST', '/conversations', {})).body.id as string;
    // Fill to the last item, at most 20 a call (OpenAI's limit), then one more is refused.
    for (let left = 40 - (await a.stored()).items; left > 0; left -= Math.min(left, 20)) {
      expect((await a.call('POST', `/conversations/${conv}/items`, { items: batch(Math.min(left, 20), 10) })).status).toBe(200);
    }
    const tooMany = await a.call('POST', `/conversations/${conv}/items`, { items: batch(1, 10) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.error.message).toContain('40 items (responses.max_stored_items_per_agent)');
    expect((await a.stored()).items).toBe(40);
    await a.client.responses.delete(r1.id);
    expect((await a.stored()).items).toBeLessThan(40);
    recount();
  }, 60_000);

  it('has safe defaults: 256 MB and 100,000 items an agent', () => {
    expect(GATEWAY_DEFAULTS.responses).toMatchObject({ maxStoredBytes: 256 * MB, maxStoredItems: 100_000 });
  });
});
