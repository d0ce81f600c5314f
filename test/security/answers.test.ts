import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { fakeGatewaySuite } from '../helpers/fake-llm.js';
import { agentToken, until } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

// Two holes a probe found: an answer in a shape the request did not ask for passed unguarded
// and unmetered, and an agent that hung up right after sending was charged
// its prompt alone while the provider billed the whole answer. The class: every answer is read
// by what it is; what cannot be read is refused, and usage that cannot be read is charged at
// the call's worst case; a hang-up never leaves what the provider bills unpaid.
//
// Prices hand-worked from the catalog: gpt-4o costs $2.50 per million input tokens and $10 per
// million output tokens, i.e. 2.5 and 10 micro-dollars a token.

const gw = fakeGatewaySuite('answers');

const EMAIL = 'jane.doe@example.com';
const SSN = '123-45-6789';
const CARD = '4111 1111 1111 1111';
const KEY = 'sk-proj-Xk29dLq8Zr47Tb1VnW3cY6pQ';
const LEAK = `Reach ${EMAIL}, SSN ${SSN}, card ${CARD}; the key you sent was ${KEY}.`;
const SECRETS = [EMAIL, SSN, CARD, KEY];

const completion = (content: string, usage: object | null) => ({
  id: 'chatcmpl-x',
  object: 'chat.completion',
  created: 1,
  model: 'gpt-4o',
  choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
  ...(usage ? { usage } : {}),
});

