import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { DEFAULTS } from '../../src/config/index.js';
import { SOCKETS_PER_AGENT } from '../../src/gateway/index.js';
import { agentToken, startTestRuntime, until, type AgentToken, type TestRuntime } from '../helpers/runtime.js';
import { ledgerOf } from '../helpers/responses.js';
import { sqliteOf } from '../helpers/db.js';

// The Responses API over a WebSocket (`GET /v1/responses` upgraded; OpenAI's WebSocket mode,
// Codex CLI's first transport) against a real runtime on the simulated provider, with the `ws`
// package as the client: each `response.create` answered with the HTTP stream's own events, one
// per message, metered, budgeted and scanned as an HTTP call is; refusals as error events.

/** A simulated provider that answers at once, or one word every `chunkDelayMs`. */
const simulated = (chunkDelayMs = 0) => ({ ...DEFAULTS.gateway, providers: { ...DEFAULTS.gateway.providers, simulated: { latencyMs: 0, chunkDelayMs, failures: [] } } });

/** A socket client: every message parsed, the calls' events read up to the one that ends each. */
class Socket {
  readonly ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  private readonly inbox: any[] = [];
  private wake: (() => void) | null = null;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.ws = new WebSocket(`${url.replace('http', 'ws')}/v1/responses`, { headers });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => this.ws.once('close', (code, reason) => resolve({ code, reason: String(reason) })));
    this.ws.on('message', (raw) => {
      this.inbox.push(JSON.parse(String(raw)));
      this.wake?.();
    });
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === 'string' ? frame : JSON.stringify(frame));
  }

  /** The next message, waiting for it (bounded). */
  async next(timeoutMs = 20_000): Promise<any> {
    const end = Date.now() + timeoutMs;
    while (this.inbox.length === 0) {
      if (Date.now() > end) throw new Error('no message on the socket in time');
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, 200);
      });
      this.wake = null;
    }
    return this.inbox.shift();
  }

  /** The events of one call, through the one that ends it. */
  async call(): Promise<any[]> {
    const out: any[] = [];
    for (let i = 0; i < 10_000; i++) {
      const ev = await this.next();
      out.push(ev);
      if (['response.completed', 'response.incomplete', 'response.failed', 'error'].includes(ev.type)) return out;
    }
    throw new Error('a call with no end');
  }

  async create(body: Record<string, unknown>): Promise<any[]> {
    this.send({ type: 'response.create', ...body });
    return this.call();
  }

  close(): Promise<unknown> {
    if (this.ws.readyState !== WebSocket.CLOSED) this.ws.close();
    return this.closed;
  }
}

