import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INSTANT_SIMULATED, ledgerOf } from '../helpers/responses.js';
import { agentToken, startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';

// Stored state (a conversation, a chain of previous responses, item references) is prompt the
// agent did not send: the budget's worst case must count it, and one small request must not
// expand it without bound. Through the official openai client against a real runtime on the
// simulated provider, which bills the prompt it was actually given.

let t: TestRuntime;
let dir: { dir: string; cleanup: () => void };
beforeAll(async () => {
  dir = tempDir();
  // Small expansion limits, so the bound is reached with test-sized items.
  t = await startTestRuntime({
    config: { gateway: { ...INSTANT_SIMULATED.gateway, responses: { ...INSTANT_SIMULATED.gateway.responses, maxReferences: 50, maxContextBytes: 3 * 1024 * 1024 } } },
    dir: dir.dir,
  });
});
afterAll(async () => {
  await t?.stop();
  dir?.cleanup();
});

/** About `kb` KB of prose (a token every ~5 characters). */
const prose = (kb: number) => 'the quick brown fox jumps over the lazy dog and '.repeat(Math.ceil((kb * 1024) / 48));
const spentMicros = (agentId: string) => ledgerOf(t, agentId).reduce((n, r) => n + r.cost_micros, 0);
const clientOf = (token: string) => new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: token, maxRetries: 0 });
const statusOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 200;
  } catch (e) {
    return (e as { status?: number }).status ?? -1;
  }
};

describe('stored context in the budget', () => {
  it('references to a stored item are priced before the call: a $0.05 agent is refused, not charged $1+', async () => {
    const a = await agentToken(t, { budgetUsd: 0.05 });
    const c = clientOf(a.token);
    // Storing is free: one ~300 KB item in a conversation.
    const conv = await c.conversations.create({ items: [{ type: 'message', role: 'user', content: prose(300) }] });
    const items = await c.conversations.items.list(conv.id);
    const itemId = items.data[0]!.id!;
    // Ten references: ~3 MB of prompt, ~600k tokens, $1.50 on gpt-4o.
    const refs = Array.from({ length: 10 }, () => ({ type: 'item_reference' as const, id: itemId }));
    const status = await statusOf(c.responses.create({ model: 'gpt-4o', input: [...refs.slice(0, 9), { role: 'user', content: 'sum it up' }] as never }));
    expect(status).toBe(402);
    expect(spentMicros(a.agentId)).toBeLessThanOrEqual(50_000);
  });

  it('a conversation as context is priced whole, streamed or not', async () => {
    const a = await agentToken(t, { budgetUsd: 0.05 });
    const c = clientOf(a.token);
    const conv = await c.conversations.create({
      items: [
        { type: 'message', role: 'user', content: prose(400) },
        { type: 'message', role: 'user', content: prose(400) },
      ],
    });
    expect(await statusOf(c.responses.create({ model: 'gpt-4o', conversation: conv.id, input: 'and then?' }))).toBe(402);
    expect(await statusOf(c.responses.stream({ model: 'gpt-4o', conversation: conv.id, input: 'and then?' }).finalResponse())).toBe(402);
    expect(spentMicros(a.agentId)).toBe(0);
  });

  it('a chain of previous responses is priced whole: the continued turn that no longer fits is refused', async () => {
    // Turn 1 (~100 KB of prompt, ~21k tokens, ~$0.05 on gpt-4o) fits a $0.09 budget; turn 2 carries it again and does not.
    const a = await agentToken(t, { budgetUsd: 0.09 });
    const c = clientOf(a.token);
    const first = await c.responses.create({ model: 'gpt-4o', input: prose(100), max_output_tokens: 16 });
    expect(first.id).toBeTruthy();
    const after1 = spentMicros(a.agentId);
    expect(after1).toBeGreaterThan(40_000);
    const status = await statusOf(c.responses.create({ model: 'gpt-4o', previous_response_id: first.id, input: 'and then?', max_output_tokens: 16 }));
    expect(status).toBe(402);
    expect(spentMicros(a.agentId)).toBe(after1);
  });
});

describe('what one request may expand to', () => {
  it('refuses, before opening anything, a request whose references would expand past responses.max_context_mb', async () => {
    const a = await agentToken(t, { budgetUsd: 1000 });
    const c = clientOf(a.token);
    const conv = await c.conversations.create({ items: [{ type: 'message', role: 'user', content: prose(400) }] });
    const itemId = (await c.conversations.items.list(conv.id)).data[0]!.id!;
    const before = ledgerOf(t, a.agentId).length;
    const rss = process.memoryUsage().rss;
    // 40 references to a 400 KB item: 16 MB from a request of 2 KB.
    const refs = Array.from({ length: 40 }, () => ({ type: 'item_reference', id: itemId }));
    const r = await fetch(`${t.rt.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', input: refs }),
    });
    expect(r.status).toBe(400);
    const { error } = (await r.json()) as { error: { message: string; type: string } };
    expect(error.type).toBe('invalid_request_error');
    expect(error.message).toMatch(/more than 3\.0 MB \(responses\.max_context_mb\)/);
    // Nothing was sent, charged or written, and the runtime did not swell to hold the expansion.
    expect(ledgerOf(t, a.agentId).length).toBe(before);
    expect(process.memoryUsage().rss - rss).toBeLessThan(64 * 1024 * 1024);

    // The same bound holds in a conversation's items batch (at most 20 items: 9 references, 3.6 MB).
    const batch = await fetch(`${t.rt.url}/v1/conversations/${conv.id}/items`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ items: refs.slice(0, 9) }),
    });
    expect(batch.status).toBe(400);
    expect(((await batch.json()) as { error: { message: string } }).error.message).toMatch(/responses\.max_context_mb/);
    expect((await c.conversations.items.list(conv.id)).data).toHaveLength(1);
  });

  it('refuses more item references than responses.max_references, and a chain or conversation too large as context', async () => {
    const a = await agentToken(t, { budgetUsd: 1000 });
    const c = clientOf(a.token);
    const conv = await c.conversations.create({ items: [{ type: 'message', role: 'user', content: 'hi' }] });
    const itemId = (await c.conversations.items.list(conv.id)).data[0]!.id!;
    const many = Array.from({ length: 51 }, () => ({ type: 'item_reference', id: itemId }));
    const r = await fetch(`${t.rt.url}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o', input: many }),
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { message: string } }).error.message).toMatch(/51 item references in one request; at most 50 \(responses\.max_references\)/);

    // A conversation grown past the bound (items added in batches under it) is refused as a turn's context.
    for (let i = 0; i < 4; i++) await c.conversations.items.create(conv.id, { items: [{ type: 'message', role: 'user', content: prose(900) }] });
    expect(await statusOf(c.responses.create({ model: 'gpt-4o', conversation: conv.id, input: 'and then?' }))).toBe(400);

    // Within the bounds, references still work and are billed for what they carry.
    const ok = await c.responses.create({
      model: 'gpt-4o-mini',
      input: [
        { type: 'item_reference', id: itemId },
        { role: 'user', content: 'Repeat exactly: fine' },
      ] as never,
    });
    expect(ok.output_text).toBe('fine');
  });
});
