import { readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import OpenAI from 'openai';
import { agentToken, startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';
import { loadOrCreateKey, stateFilesFor } from '../../src/auth/index.js';
import { createLogger } from '../../src/core/logger.js';
import { responsesKey } from '../../src/gateway/responses-state.js';
import { SealedJson } from '../../src/gateway/stored-items.js';
import { WEATHER } from '../helpers/compat.js';
import { expectGrowingContext, INSTANT_SIMULATED, type LedgerRow, ledgerOf, RESPONSES_WEATHER_TOOL } from '../helpers/responses.js';

// The Responses API's stored state through the official openai client, on the simulated
// provider: previous_response_id chains (whole and streamed, with a tool), item references, the
// stored-response routes, isolation between agents, a restart mid-conversation, retention.

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

const ledger = (agentId: string): LedgerRow[] => ledgerOf(t, agentId);

/** A chain of `turns` responses, each continuing the last by its id; what each cost in the ledger. */
async function chain(c: OpenAI, turns: number, stream: boolean, from: string | null = null, offset = 0): Promise<{ ids: string[]; rows: LedgerRow[] }> {
  const before = ledger(me.agentId).length;
  const ids: string[] = [];
  let prev = from;
  for (let i = 0; i < turns; i++) {
    const n = i + offset;
    const body = { model: 'gpt-4o-mini', input: `Repeat exactly: turn ${n}`, ...(prev ? { previous_response_id: prev } : {}) };
    const r = stream ? await c.responses.stream(body).finalResponse() : await c.responses.create(body);
    expect(r.output_text).toBe(`turn ${n}`);
    // As OpenAI answers: the turn names the response it continued (the provider was sent the context).
    expect(r.previous_response_id).toBe(prev);
    ids.push(r.id);
    prev = r.id;
  }
  return { ids, rows: ledger(me.agentId).slice(before) };
}

describe('previous_response_id through openai-node (responses.create)', () => {
  it.each([false, true])('a chain of 10 turns (stream: %s) is answered, each turn metered with its whole context', async (stream) => {
    const { ids, rows } = await chain(client, 10, stream);
    expect(new Set(ids).size).toBe(10);
    expect(rows).toHaveLength(10);
    expectGrowingContext(rows);
    // The context is what the model saw: the last turn's input holds every earlier turn.
    const last = await client.responses.retrieve(ids[9]!);
    expect(last.previous_response_id).toBe(ids[8]);
    expect(last.usage!.input_tokens).toBe(rows[9]!.prompt_tokens);
  });

  it('a streamed turn that continues one names it in every event carrying the response (and in no other), numbered without a gap', async () => {
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: first' });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const ev of client.responses.stream({ model: 'gpt-4o-mini', input: 'Repeat exactly: and the second', previous_response_id: first.id })) events.push(ev);
    const carrying = events.filter((e) => 'response' in e);
    expect(carrying.map((e) => e.type)).toEqual(['response.created', 'response.in_progress', 'response.completed']);
    for (const e of carrying) expect(e.response.previous_response_id).toBe(first.id);
    expect(JSON.stringify(events.filter((e) => !('response' in e)))).not.toContain(first.id);
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect((await client.responses.retrieve(carrying[2]!.response.id)).previous_response_id).toBe(first.id);
  });

  it('with a tool: the function call is kept, its output continues the chain, the answer uses it', async () => {
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: WEATHER.prompt, tools: [RESPONSES_WEATHER_TOOL] });
    const call = first.output.find((o) => o.type === 'function_call');
    expect(call).toBeDefined();
    if (call?.type !== 'function_call') throw new Error('no function call');
    const second = await client.responses.create({
      model: 'gpt-4o-mini',
      previous_response_id: first.id,
      tools: [RESPONSES_WEATHER_TOOL],
      input: [{ type: 'function_call_output', call_id: call.call_id, output: JSON.stringify(WEATHER.result('Paris')) }],
    });
    expect(second.output.some((o) => o.type === 'message')).toBe(true);
    // Tools are not carried over (as at OpenAI): the request names them again.
    const third = await client.responses.stream({ model: 'gpt-4o-mini', previous_response_id: second.id, tools: [RESPONSES_WEATHER_TOOL], input: 'Repeat exactly: thanks' }).finalResponse();
    expect(third.output_text).toBe('thanks');
    const rows = ledger(me.agentId).slice(-3);
    expectGrowingContext(rows);
  });

  it('an item_reference to a kept item (msg_, fc_) is replaced by the item', async () => {
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: WEATHER.prompt, tools: [RESPONSES_WEATHER_TOOL] });
    const fc = first.output.find((o) => o.type === 'function_call');
    if (fc?.type !== 'function_call') throw new Error('no function call');
    expect(fc.id).toMatch(/^fc_/);
    const r = await client.responses.create({
      model: 'gpt-4o-mini',
      tools: [RESPONSES_WEATHER_TOOL],
      input: [
        { role: 'user', content: WEATHER.prompt },
        { type: 'item_reference', id: fc.id! },
        { type: 'function_call_output', call_id: fc.call_id, output: JSON.stringify(WEATHER.result('Paris')) },
      ],
    });
    expect(r.output.some((o) => o.type === 'message')).toBe(true);
    // `include` as an array: the SDK repeats `include[]`, which is no parameter given twice.
    const items = await client.responses.inputItems.list(r.id, { order: 'asc', include: ['message.input_image.image_url', 'file_search_call.results'] });
    expect(items.data.map((i) => i.type)).toEqual(['message', 'function_call', 'function_call_output']);
    expect(items.data[1]).toMatchObject({ id: fc.id, call_id: fc.call_id, name: WEATHER.name });
  });

  it('unknown ids are OpenAI 404s, never a 500, and nothing is charged', async () => {
    const before = ledger(me.agentId).length;
    const prev = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi', previous_response_id: 'resp_nope' }).catch((e: unknown) => e);
    expect(prev).toBeInstanceOf(OpenAI.NotFoundError);
    expect((prev as Error).message).toContain("Previous response with id 'resp_nope' not found.");
    const item = await client.responses.create({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id: 'msg_nope' }] }).catch((e: unknown) => e);
    expect(item).toBeInstanceOf(OpenAI.NotFoundError);
    expect((item as Error).message).toContain("Item with id 'msg_nope' not found.");
    expect(ledger(me.agentId)).toHaveLength(before);
  });

  it('store: false keeps nothing: its id cannot be continued or read', async () => {
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: forget me', store: false });
    expect(r.output_text).toBe('forget me');
    expect(await client.responses.retrieve(r.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    const next = await client.responses.create({ model: 'gpt-4o-mini', input: 'more', previous_response_id: r.id }).catch((e: unknown) => e);
    expect(next).toBeInstanceOf(OpenAI.NotFoundError);
  });
});