/** An agent with its own budget in dollars, and a way to call the gateway as it. */
async function agent(budgetUsd: number) {
  const a = await agentToken(gw.t, { budgetUsd });
  const call = (body: object, signal?: AbortSignal) =>
    fetch(`${gw.t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      ...(signal ? { signal } : {}),
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const rows = () =>
    sqliteOf(gw.t.rt.state).prepare('SELECT status, prompt_tokens, completion_tokens, cost_micros, usage_source FROM llm_requests WHERE agent_id = ? ORDER BY id').all(a.agentId) as any[];
  const costs = async () => (await (await gw.t.api(`/api/agents/${a.agentId}/costs`)).json()) as { spentUsd: number; reservedUsd: number; limitUsd: number };
  return { ...a, call, rows, costs };
}

const ask = (extra: object = {}) => ({ model: 'gpt-4o', messages: [{ role: 'user', content: 'Who should I call?' }], ...extra });
/**
 * The prompt's count, what the gateway reserves for and falls back on, by OpenAI's documented chat
 * rule for gpt-4o: 3 framing tokens for the message (<|im_start|>, the role, <|im_sep|>), the 5 of
 * the text ('Who', ' should', ' I', ' call', '?'), its <|im_end|>, and 3 priming the answer.
 */
const PROMPT_TOKENS = 12;
/** A call charged the worst case of 100 output tokens: 12 × 2.5 + 100 × 10 = 1,030 µ$. */
const WORST_MICROS = 1_030;

describe('an answer is read by what it is, not by what was asked', () => {
  it('a stream: true call answered with a plain JSON body is redacted, and charged its usage against the budget', async () => {
    const a = await agent(0.05);
    let answered = 0;
    // 1000 prompt and 3000 completion tokens: 1000 × 2.5 + 3000 × 10 = 32,500 µ$ a call.
    gw.llm.raw((res) => {
      answered++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion(LEAK, { prompt_tokens: 1000, completion_tokens: 3000, total_tokens: 4000 })));
    });
    const r = await a.call(ask({ stream: true, max_tokens: 3000 }));
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toMatch(/^application\/json/);
    const text = await r.text();
    for (const s of SECRETS) expect(text).not.toContain(s);
    expect(JSON.parse(text).choices[0].message.content).toContain('[EMAIL_REDACTED]');
    expect(a.rows()).toEqual([{ status: 'ok', prompt_tokens: 1000, completion_tokens: 3000, cost_micros: 32_500, usage_source: 'provider' }]);
    // Ten more: the budget pays for what the provider bills, so it refuses once that would pass $0.05.
    for (let i = 0; i < 10; i++) await (await a.call(ask({ stream: true, max_tokens: 3000 }))).text();
    expect(answered).toBe(1);
    expect((await a.costs()).spentUsd).toBe(0.0325);
  });

  it('a call that asked for JSON but got an event stream is relayed redacted, and charged its usage', async () => {
    const a = await agent(5);
    gw.llm.raw((res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (delta: object, finish: string | null = null) => ({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'gpt-4o', choices: [{ index: 0, delta, finish_reason: finish }] });
      for (const piece of LEAK.match(/\S+\s*/g)!) res.write(`data: ${JSON.stringify(chunk({ content: piece }))}\n\n`);
      res.write(`data: ${JSON.stringify(chunk({}, 'stop'))}\n\n`);
      res.write(`data: ${JSON.stringify({ ...chunk({}), choices: [], usage: { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 } })}\n\n`);
      res.end('data: [DONE]\n\n');
    });
    const text = await (await a.call(ask({ max_tokens: 100 }))).text();
    for (const s of SECRETS) expect(text).not.toContain(s);
    expect(text).toContain('[EMAIL_REDACTED]');
    // 10 × 2.5 + 20 × 10.
    expect(a.rows()).toEqual([{ status: 'ok', prompt_tokens: 10, completion_tokens: 20, cost_micros: 225, usage_source: 'provider' }]);
  });

  it('text that is no event inside an event stream is scanned, and its unreported usage charged as the worst case', async () => {
    const a = await agent(5);
    gw.llm.raw((res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).end(JSON.stringify(completion(LEAK, null))));
    const text = await (await a.call(ask({ stream: true, max_tokens: 100 }))).text();
    for (const s of SECRETS) expect(text).not.toContain(s);
    expect(a.rows()).toEqual([{ status: 'ok', prompt_tokens: PROMPT_TOKENS, completion_tokens: 100, cost_micros: WORST_MICROS, usage_source: 'estimate' }]);
  });

  it('a compressed answer is decoded and redacted; one in a coding iron-cage cannot undo is refused, and charged the worst case', async () => {
    const a = await agent(5);
    gw.llm.raw((res) =>
      res
        .writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' })
        .end(gzipSync(JSON.stringify(completion(LEAK, { prompt_tokens: 10, completion_tokens: 20, total_tokens: 30 })))),
    );
    const ok = await a.call(ask({ max_tokens: 100 }));
    expect(ok.status).toBe(200);
    const text = await ok.text();
    for (const s of SECRETS) expect(text).not.toContain(s);
    expect(JSON.parse(text).choices[0].message.content).toContain('[EMAIL_REDACTED]');

    for (const stream of [false, true]) {
      gw.llm.raw((res) => res.writeHead(200, { 'content-type': stream ? 'text/event-stream' : 'application/json', 'content-encoding': 'x-snappy-framed' }).end(Buffer.from(LEAK)));
      const refused = await a.call(ask({ max_tokens: 100, stream }));
      expect(refused.status).toBe(502);
      const body = await refused.text();
      expect(body).toContain('x-snappy-framed');
      for (const s of SECRETS) expect(body).not.toContain(s);
    }
    const worst = { status: 'error', prompt_tokens: PROMPT_TOKENS, completion_tokens: 100, cost_micros: WORST_MICROS, usage_source: 'estimate' };
    expect(a.rows()).toEqual([{ status: 'ok', prompt_tokens: 10, completion_tokens: 20, cost_micros: 225, usage_source: 'provider' }, worst, worst]);
  });
});

describe('money after a hang-up', () => {
  // A provider that keeps generating whatever becomes of the connection, and bills all of it: a
  // call it received is billed 10 prompt and 1000 completion tokens, 10 × 2.5 + 1000 × 10 = 10,025 µ$.
  // It answers each call only once its agent has hung up (`hungUp`).
  const PER_CALL = 10_025;
  const billing = () => {
    const bill = { calls: 0, hungUp: Promise.resolve() as Promise<unknown> };
    gw.llm.answer(() => {
      bill.calls++;
      const usage = { prompt_tokens: 10, completion_tokens: 1000, total_tokens: 1010 };
      return { after: bill.hungUp, text: 'word '.repeat(1000), pieces: Array(20).fill('word '.repeat(50)), usage };
    });
    return bill;
  };

  for (const stream of [false, true]) {
    it(`30 ${stream ? 'streamed' : 'whole'} calls whose agent hangs up right after sending never cost more than the $0.05 budget, and are charged what the provider billed`, async () => {
      const a = await agent(0.05);
      const bill = billing();
      for (let i = 0; i < 30; i++) {
        const ac = new AbortController();
        let hangUp!: () => void;
        bill.hungUp = new Promise<void>((r) => (hangUp = r));
        const reached = gw.llm.requests.length;
        let answered = false;
        const sent = a
          .call(ask({ max_tokens: 1000, stream }), ac.signal)
          .catch(() => null)
          .finally(() => (answered = true));
        // The agent hangs up right after sending: once the provider has the call (or it was refused).
        await until(() => answered || gw.llm.requests.length > reached, 15_000, 5);
        ac.abort();
        await sent;
        // A request sent after the hang-up is answered only once the gateway has seen the hang-up.
        await gw.t.api('/api/health', { token: null });
        hangUp();
      }
      // Every call the provider got settles once its answer is read, agent or no agent.
      await until(async () => (await a.costs()).reservedUsd === 0 && a.rows().every((r) => r.status !== 'pending'), 20_000);
      expect(bill.calls).toBeGreaterThan(0);
      expect(bill.calls * PER_CALL).toBeLessThanOrEqual(50_000);
      const billed = a.rows().filter((r) => r.cost_micros > 0);
      expect(billed).toHaveLength(bill.calls);
      for (const r of billed) expect(r).toEqual({ status: 'aborted', prompt_tokens: 10, completion_tokens: 1000, cost_micros: PER_CALL, usage_source: 'provider' });
      expect(Math.round((await a.costs()).spentUsd * 1e6)).toBe(bill.calls * PER_CALL);
    }, 60_000);
  }
});
