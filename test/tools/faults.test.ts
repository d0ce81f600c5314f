import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Hono } from 'hono';
import { TokenService, type Principal } from '../../src/auth/index.js';
import { DEFAULTS, loadConfig, type Config } from '../../src/config/index.js';
import { createLogger } from '../../src/core/logger.js';
import { toErrorResponse, type AppEnv } from '../../src/server/index.js';
import { BreakerRegistry } from '../../src/reliability/index.js';
import { StateManager } from '../../src/state/index.js';
import { toolsService } from '../../src/tools/tools.service.js';
import { startTestRuntime, tempDir, type TestRuntime } from '../helpers/runtime.js';
import { breakers, eventsOf, raw, toolsConfig, withTools } from './helpers.js';
import { FakeService } from '../helpers/http.js';

let t: TestRuntime;
let up: FakeService;
let viewerToken: string;
let agentToken: string;

beforeAll(async () => {
  up = await FakeService.start();
  t = await startTestRuntime({
    config: withTools(
      { linkedin: { url: up.url, cache_ttl_s: 0, breaker: { failure_threshold: 50 } }, timeouts: { url: up.url, timeout_ms: 60_000 } },
      { faults: [{ service: 'timeouts', fromCall: 2, count: 1, durationMs: null, status: 'timeout' }] },
    ),
  });
  viewerToken = await t.rt.tokens.issue({ role: 'viewer', name: 'viewer' });
  // An agent this iron-cage knows: a token of one it does not opens no door.
  t.rt.state.registerAgent({ id: 'ag-00000001', name: 'ag', kind: 'external', script: null, args: [], limitMicros: null });
  agentToken = (await t.rt.tokens.issueRun({ name: 'ag', agentId: 'ag-00000001' })).token;
});
afterAll(async () => {
  await t?.stop();
  await up?.close();
});

const post = (body: unknown, token?: string) => t.api('/api/faults', { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, ...(token ? { token } : {}) });
const call = (path: string) => raw(t.rt.url, 'GET', path, { token: agentToken });

