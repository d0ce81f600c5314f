import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { connect } from 'node:net';
import { join } from 'node:path';
import { DEFAULTS } from '../../src/config/index.js';
import { MAX_JSON_DEPTH } from '../../src/server/index.js';
import { ROOT, startTestRuntime, tempDir, until, type TestRuntime } from '../helpers/runtime.js';
import { raw, withTools } from '../tools/helpers.js';
import { FakeService } from '../helpers/http.js';
import { sqliteOf } from '../helpers/db.js';

// Every boundary validates alike: each finding of a security review that concerns input is
// reproduced here against a real server (real HTTP, a real python3 agent, real SQLite files).

let t: TestRuntime;
let svc: FakeService;
let agentId: string;
let agentToken: string;

beforeAll(async () => {
  svc = await FakeService.start();
  t = await startTestRuntime({
    config: { ...withTools({ echo: { url: svc.url } }), gateway: { ...DEFAULTS.gateway } },
    agent: { script: join(ROOT, 'test/fixtures/agents/sleeper.py') },
  });
  agentId = t.rt.agentId!;
  agentToken = (await t.rt.tokens.issueRun({ name: agentId, agentId })).token;
  await until(() => t.log().includes('sleeper ready'));
});
afterAll(async () => {
  await t?.stop();
  await svc?.close();
});

const post = (path: string, body: string, token: string = t.rt.adminToken) => t.api(path, { method: 'POST', body, headers: { 'content-type': 'application/json' }, token });
const errorOf = async (r: Response) => ((await r.json()) as { error: { code: string; message: string } }).error;
const nested = (depth: number, leaf = '1') => '['.repeat(depth) + leaf + ']'.repeat(depth);
const errorLines = () =>
  t
    .log()
    .split('\n')
    .filter((l) => / ERROR /.test(l));

describe('money: one rule at every boundary', () => {
  it.each([
    ['1e300', /at most \$1,000,000\.00/],
    ['1e400', /finite/], // JSON.parse reads it as Infinity
    ['1e-12', /at most 6 decimal places/],
    ['0', /more than \$0/],
    ['-5', /more than \$0/],
    ['0.0000001', /at most 6 decimal places/],
  ])('POST /api/tokens budgetUsd %s → 400, nothing created', async (value, message) => {
    const before = t.rt.state.listAgents().length;
    const r = await post('/api/tokens', `{"role":"agent","name":"money-${value.replace(/\W/g, '')}","budgetUsd":${value}}`);
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toMatch(new RegExp(`budgetUsd: .*${message.source}`));
    expect(t.rt.state.listAgents()).toHaveLength(before);
  });

  it('POST /api/tokens keeps micro-dollar precision exactly', async () => {
    const r = await post('/api/tokens', '{"role":"agent","name":"money-ok","budgetUsd":0.000001}');
    expect(r.status).toBe(201);
    const { agentId: id } = (await r.json()) as { agentId: string };
    expect(t.rt.state.agentBrief(id)!.limitMicros).toBe(1);
  });

  it.each(['1e-9', '1e300', '0', '1.0000001'])('POST /api/agents/:id/budget limitUsd %s → 400, the agent keeps running', async (value) => {
    const r = await post(`/api/agents/${agentId}/budget`, `{"limitUsd":${value}}`);
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toMatch(/^limitUsd: /);
    expect(t.rt.state.getAgent(agentId)!.status).toBe('running');
    expect(t.rt.state.lastEvents(50, agentId).filter((e) => e.type === 'budget.changed')).toHaveLength(0);
  });

  it('a stored limit the rules refuse warns, names the row, and does not refuse the database', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const first = await startTestRuntime({ dir });
      const made = await (await first.api('/api/tokens', { method: 'POST', body: '{"role":"agent","name":"old","budgetUsd":5}' })).json();
      const call = await fetch(`${first.rt.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${made.token}`, 'content-type': 'application/json' },
        body: '{"model":"gpt-4o","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}',
      });
      expect(call.status).toBe(200);
      await first.rt.shutdown('test');
      // What an older iron-cage let through: $1e300, a garbled args column on another row, and
      // a request whose cost (from a provider's absurd usage figures) is no safe integer.
      const db = new Database(join(dir, 'iron_state.db'));
      db.prepare('UPDATE agents SET limit_micros = ? WHERE id = ?').run(1e306, made.agentId);
      expect(db.prepare('UPDATE llm_requests SET cost_micros = ? WHERE agent_id = ?').run(1e306, made.agentId).changes).toBe(1);
      // The rollups an upgrade fills from such a ledger (migrations 0009, 0017) hold the same sum.
      for (const table of ['llm_totals', 'llm_running']) expect(db.prepare(`UPDATE ${table} SET cost_micros = ? WHERE agent_id = ?`).run(1e306, made.agentId).changes, table).toBe(1);
      db.prepare("INSERT INTO agents (id, name, kind, status, created_at, args) SELECT 'xx-broken', 'broken', kind, status, created_at, '{not json' FROM agents WHERE id = ?").run(made.agentId);
      db.close();

      const second = await startTestRuntime({ dir });
      try {
        expect(second.log()).toMatch(new RegExp(`WARN .*agents row "${made.agentId}": limit_micros 1e\\+306 .* using \\$1,000,000\\.00`));
        expect(second.log()).toMatch(/WARN .*agents row "xx-broken": args .* using \[\]/);
        expect(second.log()).toMatch(new RegExp(`WARN .*llm_totals rows of agent "${made.agentId}": cost_micros sum to 1e\\+306`));
        expect((await second.api(`/api/agents/${made.agentId}/costs`)).status).toBe(200);
        const status = await (await second.api(`/api/agents/${made.agentId}/status`)).json();
        expect(status.budget.limitUsd).toBe(1_000_000);
        expect((await second.api('/api/agents/xx-broken/status')).status).toBe(200);
      } finally {
        await second.rt.shutdown('test');
      }
    } finally {
      cleanup();
    }
  });
});

