import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { sqliteOf } from '../helpers/db.js';
import { useFakeLlm } from '../helpers/fake-llm.js';
import { agentToken, startTestRuntime, until, type TestRuntime } from '../helpers/runtime.js';

// Retries that do not multiply. The gateway retries a provider's 429 and 5xx itself
// (3 attempts by default); what it passes on afterwards says `x-should-retry: false`, which the
// official SDKs obey, so one SDK call reaches the provider at most 3 times, not 3 × 3. A
// circuit-open 503 says when the breaker half-opens (`retry-after`), so an SDK waits it out
// rather than retrying into it within a second. The ledger row says how many attempts it took.

const llm = useFakeLlm();

/** Requests reaching iron-cage from one SDK client: its own `fetch`, counted. */
function counted() {
  const seen: Array<{ status: number; headers: Headers }> = [];
  const f: typeof fetch = async (input, init) => {
    const r = await fetch(input, init);
    seen.push({ status: r.status, headers: r.headers });
    return r;
  };
  return { seen, fetch: f };
}

interface Row {
  status: string;
  httpStatus: number;
  cost: number;
  attempts: number | null;
}

const rows = (t: TestRuntime, agentId: string): Row[] =>
  sqliteOf(t.rt.state).prepare('SELECT status, http_status AS httpStatus, cost_micros AS cost, attempts FROM llm_requests WHERE agent_id = ? ORDER BY id').all(agentId) as Row[];
const lastRow = (t: TestRuntime, agentId: string): Row => rows(t, agentId).at(-1)!;
/** A failed call's row is written as its error is answered, not before: the `n`th row, once it is there. */
const nthRow = (t: TestRuntime, agentId: string, n: number): Promise<Row> => until(() => rows(t, agentId)[n - 1]);

/** The agent's llm.request events as the REST API shows them. */
async function requestEvents(t: TestRuntime, agentId: string): Promise<Array<{ message: string; data: { attempts: number; httpStatus: number } }>> {
  const r = await t.api(`/api/events?agentId=${agentId}&limit=1000`);
  const { events } = (await r.json()) as { events: Array<{ type: string; message: string; data: { attempts: number; httpStatus: number } }> };
  return events.filter((e) => e.type === 'llm.request');
}

describe('a provider 429 with retry-after: 0', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: { gateway: llm.gateway({ anthropic: true }) } });
  });
  afterAll(() => t?.stop());

  const rateLimited = () => llm.answer({ status: 429, headers: { 'retry-after': '0' } });

  it('openai-node (default maxRetries): one request to iron-cage, 3 to the provider; the row and its event say 3 attempts, $0', async () => {
    const a = await agentToken(t, { budgetUsd: 1 });
    rateLimited();
    const c = counted();
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, fetch: c.fetch });
    expect(client.maxRetries).toBe(2);
    const before = llm.requests.length;
    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(c.seen).toHaveLength(1);
    expect(c.seen[0]!.headers.get('x-should-retry')).toBe('false');
    // The provider's own wait is passed on beside it.
    expect(c.seen[0]!.headers.get('retry-after')).toBe('0');
    expect(llm.since(before)).toHaveLength(3);
    expect(lastRow(t, a.agentId)).toEqual({ status: 'error', httpStatus: 429, cost: 0, attempts: 3 });
    const [event] = await requestEvents(t, a.agentId);
    expect(event!.data).toMatchObject({ attempts: 3, httpStatus: 429 });
    expect(event!.message).toMatch(/ · 3 attempts$/);
  });

  it('openai-node streamed: the same 3, not 9', async () => {
    const a = await agentToken(t, { budgetUsd: 1 });
    rateLimited();
    const c = counted();
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, fetch: c.fetch });
    const before = llm.requests.length;
    const err = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect(c.seen).toHaveLength(1);
    expect(llm.since(before)).toHaveLength(3);
    expect(lastRow(t, a.agentId).attempts).toBe(3);
  });

  it('@anthropic-ai/sdk (default maxRetries): one request to iron-cage, 3 to the provider', async () => {
    const a = await agentToken(t, { budgetUsd: 1 });
    rateLimited();
    const c = counted();
    const client = new Anthropic({ baseURL: t.rt.url, apiKey: a.token, fetch: c.fetch });
    expect(client.maxRetries).toBe(2);
    const before = llm.requests.length;
    const err = await client.messages.create({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.RateLimitError);
    expect(c.seen).toHaveLength(1);
    expect(c.seen[0]!.headers.get('x-should-retry')).toBe('false');
    expect(llm.since(before)).toHaveLength(3);
    expect(lastRow(t, a.agentId)).toEqual({ status: 'error', httpStatus: 429, cost: 0, attempts: 3 });
  });

  it('a call that succeeds on its second attempt is charged once and says 2 attempts', async () => {
    const a = await agentToken(t, { budgetUsd: 1 });
    const before = llm.requests.length;
    llm.answer(({ n }) => (n === before + 1 ? { status: 429, headers: { 'retry-after': '0' } } : { text: 'ok', usage: { prompt_tokens: 5, completion_tokens: 2 } }));
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token });
    const r = await client.chat.completions.create({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    expect(r.choices[0]!.message.content).toBe('ok');
    expect(llm.since(before)).toHaveLength(2);
    const row = lastRow(t, a.agentId);
    expect(row).toMatchObject({ status: 'ok', httpStatus: 200, attempts: 2 });
    expect(row.cost).toBeGreaterThan(0);
  });

  it('a provider 400 is passed on once with x-should-retry: false (trying again cannot mend it); a first-try answer says 1 attempt', async () => {
    const a = await agentToken(t, { budgetUsd: 1 });
    const before = llm.requests.length;
    llm.answer({ status: 400, body: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } } });
    const c = counted();
    const client = new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, fetch: c.fetch });
    expect(await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.BadRequestError);
    expect(c.seen[0]!.headers.get('x-should-retry')).toBe('false');
    expect(llm.since(before)).toHaveLength(1);
    expect(lastRow(t, a.agentId).attempts).toBe(1);
    llm.answer({});
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    expect(lastRow(t, a.agentId)).toMatchObject({ status: 'ok', attempts: 1 });
  });
});

