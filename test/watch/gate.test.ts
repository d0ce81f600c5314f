import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, WATCH_DEFAULTS, type Config, type WatchConfig } from '../../src/config/index.js';
import { sqliteOf } from '../helpers/db.js';
import { FakeService } from '../helpers/http.js';
import { agentToken, startTestRuntime, type TestRuntime, until } from '../helpers/runtime.js';
import { toolsConfig } from '../tools/helpers.js';
import { PauseGate } from '../../src/watch/index.js';

// The pause gate against callers that hang up (a probe held calls and went away): real sockets (node:net) that
// send a request and then go away in each way a TCP client can, and real HTTP clients, against a
// whole runtime (the simulated provider, a real tool service, the real ledger).

const sim = { ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs: 0, failures: [] } } };

let crm: FakeService;
beforeAll(async () => {
  crm = await FakeService.start();
});
afterAll(async () => {
  await crm?.close();
});

const config = (gate: Partial<WatchConfig['gate']> = {}): Partial<Config> => ({
  gateway: sim,
  tools: toolsConfig({ crm: { url: crm.url } }),
  watch: { ...WATCH_DEFAULTS, gate: { ...WATCH_DEFAULTS.gate, ...gate } },
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const post = (t: TestRuntime, path: string, body: unknown = {}) => t.api(path, { method: 'POST', body: JSON.stringify(body) });
const llmRows = (t: TestRuntime, agentId: string) => (sqliteOf(t.rt.state).prepare('SELECT count(*) AS n FROM llm_requests WHERE agent_id = ?').get(agentId) as { n: number }).n;
const toolRows = (t: TestRuntime, agentId: string) => (sqliteOf(t.rt.state).prepare('SELECT count(*) AS n FROM tool_calls WHERE agent_id = ?').get(agentId) as { n: number }).n;
/** The held count the dashboard shows, from `GET /api/agents/:id/watch`. */
const heldNow = async (t: TestRuntime, agentId: string): Promise<number> => ((await (await t.api(`/api/agents/${agentId}/watch`)).json()).paused?.held ?? 0) as number;
const heldIs = (t: TestRuntime, agentId: string, n: number, ms = 5000) => until(async () => (await heldNow(t, agentId)) === n, ms, 20);
const budgetOf = async (t: TestRuntime, agentId: string) => (await (await t.api(`/api/agents/${agentId}/status`)).json()).budget as { spentUsd: number; reservedUsd: number };

/** The runtime's Host (its guard refuses any other), set once its port is known. */
let host = '';

/** One HTTP/1.1 request as bytes, with its body's length. */
function request(method: string, path: string, headers: Record<string, string>, body = ''): string {
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  if (body !== '' || method === 'POST') lines.push('content-type: application/json', `content-length: ${Buffer.byteLength(body)}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

/** What each surface a call can be held on is sent as. `pad` makes a body of about that many bytes. */
type Kind = 'chat' | 'chat-stream' | 'completions' | 'embeddings' | 'responses' | 'responses-stream' | 'messages' | 'messages-stream' | 'tool-get' | 'tool-post';
function callOf(kind: Kind, token: string, pad = 0): string {
  const text = `hello ${'x'.repeat(pad)}`;
  const bearer = { authorization: `Bearer ${token}` };
  switch (kind) {
    case 'chat':
    case 'chat-stream':
      return request('POST', '/v1/chat/completions', bearer, JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, stream: kind === 'chat-stream', messages: [{ role: 'user', content: text }] }));
    case 'completions':
      return request('POST', '/v1/completions', bearer, JSON.stringify({ model: 'gpt-3.5-turbo-instruct', max_tokens: 5, prompt: text }));
    case 'embeddings':
      return request('POST', '/v1/embeddings', bearer, JSON.stringify({ model: 'text-embedding-3-small', input: text }));
    case 'responses':
    case 'responses-stream':
      return request('POST', '/v1/responses', bearer, JSON.stringify({ model: 'gpt-4o-mini', max_output_tokens: 16, stream: kind === 'responses-stream', input: text }));
    case 'messages':
    case 'messages-stream':
      return request(
        'POST',
        '/v1/messages',
        { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
        JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 5, stream: kind === 'messages-stream', messages: [{ role: 'user', content: text }] }),
      );
    case 'tool-get':
      return request('GET', '/tools/crm/leads/1', bearer);
    case 'tool-post':
      return request('POST', '/tools/crm/leads', bearer, JSON.stringify({ note: text }));
  }
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', (e) => (s.connecting ? reject(e) : undefined));
    // Whatever comes back is read and dropped, as a client that hung up would never see it.
    s.on('data', () => {});
  });
}

/**
 * How a caller goes away, each the way a real TCP client does it:
 * - `fin`: the whole request, then a half-close (FIN; it could still read an answer)
 * - `close`: the whole request, then the socket closed (what a timed-out SDK does)
 * - `reset`: the whole request, then RST
 * - `partial`: the headers and part of the body, then closed
 * - `keepalive`: a call answered on the connection first, then the held one, then closed
 * - `pipelined`: two calls in one write (the second queued behind the first), then closed
 */
type HangUp = 'fin' | 'close' | 'reset' | 'partial' | 'keepalive' | 'pipelined';

/** A connection holding `held` calls at the gate, and how it hangs up. */
interface Caller {
  held: number;
  hangUp: () => void;
}

async function caller(t: TestRuntime, how: HangUp, kind: Kind, token: string, pad: number): Promise<Caller> {
  host = new URL(t.rt.url).host;
  const s = await open(Number(new URL(t.rt.url).port));
  const text = callOf(kind, token, pad);
  const end = { fin: () => s.end(), close: () => s.destroy(), reset: () => s.resetAndDestroy() };
  switch (how) {
    case 'fin':
    case 'close':
    case 'reset':
      s.write(text);
      return { held: 1, hangUp: end[how] };
    case 'partial':
      s.write(text.slice(0, text.length - 3));
      return { held: 1, hangUp: end.close };
    case 'keepalive': {
      // A model list is not held: it is answered on this connection, which is then reused.
      const answered = new Promise<void>((resolve) => s.once('data', () => resolve()));
      s.write(request('GET', '/v1/models', { authorization: `Bearer ${token}` }));
      await answered;
      s.write(text);
      return { held: 1, hangUp: end.close };
    }
    case 'pipelined':
      s.write(text + text);
      return { held: 2, hangUp: end.close };
  }
}

describe('callers that hang up at the gate', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: config() });
  });
  afterAll(() => t?.stop());

  // Every way of hanging up, on every surface a call is held on, with a small body and with one
  // larger than what Node reads ahead of a handler (so the socket is read only if the gate reads it).
  const HOW: HangUp[] = ['fin', 'close', 'reset', 'partial', 'keepalive', 'pipelined'];
  const KINDS: Kind[] = ['chat', 'chat-stream', 'completions', 'embeddings', 'responses', 'responses-stream', 'messages', 'messages-stream', 'tool-get', 'tool-post'];

  it.each([
    ['a small body', 0],
    ['a 400 KB body', 400_000],
  ])(
    'each is noticed while held (%s): it leaves the gate, and on resume no row, no reservation, no charge',
    async (_, pad) => {
      const a = await agentToken(t, { budgetUsd: 1 });
      expect((await post(t, `/api/agents/${a.agentId}/pause`, { reason: 'hang-ups' })).status).toBe(200);
      const missed: string[] = [];
      // Calls the gate failed to notice stay held (and would be sent once resumed): counted at the end.
      let stuck = 0;
      let i = 0;
      for (const how of HOW) {
        // Each way on two surfaces in turn, so every surface and every way is covered.
        for (const kind of [KINDS[i++ % KINDS.length]!, KINDS[i++ % KINDS.length]!]) {
          const c = await caller(t, how, kind, a.token, pad);
          await heldIs(t, a.agentId, stuck + c.held);
          c.hangUp();
          if (!(await heldIs(t, a.agentId, stuck, 3000).catch(() => false))) {
            missed.push(`${how} ${kind}`);
            stuck = await heldNow(t, a.agentId);
          }
        }
      }
      expect((await post(t, `/api/agents/${a.agentId}/resume`)).status).toBe(200);
      await sleep(300);
      expect(missed).toEqual([]);
      expect(llmRows(t, a.agentId)).toBe(0);
      expect(toolRows(t, a.agentId)).toBe(0);
      expect(await budgetOf(t, a.agentId)).toMatchObject({ spentUsd: 0, reservedUsd: 0 });
    },
    60_000,
  );

  it('20 callers that hang up just before the resume: none goes on, none is recorded or charged; a live caller is', async () => {
    const a = await agentToken(t, { budgetUsd: 1 });
    expect((await post(t, `/api/agents/${a.agentId}/pause`, {})).status).toBe(200);
    const kinds: Kind[] = ['chat', 'chat-stream', 'messages', 'responses', 'tool-post'];
    const callers: Caller[] = [];
    for (let i = 0; i < 20; i++) callers.push(await caller(t, (['close', 'fin', 'reset'] as const)[i % 3]!, kinds[i % kinds.length]!, a.token, i % 2 === 0 ? 300_000 : 0));
    // One real HTTP client that stays.
    const live = fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'still here' }] }),
    });
    await heldIs(t, a.agentId, 21);
    for (const c of callers) c.hangUp();
    // No waiting for the gate to notice: resumed at once.
    const resumed = await post(t, `/api/agents/${a.agentId}/resume`);
    expect(resumed.status).toBe(200);
    expect((await live).status).toBe(200);
    await sleep(300);
    expect(llmRows(t, a.agentId)).toBe(1);
    expect(toolRows(t, a.agentId)).toBe(0);
    const b = await budgetOf(t, a.agentId);
    expect(b.reservedUsd).toBe(0);
    expect(b.spentUsd).toBe((sqliteOf(t.rt.state).prepare('SELECT cost_micros AS m FROM llm_requests WHERE agent_id = ?').get(a.agentId) as { m: number }).m / 1e6);
    expect(await heldNow(t, a.agentId)).toBe(0);
    // The resume said how many went on: the one caller still there.
    const resumedEvent = t.rt.state.lastEvents(1000, a.agentId).find((e) => e.type === 'agent.resumed');
    expect(resumedEvent?.data).toMatchObject({ held: 1 });
  }, 60_000);

  it('a fetch aborted at the gate (a real HTTP client giving up) is gone too, on both surfaces', async () => {
    const a = await agentToken(t);
    expect((await post(t, `/api/agents/${a.agentId}/pause`, {})).status).toBe(200);
    const controllers = [new AbortController(), new AbortController()];
    const calls = [
      fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'y'.repeat(200_000) }] }),
        signal: controllers[0]!.signal,
      }).catch((e: Error) => e.name),
      fetch(`${t.rt.url}/tools/crm/leads`, { method: 'POST', headers: { authorization: `Bearer ${a.token}` }, body: 'z'.repeat(200_000), signal: controllers[1]!.signal }).catch((e: Error) => e.name),
    ];
    await heldIs(t, a.agentId, 2);
    for (const c of controllers) c.abort();
    expect(await Promise.all(calls)).toEqual(['AbortError', 'AbortError']);
    await heldIs(t, a.agentId, 0);
    expect((await post(t, `/api/agents/${a.agentId}/resume`)).status).toBe(200);
    await sleep(200);
    expect(llmRows(t, a.agentId) + toolRows(t, a.agentId)).toBe(0);
  }, 30_000);
});

describe('bounds on what the gate holds', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: config({ maxHeldPerAgent: 3, maxHeld: 5, holdMs: 60_000 }) });
  });
  afterAll(() => t?.stop());

  const chat = (token: string, signal?: AbortSignal) =>
    fetch(`${t.rt.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
      ...(signal ? { signal } : {}),
    });
  const messages = (token: string) =>
    fetch(`${t.rt.url}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': token, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'claude-3-5-haiku-latest', max_tokens: 5, messages: [{ role: 'user', content: 'hi' }] }),
    });
  const tool = (token: string) => fetch(`${t.rt.url}/tools/crm/leads/1`, { headers: { authorization: `Bearer ${token}` } });

  it("past max_held_per_agent a call is refused at once, 503 with Retry-After in the caller's shape; the held ones go on when resumed", async () => {
    const a = await agentToken(t);
    expect((await post(t, `/api/agents/${a.agentId}/pause`, {})).status).toBe(200);
    const held = [chat(a.token), chat(a.token), tool(a.token)];
    await heldIs(t, a.agentId, 3);
    const openai = await chat(a.token);
    expect(openai.status).toBe(503);
    expect(Number(openai.headers.get('retry-after'))).toBeGreaterThan(0);
    const oe = (await openai.json()).error;
    expect(oe.type).toBeTypeOf('string');
    expect(oe.message).toMatch(new RegExp(`agent ${a.agentId} is paused.*3 calls.*watch\\.gate\\.max_held_per_agent`));
    const anthropic = await messages(a.token);
    expect(anthropic.status).toBe(503);
    expect(anthropic.headers.get('retry-after')).not.toBeNull();
    const ae = await anthropic.json();
    expect(ae.type).toBe('error');
    expect(ae.error.message).toMatch(/is paused/);
    const rest = await tool(a.token);
    expect(rest.status).toBe(503);
    expect(rest.headers.get('retry-after')).not.toBeNull();
    expect((await rest.json()).error).toMatchObject({ code: 'agent_paused' });
    expect(await heldNow(t, a.agentId)).toBe(3);
    expect(llmRows(t, a.agentId) + toolRows(t, a.agentId)).toBe(0);
    expect((await post(t, `/api/agents/${a.agentId}/resume`)).status).toBe(200);
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200, 200]);
    expect(llmRows(t, a.agentId)).toBe(2);
    expect(toolRows(t, a.agentId)).toBe(1);
  }, 30_000);

  it('past max_held across agents a call is refused too; a hang-up frees its place', async () => {
    const [a, b] = [await agentToken(t), await agentToken(t)];
    for (const x of [a, b]) expect((await post(t, `/api/agents/${x.agentId}/pause`, {})).status).toBe(200);
    const gone = new AbortController();
    const first = [chat(a.token), chat(a.token), chat(a.token, gone.signal).catch((e: Error) => e.name)];
    await heldIs(t, a.agentId, 3);
    const second = [chat(b.token), chat(b.token)];
    await heldIs(t, b.agentId, 2);
    const refused = await chat(b.token);
    expect(refused.status).toBe(503);
    expect((await refused.json()).error.message).toMatch(/5 calls.*watch\.gate\.max_held\b/);
    // One of a's callers goes away: its place is free for b's next call.
    gone.abort();
    await heldIs(t, a.agentId, 2);
    const third = chat(b.token);
    await heldIs(t, b.agentId, 3);
    for (const x of [a, b]) expect((await post(t, `/api/agents/${x.agentId}/resume`)).status).toBe(200);
    expect((await Promise.all([...first.slice(0, 2), ...second, third])).map((r) => (r as Response).status)).toEqual([200, 200, 200, 200, 200]);
    expect(await first[2]).toBe('AbortError');
    expect(llmRows(t, a.agentId)).toBe(2);
    expect(llmRows(t, b.agentId)).toBe(3);
  }, 30_000);
});

describe('how long a call is held', () => {
  let t: TestRuntime;
  beforeAll(async () => {
    t = await startTestRuntime({ config: config({ holdMs: 800, maxHeldBytes: 256 * 1024 }) });
  });
  afterAll(() => t?.stop());

  it('past hold_s the call is answered 503 naming the pause, with Retry-After, and leaves nothing behind', async () => {
    const a = await agentToken(t);
    expect((await post(t, `/api/agents/${a.agentId}/pause`, { reason: 'review' })).status).toBe(200);
    const t0 = Date.now();
    const [llm, tool] = await Promise.all([
      fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
      }),
      fetch(`${t.rt.url}/tools/crm/leads/1`, { headers: { authorization: `Bearer ${a.token}` } }),
    ]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(700);
    // A raw caller that never hangs up is answered too, and its connection closed: no socket stays open.
    host = new URL(t.rt.url).host;
    const s = await open(Number(new URL(t.rt.url).port));
    let answer = '';
    s.on('data', (c: Buffer) => (answer += c.toString()));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write(callOf('chat', a.token, 100_000));
    await closed;
    expect(answer).toMatch(/^HTTP\/1\.1 503 /);
    expect(answer).toMatch(/is paused/);

    for (const r of [llm, tool]) {
      expect(r.status).toBe(503);
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    expect((await llm.json()).error.message).toMatch(new RegExp(`agent ${a.agentId} is paused.*0\\.8 s.*watch\\.gate\\.hold_s`));
    expect((await tool.json()).error).toMatchObject({ code: 'agent_paused', message: expect.stringMatching(/is paused/) });
    expect(await heldNow(t, a.agentId)).toBe(0);
    expect(llmRows(t, a.agentId) + toolRows(t, a.agentId)).toBe(0);
    expect((await post(t, `/api/agents/${a.agentId}/resume`)).status).toBe(200);
  }, 30_000);

  it('bodies read while held are bounded in total (max_held_mb): past it a call is refused, the others stay', async () => {
    const a = await agentToken(t);
    expect((await post(t, `/api/agents/${a.agentId}/pause`, {})).status).toBe(200);
    const big = (n: number) =>
      fetch(`${t.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'gpt-4o-mini', max_tokens: 5, messages: [{ role: 'user', content: 'w'.repeat(n) }] }),
      });
    const first = big(150_000);
    await heldIs(t, a.agentId, 1);
    const second = await big(150_000);
    expect(second.status).toBe(503);
    expect((await second.json()).error.message).toMatch(/watch\.gate\.max_held_mb/);
    expect((await first).status).toBe(503); // held until hold_s, then answered
    expect(llmRows(t, a.agentId)).toBe(0);
  }, 30_000);
});

describe('the moment of resume', () => {
  // The gate alone on a real server, so the resume can be made to land between a caller's FIN
  // arriving and the gate's own listener hearing it: only the check at resume can catch that.
  it('a caller whose connection ended by the resume does not go on, even before the gate heard it', async () => {
    const gate = new PauseGate(WATCH_DEFAULTS.gate);
    gate.pause('a1');
    const outcomes: string[] = [];
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      // Registered before the gate's: runs first when the FIN arrives, and resumes then.
      req.socket.once('end', () => gate.resume('a1'));
      gate
        .hold('a1', { req, res, bodyLimit: 1024 * 1024 })!
        .then(
          () => outcomes.push('went on'),
          (e: Error) => outcomes.push(e.name),
        )
        .finally(() => res.destroyed || res.end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      host = `127.0.0.1:${port}`;
      const s = await open(port);
      s.write(request('POST', '/x', {}, '{"a":1}'));
      await until(() => gate.held('a1') === 1, 5000, 10);
      s.end();
      await until(() => outcomes.length === 1, 5000, 10);
      expect(outcomes).toEqual(['GaveUpAtGateError']);
      expect(gate.held('a1')).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