describe('JSON depth: one limit at the JSON boundary of every route', () => {
  const tooDeep = `JSON nested deeper than ${MAX_JSON_DEPTH} levels`;

  it('a checkpoint state, an event data, a budget body 5,000 levels deep → 400, no ERROR line', async () => {
    for (const [path, body] of [
      [`/api/agents/${agentId}/checkpoints`, `{"state":${nested(5000)}}`],
      [`/api/agents/${agentId}/events`, `{"message":"m","data":{"x":${nested(5000)}}}`],
      [`/api/agents/${agentId}/progress`, nested(5000)],
    ] as const) {
      const r = await post(path, body, agentToken);
      expect(r.status, path).toBe(400);
      expect(await errorOf(r)).toEqual({ code: 'json_too_deep', message: tooDeep });
    }
    const admin = await post('/api/tokens', `{"role":"agent","name":"deep","budgetUsd":${nested(5000)}}`);
    expect(admin.status).toBe(400);
    expect(errorLines()).toEqual([]);
  });

  it('depth up to the limit is still accepted', async () => {
    const r = await post(`/api/agents/${agentId}/checkpoints`, `{"state":${nested(MAX_JSON_DEPTH - 1)}}`, agentToken);
    expect(r.status).toBe(201);
    // Brackets inside strings are text, not nesting.
    const s = await post(`/api/agents/${agentId}/checkpoints`, JSON.stringify({ state: '['.repeat(10_000) }), agentToken);
    expect(s.status).toBe(201);
  });

  it('gateway tools / stream_options / 100k-deep content → 400 in the provider shape, and the breaker stays closed', async () => {
    const made = await (await post('/api/tokens', '{"role":"agent","name":"deep-gw","budgetUsd":5}')).json();
    const v1 = (path: string, body: string) => fetch(`${t.rt.url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${made.token}`, 'content-type': 'application/json' }, body });
    const msgs = '[{"role":"user","content":"hi"}]';
    for (const [path, body] of [
      ['/v1/chat/completions', `{"model":"gpt-4o","messages":${msgs},"tools":${nested(5000, '{}')}}`],
      ['/v1/chat/completions', `{"model":"gpt-4o","messages":${msgs},"stream":true,"stream_options":{"x":${nested(5000)}}}`],
      ['/v1/messages', `{"model":"claude-3-5-haiku-latest","max_tokens":10,"messages":[{"role":"user","content":${nested(100_000, '"x"')}}]}`],
    ] as const) {
      const r = await v1(path, body);
      expect(r.status, path).toBe(400);
      expect(JSON.stringify(await r.json())).toContain(tooDeep);
    }
    // Every agent can still call: nothing above counted as a provider failure.
    for (let i = 0; i < 3; i++) {
      const ok = await v1('/v1/chat/completions', `{"model":"gpt-4o","max_tokens":5,"messages":${msgs}}`);
      expect(ok.status).toBe(200);
    }
    expect(errorLines()).toEqual([]);
  });
});