describe('an open circuit', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: { gateway: llm.gateway({ anthropic: true }, { retry: { attempts: 3, baseMs: 1, maxMs: 1 } }) } });
  });
  afterAll(() => t?.stop());

  /** Five 503s in a row open a provider's breaker: two calls of 3 attempts each. */
  async function open(token: string, path: string, body: object): Promise<Response> {
    llm.answer({ status: 503, headers: { 'retry-after': '0' } });
    const post = () =>
      fetch(`${t.rt.url}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const first = await post();
    expect(first.status).toBe(503);
    expect(first.headers.get('x-should-retry')).toBe('false');
    // The second call's third attempt finds the circuit open: our own 503, after our retries.
    const second = await post();
    expect(second.status).toBe(503);
    return second;
  }

  /** Requests reaching iron-cage from an SDK call into the open circuit, over `windowMs` after the first. */
  async function hits(call: (c: ReturnType<typeof counted>, signal: AbortSignal) => Promise<unknown>, windowMs: number) {
    const c = counted();
    const stop = new AbortController();
    const done = call(c, stop.signal).catch((e: unknown) => e);
    await until(() => c.seen.length > 0);
    // What an SDK without a wait would do: its default backoff (0.5 s, then 1 s) sends two more in this window.
    await new Promise((r) => setTimeout(r, windowMs));
    const n = c.seen.length;
    stop.abort();
    return { n, first: c.seen[0]!, done };
  }

  it('says when it half-opens (retry-after), and neither SDK retries into it within a second and a half', async () => {
    const a = await agentToken(t, { budgetUsd: 1 });
    const opened = await open(a.token, '/v1/chat/completions', { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    // Retried by us before the circuit opened: the SDK must not add its own.
    expect(opened.headers.get('x-should-retry')).toBe('false');
    expect(Number(opened.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(await nthRow(t, a.agentId, 2)).toMatchObject({ status: 'error', httpStatus: 503, attempts: 2 });

    const before = llm.requests.length;
    const openai = await hits(
      (c, signal) =>
        new OpenAI({ baseURL: `${t.rt.url}/v1`, apiKey: a.token, fetch: c.fetch }).chat.completions.create(
          { model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
          { signal },
        ),
      1500,
    );
    expect(openai.n).toBe(1);
    expect(openai.first.status).toBe(503);
    // Sent nowhere (the circuit refused it): the SDK may come back, once the breaker half-opens.
    expect(openai.first.headers.get('x-should-retry')).toBeNull();
    const wait = Number(openai.first.headers.get('retry-after'));
    expect(wait).toBeGreaterThan(50);
    expect(wait).toBeLessThanOrEqual(60);
    expect(await nthRow(t, a.agentId, 3)).toMatchObject({ status: 'error', httpStatus: 503, attempts: 0 });

    const ant = await agentToken(t, { budgetUsd: 1 });
    await open(ant.token, '/v1/messages', { model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] });
    const before2 = llm.requests.length;
    const anthropic = await hits(
      (c, signal) =>
        new Anthropic({ baseURL: t.rt.url, apiKey: ant.token, fetch: c.fetch }).messages.create(
          { model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] },
          { signal },
        ),
      1500,
    );
    expect(anthropic.n).toBe(1);
    expect(Number(anthropic.first.headers.get('retry-after'))).toBeGreaterThan(50);
    // The Anthropic SDK's wait ends with the abort; openai-node's ends with its timer, in a minute, then throws the abort.
    expect(await anthropic.done).toBeInstanceOf(Anthropic.APIUserAbortError);
    void openai.done;
    // Neither reached the provider.
    expect(llm.requests.length).toBe(before2);
    expect(before2).toBe(before + 5);
  });
});
