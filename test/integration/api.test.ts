import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { join } from 'node:path';
import { ROOT, startTestRuntime, until, WsProbe, type TestRuntime } from '../helpers/runtime.js';
import { sqliteOf } from '../helpers/db.js';

let t: TestRuntime;
let agentId: string;
let agentToken: string;
let otherAgentToken: string;
let viewerToken: string;

beforeAll(async () => {
  t = await startTestRuntime({ agent: { script: join(ROOT, 'test/fixtures/agents/sleeper.py') } });
  agentId = t.rt.agentId!;
  agentToken = (await t.rt.tokens.issueRun({ name: agentId, agentId })).token;
  otherAgentToken = (await t.rt.tokens.issueRun({ name: 'other', agentId: 'ot-00000000' })).token;
  viewerToken = await t.rt.tokens.issue({ role: 'viewer', name: 'viewer' });
  await until(() => t.log().includes('sleeper ready'));
});
afterAll(async () => t?.stop());

/** A raw request, so the Host header can be anything. */
function rawGet(path: string, host: string, token: string): Promise<{ status: number; body: string }> {
  const u = new URL(t.rt.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host, authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const eventCount = () => (sqliteOf(t.rt.state).prepare('SELECT count(*) AS n FROM events').get() as { n: number }).n;

describe('access', () => {
  it('health needs no token; everything else does', async () => {
    const h = await t.api('/api/health', { token: null });
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: 'ok', version: '0.1.0' });
    // ?proof=<nonce>: an HMAC under a key derived from the signing key (the CLI's check), never a token's signature.
    const nonce = 'ab'.repeat(16);
    const proved = await (await t.api(`/api/health?proof=${nonce}`, { token: null })).json();
    expect(proved.proof).toBe(t.rt.tokens.proof(nonce));
    expect(proved.proof).toMatch(/^[0-9a-f]{64}$/);
    const bad = await t.api('/api/health?proof=not-hex', { token: null });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/proof: must be 32-128/);
    for (const path of ['/api/agents', `/api/agents/${agentId}/status`, '/api/events']) {
      const r = await t.api(path, { token: null });
      expect(r.status).toBe(401);
      expect(await r.json()).toEqual({ error: { code: 'unauthorized', message: expect.stringContaining('token') } });
    }
    const forged = await t.api('/api/agents', { token: 'eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYWRtaW4ifQ.invalid' });
    expect(forged.status).toBe(401);
  });

  it('a viewer can read but not stop', async () => {
    expect((await t.api('/api/agents', { token: viewerToken })).status).toBe(200);
    const r = await t.api(`/api/agents/${agentId}/stop`, { method: 'POST', token: viewerToken });
    expect(r.status).toBe(403);
    expect((await r.json()).error).toEqual({ code: 'forbidden', message: 'viewer tokens are read-only' });
    expect((await (await t.api(`/api/agents/${agentId}/status`)).json()).status).toBe('running');
    expect(t.rt.state.lastEvents(50, agentId).filter((e) => e.type === 'agent.stopping')).toEqual([]);
    expect((await t.api(`/api/agents/${agentId}/checkpoint`, { token: viewerToken })).status).toBe(403);
  });

  it('an agent token sees and acts on its own agent only', async () => {
    const mine = await t.api('/api/agents', { token: agentToken });
    expect((await mine.json()).map((a: any) => a.id)).toEqual([agentId]);
    const theirs = await t.api('/api/agents', { token: otherAgentToken });
    expect(await theirs.json()).toEqual([]);
    expect((await t.api(`/api/agents/${agentId}/status`, { token: otherAgentToken })).status).toBe(404);
    const before = eventCount();
    const post = await t.api(`/api/agents/${agentId}/events`, { method: 'POST', token: otherAgentToken, body: JSON.stringify({ message: 'spoof' }) });
    expect(post.status).toBe(404);
    expect((await t.api(`/api/agents/${agentId}/stop`, { method: 'POST', token: otherAgentToken })).status).toBe(404);
    expect(eventCount()).toBe(before);
    const ev = await t.api(`/api/events?agentId=${agentId}`, { token: otherAgentToken });
    expect(ev.status).toBe(404);
    const own = await t.api(`/api/agents/${agentId}/events`, { method: 'POST', token: agentToken, body: JSON.stringify({ message: 'mine', severity: 'warn', data: { k: 1 } }) });
    expect(own.status).toBe(201);
    expect(await own.json()).toEqual({ seq: expect.any(Number) });
  });

  it('rejects a Host that is not this server (DNS rebinding)', async () => {
    const u = new URL(t.rt.url);
    const bad = await rawGet('/api/agents', `evil.example:${u.port}`, t.rt.adminToken);
    expect(bad.status).toBe(403);
    expect(JSON.parse(bad.body).error.code).toBe('forbidden_host');
    expect((await rawGet('/api/health', 'evil.example', t.rt.adminToken)).status).toBe(403);
    expect((await rawGet('/api/agents', `localhost:${u.port}`, t.rt.adminToken)).status).toBe(200);
    expect((await rawGet('/api/agents', `127.0.0.1:${u.port}`, t.rt.adminToken)).status).toBe(200);
    expect((await rawGet('/api/agents', `127.0.0.1:1`, t.rt.adminToken)).status).toBe(403);
  });

  it('answers CORS only for its own origin', async () => {
    const u = new URL(t.rt.url);
    const own = await t.api('/api/agents', { headers: { origin: `http://localhost:${u.port}` } });
    expect(own.headers.get('access-control-allow-origin')).toBe(`http://localhost:${u.port}`);
    const other = await t.api('/api/agents', { headers: { origin: 'https://evil.example' } });
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // Every answer says it varies by Origin: with one, without one (an agent), and a refusal.
    for (const r of [own, other]) expect(r.headers.get('vary')).toBe('Origin');
    const agentLike = await t.api('/api/agents');
    expect(agentLike.status).toBe(200);
    expect(agentLike.headers.get('vary')).toBe('Origin');
    expect(agentLike.headers.get('access-control-allow-origin')).toBeNull();
    expect(Array.isArray(await agentLike.json())).toBe(true);
    const refused = await fetch(`${t.rt.url}/api/agents`);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('vary')).toBe('Origin');
    expect((await refused.json()).error.code).toBeTruthy();
    const preflight = await fetch(`${t.rt.url}/api/agents`, { method: 'OPTIONS', headers: { origin: `http://localhost:${u.port}`, 'access-control-request-method': 'POST' } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe(`http://localhost:${u.port}`);
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
  });

  it('WebSocket needs a token and a sane origin', async () => {
    const base = t.rt.url.replace('http', 'ws');
    await expect(new WsProbe(`${base}/ws`).opened).rejects.toThrow('HTTP 401');
    await expect(new WsProbe(`${base}/ws?token=nope`).opened).rejects.toThrow('HTTP 401');
    await expect(new WsProbe(`${base}/ws?token=${t.rt.adminToken}`, { origin: 'https://evil.example' }).opened).rejects.toThrow('HTTP 403');
    const ok = new WsProbe(`${base}/ws?token=${viewerToken}`);
    await ok.opened;
    await ok.close();
  });

  it('an agent-scoped WebSocket receives only its own agent', async () => {
    const probe = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${otherAgentToken}`);
    await probe.opened;
    await until(() => probe.messages.length > 0);
    expect(probe.messages[0]).toMatchObject({ type: 'snapshot', agents: [], events: [] });
    await probe.close();
    // A scoped client whose agent exists gets its own events; events are sent in order on one
    // socket, so once its own later event has arrived, the earlier foreign one would have too.
    const mine = await (await t.api('/api/tokens', { method: 'POST', body: JSON.stringify({ role: 'agent', name: 'ws-scope' }) })).json();
    const scoped = new WsProbe(`${t.rt.url.replace('http', 'ws')}/ws?token=${mine.token}`);
    await scoped.opened;
    await until(() => scoped.messages.length > 0);
    expect(scoped.messages[0]).toMatchObject({ type: 'snapshot', agents: [{ id: mine.agentId }] });
    await t.api(`/api/agents/${agentId}/events`, { method: 'POST', token: agentToken, body: JSON.stringify({ message: 'not for you' }) });
    await t.api(`/api/agents/${mine.agentId}/events`, { method: 'POST', token: mine.token, body: JSON.stringify({ message: 'for you' }) });
    await scoped.waitForEvent((e) => e.message === 'for you');
    expect(scoped.events().filter((e) => e.message === 'not for you')).toEqual([]);
    expect(scoped.events().every((e) => e.agentId === mine.agentId)).toBe(true);
    expect(scoped.agentStates().every((a) => a.id === mine.agentId)).toBe(true);
    expect(probe.events()).toEqual([]);
    await scoped.close();
  });
});

describe('bad input', () => {
  const posts: Array<[string, string, RegExp]> = [
    ['progress', '{"done": ', /not valid JSON/],
    ['progress', '', /must be a JSON object/],
    ['progress', '{"done": "three"}', /^done: expected number$/],
    ['progress', '{"done": -1}', /^done: must be 0 or more$/],
    ['progress', '{"done": 1.5}', /^done: must be a whole number$/],
    ['progress', '{"done": 5, "total": 3}', /^done: must not exceed total$/],
    ['progress', '{"done": 1, "extra": true}', /^unknown field 'extra'$/],
    ['progress', '[1,2]', /expected object/],
    ['progress', '{"done": 3, "succeeded": -1}', /^succeeded: must be 0 or more$/],
    ['progress', '{"done": 3, "failed": 0.5}', /^failed: must be a whole number$/],
    ['progress', '{"done": 3, "succeeded": "2"}', /^succeeded: expected number$/],
    ['progress', '{"done": 3, "succeeded": 2, "failed": 2}', /^succeeded \+ failed must not exceed done$/],
    ['progress', '{"done": 3, "failed": 4}', /^succeeded \+ failed must not exceed done$/],
    ['events', '{}', /^message: expected string$/],
    ['events', '{"message": ""}', /^message: must not be empty$/],
    ['events', '{"message": "x", "severity": "loud"}', /^severity: must be one of "debug", "info", "warn", "error", "critical"$/],
    ['events', '{"message": "x", "data": [1]}', /^data: expected record$/],
    ['checkpoints', '{}', /^state: required$/],
    ['checkpoints', '{"state": null, "x": 1}', /^unknown field 'x'$/],
    ['checkpoints', 'not json', /not valid JSON/],
    ['stop', '{oops', /not valid JSON/],
  ];
  for (const [route, body, message] of posts) {
    it(`POST ${route} ${JSON.stringify(body)} → 400, nothing written`, async () => {
      const before = eventCount();
      const r = await t.api(`/api/agents/${agentId}/${route}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      expect(r.status).toBe(400);
      const json = await r.json();
      expect(Object.keys(json)).toEqual(['error']);
      expect(json.error.code).toMatch(/^invalid_(json|request)$/);
      expect(json.error.message).toMatch(message);
      expect(eventCount()).toBe(before);
    });
  }

  it('a compressed body gets 415 naming its coding (it was read as the bytes it is: "not valid JSON")', async () => {
    const r = await t.api(`/api/agents/${agentId}/events`, { method: 'POST', body: gzipSync(JSON.stringify({ message: 'hi' })), headers: { 'content-encoding': 'gzip' } });
    expect(r.status).toBe(415);
    expect(((await r.json()) as any).error.message).toBe('content-encoding gzip: request bodies are read as sent; send this one uncompressed');
  });

  it('a route asked with a method it does not take gets 405 naming those it does (404 stays for no route; 401 before either)', async () => {
    const put = await t.api('/api/whoami', { method: 'PUT', body: '{}' });
    expect({ status: put.status, allow: put.headers.get('allow'), error: ((await put.json()) as any).error }).toEqual({
      status: 405,
      allow: 'GET, HEAD',
      error: { code: 'method_not_allowed', message: 'PUT /api/whoami: this route answers GET, HEAD' },
    });
    const patch = await t.api('/api/tokens', { method: 'PATCH', body: '{}' });
    expect([patch.status, patch.headers.get('allow')]).toEqual([405, 'GET, HEAD, POST']);
    const one = await t.api('/api/tokens/tok_0123456789ab', { method: 'GET' });
    expect([one.status, one.headers.get('allow')]).toEqual([405, 'DELETE']);
    expect((await t.api('/api/no-such-route', { method: 'PUT', body: '{}' })).status).toBe(404);
    expect((await t.api('/api/whoami/', { method: 'GET' })).status).toBe(404);
    expect((await fetch(`${t.rt.url}/api/whoami`, { method: 'PUT' })).status).toBe(401);
  });

  it('a body that is not UTF-8 gets 400 and changes nothing (read as U+FFFD, a reason or a name was stored changed)', async () => {
    const before = eventCount();
    const bad = Buffer.concat([Buffer.from('{"message":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    for (const path of [`/api/agents/${agentId}/events`, `/api/agents/${agentId}/name`]) {
      const r = await t.api(path, { method: 'POST', body: bad });
      expect({ path, status: r.status, error: ((await r.json()) as any).error }).toEqual({ path, status: 400, error: { code: 'invalid_json', message: 'request body is not valid UTF-8' } });
    }
    expect(eventCount()).toBe(before);
    // A byte order mark before the JSON is no part of it, as before.
    const bom = await t.api(`/api/agents/${agentId}/events`, { method: 'POST', body: `\ufeff${JSON.stringify({ message: 'with a BOM' })}` });
    expect(bom.status).toBeLessThan(300);
  });

  it('a body over the size limit gets 413', async () => {
    const big = JSON.stringify({ state: 'x'.repeat(3 * 1024 * 1024) });
    const r = await t.api(`/api/agents/${agentId}/checkpoints`, { method: 'POST', body: big });
    expect(r.status).toBe(413);
    expect((await r.json()).error.code).toBe('payload_too_large');
    const r2 = await t.api(`/api/agents/${agentId}/checkpoints`, { method: 'POST', body: JSON.stringify({ state: 'y'.repeat(1100 * 1024) }) });
    expect(r2.status).toBe(400);
    expect((await r2.json()).error.message).toMatch(/state: must serialize to at most/);
  });

  it("an agent's name is judged once its control characters are spaces: one of them alone is no name", async () => {
    const name = (body: unknown) => t.api(`/api/agents/${agentId}/name`, { method: 'POST', body: JSON.stringify(body) });
    for (const blank of ['\u0000', ' \u0007\t ', '\u001b']) {
      const r = await name({ name: blank });
      expect({ blank, status: r.status, message: ((await r.json()) as any).error.message }).toEqual({ blank, status: 400, message: 'name: must not be empty' });
    }
    const ok = await name({ name: ' lead\u0007finder ' });
    expect(((await ok.json()) as any).name).toBe('lead finder');
  });

  it('bad query parameters and unknown agents and routes', async () => {
    expect((await (await t.api('/api/events?after=-1')).json()).error.message).toBe('after: must be 0 or more');
    expect((await t.api('/api/events?limit=5000')).status).toBe(400);
    // A number in a query is written in digits: z.coerce read 1e3 as 1000, 0x10 as 16, ' 5' as 5 and an empty value as 0.
    for (const q of ['limit=1e3', 'after=0x10', 'limit=%205', 'after=', 'limit=5.0', 'after=99999999999999999999'])
      expect({ q, status: (await t.api(`/api/events?${q}`)).status }).toEqual({ q, status: 400 });
    expect((await (await t.api('/api/events?limit=1e3')).json()).error.message).toBe('limit: must be a whole number');
    expect((await t.api('/api/events?limit=010&after=0')).status).toBe(200);
    expect((await t.api('/api/events?bogus=1')).status).toBe(400);
    expect((await t.api('/api/agents/xx-deadbeef/status')).status).toBe(404);
    const nf = await t.api('/api/nope');
    expect(nf.status).toBe(404);
    expect((await nf.json()).error.code).toBe('not_found');
  });
});

describe('events', () => {
  it('pages through events with after and limit', async () => {
    const first = await (await t.api('/api/events?limit=2')).json();
    expect(first.events).toHaveLength(2);
    expect(first.hasMore).toBe(true);
    const next = await (await t.api(`/api/events?after=${first.nextAfter}&limit=2`)).json();
    expect(next.events[0].seq).toBeGreaterThan(first.events[1].seq);
    for (const e of first.events) expect(Object.keys(e).sort()).toEqual(['agentId', 'data', 'message', 'seq', 'severity', 'ts', 'type']);
  });

  it('checkpoints round-trip for the agent', async () => {
    const put = await t.api(`/api/agents/${agentId}/checkpoints`, { method: 'POST', token: agentToken, body: JSON.stringify({ state: { next: 7, seen: ['a'] } }) });
    expect(put.status).toBe(201);
    const got = await (await t.api(`/api/agents/${agentId}/checkpoint`, { token: agentToken })).json();
    expect(got).toMatchObject({ state: { next: 7, seen: ['a'] }, id: (await put.json()).id });
  });

  it('progress carries the outcomes the agent reports; left out, the last ones stay; null clears them', async () => {
    const post = (body: object) => t.api(`/api/agents/${agentId}/progress`, { method: 'POST', token: agentToken, body: JSON.stringify(body) });
    const progress = async () => (await (await t.api(`/api/agents/${agentId}/status`)).json()).progress;
    expect((await post({ done: 2, total: 10 })).status).toBe(200);
    expect(await progress()).toEqual({ done: 2, total: 10, unit: 'items', succeeded: null, failed: null });
    expect((await post({ done: 4, total: 10, unit: 'leads', succeeded: 3, failed: 1 })).status).toBe(200);
    expect(await progress()).toEqual({ done: 4, total: 10, unit: 'leads', succeeded: 3, failed: 1 });
    expect((await post({ done: 5, total: 10 })).status).toBe(200);
    expect(await progress()).toEqual({ done: 5, total: 10, unit: 'leads', succeeded: 3, failed: 1 });
    const { events } = await (await t.api(`/api/events?agentId=${agentId}&limit=1000`)).json();
    const last = events.filter((e: any) => e.type === 'agent.progress').at(-1);
    expect(last.data).toEqual({ done: 5, total: 10, unit: 'leads', succeeded: 3, failed: 1 });
    expect(last.message).toBe('5 / 10 leads (50%), 3 succeeded, 1 failed');
    // One outcome sent is checked with the other kept from before: 3 kept + 4 sent > 5 done.
    const bad = await post({ done: 5, total: 10, failed: 4 });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.message).toMatch(/^succeeded \+ failed must not exceed done: .*3 succeeded, 4 failed.* done 5; send both$/);
    expect(await progress()).toEqual({ done: 5, total: 10, unit: 'leads', succeeded: 3, failed: 1 });
    expect((await post({ done: 5, succeeded: null, failed: null })).status).toBe(200);
    expect(await progress()).toMatchObject({ done: 5, succeeded: null, failed: null });
  });

  it('the database refuses to UPDATE or DELETE events', () => {
    const db = sqliteOf(t.rt.state);
    expect(() => db.prepare("UPDATE events SET message = 'rewritten'").run()).toThrow(/append-only: UPDATE is not allowed/);
    expect(() => db.prepare('DELETE FROM events').run()).toThrow(/append-only: DELETE is not allowed/);
    expect(eventCount()).toBeGreaterThan(0);
  });

  it('a WebSocket client that reconnects with ?after= misses nothing, in order', async () => {
    const base = `${t.rt.url.replace('http', 'ws')}/ws?token=${t.rt.adminToken}`;
    const post = (i: number) => t.api(`/api/agents/${agentId}/events`, { method: 'POST', token: agentToken, body: JSON.stringify({ message: `burst ${i}` }) });
    const a = new WsProbe(base);
    await a.opened;
    for (let i = 0; i < 20; i++) await post(i);
    await a.waitForEvent((e) => e.message === 'burst 19');
    const lastSeen = Math.max(...a.events().map((e) => e.seq));
    await a.close();
    // While nobody listens: more events.
    for (let i = 20; i < 60; i++) await post(i);
    const b = new WsProbe(`${base}&after=${lastSeen}`);
    await b.opened;
    const live = post(60);
    await b.waitForEvent((e) => e.message === 'burst 60');
    await live;
    const bursts = [...a.events(), ...b.events()].filter((e) => String(e.message).startsWith('burst ')).map((e) => e.message);
    expect(bursts).toEqual(Array.from({ length: 61 }, (_, i) => `burst ${i}`));
    const seqs = b.events().map((e) => e.seq);
    expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
    expect(seqs[0]).toBe(lastSeen + 1);
    await b.close();
  });
});

describe('stop by its own agent token', () => {
  it('an agent may stop itself; then it is stopped', async () => {
    const r = await t.api(`/api/agents/${agentId}/stop`, { method: 'POST', token: agentToken });
    expect(r.status).toBe(202);
    expect(await t.rt.agentDone!).toMatchObject({ status: 'stopped' });
  });
});