describe('the stored-response routes as OpenAI answers them', () => {
  it('retrieve, inputItems.list (order, limit, after) and delete', async () => {
    const first = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: one' });
    const r = await client.responses.create({
      model: 'gpt-4o-mini',
      previous_response_id: first.id,
      input: [
        { role: 'user', content: 'Repeat exactly: a' },
        { role: 'user', content: [{ type: 'input_text', text: 'Repeat exactly: b' }] },
        { role: 'user', content: 'Repeat exactly: c' },
      ],
    });
    const got = await client.responses.retrieve(r.id);
    expect(got).toMatchObject({ id: r.id, object: 'response', status: 'completed', output_text: r.output_text, previous_response_id: first.id });
    expect(got.output).toEqual(r.output);

    // Only this turn's input (not the chain's), newest first by default, each with an id.
    const all = await client.responses.inputItems.list(r.id);
    expect(all.data.map((i) => (i.type === 'message' ? (i.content[0] as { text: string }).text : null))).toEqual(['Repeat exactly: c', 'Repeat exactly: b', 'Repeat exactly: a']);
    for (const i of all.data) expect(i.id).toMatch(/^msg_/);
    const page = await client.responses.inputItems.list(r.id, { order: 'asc', limit: 2 });
    expect(page.data).toHaveLength(2);
    const raw = await fetch(`${t.rt.url}/v1/responses/${r.id}/input_items?order=asc&limit=2`, { headers: { authorization: `Bearer ${me.token}` } });
    const body = await raw.json();
    expect(body).toMatchObject({ object: 'list', has_more: true, first_id: page.data[0]!.id, last_id: page.data[1]!.id });
    const rest = await client.responses.inputItems.list(r.id, { order: 'asc', after: page.data[1]!.id });
    expect(rest.data.map((i) => i.id)).toEqual([all.data[0]!.id]);
    // out of range, or not digits (Number() would read `1e1` as 10 and `0x2` as 2)
    for (const limit of ['500', '1e1', '0x2', '', '2.0']) {
      const bad = await fetch(`${t.rt.url}/v1/responses/${r.id}/input_items?limit=${limit}`, { headers: { authorization: `Bearer ${me.token}` } });
      expect(bad.status, limit).toBe(400);
    }

    expect(await client.responses.delete(r.id)).toEqual({ id: r.id, object: 'response.deleted', deleted: true });
    const again = await fetch(`${t.rt.url}/v1/responses/${r.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${me.token}` } });
    expect(again.status).toBe(404);
    expect(await client.responses.retrieve(r.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    // The earlier turn stands: deleting one response deletes only it.
    expect((await client.responses.retrieve(first.id)).id).toBe(first.id);
  });

  it('DELETE answers {id, object: response.deleted, deleted: true}', async () => {
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'hi' });
    const del = await fetch(`${t.rt.url}/v1/responses/${r.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${me.token}` } });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ id: r.id, object: 'response.deleted', deleted: true });
  });

  it("another agent can neither continue, reference, read, list nor delete an agent's response", async () => {
    const mine = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: private' });
    const other = await agentToken(t);
    const them = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: other.token, maxRetries: 0 });
    const attempts: Array<() => Promise<unknown>> = [
      () => them.responses.create({ model: 'gpt-4o-mini', input: 'hi', previous_response_id: mine.id }),
      () => them.responses.create({ model: 'gpt-4o-mini', input: [{ type: 'item_reference', id: mine.output[0]!.id! }] }),
      () => them.responses.retrieve(mine.id),
      () => them.responses.inputItems.list(mine.id),
      () => them.responses.delete(mine.id),
    ];
    for (const a of attempts) expect(await a().catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
    expect(ledger(other.agentId)).toHaveLength(0);
    // Still there for its owner.
    expect((await client.responses.retrieve(mine.id)).output_text).toBe('private');
  });

  it.each([false, true])('a response is kept as the agent saw it: its output redacted (stream: %s)', async (stream) => {
    const body = { model: 'gpt-4o-mini', input: 'Repeat exactly: write to bob.stone@example.org today' };
    const r = stream ? await client.responses.stream(body).finalResponse() : await client.responses.create(body);
    expect(r.output_text).not.toContain('bob.stone@example.org');
    const got = await client.responses.retrieve(r.id);
    expect(got.output_text).toBe(r.output_text);
    expect(JSON.stringify(got)).not.toContain('bob.stone@example.org');
    // The next turn's context is what the agent saw, not what the model wrote.
    const next = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: ok', previous_response_id: r.id });
    expect(next.output_text).toBe('ok');
  });

  it('a response is kept sealed: its text is not in the state file', async () => {
    const r = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: zanzibar-quokka-7781' });
    expect(r.output_text).toBe('zanzibar-quokka-7781');
    // The state file and its WAL (the row is committed before the answer) hold neither the prompt nor the answer in plain text.
    const bytes = ['', '-wal'].map((x) => {
      try {
        return readFileSync(`${t.rt.state.path}${x}`).toString('latin1');
      } catch {
        return '';
      }
    });
    for (const b of bytes) expect(b).not.toContain('zanzibar-quokka-7781');
  });
});