describe('low items', () => {
  it.each(['/tools/echo/..;/admin', '/tools/echo/a/..;x/..;/admin', '/tools/echo/.;/admin', `/tools/echo/${encodeTimes('..', 5)}/admin`, `/tools/echo/a/${encodeTimes('..;', 3)}/admin`])(
    'the tool path filter refuses %s',
    async (path) => {
      const seen = svc.seen.length;
      const r = await raw(t.rt.url, 'GET', path, { token: agentToken });
      expect(r.status).toBe(400);
      expect(r.json().error.code).toBe('invalid_path');
      expect(svc.seen.length).toBe(seen);
    },
  );

  it('an ordinary path with dots and semicolons in names still passes', async () => {
    const r = await raw(t.rt.url, 'GET', '/tools/echo/files/a..b/v1.2;rev=3', { token: agentToken });
    expect(r.status).toBe(200);
  });

  it('two Host headers → 400, for REST and for the WebSocket upgrade alike', async () => {
    const port = new URL(t.rt.url).port;
    for (const path of ['/api/health', '/ws']) {
      const upgrade = path === '/ws' ? 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n' : '';
      const head = await rawExchange(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nHost: evil.example\r\n${upgrade}\r\n`);
      expect(head, path).toMatch(/^HTTP\/1\.1 400 /);
      expect(head).toContain('more than one Host header');
    }
  });

  it("what Node's parser refuses is answered with its status and a JSON error, as every refusal is (it was a bare 400)", async () => {
    const port = new URL(t.rt.url).port;
    const cases: Array<[string, RegExp, string]> = [
      [`GET /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, /^HTTP\/1\.1 431 /, 'headers_too_large'],
      [`FROB /api/health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, /^HTTP\/1\.1 400 /, 'bad_request'],
      [`GET /api/health HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n`, /^HTTP\/1\.1 400 /, 'bad_request'],
    ];
    for (const [request, status, code] of cases) {
      const answer = await rawExchange(request);
      expect(answer, code).toMatch(status);
      expect(answer).toMatch(/\r\ncontent-type: application\/json\r\n/i);
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)).error.code).toBe(code);
    }
  });

  it('a client hanging up mid-body is a debug line, not an ERROR (REST), and a recorded call, not an ERROR (tool proxy)', async () => {
    const port = Number(new URL(t.rt.url).port);
    const hangUp = (path: string) =>
      new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(`POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${agentToken}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{"message":"`);
          // Hang up once the server has started on the request (the body is far from complete).
          setImmediate(() => s.destroy());
          resolve();
        });
        s.on('error', reject);
      });
    const marks = t.log().length;
    await hangUp(`/api/agents/${agentId}/events`);
    await until(() => /DEBUG .*closed the connection before the body ended/.test(t.log().slice(marks)));
    const calls = () => (sqliteOf(t.rt.state).prepare("SELECT count(*) AS n FROM tool_calls WHERE service = 'echo'").get() as { n: number }).n;
    const before = calls();
    await hangUp('/tools/echo/upload');
    await until(() => calls() > before);
    expect(errorLines()).toEqual([]);
  });
});

function encodeTimes(text: string, times: number): string {
  let out = text.replace(/[.;]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  for (let i = 1; i < times; i++) out = out.replaceAll('%', '%25');
  return out;
}

/** Write a raw request and read what comes back until the server closes or the head has arrived. */
function rawExchange(request: string): Promise<string> {
  const port = Number(new URL(t.rt.url).port);
  return new Promise((resolve, reject) => {
    let text = '';
    const s = connect(port, '127.0.0.1', () => s.write(request));
    s.on('data', (c: Buffer) => {
      text += c.toString();
      if (/\r\n\r\n[\s\S]*\}/.test(text)) s.destroy();
    });
    s.on('close', () => resolve(text));
    s.on('error', reject);
  });
}