describe('fault injection', () => {
  it('makes a named service fail from call N for K calls, without reaching it', async () => {
    const r = await post({ service: 'linkedin', fromCall: 2, count: 2, status: 429 });
    expect(r.status).toBe(201);
    const fault = await r.json();
    expect(fault).toMatchObject({ service: 'linkedin', fromCall: 2, count: 2, status: 429, source: 'api', calls: 0, injected: 0, exhausted: false });
    expect(eventsOf(t, 'fault.added').at(-1)).toMatchObject({ severity: 'warn', message: expect.stringContaining(`Fault plan ${fault.id}: linkedin will fail with 429 from call 2 for 2 calls`) });

    const from = up.seen.length;
    const statuses = [];
    for (let i = 0; i < 4; i++) {
      const res = await call(`/tools/linkedin/people/${i}`);
      statuses.push([res.status, res.headers['x-iron-cage-tier']]);
    }
    expect(statuses).toEqual([
      [200, 'live'],
      [503, 'failed'],
      [503, 'failed'],
      [200, 'live'],
    ]);
    // The injected calls never reached the service.
    expect(up.since(from).map((s) => s.url)).toEqual(['/people/0', '/people/3']);
    expect((await breakers(t)).linkedin).toMatchObject({ failures: 2, lastFailure: 'http_429' });
    const calls = await (await t.api('/api/tools/calls?service=linkedin&limit=4')).json();
    expect(calls.calls.map((c: any) => c.fault)).toEqual([false, true, true, false]);

    const list = await (await t.api('/api/faults', { token: viewerToken })).json();
    expect(list.allowed).toBe(true);
    expect(list.faults.find((f: any) => f.id === fault.id)).toMatchObject({ calls: 3, injected: 2, exhausted: true });
    const del = await t.api(`/api/faults/${fault.id}`, { method: 'DELETE' });
    expect(await del.json()).toEqual({ removed: [fault.id] });
    expect((await t.api(`/api/faults/${fault.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('applies plans from the config file, and a timeout fault answers 504 at once', async () => {
    const listed = (await (await t.api('/api/faults')).json()).faults;
    expect(listed.find((f: any) => f.service === 'timeouts')).toMatchObject({ source: 'config', status: 'timeout', fromCall: 2 });
    expect((await call('/tools/timeouts/a')).status).toBe(200);
    const from = up.seen.length;
    const r = await call('/tools/timeouts/b');
    expect(r.status).toBe(504);
    expect(r.json().error.code).toBe('upstream_timeout');
    // At once: the cage answered without the call leaving, so nothing waited on the service's
    // 60 s timeout (a call that did would run past this test's 30 s limit).
    expect(up.since(from)).toEqual([]);
    expect((await call('/tools/timeouts/c')).status).toBe(200);
  });

  it('is for admins only and checks what it is given', async () => {
    expect((await post({ service: 'linkedin', status: 500 }, viewerToken)).status).toBe(403);
    expect((await post({ service: 'linkedin', status: 500 }, agentToken)).status).toBe(403);
    expect((await t.api('/api/faults', { token: agentToken })).status).toBe(403);
    const unknown = await post({ service: 'nosuch', status: 500 });
    expect(unknown.status).toBe(404);
    const bad = [
      [{ service: 'linkedin', status: 200 }, 'status: must be an HTTP status from 400 to 599, "timeout" or "connection"'],
      [{ service: 'linkedin', status: 500, fromCall: 0 }, 'fromCall: must be 1 or more'],
      [{ service: 'linkedin', status: 500, extra: 1 }, "unknown field 'extra'"],
      [{ status: 500 }, 'service: expected string'],
      // What the reliability domain's own check used to refuse, now refused here once.
      [{ service: 'linkedin', status: 429, fromCall: 1, count: 0 }, 'count: must be 1 or more'],
      [{ service: 'linkedin', status: 429, durationMs: -1 }, 'durationMs: must be 1 or more'],
      [{ service: 'linkedin', status: 429, durationMs: 1.5 }, 'durationMs: must be a whole number'],
      [{ service: 'linkedin', status: 'slow' }, 'status: must be an HTTP status from 400 to 599, "timeout" or "connection"'],
      [{ service: 'linkedin', status: 600 }, 'status: must be an HTTP status from 400 to 599, "timeout" or "connection"'],
      [{ service: '', status: 500 }, "service: must be 1-64 letters, digits, '.', '_' or '-'"],
      [{ service: 'Bad Name!', status: 500 }, "service: must be 1-64 letters, digits, '.', '_' or '-'"],
      [{ service: 'crm', status: 500, form: 3 }, "unknown field 'form'"],
    ] as const;
    for (const [body, message] of bad) {
      const r = await post(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect((await r.json()).error.message).toContain(message);
    }
    const cleared = await t.api('/api/faults', { method: 'DELETE' });
    expect((await cleared.json()).removed.length).toBeGreaterThanOrEqual(1);
    expect((await (await t.api('/api/faults')).json()).faults).toEqual([]);
  });
});

describe('fault injection on a non-loopback bind', () => {
  const admin: Principal = { role: 'admin', name: 'ops', agentId: null, jti: 'x' };

  /** The tools service's routes on a bare app: nothing is bound, so no port is exposed. */
  async function routesFor(config: Config) {
    const { dir, cleanup } = tempDir();
    const state = StateManager.open(join(dir, 'state.db'));
    const logger = createLogger({ format: 'json', level: 'error', stream: new PassThrough() });
    const breakers = new BreakerRegistry({ state, logger });
    const service = toolsService({ config, state, tokens: new TokenService(new Uint8Array(32)), logger, breakers });
    const app = new Hono<AppEnv>();
    app.onError((err, c) => {
      const { status, body } = toErrorResponse(err);
      return c.json(body, status as 400);
    });
    app.use('*', async (c, next) => {
      c.set('principal', admin);
      await next();
    });
    for (const mount of service.apiRoutes ?? []) mount(app);
    return {
      app,
      close: async () => {
        breakers.close();
        await service.close?.();
        await state.close();
        cleanup();
      },
    };
  }

  const tools = () => toolsConfig({ linkedin: { url: 'http://127.0.0.1:9' } });

  it('is refused unless allow_faults is set', async () => {
    const off = await routesFor({ ...DEFAULTS, host: '0.0.0.0', tools: tools() });
    try {
      const r = await off.app.request('/api/faults', { method: 'POST', body: JSON.stringify({ service: 'linkedin', status: 503 }) });
      expect(r.status).toBe(403);
      expect((await r.json()).error).toEqual({ code: 'faults_disabled', message: expect.stringContaining('allow_faults: true') });
      expect((await (await off.app.request('/api/faults')).json()).allowed).toBe(false);
    } finally {
      await off.close();
    }
    const on = await routesFor({ ...DEFAULTS, host: '0.0.0.0', allowFaults: true, tools: tools() });
    try {
      const r = await on.app.request('/api/faults', { method: 'POST', body: JSON.stringify({ service: 'linkedin', status: 503 }) });
      expect(r.status).toBe(201);
    } finally {
      await on.close();
    }
  });

  it('refuses fault plans in the config file at load time', () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'c.yaml');
      writeFileSync(file, 'host: 0.0.0.0\ntools:\n  linkedin:\n    url: http://127.0.0.1:9\nfaults:\n  - service: linkedin\n    from_call: 34\n    status: 429\n');
      expect(() => loadConfig({ configPath: file, env: {}, cwd: dir })).toThrow(/faults: fault injection is refused on the non-loopback bind 0\.0\.0\.0; set allow_faults: true/);
      expect(loadConfig({ configPath: file, env: { IRON_CAGE_ALLOW_FAULTS: '1' }, cwd: dir }).faults).toEqual([{ service: 'linkedin', fromCall: 34, count: null, durationMs: null, status: 429 }]);
      expect(loadConfig({ configPath: file, env: {}, flags: { host: '127.0.0.1' }, cwd: dir }).faults).toHaveLength(1);
    } finally {
      cleanup();
    }
  });
});