describe('how a turn is kept at rest', () => {
  it('a turn is sealed once (its items point into the response row, its output items are its response’s), and rows kept before (item by item; whole with the output repeated) still read: chain, retrieve, input items, item_reference', async () => {
    const r1 = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: sealed the old way' });
    const r2 = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: sealed once', previous_response_id: r1.id });
    const db = sqliteOf(t.rt.state);
    const itemsOf = (id: string) =>
      db.prepare('SELECT seq, item_id, kind, body FROM response_items WHERE response_id = ? ORDER BY seq').all(id) as Array<{ seq: number; item_id: string; kind: string; body: string }>;
    expect(itemsOf(r2.id).map((i) => [i.kind, i.body])).toEqual([
      ['input', '@0'],
      ['output', '@1'],
    ]);
    // Turn 1 rewritten as rows were written before: the response and each item sealed on their own.
    const sealed = new SealedJson(
      responsesKey(loadOrCreateKey(stateFilesFor(t.rt.state.path).auditKey).key),
      createLogger({ format: 'json', level: 'error', stream: new Writable({ write: (_c, _e, done) => done() }) }),
    );
    const turnOf = (id: string) => {
      const row = db.prepare('SELECT body FROM responses WHERE id = ?').get(id) as { body: string };
      const turn = sealed.open(row.body, me.agentId).$turn as { response: { output: object[] }; input: object[]; items?: unknown };
      // The output items are the response's own, sealed once: the turn holds its input beside it.
      expect(turn.items).toBeUndefined();
      return { response: turn.response, items: [...turn.input, ...turn.response.output] };
    };
    const turn1 = turnOf(r1.id);
    db.prepare('UPDATE responses SET body = ? WHERE id = ?').run(sealed.seal(turn1.response), r1.id);
    for (const [k, it] of itemsOf(r1.id).entries()) db.prepare('UPDATE response_items SET body = ? WHERE seq = ?').run(sealed.seal(turn1.items[k]), it.seq);
    expect(itemsOf(r1.id).every((i) => i.body.startsWith('v1.'))).toBe(true);
    // Turn 2 rewritten as a whole turn was kept before: its items listed in full, the output items repeated.
    db.prepare('UPDATE responses SET body = ? WHERE id = ?').run(sealed.seal({ $turn: turnOf(r2.id) }), r2.id);

    const r3 = await client.responses.stream({ model: 'gpt-4o-mini', input: 'Repeat exactly: after both', previous_response_id: r2.id }).finalResponse();
    expect(r3.output_text).toBe('after both');
    const rows = ledger(me.agentId).slice(-3);
    expect(rows[2]!.prompt_tokens).toBeGreaterThan(rows[1]!.prompt_tokens);
    for (const [r, text] of [
      [r1, 'sealed the old way'],
      [r2, 'sealed once'],
    ] as const) {
      const back = await client.responses.retrieve(r.id);
      expect(back.output_text).toBe(text);
      expect(back.previous_response_id).toBe(r.previous_response_id);
      const input = await client.responses.inputItems.list(r.id);
      expect(input.data).toHaveLength(1);
      expect(input.data[0]).toMatchObject({ type: 'message', role: 'user', content: [{ type: 'input_text', text: `Repeat exactly: ${text}` }] });
    }
    // An output item of each kind of turn, by reference.
    const refs = [r1, r2].map((r) => ({ type: 'item_reference' as const, id: r.output[0]!.id! }));
    const r4 = await client.responses.create({ model: 'gpt-4o-mini', input: [...refs, { role: 'user', content: 'Repeat exactly: referenced' }] });
    expect(r4.output_text).toBe('referenced');
    expect((await client.responses.inputItems.list(r4.id, { order: 'asc' })).data.map((i) => i.id)).toEqual([...refs.map((r) => r.id), expect.stringMatching(/^msg_/)]);
  });
});