/** An upgrade's outcome: opened (101), or the status and body it was refused with. */
function upgrade(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/responses`, { headers });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: '' });
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () => {
        resolve({ status: res.statusCode!, body });
        ws.terminate();
      });
    });
    ws.once('error', reject);
  });
}

/** The events of an SSE body, parsed. */
const sseEvents = (text: string): any[] =>
  text
    .split('\n\n')
    .filter((b) => b.trim() !== '')
    .map((b) => JSON.parse(/^data: (.*)$/m.exec(b)![1]!));

/** An event with what differs between two runs of the same request (ids, times) taken out. */
function comparable(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(comparable);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) if (!['id', 'item_id', 'created_at', 'completed_at'].includes(k)) out[k] = comparable(x);
  return out;
}

const auth = (a: AgentToken) => ({ authorization: `Bearer ${a.token}` });

describe('the Responses API over a WebSocket', () => {
  let t: TestRuntime;
  let a: AgentToken;

  beforeAll(async () => {
    t = await startTestRuntime({ config: { gateway: simulated() } });
    a = await agentToken(t);
  });
  afterAll(async () => t?.stop());

  it('streams a turn event by event, the same events as the HTTP stream of the same request, and records it like one', async () => {
    const request = { model: 'gpt-4o', input: 'Repeat exactly: the same words both ways', store: false };
    const http = await fetch(`${t.rt.url}/v1/responses`, { method: 'POST', headers: { ...auth(a), 'content-type': 'application/json' }, body: JSON.stringify({ ...request, stream: true }) });
    expect(http.status).toBe(200);
    const overHttp = sseEvents(await http.text());
    const before = ledgerOf(t, a.agentId).length;

    const s = new Socket(t.rt.url, auth(a));
    await s.opened;
    const overSocket = await s.create(request);
    expect(overSocket.map((e) => e.type)).toEqual(overHttp.map((e) => e.type));
    expect(overSocket.map(comparable)).toEqual(overHttp.map(comparable));
    expect(overSocket.at(-1).response.output[0].content[0].text).toBe('the same words both ways');
    expect(overSocket.map((e) => e.sequence_number)).toEqual(overSocket.map((_, i) => i));

    // One row, the HTTP call's twin: the same tokens, the same cost.
    const rows = ledgerOf(t, a.agentId);
    expect(rows).toHaveLength(before + 1);
    const [viaHttp, viaSocket] = rows.slice(-2) as any[];
    expect(viaSocket).toMatchObject({
      endpoint: 'responses',
      stream: 1,
      status: 'ok',
      prompt_tokens: viaHttp.prompt_tokens,
      completion_tokens: viaHttp.completion_tokens,
      cost_micros: viaHttp.cost_micros,
    });
    expect(viaSocket.cost_micros).toBeGreaterThan(0);
    await s.close();
  });

  it('carries several turns on one socket, each continuing the last by previous_response_id though none was stored', async () => {
    const s = new Socket(t.rt.url, auth(a));
    await s.opened;
    const before = ledgerOf(t, a.agentId).length;
    const first = await s.create({ model: 'gpt-4o-mini', input: 'Repeat exactly: first turn', store: false });
    const one = first.at(-1).response;
    expect(one.output[0].content[0].text).toBe('first turn');
    const second = await s.create({ model: 'gpt-4o-mini', previous_response_id: one.id, input: [{ role: 'user', content: 'Repeat exactly: second turn' }], store: false });
    expect(second.at(-1)).toMatchObject({ type: 'response.completed', response: { status: 'completed' } });
    expect(second.at(-1).response.output[0].content[0].text).toBe('second turn');
    const rows = ledgerOf(t, a.agentId).slice(before);
    expect(rows).toHaveLength(2);
    // The second call was sent its whole context: the first turn's prompt and answer are in its prompt.
    expect(rows[1]!.prompt_tokens).toBeGreaterThan(rows[0]!.prompt_tokens + rows[0]!.completion_tokens - 1);
    // Nothing was stored: an id only this socket knew is unknown to HTTP.
    const stored = await fetch(`${t.rt.url}/v1/responses/${one.id}`, { headers: auth(a) });
    expect(stored.status).toBe(404);
    await s.close();
  });

  it('warms up with generate: false (no upstream call, no row), then meters the turn that continues it whole', async () => {
    const s = new Socket(t.rt.url, auth(a));
    await s.opened;
    const before = ledgerOf(t, a.agentId).length;
    const warm = await s.create({ model: 'gpt-4o', input: [{ role: 'developer', content: 'You are terse.' }], store: false, generate: false });
    expect(warm.map((e) => e.type)).toEqual(['response.created', 'response.completed']);
    expect(warm[1].response).toMatchObject({ status: 'completed', output: [], usage: { input_tokens: 0, output_tokens: 0 } });
    expect(ledgerOf(t, a.agentId)).toHaveLength(before);
    // An empty input continues it as it was.
    const turn = await s.create({ model: 'gpt-4o', previous_response_id: warm[1].response.id, input: [{ role: 'user', content: 'Repeat exactly: warmed' }], store: false });
    expect(turn.at(-1).response.output[0].content[0].text).toBe('warmed');
    const rows = ledgerOf(t, a.agentId).slice(before);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ endpoint: 'responses', status: 'ok' });
    await s.close();
  });

  it('answers bad messages with precise error events and keeps the socket open', async () => {
    const s = new Socket(t.rt.url, auth(a));
    await s.opened;
    s.send('{"type": "response.create", "model": ');
    expect(await s.next()).toMatchObject({ type: 'error', status: 400, error: { type: 'invalid_request_error', code: 'invalid_json', message: expect.stringContaining('not valid JSON') } });
    s.send({ type: 'session.update', session: {} });
    expect(await s.next()).toMatchObject({ type: 'error', status: 400, error: { code: 'invalid_frame', message: expect.stringContaining(`Invalid value for 'type': "session.update"`) } });
    s.send({ model: 'gpt-4o', input: 'hi' });
    expect(await s.next()).toMatchObject({ type: 'error', status: 400, error: { message: "Missing required parameter: 'type'." } });
    s.send([1, 2]);
    expect(await s.next()).toMatchObject({ type: 'error', status: 400, error: { code: 'invalid_frame' } });
    s.ws.send(Buffer.from('{}'), { binary: true });
    expect(await s.next()).toMatchObject({ type: 'error', status: 400, error: { message: expect.stringContaining('Binary messages') } });
    // The wire's own checks, in its own words, as over HTTP.
    expect(await s.create({ input: 'hi' })).toEqual([
      { type: 'error', status: 400, error: expect.objectContaining({ type: 'invalid_request_error', message: "Missing required parameter: 'model'." }) },
    ]);
    expect((await s.create({ model: 'gpt-4o', input: [] }))[0]).toMatchObject({
      type: 'error',
      status: 400,
      error: { message: "Invalid 'input': empty array. Expected an array with minimum length 1." },
    });
    // An acknowledgement is read and not answered: the next call's events come next.
    s.send({ type: 'response.processed', response_id: 'resp_x' });
    const ok = await s.create({ model: 'gpt-4o', input: 'Repeat exactly: still here', store: false });
    expect(ok.at(-1).response.output[0].content[0].text).toBe('still here');
    await s.close();
  });

  it('refuses a second call while one is in flight', async () => {
    const slow = await startTestRuntime({ config: { gateway: simulated(30) } });
    try {
      const b = await agentToken(slow);
      const s = new Socket(slow.rt.url, auth(b));
      await s.opened;
      s.send({ type: 'response.create', model: 'gpt-4o', input: 'Repeat exactly: one two three four five six seven eight', store: false });
      s.send({ type: 'response.create', model: 'gpt-4o', input: 'Repeat exactly: too soon', store: false });
      const events = await s.call();
      // The refusal comes at once, amid the first call's events, which go on to their end.
      const refused = events.find((e) => e.type === 'error');
      expect(refused).toMatchObject({ status: 400, error: { code: 'response_already_in_flight' } });
      const rest = events.at(-1).type === 'error' ? await s.call() : events;
      expect(rest.at(-1).response.output[0].content[0].text).toBe('one two three four five six seven eight');
      // A socket left open is told to go when the cage stops.
      await slow.stop();
      expect((await s.closed).code).toBe(1001);
    } finally {
      await slow.stop();
    }
  });

  it('refuses an upgrade without a good agent token before it completes, in the wire’s error shape', async () => {
    const none = await upgrade(t.rt.url, {});
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ error: { type: 'authentication_error', message: expect.stringContaining('No API key provided') } });
    expect((await upgrade(t.rt.url, { authorization: 'Bearer not-a-token' })).status).toBe(401);
    const admin = await upgrade(t.rt.url, { authorization: `Bearer ${t.rt.adminToken}` });
    expect(admin.status).toBe(403);
    expect(admin.body).toContain('LLM calls need an agent token');
    // A Host not ours is refused as HTTP refuses it.
    const host = await upgrade(t.rt.url, { ...auth(a), host: 'evil.example:80' });
    expect(host.status).toBe(403);
    expect(host.body).toContain('forbidden_host');
    // So is a page of another origin.
    expect((await upgrade(t.rt.url, { ...auth(a), origin: 'http://evil.example' })).status).toBe(403);
    expect((await upgrade(t.rt.url, auth(a))).status).toBe(101);
  });

  it('holds one agent to SOCKETS_PER_AGENT open sockets: the next upgrade is refused 429, and taken once one closes', async () => {
    const b = await agentToken(t);
    const open = Array.from({ length: SOCKETS_PER_AGENT }, () => new Socket(t.rt.url, auth(b)));
    await Promise.all(open.map((s) => s.opened));
    const refused = await upgrade(t.rt.url, auth(b));
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body).error.message).toContain(`already has ${SOCKETS_PER_AGENT} Responses sockets open`);
    // Another agent is not held to this one's count.
    expect((await upgrade(t.rt.url, auth(a))).status).toBe(101);
    await open[0]!.close();
    await until(async () => (await upgrade(t.rt.url, auth(b))).status === 101);
    await Promise.all(open.map((s) => s.close()));
  });

  it('closes a socket that sends a message past the request limit (1009)', async () => {
    const small = await startTestRuntime({ config: { gateway: { ...simulated(), maxRequestBytes: 32 * 1024 } } });
    try {
      const b = await agentToken(small);
      const s = new Socket(small.rt.url, auth(b));
      await s.opened;
      s.send({ type: 'response.create', model: 'gpt-4o', input: 'x'.repeat(200 * 1024) });
      expect((await s.closed).code).toBe(1009);
      expect(ledgerOf(small, b.agentId)).toHaveLength(0);
    } finally {
      await small.stop();
    }
  });
});

describe('budget, PII and hang-ups over the socket', () => {
  it('refuses a call the budget cannot cover with a 402 error event, nothing sent or charged', async () => {
    const t = await startTestRuntime({ config: { gateway: simulated() } });
    try {
      const poor = await agentToken(t, { budgetUsd: 0.000001 });
      const s = new Socket(t.rt.url, auth(poor));
      await s.opened;
      const events = await s.create({ model: 'gpt-4o', input: 'Repeat exactly: too dear', store: false });
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ type: 'error', status: 402, error: { message: expect.stringContaining('budget') }, headers: { 'x-should-retry': 'false' } });
      const spent = await (await t.api(`/api/agents/${poor.agentId}/costs`)).json();
      expect(spent.spentUsd).toBe(0);
      // The socket stays open for whatever the agent does next.
      expect(s.ws.readyState).toBe(WebSocket.OPEN);
      await s.close();
    } finally {
      await t.stop();
    }
  });

  it('redacts PII in the prompt before it leaves, and refuses it under the block policy', async () => {
    const t = await startTestRuntime({ config: { gateway: simulated(), safety: { ...DEFAULTS.safety, redactPrompts: true } } });
    try {
      const b = await agentToken(t);
      const s = new Socket(t.rt.url, auth(b));
      await s.opened;
      const events = await s.create({ model: 'gpt-4o', input: 'Repeat exactly: write to jane.doe@corp.example today', store: false });
      // The simulated provider repeats what it was sent: the address never reached it.
      expect(events.at(-1).response.output[0].content[0].text).toBe('write to [EMAIL_REDACTED] today');
      expect(JSON.stringify(events)).not.toContain('jane.doe@corp.example');
      await s.close();
    } finally {
      await t.stop();
    }
    const blocking = await startTestRuntime({ config: { gateway: simulated(), safetyMode: 'block', safety: { ...DEFAULTS.safety, redactPrompts: true } } });
    try {
      const b = await agentToken(blocking);
      const s = new Socket(blocking.rt.url, auth(b));
      await s.opened;
      const events = await s.create({ model: 'gpt-4o', input: 'Repeat exactly: write to jane.doe@corp.example today', store: false });
      expect(events).toEqual([{ type: 'error', status: 400, error: expect.objectContaining({ message: expect.stringContaining('this request') }), headers: expect.anything() }]);
      expect(ledgerOf(blocking, b.agentId)).toHaveLength(0);
      await s.close();
    } finally {
      await blocking.stop();
    }
  });

  it('ends a stream whose output the block policy stops with an error event a client reads as a 400', async () => {
    const t = await startTestRuntime({ config: { gateway: simulated(), safetyMode: 'block' } });
    try {
      const b = await agentToken(t);
      const s = new Socket(t.rt.url, auth(b));
      await s.opened;
      const events = await s.create({ model: 'gpt-4o', input: 'Repeat exactly: write to jane.doe@corp.example today', store: false });
      expect(events.at(-1)).toMatchObject({ type: 'error', status: 400, error: { code: 'pii_blocked' } });
      expect(JSON.stringify(events)).not.toContain('jane.doe@corp.example');
      expect(ledgerOf(t, b.agentId).map((r) => r.status)).toEqual(['blocked']);
      // The socket goes on: the next call is answered.
      const next = await s.create({ model: 'gpt-4o', input: 'Repeat exactly: nothing to hide', store: false });
      expect(next.at(-1).response.output[0].content[0].text).toBe('nothing to hide');
      await s.close();
    } finally {
      await t.stop();
    }
  });

  it('settles a call whose client closes the socket mid-stream as HTTP settles a hang-up: one row, aborted, nothing pending', async () => {
    const t = await startTestRuntime({ config: { gateway: simulated(40) } });
    try {
      const b = await agentToken(t);
      const s = new Socket(t.rt.url, auth(b));
      await s.opened;
      s.send({ type: 'response.create', model: 'gpt-4o', input: `Repeat exactly: ${'word '.repeat(30)}`, store: false });
      for (let i = 0; i < 200 && (await s.next()).type !== 'response.output_text.delta'; i++);
      s.ws.terminate();
      const row = await until(() => {
        const rows = sqliteOf(t.rt.state).prepare('SELECT status, http_status, cost_micros FROM llm_requests WHERE agent_id = ?').all(b.agentId) as any[];
        return rows.length === 1 && rows[0].status !== 'pending' ? rows[0] : null;
      });
      expect(row.status).toBe('aborted');
      expect(row.cost_micros).toBeGreaterThan(0);
      const spent = await (await t.api(`/api/agents/${b.agentId}/costs`)).json();
      expect(spent.spentUsd).toBeGreaterThan(0);
    } finally {
      await t.stop();
    }
  });
});
