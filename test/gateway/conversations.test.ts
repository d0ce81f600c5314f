import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import OpenAI from 'openai';
import { agentToken, startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';
import { WEATHER } from '../helpers/compat.js';
import { expectGrowingContext, INSTANT_SIMULATED, ledgerOf, RESPONSES_WEATHER_TOOL } from '../helpers/responses.js';

// The Conversations API through the official openai client (client.conversations.* and
// client.conversations.items.*), on the simulated provider: a conversation as the context of
// responses.create (whole and streamed, with a tool), its items and metadata, isolation between
// agents, a restart, and the refusals OpenAI gives.

let t: TestRuntime;
let dir: { dir: string; cleanup: () => void };
let me: { token: string; agentId: string };
let client: OpenAI;
beforeAll(async () => {
  dir = tempDir();
  t = await startTestRuntime({ config: INSTANT_SIMULATED, dir: dir.dir });
  me = await agentToken(t);
  client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: me.token, maxRetries: 0 });
});
afterAll(async () => {
  await t?.stop();
  dir?.cleanup();
});

const ledger = (agentId: string) => ledgerOf(t, agentId);
const textOf = (item: { type: string; content?: unknown }): string | null => (item.type === 'message' && Array.isArray(item.content) ? ((item.content[0] as { text?: string }).text ?? null) : null);
const raw = (path: string, init: RequestInit = {}, token = me.token) => fetch(`${t.rt.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } });

async function turn(c: OpenAI, conversation: string | { id: string }, input: string, stream: boolean, tools?: (typeof RESPONSES_WEATHER_TOOL)[]) {
  const body = { model: 'gpt-4o-mini', conversation, input, ...(tools ? { tools } : {}) };
  return stream ? c.responses.stream(body).finalResponse() : c.responses.create(body);
}

describe('responses.create({ conversation }) through openai-node', () => {
  it.each([false, true])('a conversation created with items carries 5 turns (stream: %s), each metered with the whole conversation', async (stream) => {
    const conv = await client.conversations.create({
      metadata: { topic: 'five turns' },
      items: [
        { type: 'message', role: 'developer', content: 'Answer briefly.' },
        { type: 'message', role: 'user', content: 'Remember the word kestrel.' },
      ],
    });
    expect(conv).toMatchObject({ object: 'conversation', metadata: { topic: 'five turns' } });
    expect(conv.id).toMatch(/^conv_/);
    expect(Math.abs(conv.created_at - Date.now() / 1000)).toBeLessThan(600);

    const before = ledger(me.agentId).length;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      // Both forms OpenAI takes: the id, or an object naming it.
      const r = await turn(client, i % 2 === 0 ? conv.id : { id: conv.id }, `Repeat exactly: turn ${i}`, stream);
      expect(r.output_text).toBe(`turn ${i}`);
      ids.push(r.id);
    }
    const rows = ledger(me.agentId).slice(before);
    expect(rows).toHaveLength(5);
    expectGrowingContext(rows);
    // The first turn already carried the two items the conversation was created with.
    const bare = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: turn 0' });
    expect(rows[0]!.prompt_tokens).toBeGreaterThan(ledger(me.agentId).at(-1)!.prompt_tokens);

    // The conversation holds its 2 items, then each turn's input and output, in order.
    const items = await client.conversations.items.list(conv.id, { order: 'asc', limit: 100 });
    expect(items.data).toHaveLength(12);
    expect(items.data.map(textOf)).toEqual(['Answer briefly.', 'Remember the word kestrel.', ...[0, 1, 2, 3, 4].flatMap((i) => [`Repeat exactly: turn ${i}`, `turn ${i}`])]);
    expect(items.data.slice(2).map((i) => (i.type === 'message' ? i.role : i.type))).toEqual(Array(5).fill(['user', 'assistant']).flat());
    // The response kept says which conversation it belongs to; the bare call is in none.
    const last = await client.responses.retrieve(ids[4]!);
    expect(last.conversation).toEqual({ id: conv.id });
    expect(last.usage!.input_tokens).toBe(rows[4]!.prompt_tokens);
    expect((await client.conversations.items.list(conv.id, { limit: 100 })).data).toHaveLength(12);
    expect(bare.output_text).toBe('turn 0');
  });

  it('a tool round trip inside a conversation: the call, its output and the answer are all items', async () => {
    const conv = await client.conversations.create();
    const first = await turn(client, conv.id, WEATHER.prompt, false, [RESPONSES_WEATHER_TOOL]);
    const call = first.output.find((o) => o.type === 'function_call');
    if (call?.type !== 'function_call') throw new Error('no function call');
    const second = await client.responses.create({
      model: 'gpt-4o-mini',
      conversation: conv.id,
      tools: [RESPONSES_WEATHER_TOOL],
      input: [{ type: 'function_call_output', call_id: call.call_id, output: JSON.stringify(WEATHER.result('Paris')) }],
    });
    expect(second.output.some((o) => o.type === 'message')).toBe(true);
    const third = await turn(client, conv.id, 'Repeat exactly: thanks', true, [RESPONSES_WEATHER_TOOL]);
    expect(third.output_text).toBe('thanks');
    expectGrowingContext(ledger(me.agentId).slice(-3));

    const items = (await client.conversations.items.list(conv.id, { order: 'asc' })).data;
    expect(items.map((i) => i.type)).toEqual(['message', 'function_call', 'function_call_output', 'message', 'message', 'message']);
    expect(items[1]).toMatchObject({ id: call.id, call_id: call.call_id, name: WEATHER.name });
    expect(items[2]).toMatchObject({ type: 'function_call_output', call_id: call.call_id });
    expect(items[2]!.id).toMatch(/^fco_/);
  });

  it('a Claude model on the Responses wire continues a conversation too (the simulated Anthropic provider)', async () => {
    const conv = await client.conversations.create({ items: [{ type: 'message', role: 'user', content: 'Remember the word kestrel.' }] });
    const before = ledger(me.agentId).length;
    for (let i = 0; i < 3; i++) {
      const r = await client.responses.create({ model: 'claude-3-5-haiku-latest', conversation: conv.id, input: `Repeat exactly: claude ${i}` });
      expect(r.output_text).toBe(`claude ${i}`);
    }
    expectGrowingContext(ledger(me.agentId).slice(before));
    expect((await client.conversations.items.list(conv.id, { limit: 100 })).data).toHaveLength(7);
  });

  it('conversation with previous_response_id is OpenAI 400; an unknown conversation its 404; nothing charged', async () => {
    const conv = await client.conversations.create();
    const prev = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
    const before = ledger(me.agentId).length;
    const both = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', conversation: conv.id, previous_response_id: prev.id }).catch((e: unknown) => e);
    expect(both).toBeInstanceOf(OpenAI.BadRequestError);
    expect((both as Error).message).toBe("400 Mutually exclusive parameters: Ensure you are only providing one of: 'previous_response_id' or 'conversation'.");
    const unknown = await client.responses
      .stream({ model: 'gpt-4o-mini', input: 'hi', conversation: 'conv_nope' })
      .finalResponse()
      .catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown as Error).message).toContain("Conversation with id 'conv_nope' not found.");
    expect(ledger(me.agentId)).toHaveLength(before);
    // Neither refused turn added anything to the conversation.
    expect((await client.conversations.items.list(conv.id)).data).toEqual([]);
  });
});

describe('the conversation routes as openai-node reads them', () => {
  it('retrieve, update (metadata) and delete', async () => {
    const conv = await client.conversations.create({ metadata: { owner: 'team-a' } });
    expect(await client.conversations.retrieve(conv.id)).toEqual(conv);
    const updated = await client.conversations.update(conv.id, { metadata: { owner: 'team-b', stage: 'review' } });
    expect(updated).toEqual({ ...conv, metadata: { owner: 'team-b', stage: 'review' } });
    expect((await client.conversations.retrieve(conv.id)).metadata).toEqual({ owner: 'team-b', stage: 'review' });
    // OpenAI's limits on metadata: 16 pairs, string values.
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    expect(await client.conversations.update(conv.id, { metadata: many }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.BadRequestError);
    const notString = await raw(`/v1/conversations/${conv.id}`, { method: 'POST', body: JSON.stringify({ metadata: { n: 1 } }) });
    expect(notString.status).toBe(400);
    expect(await raw(`/v1/conversations/${conv.id}`, { method: 'POST', body: '{}' }).then((r) => r.status)).toBe(400);

    expect(await client.conversations.delete(conv.id)).toEqual({ id: conv.id, object: 'conversation.deleted', deleted: true });
    expect(await client.conversations.retrieve(conv.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await client.conversations.delete(conv.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const before = ledger(me.agentId).length;
    expect(await turn(client, conv.id, 'hi', false).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(ledger(me.agentId)).toHaveLength(before);
  });

  it('items: create, list (order, limit, after, pages), retrieve and delete', async () => {
    const conv = await client.conversations.create({ items: [{ type: 'message', role: 'user', content: 'one' }] });
    const added = await client.conversations.items.create(conv.id, {
      items: [
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'two' }] },
        { type: 'message', role: 'assistant', content: 'three' },
        { type: 'message', role: 'user', content: 'four' },
      ],
    });
    expect(added).toMatchObject({ object: 'list', has_more: false });
    expect(added.data.map(textOf)).toEqual(['two', 'three', 'four']);
    expect(added.first_id).toBe(added.data[0]!.id);
    expect(added.last_id).toBe(added.data[2]!.id);
    for (const i of added.data) expect(i).toMatchObject({ type: 'message', status: 'completed' });
    expect(added.data[1]).toMatchObject({ role: 'assistant', content: [{ type: 'output_text', text: 'three' }] });

    // Newest first by default.
    expect((await client.conversations.items.list(conv.id)).data.map(textOf)).toEqual(['four', 'three', 'two', 'one']);
    const page = await client.conversations.items.list(conv.id, { order: 'asc', limit: 3 });
    expect(page.data.map(textOf)).toEqual(['one', 'two', 'three']);
    expect(page.has_more).toBe(true);
    expect(page.hasNextPage()).toBe(true);
    expect((await page.getNextPage()).data.map(textOf)).toEqual(['four']);
    const all: string[] = [];
    for await (const item of client.conversations.items.list(conv.id, { order: 'asc', limit: 1 })) all.push(textOf(item)!);
    expect(all).toEqual(['one', 'two', 'three', 'four']);
    const bad = await raw(`/v1/conversations/${conv.id}/items?limit=0`);
    expect(bad.status).toBe(400);

    const three = added.data[1]!;
    expect(await client.conversations.items.retrieve(three.id!, { conversation_id: conv.id })).toEqual(three);
    const after = await client.conversations.items.delete(three.id!, { conversation_id: conv.id });
    expect(after).toEqual(conv);
    expect((await client.conversations.items.list(conv.id, { order: 'asc' })).data.map(textOf)).toEqual(['one', 'two', 'four']);
    expect(await client.conversations.items.retrieve(three.id!, { conversation_id: conv.id }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(await client.conversations.items.delete(three.id!, { conversation_id: conv.id }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    // The next turn sees the conversation as it now is.
    const r = await turn(client, conv.id, 'Repeat exactly: five', false);
    expect(r.output_text).toBe('five');
    expect((await client.conversations.items.list(conv.id)).data.map(textOf)).toEqual(['five', 'Repeat exactly: five', 'four', 'two', 'one']);
  });

  it('bad items are OpenAI 400s: more than 20, an unknown type, none', async () => {
    const tooMany = Array.from({ length: 21 }, (_, i) => ({ type: 'message' as const, role: 'user' as const, content: `m${i}` }));
    const e = await client.conversations.create({ items: tooMany }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(OpenAI.BadRequestError);
    expect((e as Error).message).toContain('maximum length 20');
    const conv = await client.conversations.create();
    const unknown = await raw(`/v1/conversations/${conv.id}/items`, { method: 'POST', body: JSON.stringify({ items: [{ type: 'telepathy' }] }) });
    expect(unknown.status).toBe(400);
    expect(((await unknown.json()) as { error: { message: string } }).error.message).toContain("Invalid value for 'items[0].type'");
    expect(await client.conversations.items.create(conv.id, { items: [] }).catch((x: unknown) => x)).toBeInstanceOf(OpenAI.BadRequestError);
    expect((await client.conversations.items.list(conv.id)).data).toEqual([]);
  });

  it("another agent reaches none of an agent's conversation: every route and responses.create are 404s", async () => {
    const conv = await client.conversations.create({ items: [{ type: 'message', role: 'user', content: 'private' }], metadata: { a: 'b' } });
    const item = (await client.conversations.items.list(conv.id)).data[0]!;
    const other = await agentToken(t);
    const them = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: other.token, maxRetries: 0 });
    const attempts: Array<() => Promise<unknown>> = [
      () => them.conversations.retrieve(conv.id),
      () => them.conversations.update(conv.id, { metadata: { a: 'c' } }),
      () => them.conversations.delete(conv.id),
      () => them.conversations.items.list(conv.id),
      () => them.conversations.items.create(conv.id, { items: [{ type: 'message', role: 'user', content: 'x' }] }),
      () => them.conversations.items.retrieve(item.id!, { conversation_id: conv.id }),
      () => them.conversations.items.delete(item.id!, { conversation_id: conv.id }),
      () => them.responses.create({ model: 'gpt-4o-mini', input: 'hi', conversation: conv.id }),
      () => them.responses.create({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id: item.id! }] }),
    ];
    for (const a of attempts) {
      const e = await a().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(OpenAI.NotFoundError);
    }
    expect(ledger(other.agentId)).toHaveLength(0);
    // Untouched for its owner.
    expect(await client.conversations.retrieve(conv.id)).toEqual(conv);
    expect((await client.conversations.items.list(conv.id)).data).toEqual([item]);
  });

  it('a conversation is kept sealed: its items and metadata are not in the state file', async () => {
    const conv = await client.conversations.create({ items: [{ type: 'message', role: 'user', content: 'ocelot-marmalade-4417' }], metadata: { note: 'wombat-teaspoon-9921' } });
    const r = await turn(client, conv.id, 'Repeat exactly: narwhal-pepper-3310', false);
    expect(r.output_text).toBe('narwhal-pepper-3310');
    const bytes = ['', '-wal'].map((x) => {
      try {
        return readFileSync(`${t.rt.state.path}${x}`).toString('latin1');
      } catch {
        return '';
      }
    });
    for (const b of bytes) for (const s of ['ocelot-marmalade-4417', 'wombat-teaspoon-9921', 'narwhal-pepper-3310']) expect(b).not.toContain(s);
  });
});

describe('a restart and retention', () => {
  it('a conversation is kept while in use: each write moves its expiry responses.retention_days ahead; an idle one is gone, and purged on open', async () => {
    const d = tempDir();
    const day = 24 * 3600 * 1000;
    const short = { gateway: { ...INSTANT_SIMULATED.gateway, responses: { ...INSTANT_SIMULATED.gateway.responses, retentionMs: day } } };
    const real = Date.now();
    let offset = 0;
    const clock = vi.spyOn(Date, 'now').mockImplementation(() => real + offset);
    let rt = await startTestRuntime({ config: short, dir: d.dir });
    try {
      const a = await agentToken(rt);
      const c = new OpenAI({ baseURL: `${rt.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
      const conv = await c.conversations.create();
      for (let i = 0; i < 3; i++) {
        // Each turn 0.8 days after the last: 2.4 days in all, past one day of retention, still kept.
        offset += 0.8 * day;
        expect((await turn(c, conv.id, `Repeat exactly: day ${i}`, false)).output_text).toBe(`day ${i}`);
      }
      expect((await c.conversations.retrieve(conv.id)).id).toBe(conv.id);
      const count = (table: string) => (sqliteOf(rt.rt.state).prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      expect(count('conversation_items')).toBe(6);
      // A day and more without a write: gone, and nothing charged for a turn in it.
      offset += 1.1 * day;
      expect(await c.conversations.retrieve(conv.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
      expect(await turn(c, conv.id, 'hi', false).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
      expect(ledgerOf(rt, a.agentId)).toHaveLength(3);
      await rt.stop();
      rt = await startTestRuntime({ config: short, dir: d.dir });
      expect(count('conversations')).toBe(0);
      expect(count('conversation_items')).toBe(0);
    } finally {
      clock.mockRestore();
      await rt.stop();
      d.cleanup();
    }
  });

  it('iron-cage restarted on the same state file continues the conversation', async () => {
    const d = tempDir();
    try {
      let rt = await startTestRuntime({ config: INSTANT_SIMULATED, dir: d.dir });
      const a = await agentToken(rt);
      const c1 = new OpenAI({ baseURL: `${rt.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
      const conv = await c1.conversations.create({ metadata: { run: 'one' } });
      expect((await turn(c1, conv.id, 'Repeat exactly: before the restart', false)).output_text).toBe('before the restart');
      await rt.stop();
      rt = await startTestRuntime({ config: INSTANT_SIMULATED, dir: d.dir });
      try {
        const c2 = new OpenAI({ baseURL: `${rt.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
        expect(await c2.conversations.retrieve(conv.id)).toEqual(conv);
        expect((await turn(c2, conv.id, 'Repeat exactly: after the restart', true)).output_text).toBe('after the restart');
        const rows = ledgerOf(rt, a.agentId);
        expect(rows).toHaveLength(2);
        expect(rows[1]!.prompt_tokens).toBeGreaterThan(rows[0]!.prompt_tokens + rows[0]!.completion_tokens - 1);
        expect((await c2.conversations.items.list(conv.id, { order: 'asc' })).data.map(textOf)).toEqual([
          'Repeat exactly: before the restart',
          'before the restart',
          'Repeat exactly: after the restart',
          'after the restart',
        ]);
      } finally {
        await rt.stop();
      }
    } finally {
      d.cleanup();
    }
  });
});