describe('a chain that comes back to itself', () => {
  it('is read once: each turn goes upstream (and is billed) once, not once a lap', async () => {
    const r1 = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: lap one' });
    const r2 = await client.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: lap two', previous_response_id: r1.id });
    const next = { model: 'gpt-4o-mini', input: 'Repeat exactly: lap three', previous_response_id: r2.id };
    expect((await client.responses.create(next)).output_text).toBe('lap three');
    const straight = ledger(me.agentId).at(-1)!.prompt_tokens;
    // Rows left as a deleted turn and an id given again could leave them: r1 now continues r2.
    sqliteOf(t.rt.state).prepare('UPDATE responses SET previous_response_id = ? WHERE id = ?').run(r2.id, r1.id);
    expect((await client.responses.create(next)).output_text).toBe('lap three');
    expect(ledger(me.agentId).at(-1)!.prompt_tokens).toBe(straight);
  });
});

describe('a restart and retention', () => {
  it('iron-cage restarted mid-conversation on the same state file continues the chain', async () => {
    const d = tempDir();
    try {
      let rt = await startTestRuntime({ config: INSTANT_SIMULATED, dir: d.dir });
      const a = await agentToken(rt);
      const c1 = new OpenAI({ baseURL: `${rt.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
      const r1 = await c1.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: before the restart' });
      const r2 = await c1.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: still before', previous_response_id: r1.id });
      await rt.stop();
      rt = await startTestRuntime({ config: INSTANT_SIMULATED, dir: d.dir });
      try {
        const c2 = new OpenAI({ baseURL: `${rt.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
        const r3 = await c2.responses.stream({ model: 'gpt-4o-mini', input: 'Repeat exactly: after the restart', previous_response_id: r2.id }).finalResponse();
        expect(r3.output_text).toBe('after the restart');
        const rows = sqliteOf(rt.rt.state).prepare('SELECT prompt_tokens FROM llm_requests WHERE agent_id = ? ORDER BY id').all(a.agentId) as Array<{ prompt_tokens: number }>;
        expect(rows).toHaveLength(3);
        expect(rows[2]!.prompt_tokens).toBeGreaterThan(rows[1]!.prompt_tokens);
        expect((await c2.responses.retrieve(r1.id)).output_text).toBe('before the restart');
      } finally {
        await rt.stop();
      }
    } finally {
      d.cleanup();
    }
  });

  it('a response past responses.retention_days is never served, and is purged when iron-cage opens the file', async () => {
    const d = tempDir();
    const day = 24 * 3600 * 1000;
    const short = { gateway: { ...INSTANT_SIMULATED.gateway, responses: { ...INSTANT_SIMULATED.gateway.responses, retentionMs: day } } };
    try {
      let rt = await startTestRuntime({ config: short, dir: d.dir });
      const a = await agentToken(rt);
      const c = new OpenAI({ baseURL: `${rt.rt.url}/v1`, apiKey: a.token, maxRetries: 0 });
      const r = await c.responses.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: soon gone' });
      expect((await c.responses.retrieve(r.id)).id).toBe(r.id);
      const count = () => (sqliteOf(rt.rt.state).prepare('SELECT count(*) AS n FROM responses').get() as { n: number }).n;
      expect(count()).toBe(1);
      const real = Date.now();
      const later = vi.spyOn(Date, 'now').mockImplementation(() => real + 2 * day);
      try {
        expect(await c.responses.retrieve(r.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
        const next = await c.responses.create({ model: 'gpt-4o-mini', input: 'more', previous_response_id: r.id }).catch((e: unknown) => e);
        expect(next).toBeInstanceOf(OpenAI.NotFoundError);
        await rt.stop();
        rt = await startTestRuntime({ config: short, dir: d.dir });
        expect(count()).toBe(0);
        expect((sqliteOf(rt.rt.state).prepare('SELECT count(*) AS n FROM response_items').get() as { n: number }).n).toBe(0);
      } finally {
        later.mockRestore();
        await rt.stop();
      }
    } finally {
      d.cleanup();
    }
  });
});
